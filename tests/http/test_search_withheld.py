"""Withheld reads leave no trace outside the audit entry: not in `truncated`, not in metrics;
the store returns only reads of owners that share with every recipient, and the entry still
counts the others by reason (SPEC §8)."""

from __future__ import annotations

from datetime import timedelta

import asyncpg

from proxy import metrics
from proxy.model import Area, SearchQuery
from proxy.store.base import Scope, Withheld
from proxy.store.postgres import PostgresStore
from tests.http.conftest import NOW
from tests.http.search_helpers import bearer, body, entry
from tests.pg import Databases

RENO = "NV0160200"  # no owner of 7ABC123's reads shares with Reno
OAKLAND, ALAMEDA = "CA0010900", "CA0010000"


async def test_a_row_limit_full_of_withheld_reads_is_not_truncation(
    make_client, make_token, dbs: Databases
):
    client = await make_client(database={"search_row_limit": 3})
    b = body(on_behalf_of={"ori": RENO, "person": "Det. R. Alvarez"})
    resp = await client.post("/v1/search", json=b, headers=bearer(make_token()))
    result = await resp.json()
    assert resp.status == 200, result
    # Seven reads matched and none may be disclosed: the answer is that of a plate never seen.
    assert result["reads"] == [] and result["truncated"] is False
    outcome = (await entry(dbs.audit_admin, result["audit_index"]))["outcome"]
    assert outcome["returned"] == 0 and outcome["truncated"] is False
    assert outcome["row_limit_reached"] is True  # for oversight: the counts are lower bounds
    assert outcome["withheld"]["retention"] + outcome["withheld"]["sharing"] == 3


async def test_withheld_reads_do_not_crowd_out_disclosable_ones(
    make_client, make_token, dbs: Databases
):
    """With three rows allowed, the three newest reads used to be fetched whoever owned them;
    now the store returns only owners that share, so read 5 is found behind Berkeley's."""
    client = await make_client(database={"search_row_limit": 3})
    resp = await client.post("/v1/search", json=body(), headers=bearer(make_token()))
    result = await resp.json()
    assert resp.status == 200, result
    assert [r["id"] for r in result["reads"]] == [1, 5]
    assert result["truncated"] is False  # two disclosable reads seen: nothing says more exist
    outcome = (await entry(dbs.audit_admin, result["audit_index"]))["outcome"]
    # Fetched: 1, 3 (clinic), 5. Counted in the store: 2 (Berkeley), 6 (SFPD, rule expired),
    # 4 (older than retention).
    assert outcome["withheld"] == {"sharing": 2, "sensitive_location": 1, "retention": 1}
    assert outcome["matched"] == 6 and outcome["row_limit_reached"] is True


async def test_the_store_returns_only_admitted_owners_and_counts_the_rest(seeded_store: str):
    pool = await asyncpg.create_pool(seeded_store, min_size=1, max_size=1)
    try:
        scope = Scope(owners=(OAKLAND, ALAMEDA), since=NOW - timedelta(days=365))
        query = _query("plate", NOW - timedelta(days=500), NOW, plate="7ABC123")
        fetched = await PostgresStore(pool).search(query, scope, 100)
    finally:
        await pool.close()
    rows, withheld = fetched.reads, fetched.withheld
    assert [r.id for r in rows] == [1, 3, 5, 7]
    assert {r.agency_ori for r in rows} == {OAKLAND, ALAMEDA}
    assert withheld == Withheld(retention=1, sharing=2, limit_reached=False)


async def test_area_counts_apply_the_circle_like_the_filter(seeded_store: str):
    """The count takes the same haversine test as the proxy's filter: a read in the box's
    corner is neither returned nor counted."""
    pool = await asyncpg.create_pool(seeded_store, min_size=1, max_size=1)
    try:
        window = (NOW - timedelta(hours=6), NOW)
        counts = []
        for radius in (60.0, 70.0):  # the reads stand ~61 m from this centre
            area = Area(37.8100, -122.2600 + 0.0007, radius)
            scope = Scope(owners=(), since=NOW - timedelta(days=365))
            fetched = await PostgresStore(pool).search(
                _query("area", *window, area=area), scope, 100
            )
            counts.append(fetched.withheld.sharing)
    finally:
        await pool.close()
    assert counts == [0, 6]


def _query(kind, start, end, **match) -> SearchQuery:
    return SearchQuery(type=kind, from_=start, to=end, purpose="homicide", **match)


async def test_metrics_count_returned_reads_only(make_client, make_token):
    """SPEC §9a: diffing two scrapes around one search must not tell what it withheld."""
    client = await make_client()

    def sample(fate: str) -> float:
        metrics.flush()
        value = metrics.REGISTRY.get_sample_value("alpr_proxy_reads_total", {"fate": fate})
        return value or 0.0

    fates = ("returned", "sharing", "sensitive_location", "retention")
    before = {fate: sample(fate) for fate in fates}
    resp = await client.post("/v1/search", json=body(), headers=bearer(make_token()))
    assert resp.status == 200  # this search withholds reads for every reason (test_search.py)
    after = {fate: sample(fate) for fate in fates}
    assert after["returned"] - before["returned"] == 3
    assert all(after[f] == before[f] for f in fates[1:]), (before, after)
