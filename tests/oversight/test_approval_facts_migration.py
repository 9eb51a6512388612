"""sql/audit/013_approval_facts.sql backfills the two-person facts of entries derived before it
existed exactly as proxy.oversight.derived derives them from the bytes."""

from __future__ import annotations

from typing import Any

import asyncpg

from proxy.audit.canonical import Record
from proxy.audit.entry import approval_entry, review_entry
from proxy.migrate import migration_files
from proxy.model import Principal
from proxy.oversight import facts
from proxy.oversight.derived import derive_body
from tests.oversight.oversight_fixture import A, append, at, search
from tests.oversight.test_flag_approvals import DET, IDP, SGT, approved, searched
from tests.pg import Databases

AUDITOR = Principal("aud", A, frozenset({"auditor"}), 0, iss=IDP)
NEW = ("request_index", "exigent", "review_by_supervisor", "verdict")


def reviewed(by: Principal) -> Record:
    return review_entry(
        at=at(2, 5), request_id="r", principal=by, client=None, reviewed_index=2,
        disposition="no_issue", note="",
    )  # fmt: skip


def refused_attempt() -> Record:
    return approval_entry(
        at=at(2, 6), request_id="x", principal=DET, client=None, request_index=0,
        verdict="deny", note="", requester=None, reason="forbidden_role",
    )  # fmt: skip


ENTRIES = [
    searched(1, "approval_required"),
    approved(0),
    searched(3, approval=0),
    searched(4, exigent=True),
    reviewed(SGT),
    reviewed(AUDITOR),
    refused_attempt(),
    search(at(2, 7), A, "eve", "HOMICIDE", "A plain search of the plate today"),
]


async def test_the_backfill_derives_what_derived_py_derives(dbs: Databases):
    admin, dsn = await dbs.fresh_audit()
    await append(dsn, ENTRIES)
    conn = await asyncpg.connect(admin)
    try:
        await facts.catch_up(conn)
        # As a proxy without these facts would have left them.
        await conn.execute(
            "ALTER TABLE audit.entry_facts DISABLE TRIGGER entry_facts_no_update_delete;"
            f" UPDATE audit.entry_facts SET {', '.join(f'{c} = NULL' for c in NEW)};"
            " ALTER TABLE audit.entry_facts ENABLE ALWAYS TRIGGER entry_facts_no_update_delete"
        )
        (sql,) = [p for p in migration_files("audit") if p.name.startswith("013_")]
        async with conn.transaction():
            await conn.execute(sql.read_text(encoding="utf-8"))
        rows = await conn.fetch(f"SELECT idx, {', '.join(NEW)} FROM audit.entry_facts ORDER BY idx")
    finally:
        await conn.close()
    got: list[tuple[Any, ...]] = [tuple(r) for r in rows]
    want = [(i, *(getattr(derive_body(r.body), c) for c in NEW)) for i, r in enumerate(ENTRIES)]
    assert got == want
    assert [g[1] for g in got] == [None, 0, 0, None, None, None, 0, None]
    assert [g[2] for g in got][3] is True
    assert [g[3] for g in got][4:6] == [True, False]
    assert [g[4] for g in got][1] == "approve" and [g[4] for g in got][6] == "deny"
