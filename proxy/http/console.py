"""The console's routes: `/` (a browser's way in), the static page under /console/, its public
configuration, and the demo's token endpoint (404 outside `alpr-proxy demo`).

Static files are read from the package (proxy/console/static/) once, into a table keyed by
their path: a request names an entry of that table or gets 404, so no path can reach outside
it. Every console response carries the console's Content-Security-Policy.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

import orjson
from aiohttp import web

from proxy.console.csp import console_csp
from proxy.console.demo_sign_in import TOKEN_TTL_S, DemoSignIn
from proxy.console.public_config import console_configured, public_config
from proxy.errors import ProxyError
from proxy.http.common import json_response, read_body
from proxy.http.state import SETTINGS

# Set by create_app only when `alpr-proxy demo` passes a DemoSignIn (never from settings).
DEMO_SIGN_IN = web.AppKey("demo_sign_in", DemoSignIn)

_TYPES = {
    ".html": "text/html",
    ".js": "text/javascript",
    ".css": "text/css",
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".md": "text/plain",
    ".txt": "text/plain",
}
# The page's entry points: the shell, and the IdP's redirect back to it after sign-in.
_PAGES = ("", "callback")


@cache
def static_files() -> dict[str, tuple[bytes, str]]:
    """Every file under proxy/console/static/ with a known type: path -> (bytes, type)."""
    out: dict[str, tuple[bytes, str]] = {}

    def walk(node: resources.abc.Traversable, prefix: str) -> None:
        for child in node.iterdir():
            if child.is_dir():
                walk(child, f"{prefix}{child.name}/")
            elif (kind := _TYPES.get("." + child.name.rpartition(".")[2])) is not None:
                out[prefix + child.name] = (child.read_bytes(), kind)

    walk(resources.files("proxy.console") / "static", "")
    return out


def _secured(response: web.Response, request: web.Request) -> web.Response:
    response.headers["Content-Security-Policy"] = console_csp(request.app[SETTINGS])
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-cache"
    return response


async def static(request: web.Request) -> web.Response:
    path = request.match_info.get("path", "")
    found = static_files().get("index.html" if path in _PAGES else path)
    if found is None:
        raise ProxyError("not_found", "no such console file")
    body, kind = found
    charset = None if kind.startswith("image/png") else "utf-8"
    return _secured(web.Response(body=body, content_type=kind, charset=charset), request)


async def root(request: web.Request) -> web.Response:
    """A browser at `/` goes to the console, or to the transparency pages without one."""
    configured = console_configured(request.app[SETTINGS], request.app.get(DEMO_SIGN_IN))
    return _redirect("/console/" if configured else "/transparency")


async def to_console(request: web.Request) -> web.Response:
    return _redirect("/console/")


def _redirect(location: str) -> web.Response:
    # Returned, not raised: the middleware turns raised HTTP exceptions into error envelopes.
    return web.Response(status=302, headers={"Location": location})


async def config(request: web.Request) -> web.Response:
    data = public_config(request.app[SETTINGS], request.app.get(DEMO_SIGN_IN))
    return _secured(json_response(data), request)


async def demo_token(request: web.Request) -> web.Response:
    demo = request.app.get(DEMO_SIGN_IN)
    if demo is None:
        raise ProxyError("not_found", "the demo sign-in exists only under `alpr-proxy demo`")
    try:
        sub = orjson.loads(await read_body(request)).get("sub")
    except (ValueError, AttributeError):
        raise ProxyError("invalid_request", 'the body must be {"sub": "<demo user>"}') from None
    token = demo.token_for(sub)
    return _secured(json_response({"access_token": token, "expires_in": TOKEN_TTL_S}), request)
