"""The transparency page as a reader sees it, in headless Chromium, from a real server on
127.0.0.1: headings, the recipients table, the yes/no answer, the SVG bars, a screenshot.

Chromium is driven over the DevTools protocol with aiohttp's WebSocket client, so the only thing
to install is the browser itself (Debian: ``apt-get install -y chromium``). Without it the test
is skipped, saying so.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import os
import shutil
import signal
import struct
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.http.search_helpers import bearer, body

CHROMIUM = next(
    (p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None
)
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="headless Chromium is not installed (Debian: apt-get install -y chromium)",
)
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
)


class Tab:
    """One page target, spoken to over the DevTools protocol."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.ids = itertools.count(1)
        self.events: list[dict[str, Any]] = []

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        msg_id = next(self.ids)
        await self.ws.send_str(json.dumps({"id": msg_id, "method": method, "params": params}))
        async with asyncio.timeout(30):
            while True:
                msg = json.loads((await self.ws.receive()).data)
                if msg.get("id") == msg_id:
                    assert "error" not in msg, msg
                    result: dict[str, Any] = msg["result"]
                    return result
                self.events.append(msg)

    async def wait_event(self, method: str) -> None:
        async with asyncio.timeout(30):
            while not any(e.get("method") == method for e in self.events):
                self.events.append(json.loads((await self.ws.receive()).data))

    async def js(self, expression: str) -> Any:
        r = await self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        assert "exceptionDetails" not in r, r
        return r["result"].get("value")


def devtools_port(profile: Path) -> int | None:
    try:
        return int((profile / "DevToolsActivePort").read_text().split()[0])
    except (OSError, IndexError, ValueError):
        return None


@contextlib.asynccontextmanager
async def chromium(profile: Path) -> AsyncIterator[Tab]:
    assert CHROMIUM is not None
    proc = await asyncio.create_subprocess_exec(
        CHROMIUM,
        *FLAGS,
        f"--user-data-dir={profile}",
        "about:blank",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        port = None
        for _ in range(600):  # Chromium writes its DevTools port here once it listens
            port = devtools_port(profile)
            if port is not None:
                break
            await asyncio.sleep(0.1)
        assert port is not None, "Chromium did not start its DevTools endpoint within 60 s"
        async with aiohttp.ClientSession() as session:
            async with session.put(f"http://127.0.0.1:{port}/json/new?about:blank") as resp:
                target = await resp.json()
            async with session.ws_connect(target["webSocketDebuggerUrl"], max_msg_size=0) as ws:
                yield Tab(ws)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)  # the browser and the helpers it started
        try:
            async with asyncio.timeout(10):
                await proc.wait()
        except TimeoutError:
            os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


async def test_a_reader_sees_the_page(make_client, dbs, make_token, tmp_path):  # type: ignore[no-untyped-def]
    _, dsn = await dbs.fresh_audit()
    client = await make_client(audit_dsn=dsn)
    for ori in ("CA0010900", "CA0010800"):
        resp = await client.post("/v1/search", json=body(), headers=bearer(make_token(ori=ori)))
        assert resp.status == 200
    url = str(client.make_url("/transparency/CA0010900"))
    assert url.startswith("http://127.0.0.1:")

    async with chromium(tmp_path / "profile") as tab:
        await tab.call("Page.enable")
        await tab.call(
            "Emulation.setDeviceMetricsOverride",
            width=1100,
            height=900,
            deviceScaleFactor=1,
            mobile=False,
        )
        await tab.call("Page.navigate", url=url)
        await tab.wait_event("Page.loadEventFired")

        headings = await tab.js("[...document.querySelectorAll('h1,h2')].map(h => h.innerText)")
        assert headings[0] == "Oakland Police Department"
        assert "Who can receive its reads today" in headings
        assert "Latest signed checkpoint" in headings
        rows = await tab.js(
            "[...document.querySelectorAll('#recipients-table tbody tr')]"
            ".map(tr => [...tr.cells].map(c => c.innerText.trim()))"
        )
        assert sorted(r[0] for r in rows) == [
            "Alameda County Sheriff's Office",
            "Berkeley Police Department",
            "California Highway Patrol",
            "San Francisco Police Department",
        ]
        answer = await tab.js(
            "(() => { const b = document.getElementById('exposure-answer');"
            " const r = b.getBoundingClientRect();"
            " return [b.innerText, r.width, r.height, getComputedStyle(b).color]; })()"
        )
        assert answer[0] == "No" and answer[1] > 20 and answer[2] > 20
        assert answer[3] == "rgb(6, 118, 71)"  # the inline CSS applied: the CSP hash matches
        bars = await tab.js(
            "[...document.querySelectorAll('svg.chart rect.bar')].map(r => {"
            " const b = r.getBoundingClientRect();"
            " return [b.width, b.height, getComputedStyle(r).fill]; })"
        )
        assert len(bars) >= 3  # searches by recipient (Oakland, Berkeley) + by purpose
        assert all(w > 1 and h > 5 and fill != "none" for w, h, fill in bars), bars
        text = await tab.js("document.body.innerText")
        assert "Prohibited purposes" in text and "CIVIL_IMMIGRATION" in text

        metrics = await tab.call("Page.getLayoutMetrics")
        size = metrics["cssContentSize"]
        shot = await tab.call(
            "Page.captureScreenshot",
            format="png",
            captureBeyondViewport=True,
            clip={"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1},
        )
    png = base64.b64decode(shot["data"])
    path = tmp_path / "transparency.png"
    path.write_bytes(png)
    width, height = png_size(path.read_bytes())
    assert width >= 1000 and height > 900 and len(png) > 20_000
