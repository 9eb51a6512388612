"""The console's sign-in against a real OpenID provider (oidc-provider on Node.js): the
authorization code flow with PKCE, the user and the log's state shown, the provider's access
token accepted by the proxy through its JWKS URL, and sign-out forgetting the token."""

from __future__ import annotations

from typing import Any

from tests.browser.conftest import Server, shoot
from tests.http.search_helpers import body
from tests.oidc.provider import OidcProvider


async def sign_in(page: Any, server: Server, provider: OidcProvider) -> str:
    """Through the provider's own login form; returns the access token the console got."""
    response = await page.goto(server.at("/console/"))
    csp = response.headers["content-security-policy"]
    assert f"connect-src 'self' {provider.issuer};" in csp  # the provider, and nothing else
    await shoot(page, "console-sign-in")
    await page.click("#sign-in")
    await page.wait_for_url(f"{provider.issuer}/**")
    await page.fill("input[name=login]", "det.alvarez")
    await page.fill("input[name=password]", "any")
    async with page.expect_response(f"{provider.issuer}/token") as exchange:
        await page.click("button[type=submit]")
    tokens = await (await exchange.value).json()
    await page.wait_for_url(server.at("/console/"))
    await page.wait_for_selector("#log-state dd")
    return str(tokens["access_token"])


async def test_sign_in_shows_the_user_and_the_log(
    page: Any, console_server: Server, oidc_provider: OidcProvider
) -> None:
    token = await sign_in(page, console_server, oidc_provider)
    who = await page.inner_text("#who")
    assert "det.alvarez" in who and "CA0010900" in who and "investigator" in who
    assert "Det. Ana Alvarez" in await page.inner_text("#who-short")
    log = await page.inner_text("#log-state")
    assert "Tree size" in log and "Root hash" in log and "test.alpr-proxy.invalid/audit" in log
    # Nothing of the session outlives the page: no storage, no cookie on the proxy's origin.
    stored = await page.evaluate("[localStorage.length, sessionStorage.length, document.cookie]")
    assert stored == [0, 0, ""]
    await shoot(page, "console-signed-in")

    # The provider's JWT access token is one the proxy accepts (its JWKS, its claims).
    response = await page.request.post(
        console_server.at("/v1/search"),
        data=body(),
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status == 200, await response.text()


async def test_sign_out_forgets_the_token(
    page: Any, console_server: Server, oidc_provider: OidcProvider
) -> None:
    token = await sign_in(page, console_server, oidc_provider)
    sent: list[str | None] = []
    page.on(
        "request",
        lambda r: (
            sent.append(r.headers.get("authorization"))
            if r.url.endswith("/v1/log/checkpoint")
            else None
        ),
    )
    async with page.expect_response("**/v1/log/checkpoint"):
        await page.click("#refresh-log")
    assert sent == [f"Bearer {token}"]

    await page.click("#sign-out")
    assert await page.is_visible("#sign-in")
    assert not await page.is_visible("#signed-in")
    assert await page.inner_text("#who-short") == ""
    async with page.expect_response("**/v1/log/checkpoint"):  # the hidden button, by script
        await page.evaluate("document.getElementById('refresh-log').click()")
    assert sent[1:] == [None]
