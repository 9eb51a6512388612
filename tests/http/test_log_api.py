"""Log endpoints: a search's audit_index is provably included in the next signed checkpoint."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import pytest

from proxy.audit import verify
from tests.conftest import LOG_ORIGIN
from tests.http.search_helpers import bearer, body


async def wait_for_checkpoint(client: Any, at_least: int) -> bytes:
    for _ in range(100):
        resp = await client.get("/v1/log/checkpoint")
        if resp.status == 200:
            note = await resp.read()
            if verify.parse_checkpoint(note.split(b"\n\n")[0] + b"\n").size >= at_least:
                return note
        await asyncio.sleep(0.05)
    raise AssertionError("no checkpoint covering the entry appeared")


@pytest.fixture
async def fresh(make_client, dbs):  # type: ignore[no-untyped-def]
    _, dsn = await dbs.fresh_audit()
    return await make_client(audit_dsn=dsn)


async def test_search_index_is_included_in_next_checkpoint(fresh, make_token, log_keys):
    indexes = []
    for _ in range(5):
        resp = await fresh.post("/v1/search", json=body(), headers=bearer(make_token()))
        assert resp.status == 200
        indexes.append((await resp.json())["audit_index"])
    # Index 0 is the policy_loaded entry written at start; searches follow without gaps.
    assert indexes == [1, 2, 3, 4, 5]
    note = await wait_for_checkpoint(fresh, 6)
    resp = await fresh.get("/v1/log/checkpoint")
    assert resp.content_type == "text/plain"
    cp = verify.verify_checkpoint(note, log_keys[1], origin=LOG_ORIGIN)
    assert cp.size >= 6

    oversight = make_token(sub="ig", ori="CA0349400", roles=("oversight",))
    for index in indexes:
        entry = await (
            await fresh.get(f"/v1/log/entries/{index}", headers=bearer(oversight))
        ).read()
        proof = await (
            await fresh.get(f"/v1/log/proof/inclusion?index={index}&size={cp.size}")
        ).json()
        assert proof["index"] == index and proof["size"] == cp.size
        parsed = verify.parse_inclusion_proof(proof)
        verify.verify_inclusion(
            verify.hash_leaf(entry), index, cp.size, parsed.hashes, cp.root_hash
        )
        # A proof for the wrong entry fails, with evidence.
        with pytest.raises(verify.InclusionProofError):
            verify.verify_inclusion(
                verify.hash_leaf(entry + b" "), index, cp.size, parsed.hashes, cp.root_hash
            )


async def test_consistency_between_checkpoints(fresh, make_token, log_keys):
    await fresh.post("/v1/search", json=body(), headers=bearer(make_token()))
    old = verify.verify_checkpoint(await wait_for_checkpoint(fresh, 1), log_keys[1])
    for _ in range(6):
        await fresh.post("/v1/search", json=body(), headers=bearer(make_token()))
    new = verify.verify_checkpoint(await wait_for_checkpoint(fresh, old.size + 6), log_keys[1])
    proof = await (
        await fresh.get(f"/v1/log/proof/consistency?old={old.size}&size={new.size}")
    ).json()
    assert proof["old"] == old.size and proof["size"] == new.size
    hashes = [base64.b64decode(h) for h in proof["hashes"]]
    verify.verify_consistency(old.size, new.size, old.root_hash, new.root_hash, hashes)
    with pytest.raises(verify.ConsistencyProofError):
        verify.verify_consistency(old.size, new.size, bytes(32), new.root_hash, hashes)


@pytest.mark.parametrize(
    "query",
    [
        "index=5&size=5",
        "index=0&size=999",
        "index=-1&size=1",
        "index=a&size=1",
        "size=1",
        "index=1e3&size=5000",
        "index=%EF%BC%91&size=1",
    ],
)
async def test_bad_inclusion_parameters(fresh, make_token, query: str):
    await fresh.post("/v1/search", json=body(), headers=bearer(make_token()))
    resp = await fresh.get(f"/v1/log/proof/inclusion?{query}")
    assert resp.status == 400
    assert (await resp.json())["error"]["code"] == "invalid_request"


@pytest.mark.parametrize(
    "query", ["old=2&size=1", "old=1&size=999", "old=0&size=1", "old=x&size=1"]
)
async def test_bad_consistency_parameters(fresh, make_token, query: str):
    for _ in range(2):
        await fresh.post("/v1/search", json=body(), headers=bearer(make_token()))
    resp = await fresh.get(f"/v1/log/proof/consistency?{query}")
    assert resp.status == 400
    assert (await resp.json())["error"]["code"] == "invalid_request"


async def test_entries_are_scoped_to_the_agencies_they_name(fresh, make_token):
    def auditor(ori: str) -> str:
        return make_token(sub=f"auditor-{ori}", ori=ori, roles=("auditor",))

    async def status(index: int, token: str) -> int:
        return (await fresh.get(f"/v1/log/entries/{index}", headers=bearer(token))).status

    plain = (
        await (await fresh.post("/v1/search", json=body(), headers=bearer(make_token()))).json()
    )["audit_index"]
    obo = (
        await (
            await fresh.post(
                "/v1/search",
                json=body(on_behalf_of={"ori": "CA0349400"}),
                headers=bearer(make_token()),
            )
        ).json()
    )["audit_index"]
    oversight = make_token(sub="ig", ori="CA0380100", roles=("oversight",))
    expected = {
        (plain, auditor("CA0010900")): 200,  # requester
        (plain, auditor("CA0010000")): 200,  # Alameda disclosed read 5
        (plain, auditor("CA0349400")): 403,  # CHP is not named
        (obo, auditor("CA0349400")): 200,  # on behalf of
        (obo, auditor("CA0010000")): 403,  # Alameda's read was withheld from CHP
        (obo, auditor("CA0380100")): 403,  # SFPD's read was withheld (expired rule)
        (obo, oversight): 200,
        (obo, make_token()): 403,  # an investigator
    }
    for (index, token), want in expected.items():
        assert await status(index, token) == want, (index, want)
    assert await status(999999, oversight) == 404
