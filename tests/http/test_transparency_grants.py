"""Owners' signed grants in public and in oversight (SPEC §11), from entries the app wrote on a
real PostgreSQL: the agency page and the index say who wrote an owner's rules (the agency with
its signed grant, the fusion center, or nobody: no valid grant), and an operator's swap of the
owner's keys shows as an unauthorised key change on the owner's page and in the flags report
(JSON and CSV, and in the owner's auditor's scope only)."""

from __future__ import annotations

import csv
import hashlib
import io
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import msgspec

from proxy.grants import PLAIN_REASONS
from proxy.oversight.schemas import FlagsReport
from tests.grants.note_ref import RefKey, note
from tests.http.conftest import NOW, MakeClient
from tests.http.html_view import Page
from tests.http.search_helpers import bearer, entry, log_size
from tests.http.test_grants_runtime import CHIEF, OAKLAND, SFPD, grant, setup
from tests.pg import Databases

FBI = "CA0389900"

RANGE = urlencode(
    {"from": (NOW - timedelta(days=1)).isoformat(), "to": (NOW + timedelta(days=1)).isoformat()}
)
CHIEF_LABEL = f"oakland.example.gov/chief+{CHIEF.hash8}"


async def page(client: Any, path: str) -> Page:
    resp = await client.get(path)
    assert resp.status == 200, await resp.text()
    return Page(await resp.text())


def index_row(index: Page, ori: str) -> list[str]:
    (row,) = [r for r in index.tables["agencies-table"] if r[1] == ori]
    return row


async def test_the_pages_say_who_wrote_the_rules(
    make_client: MakeClient, dbs: Databases, tmp_path: Path
) -> None:
    _, dsn = await dbs.fresh_audit()
    text = grant(1)
    client = await make_client(audit_dsn=dsn, policy=setup(tmp_path, CHIEF, note(text, CHIEF)))
    oakland = await page(client, f"/transparency/{OAKLAND}")
    issued, until = (NOW - timedelta(days=1)).date(), (NOW + timedelta(days=299)).date()
    digest = "sha256:" + hashlib.sha256(text.encode()).hexdigest()
    assert oakland.text("signing-answer") == (
        f"Rules signed by the agency on {issued} with keys {CHIEF_LABEL}, in force until"
        f" {until}. SHA-256 of the signed text: {digest}."
    )
    sfpd = await page(client, f"/transparency/{SFPD}")
    assert sfpd.text("signing-answer") == (
        "Rules written by the fusion center, not signed by the agency."
    )
    index = await page(client, "/transparency")
    assert index_row(index, OAKLAND)[2].endswith("rules signed by the agency")
    assert index_row(index, SFPD)[2].endswith("rules written by the fusion center")
    # An agency with neither keys nor a rule of its own has no rules to attribute.
    assert index_row(index, FBI)[2] == "Not shared: no sharing rule of its own"


async def test_keys_without_a_valid_grant_say_it_shares_with_no_one(
    make_client: MakeClient, dbs: Databases, tmp_path: Path
) -> None:
    _, dsn = await dbs.fresh_audit()
    client = await make_client(audit_dsn=dsn, policy=setup(tmp_path, CHIEF, None))
    oakland = await page(client, f"/transparency/{OAKLAND}")
    assert oakland.text("signing-answer") == (
        "This agency registered signing keys but no valid grant is in force: it shares with"
        f" no one. Why: {PLAIN_REASONS['missing']}."
    )
    index = await page(client, "/transparency")
    assert index_row(index, OAKLAND)[2].endswith("no valid signed grant: shared with no one")


async def flags(client: Any, token: str, **headers: str) -> Any:
    resp = await client.get(
        f"/v1/audit/reports/flags?{RANGE}", headers={**bearer(token), **headers}
    )
    assert resp.status == 200, await resp.text()
    return resp


async def report(client: Any, token: str) -> FlagsReport:
    return msgspec.json.decode(await (await flags(client, token)).read(), type=FlagsReport)


def csv_sections(text: str) -> dict[str, list[list[str]]]:
    return {
        rows[0][0].split(" (")[0]: rows[1:]
        for rows in (
            list(csv.reader(io.StringIO(part, newline="")))
            for part in text.lstrip("\ufeff").split("\r\n\r\n")
        )
    }


async def test_an_operators_key_swap_is_an_unauthorised_key_change(
    make_client: MakeClient, make_token: Any, dbs: Databases, tmp_path: Path
) -> None:
    admin_dsn, dsn = await dbs.fresh_audit()
    first = await make_client(
        audit_dsn=dsn, policy=setup(tmp_path / "a", CHIEF, note(grant(2), CHIEF))
    )
    await first.close()
    operator = RefKey("operator.example/grants")
    client = await make_client(
        audit_dsn=dsn, policy=setup(tmp_path / "b", operator, note(grant(1), operator))
    )
    swap = await log_size(admin_dsn) - 1
    assert (await entry(admin_dsn, swap))["event"] == "policy_loaded"

    overseer = make_token(sub="ig", ori="CA9999999", roles=("oversight",))
    got = (await report(client, overseer)).grant_key_changes
    assert [(c.owner, c.change, c.outcome, c.authorised) for c in got.changes] == [
        (OAKLAND, "added", "registered", False),
        (OAKLAND, "replaced", "refused", False),
    ]
    refused = got.changes[1]
    assert (refused.index, refused.before, refused.after) == (swap, [CHIEF.vkey], [operator.vkey])
    assert (got.total, got.truncated) == (2, False)

    mine = make_token(sub="aud", ori=OAKLAND, roles=("auditor",))
    assert (await report(client, mine)).grant_key_changes.total == 2
    theirs = make_token(sub="aud", ori=SFPD, roles=("auditor",))
    assert (await report(client, theirs)).grant_key_changes.total == 0

    resp = await flags(client, overseer, Accept="text/csv")
    rows = csv_sections((await resp.read()).decode("utf-8"))["flags: grant key changes"]
    assert rows[0] == [
        "owner", "index", "time", "change", "before", "after", "before_quorum",
        "after_quorum", "outcome", "authorised",
    ]  # fmt: skip
    assert rows[2][:2] == [OAKLAND, str(swap)]
    assert rows[2][4:] == [CHIEF.vkey, operator.vkey, "1", "1", "refused", "false"]

    oakland = await page(client, f"/transparency/{OAKLAND}")
    assert PLAIN_REASONS["keys_changed"] in oakland.text("signing-answer")
    changes = oakland.text("key-changes")
    assert (
        f"Signing keys changed on {NOW.date()} (log entry {swap}): replaced, from"
        f" {CHIEF_LABEL} to operator.example/grants+{operator.hash8}; not authorised by the"
        " agency"
    ) in changes
