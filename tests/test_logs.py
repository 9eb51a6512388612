"""Structured logs: one JSON line per request (a search's carries its decision, audit index and
counts), start and stop lines, and never a plate, pattern, case number or justification."""

# ruff: noqa: F811
from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import select
import socket
import sys
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from proxy import logs
from proxy.http.state import POLICY
from proxy.logs import FLUSH_DELAY_S, BufferedJsonHandler, JsonFormatter

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


async def test_one_line_per_request_with_the_search_decision(
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

    assert not [r for r in records if r["message"] == "search"]  # one line per search
    assert (ok["audit_index"], bad["audit_index"]) == (result["audit_index"], refused_index)
    assert ok["returned"] == len(result["reads"]) and ok["withheld"] > 0
    assert ok["matched"] == ok["returned"] + ok["withheld"] and ok["search_type"] == "plate"
    assert ok["policy_version"] == result["policy_version"] == bad["policy_version"]
    assert "returned" not in bad and "audit_index" not in entry


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


@pytest.fixture
def seqpacket() -> Iterator[tuple[socket.socket, logging.Logger]]:
    """A logger whose handler writes to a socket that keeps write(2) boundaries (one recv is
    one write), and the socket's other end."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    theirs.setblocking(False)
    handler = BufferedJsonHandler(ours.fileno())
    logger = logging.getLogger(f"alpr_proxy.test.{id(handler)}")
    logger.propagate = False
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    with ours, theirs:
        yield theirs, logger
        logger.handlers.clear()


def _writes(sock: socket.socket) -> list[bytes]:
    out = []
    with contextlib.suppress(BlockingIOError):
        while True:
            out.append(sock.recv(1 << 20))
    return out


def test_outside_an_event_loop_every_line_is_written_at_once(seqpacket):
    sock, logger = seqpacket
    logger.info("one", extra={"n": 1})
    (write,) = _writes(sock)
    assert orjson.loads(write) | {"time": None, "pid": None} == {
        "time": None,
        "level": "info",
        "logger": logger.name,
        "pid": None,
        "message": "one",
        "n": 1,
    }


async def test_in_a_loop_lines_are_written_together_in_whole_lines_under_pipe_buf(seqpacket):
    sock, logger = seqpacket
    for i in range(200):  # about 100 bytes each: several PIPE_BUF-sized writes
        logger.info("request", extra={"i": i, "pad": "x" * 20})
    assert _writes(sock) == []  # buffered
    await asyncio.sleep(FLUSH_DELAY_S * 3)
    writes = _writes(sock)
    assert 1 < len(writes) < 200
    assert all(len(w) <= select.PIPE_BUF and w.endswith(b"\n") for w in writes)
    lines = b"".join(writes).splitlines()
    assert [orjson.loads(line)["i"] for line in lines] == list(range(200))


async def test_a_warning_flushes_what_waits_before_it(seqpacket):
    sock, logger = seqpacket
    logger.info("first")
    logger.warning("second")
    lines = b"".join(_writes(sock)).splitlines()
    assert [orjson.loads(line)["message"] for line in lines] == ["first", "second"]


def test_direct_lines_equal_logged_lines_and_fall_back_under_other_handlers(
    seqpacket, monkeypatch: pytest.MonkeyPatch
):
    sock, logger = seqpacket
    # pytest >= 9.2 also attaches its capture handlers to non-propagating loggers.
    (handler,) = (h for h in logger.handlers if isinstance(h, BufferedJsonHandler))
    # As configure_logging leaves it: our handler alone, at the root.
    monkeypatch.setattr(logging.root, "handlers", [handler])
    monkeypatch.setattr(logs, "_direct", handler)
    logger.handlers.clear()
    logger.propagate = True
    fields = {"request_id": "ab" * 16, "status": 200, "code": None, "duration_ms": 1.5}
    logs.log_line(logger, logging.INFO, "request", fields)
    logger.info("request", extra=fields)
    logs.log_line(logger, logging.DEBUG, "request", fields)  # below the level: nothing
    handler.flush()
    direct, logged = (orjson.loads(line) for line in b"".join(_writes(sock)).splitlines())
    assert direct.pop("time") and logged.pop("time")
    assert direct == logged == {
        "level": "info", "logger": logger.name, "pid": os.getpid(), "message": "request", **fields
    }  # fmt: skip

    # Any other handler in the chain (a test's capture, an operator's): the usual way.
    seen: list[logging.LogRecord] = []
    capture = logging.Handler()
    capture.emit = seen.append  # type: ignore[method-assign]
    logger.addHandler(capture)
    logs.log_line(logger, logging.INFO, "request", fields)
    assert [(r.getMessage(), r.status) for r in seen] == [("request", 200)]  # type: ignore[attr-defined]
