"""Structured logs: one JSON line per request, the search's decision line, start and stop lines,
and never a plate, pattern, case number or justification."""

# ruff: noqa: F811
from __future__ import annotations

import logging
import sys
from typing import Any

import orjson
import pytest

from proxy.keys import POLICY
from proxy.logs import JsonFormatter

# The HTTP tests' fixtures, for this module outside tests/http (test arguments "redefine" them).
from tests.http.conftest import make_client, seeded_store  # noqa: F401
from tests.http.search_helpers import bearer, body

PLATE = "9LOG777"
CASE = "26-LOGCASE-31"
JUSTIFICATION = "Sedan seen near the Fruitvale station robbery by two witnesses"
FLAGGED = "Whereabouts for deportation of a witness, Lakeshore marker"


def lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Our log lines. aiohttp's access log comes from the test server only: `serve` runs
    with access_log=None, so the middleware's line is the only one per request."""
    formatter = JsonFormatter()
    return [formatter.format(r) for r in caplog.records if r.name != "aiohttp.access"]


def parsed(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in lines(caplog)]


async def test_one_line_per_request_and_a_decision_line_per_search(
    make_client, make_token, caplog: pytest.LogCaptureFixture
):
    client = await make_client()
    caplog.set_level(logging.INFO)
    caplog.clear()
    resp = await client.post("/v1/search", json=body(), headers=bearer(make_token()))
    assert resp.status == 200
    result = await resp.json()
    refused = await client.post(
        "/v1/search", json=body(purpose="NOPE"), headers=bearer(make_token())
    )
    assert refused.status == 400
    refused_index = (await refused.json())["error"]["audit_index"]
    await client.get("/v1/log/entries/0")

    records = parsed(caplog)
    requests = [r for r in records if r["message"] == "request"]
    assert [(r["route"], r["status"]) for r in requests] == [
        ("/v1/search", 200),
        ("/v1/search", 400),
        ("/v1/log/entries/{index}", 401),
    ]
    ok, bad, entry = requests
    assert ok["request_id"] == resp.headers["X-Request-Id"] == result["request_id"]
    assert ok["method"] == "POST" and ok["decision"] == "allowed" and ok["code"] is None
    assert bad["decision"] == "refused" and bad["code"] == "unknown_purpose"
    assert entry["decision"] is None and entry["code"] == "unauthenticated"
    assert "path" not in entry
    assert all(isinstance(r["duration_ms"], float) and r["duration_ms"] > 0 for r in requests)
    assert all(r["level"] == "info" and r["logger"] == "alpr_proxy.http" for r in requests)

    searches = [r for r in records if r["message"] == "search"]
    assert [(s["decision"], s["reason"], s["audit_index"]) for s in searches] == [
        ("allowed", None, result["audit_index"]),
        ("refused", "unknown_purpose", refused_index),
    ]
    allowed = searches[0]
    assert allowed["request_id"] == ok["request_id"]
    assert allowed["returned"] == len(result["reads"]) and allowed["withheld"] > 0
    assert allowed["policy_version"] == result["policy_version"]


async def test_plates_and_justifications_never_reach_the_log(
    make_client, make_token, caplog: pytest.LogCaptureFixture
):
    client = await make_client()
    caplog.set_level(logging.INFO)
    caplog.clear()
    token = bearer(make_token())
    asked = body(plate=PLATE, case_number=CASE, justification=JUSTIFICATION)
    assert (await client.post("/v1/search", json=asked, headers=token)).status == 200
    flagged = body(plate=PLATE, case_number=CASE, justification=FLAGGED)
    assert (await client.post("/v1/search", json=flagged, headers=token)).status == 403
    pattern = body(type="partial_plate", plate=None, pattern=PLATE[:5] + "*", purpose="KIDNAPPING")
    assert (await client.post("/v1/search", json=pattern, headers=token)).status == 200
    unknown_field = {**asked, "plate_colour": PLATE}
    assert (await client.post("/v1/search", json=unknown_field, headers=token)).status == 400
    not_json = f'{{"plate": "{PLATE}", '.encode()
    assert (await client.post("/v1/search", data=not_json, headers=token)).status == 400
    unauthenticated = {"Authorization": f"Bearer {PLATE}"}
    assert (await client.post("/v1/search", json=asked, headers=unauthenticated)).status == 401
    assert (await client.get(f"/v1/plates/{PLATE}")).status == 404

    text = "\n".join(lines(caplog))
    assert text.count('"message":"request"') == 7  # the capture did see every request
    for secret in (PLATE, PLATE[:5], CASE, JUSTIFICATION, FLAGGED, "deportation", "Lakeshore"):
        assert secret not in text, secret


async def test_start_and_stop_are_logged(make_client, caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.INFO)
    client = await make_client()
    version = client.server.app[POLICY].current.version
    await client.close()
    records = parsed(caplog)
    messages = [r["message"] for r in records]
    started = messages.index("started")
    stopping = next(i for i, m in enumerate(messages) if m.startswith("stopping"))
    assert started < stopping
    assert records[started]["policy_version"] == version
    assert records[started]["logger"] == "alpr_proxy"


def test_formatter_writes_one_json_object_with_extra_fields():
    try:
        raise ValueError("boom")
    except ValueError:
        exc_info = sys.exc_info()
    record = logging.LogRecord(
        "alpr_proxy.test", logging.WARNING, __file__, 1, "hello %s", ("there",), exc_info
    )
    record.request_id = "abc"
    record.count = 3
    line = JsonFormatter().format(record)
    assert "\n" not in line.split('"exception"')[0]
    out = orjson.loads(line)
    assert out["message"] == "hello there" and out["level"] == "warning"
    assert out["request_id"] == "abc" and out["count"] == 3
    assert out["logger"] == "alpr_proxy.test" and isinstance(out["pid"], int)
    assert "ValueError: boom" in out["exception"]
    assert out["time"].endswith("+00:00")
