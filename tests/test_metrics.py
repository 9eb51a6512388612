"""`/metrics` (on the metrics listener, SPEC §9a): values move as searches, refusals and auth
failures happen; labels stay bounded; gauges computed at scrape time; the policy version follows
reloads."""

# ruff: noqa: F811
from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from proxy import metrics
from proxy.http.health import refresh_gauges
from proxy.http.metrics_listener import metrics_app
from proxy.http.state import AUDIT_WRITER, POLICY, SETTINGS

# The HTTP tests' fixtures, for this module outside tests/http (test arguments "redefine" them).
from tests.http.conftest import make_client, seeded_store  # noqa: F401
from tests.http.search_helpers import bearer, body, entry, log_size
from tests.pg import Databases

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def exposition_text(client: Any) -> str:
    """A scrape of the metrics listener as `serve` runs it beside the API app of `client`."""
    app = metrics_app(token=None, refresh=refresh_gauges(client.server.app))
    async with TestClient(TestServer(app)) as listener:
        resp = await listener.get("/metrics")
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain; version=")
        return await resp.text()


async def scrape(client: Any) -> Samples:
    return parse(await exposition_text(client))


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def delta(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


async def test_a_search_a_refusal_and_an_auth_failure_move_their_metrics(
    make_client, make_token, dbs: Databases
):
    client = await make_client()
    token = make_token()
    before = await scrape(client)

    allowed = await client.post("/v1/search", json=body(), headers=bearer(token))
    assert allowed.status == 200
    result = await allowed.json()
    flagged = body(justification="Locate subject for ICE detainer, civil immigration matter")
    refused = await client.post("/v1/search", json=flagged, headers=bearer(token))
    assert refused.status == 403
    assert (await refused.json())["error"]["code"] == "justification_flagged"
    unauth = await client.post("/v1/search", json=body(), headers={"Authorization": "Bearer x"})
    assert unauth.status == 401

    after = await scrape(client)
    searches = "alpr_proxy_searches_total"
    assert delta(before, after, searches, decision="allowed", reason="none") == 1
    assert delta(before, after, searches, decision="refused", reason="justification_flagged") == 1
    assert delta(before, after, "alpr_proxy_auth_failures_total") == 1
    assert delta(before, after, "alpr_proxy_auth_failures_unlogged_total") == 0

    # Reads returned, as the audit entry counts them; withheld ones in no metric (SPEC §9a).
    outcome = (await entry(dbs.audit_admin, result["audit_index"]))["outcome"]
    assert outcome["returned"] == len(result["reads"]) > 0
    assert sum(outcome["withheld"].values()) > 0
    assert delta(before, after, "alpr_proxy_reads_total", fate="returned") == outcome["returned"]
    fates = {dict(labels)["fate"] for (name, labels) in after if name == "alpr_proxy_reads_total"}
    assert fates == {"returned"}

    # Stage histograms: every stage of the allowed search; the refusal's audit commit too.
    for stage, n in {"auth": 2, "policy": 2, "store": 1, "filter": 1, "audit": 2}.items():
        assert delta(before, after, "alpr_proxy_stage_seconds_count", stage=stage) == n, stage
    assert delta(before, after, "alpr_proxy_stage_seconds_sum", stage="store") > 0

    # Whole-request latency and counts by route template.
    http = "alpr_proxy_http_requests_total"
    for status in ("200", "403", "401"):
        assert delta(before, after, http, route="/v1/search", method="POST", status=status) == 1
    duration = "alpr_proxy_http_request_duration_seconds_count"
    assert delta(before, after, duration, route="/v1/search", method="POST") == 3

    # The audit writer's batches and commits: every entry above (3) went through them.
    assert delta(before, after, "alpr_proxy_audit_batch_size_sum") == 3
    assert delta(before, after, "alpr_proxy_audit_commit_seconds_count") >= 1
    assert delta(before, after, "alpr_proxy_audit_write_failures_total") == 0


async def test_gauges_describe_the_log_readiness_and_checkpoints(make_client, make_token, dbs):
    admin_dsn, dsn = await dbs.fresh_audit()
    client = await make_client(audit_dsn=dsn)
    assert (await client.post("/v1/search", json=body(), headers=bearer(make_token()))).ok
    s = await scrape(client)
    assert value(s, "alpr_proxy_audit_log_entries") == await log_size(admin_dsn) == 2
    assert value(s, "alpr_proxy_ready") == 1
    assert value(s, "alpr_proxy_audit_queue_depth") == 0
    interval = client.server.app[SETTINGS].log.checkpoint_interval_s
    assert value(s, "alpr_proxy_audit_checkpoint_interval_seconds") == interval
    assert 0 <= value(s, "alpr_proxy_audit_checkpoint_age_seconds") < 5 * interval
    version = client.server.app[POLICY].current.version
    assert value(s, "alpr_proxy_policy_info", version=version) == 1


async def test_readiness_gauge_drops_when_the_audit_writer_stops(make_client):
    client = await make_client()
    assert value(await scrape(client), "alpr_proxy_ready") == 1
    await client.server.app[AUDIT_WRITER].close()
    assert value(await scrape(client), "alpr_proxy_ready") == 0


async def test_policy_version_follows_a_reload(make_client, make_token):
    client = await make_client()
    old = client.server.app[POLICY].current.version
    path = Path(client.server.app[SETTINGS].policy.file)
    text = path.read_text()  # noqa: ASYNC240  (a small local file)
    path.write_text(text.replace("max_results = 5", "max_results = 6"))  # noqa: ASYNC240
    admin = make_token(sub="ops.lee", roles=("admin",))
    assert (await client.post("/v1/admin/policy/reload", headers=bearer(admin))).status == 200
    new = client.server.app[POLICY].current.version
    assert new != old
    s = await scrape(client)
    assert value(s, "alpr_proxy_policy_info", version=new) == 1
    assert value(s, "alpr_proxy_policy_info", version=old) == 0


async def test_label_values_are_bounded(make_client, make_token):
    client = await make_client()
    sub = "det.unique-subject-4711"
    token = make_token(sub=sub)
    await client.post("/v1/search", json=body(plate="5QRS987"), headers=bearer(token))
    await client.post(
        "/v1/search", json=body(plate="6TUV654", purpose="NOPE"), headers=bearer(token)
    )
    await client.get("/v1/log/entries/0")
    await client.get("/no/such/7ABC123")
    await client.request("PROPFIND", "/healthz")  # parsed by aiohttp, routed: 405
    text = await exposition_text(client)
    for secret in (sub, "CA0010900", "5QRS987", "6TUV654", "7ABC123", "/v1/log/entries/0"):
        assert secret not in text, secret
    assert "PROPFIND" not in text
    s = parse(text)
    # The listener's own scrapes are not API traffic: they add no route.
    routes = {dict(labels).get("route") for (_, labels) in s} - {None}
    assert "/metrics" not in routes
    registered = {r.resource.canonical for r in client.server.app.router.routes() if r.resource}
    assert "/v1/log/entries/{index}" in routes
    assert routes <= registered | {metrics.UNMATCHED_ROUTE}
    assert value(s, "alpr_proxy_http_requests_total", route="unmatched", method="GET", status="404")
    methods = {dict(labels).get("method") for (_, labels) in s} - {None}
    assert "other" in methods and methods <= {"GET", "HEAD", "POST", "other"}
    for (name, labels), _ in s.items():
        if name.startswith("alpr_proxy_searches_total"):
            assert set(dict(labels)) == {"decision", "reason"}


def test_checkpoint_age_is_computed_at_scrape_time():
    saved = metrics.CHECKPOINT_LAST_SUCCESS._value.get()
    try:
        metrics.CHECKPOINT_LAST_SUCCESS.set(1_000_000.0)
        s = parse(metrics.exposition(now=1_000_042.5).decode())
        assert value(s, "alpr_proxy_audit_checkpoint_age_seconds") == 42.5
        metrics.CHECKPOINT_LAST_SUCCESS.set(0)  # never succeeded: counted from the start
        s = parse(metrics.exposition(now=metrics.STARTED_AT + 7).decode())
        assert value(s, "alpr_proxy_audit_checkpoint_age_seconds") == 7
    finally:
        metrics.CHECKPOINT_LAST_SUCCESS.set(saved)


def test_buffered_children_expose_exactly_what_direct_calls_would():
    """child() buffers; flush() folds the buffer in through Histogram internals (_sum,
    _buckets). If a prometheus-client release changes those, this fails."""
    direct, buffered = CollectorRegistry(), CollectorRegistry()
    buckets = (0.001, 0.01, 0.1, 1.0)
    hd = Histogram("h", "h", ["stage"], buckets=buckets, registry=direct)
    hb = Histogram("h", "h", ["stage"], buckets=buckets, registry=buffered)
    cd = Counter("c", "c", ["k"], registry=direct)
    cb = Counter("c", "c", ["k"], registry=buffered)
    values = [0.0, 0.0005, 0.001, 0.002, 0.01, 0.5, 1.0, 7.0, 0.05, 0.0099]
    for v in values:
        hd.labels("store").observe(v)
        metrics.child(hb, "store").observe(v)
        cd.labels("x").inc(v)
        metrics.child(cb, "x").inc(v)

    def samples(registry: CollectorRegistry) -> Samples:
        return {
            k: v
            for k, v in parse(generate_latest(registry).decode()).items()
            if not k[0].endswith("_created")
        }

    assert samples(buffered) != samples(direct)
    metrics.flush()
    assert samples(buffered) == samples(direct)
    metrics.flush()  # nothing new: nothing changes
    assert samples(buffered) == samples(direct)
