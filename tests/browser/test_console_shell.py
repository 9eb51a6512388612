"""The console's shell without an OpenID provider: the demo's sign-in (as `alpr-proxy demo`
serves it), and its Content-Security-Policy doing its job in a real browser."""

from __future__ import annotations

from typing import Any

from tests.browser.conftest import Server, shoot


async def test_the_demo_sign_in_is_labelled_and_signs_in(page: Any, public_server: Server) -> None:
    response = await page.goto(public_server.at("/"))
    assert page.url == public_server.at("/console/")  # `/` sends a browser to the console
    assert "script-src 'self';" in response.headers["content-security-policy"]
    panel = page.locator("#demo-panel")
    assert "Demo only" in await panel.inner_text()
    assert not await page.is_visible("#oidc-panel")  # no provider configured
    await shoot(page, "console-demo-sign-in")
    await page.click("button[data-sub='audit.demo']")
    await page.wait_for_selector("#log-state dd")
    who = await page.inner_text("#who")
    assert "audit.demo" in who and "auditor" in who and "CA0010900" in who
    await page.click("#sign-out")
    assert await page.is_visible("#demo-panel") and not await page.is_visible("#signed-in")


async def test_the_csp_blocks_inline_script_and_says_so(
    browser: Any, public_server: Server
) -> None:
    """What the `page` fixture relies on: a blocked inline script is a console error."""
    context = await browser.new_context()
    tab = await context.new_page()
    errors: list[str] = []
    tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    try:
        await tab.goto(public_server.at("/console/"))
        await tab.evaluate(
            "() => { const s = document.createElement('script');"
            " s.textContent = 'window.injected = 1'; document.body.append(s); }"
        )
        assert await tab.evaluate("window.injected === undefined")
        assert any("Content Security Policy" in e for e in errors), errors
    finally:
        await context.close()
