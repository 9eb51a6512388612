"""Two proxy workers (two apps, two audit writers, one audit database) receive the same
approved search at the same moment: exactly one is answered 200 (SPEC §12: single use is
enforced in the audit database at commit, across processes)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from tests.http.approval_helpers import OAKLAND, PARTIAL, POLICY, code, decide, fresh, search
from tests.http.conftest import MakeClient
from tests.http.search_helpers import entry
from tests.pg import Databases


async def test_one_approval_two_workers_one_search(
    make_client: MakeClient, make_token: Callable[..., str], dbs: Databases
) -> None:
    first = await make_client(policy_toml=POLICY)
    second = await make_client(policy_toml=POLICY)
    det = make_token(sub=fresh("det"), ori=OAKLAND)
    sup = make_token(sub=fresh("sup"), ori=OAKLAND, roles=("supervisor",))
    _, answer = await search(first, det, **PARTIAL)
    n = answer["error"]["audit_index"]
    assert (await decide(second, sup, n))[0] == 200

    for _ in range(3):  # each round: a new approval, both workers at once
        results = await asyncio.gather(
            search(first, det, **PARTIAL, approval=n), search(second, det, **PARTIAL, approval=n)
        )
        statuses = sorted(s for s, _ in results)
        assert statuses == [200, 403], results
        (refused,) = [a for s, a in results if s == 403]
        assert code(refused) == "approval_invalid"
        logged = await entry(dbs.audit_admin, refused["error"]["audit_index"])
        assert (logged["decision"], logged["approval"]) == ("refused", n)
        # the next round's approval
        _, answer = await search(first, det, **PARTIAL)
        n = answer["error"]["audit_index"]
        assert (await decide(first, sup, n))[0] == 200


async def test_two_supervisors_decide_at_once_one_decision_stands(
    make_client: MakeClient, make_token: Callable[..., str]
) -> None:
    first = await make_client(policy_toml=POLICY)
    second = await make_client(policy_toml=POLICY)
    det = make_token(sub=fresh("det"), ori=OAKLAND)
    sups = [make_token(sub=fresh("sup"), ori=OAKLAND, roles=("supervisor",)) for _ in range(2)]
    _, answer = await search(first, det, **PARTIAL)
    n = answer["error"]["audit_index"]
    results = await asyncio.gather(
        decide(first, sups[0], n, "approve"), decide(second, sups[1], n, "deny")
    )
    assert sorted(s for s, _ in results) == [200, 400], results
