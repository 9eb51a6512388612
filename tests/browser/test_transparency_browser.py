"""The transparency pages as a reader sees them, in Debian's Chromium driven by Playwright,
from the session's server: headings, the recipients table, the yes/no answer, the SVG bars,
the CSS applied under the page's CSP (any violation fails the `page` fixture), the index at
390 px without sideways scrolling, the other direction answered, the CSV download, and a
screenshot of each page."""

from __future__ import annotations

import csv
import io
from typing import Any

from tests.browser.conftest import Server, shoot
from tests.http.search_helpers import bearer, body

OAKLAND, BERKELEY = "CA0010900", "CA0010800"


async def _seed(page: Any, server: Server, make_token: Any) -> None:
    for ori in (OAKLAND, BERKELEY):
        resp = await page.request.post(
            server.at("/v1/search"), data=body(), headers=bearer(make_token(ori=ori))
        )
        assert resp.status == 200, await resp.text()


async def test_a_reader_sees_the_agency_page(
    page: Any, public_server: Server, make_token: Any
) -> None:
    await _seed(page, public_server, make_token)
    await page.goto(public_server.at(f"/transparency/{OAKLAND}"))
    headings = await page.locator("h1, h2").all_inner_texts()
    assert headings[0] == "Oakland Police Department"
    assert "Who can receive its reads today" in headings
    assert "Latest signed checkpoint" in headings
    assert "Whose reads can Oakland Police Department receive today?" in headings
    names = await page.locator("#recipients-table tbody tr td:first-child").all_inner_texts()
    assert sorted(n.strip() for n in names) == [
        "Alameda County Sheriff's Office",
        "Berkeley Police Department",
        "California Highway Patrol",
        "San Francisco Police Department",
    ]
    answer = page.locator("#exposure-answer")
    assert await answer.inner_text() == "No"
    box = await answer.bounding_box()
    assert box is not None and box["width"] > 20 and box["height"] > 20
    # The inline CSS applied: its hash is in the CSP.
    assert await answer.evaluate("b => getComputedStyle(b).color") == "rgb(6, 118, 71)"
    bars = await page.locator("svg.chart rect.bar").evaluate_all(
        "rs => rs.map(r => { const b = r.getBoundingClientRect();"
        " return [b.width, b.height, getComputedStyle(r).fill]; })"
    )
    assert len(bars) >= 3  # searches by recipient (Oakland, Berkeley) + by purpose
    assert all(w > 1 and h > 5 and fill != "none" for w, h, fill in bars), bars
    text = await page.inner_text("body")
    assert "Prohibited purposes" in text and "CIVIL_IMMIGRATION" in text
    assert (await shoot(page, "transparency-agency")).stat().st_size > 20_000


async def test_the_index_fits_390_px_and_answers_the_other_direction(
    page: Any, public_server: Server
) -> None:
    await page.set_viewport_size({"width": 390, "height": 844})
    await page.goto(public_server.at("/transparency"))
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390
    # The answer that matters is on screen, labelled, without scrolling sideways.
    cell = (
        page.locator("#agencies-table tbody tr", has_text="ICE ERO San Francisco")
        .locator("td")
        .nth(3)
    )
    assert (await cell.inner_text()).startswith("It is an immigration-enforcement agency")
    box = await cell.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
    label = await cell.evaluate("td => getComputedStyle(td, '::before').content")
    assert "Federal, out-of-state or immigration recipients?" in label
    reverse = await page.inner_text("#reverse")
    assert "Which agencies' reads can federal and immigration-enforcement agencies receive?" in (
        reverse
    )
    assert "FBI San Francisco" in reverse and "ICE ERO San Francisco" in reverse
    glossary = await page.inner_text("#glossary")
    assert all(term in glossary for term in ("ORI", "Tree size", "Root hash"))
    await shoot(page, "transparency-index-390px")


async def test_the_csv_downloads(page: Any, public_server: Server, make_token: Any) -> None:
    await _seed(page, public_server, make_token)
    await page.goto(public_server.at(f"/transparency/{OAKLAND}?days=90"))
    assert await page.get_attribute("#window a[aria-current=page]", "href") == (
        f"/transparency/{OAKLAND}?days=90"
    )
    async with page.expect_download() as info:
        await page.click("#csv-link")
    download = await info.value
    assert download.suggested_filename == f"{OAKLAND}-last-90-days.csv"
    rows = list(csv.reader(io.StringIO((await download.path()).read_text())))
    assert rows[1][0] == "section" and any(r[0] == "disclosed" for r in rows[2:])
