"""Shared bits of the audit API tests: a seeded log, tokens by role, the log read back."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
import orjson

from proxy.oversight.derived import Derived, derive
from tests.http.search_helpers import bearer, body

OAKLAND = "CA0010900"
ALAMEDA = "CA0010000"
BERKELEY = "CA0010800"
CHP = "CA0349400"
SFPD = "CA0380100"
# A justification made to be a spreadsheet formula, a comma, a quote and a line break.
FORMULA = '=HYPERLINK("http://evil.example","deport list") then,\n"more"'


@dataclass
class Seeded:
    client: Any
    admin: str  # superuser DSN of the fresh audit database
    index: dict[str, int]  # name -> audit index of the seeded searches


def tokens(make_token: Callable[..., str]) -> dict[str, str]:
    return {
        "investigator": make_token(),
        "oversight": make_token(sub="ig", ori=CHP, roles=("oversight",)),
        **{
            ori: make_token(sub=f"auditor-{ori}", ori=ori, roles=("auditor",))
            for ori in (OAKLAND, ALAMEDA, BERKELEY, CHP, SFPD)
        },
    }


async def seed(client: Any, admin: str, make_token: Callable[..., str]) -> Seeded:
    oak = make_token()
    brk = make_token(sub="-2+3", ori=BERKELEY)
    searches: dict[str, tuple[str, dict[str, Any]]] = {
        "plain": (oak, body()),  # discloses Oakland's and Alameda's reads
        "obo": (oak, body(on_behalf_of={"ori": CHP, "person": "Sgt. P"})),
        "refused": (oak, body(purpose="CIVIL_IMMIGRATION")),
        "flagged": (brk, body(justification=FORMULA)),
        "berkeley": (brk, body(justification="@SUM(1+1) vehicle seen near the scene")),
        "partial": (
            oak,
            body(type="partial_plate", plate=None, pattern="7ab*23", purpose="KIDNAPPING"),
        ),
    }
    index = {}
    for name, (token, payload) in searches.items():
        resp = await client.post("/v1/search", json=payload, headers=bearer(token))
        result = await resp.json()
        index[name] = result.get("audit_index", result.get("error", {}).get("audit_index"))
        assert isinstance(index[name], int), (name, result)
    return Seeded(client, admin, index)


async def log(admin: str) -> list[tuple[int, dict[str, Any], Derived]]:
    """Every entry now in the log: (index, entry, derived columns)."""
    conn = await asyncpg.connect(admin)
    try:
        rows = await conn.fetch("SELECT idx, body FROM audit.entries ORDER BY idx")
    finally:
        await conn.close()
    out = []
    for r in rows:
        entry = orjson.loads(r["body"])
        out.append((int(r["idx"]), entry, derive(entry)))
    return out


async def size(admin: str) -> int:
    return len(await log(admin))


async def get(client: Any, path: str, token: str, **headers: str) -> tuple[int, Any, Any]:
    resp = await client.get(path, headers={**bearer(token), **headers})
    data = await resp.read()
    parsed = orjson.loads(data) if resp.content_type == "application/json" else data
    return resp.status, parsed, resp
