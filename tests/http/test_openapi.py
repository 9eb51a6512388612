"""/openapi.json stays in step with the real routes and with the real response shapes."""

from __future__ import annotations

import msgspec

from proxy.http.openapi import ErrorEnvelope, Health, Ready, SearchResponse
from tests.http.search_helpers import bearer, body


def routes(app) -> set[tuple[str, str]]:  # type: ignore[no-untyped-def]
    out = set()
    for route in app.router.routes():
        if route.method == "HEAD":
            continue
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter")
        out.add((route.method.lower(), path))
    return out


async def test_every_route_is_documented_and_nothing_else(client):
    doc = await (await client.get("/openapi.json")).json()
    documented = {(m, p) for p, ops in doc["paths"].items() for m in ops}
    assert documented == routes(client.server.app)


async def test_documented_schemas_match_real_responses(client, make_token):
    doc = await (await client.get("/openapi.json")).json()
    assert doc["openapi"].startswith("3.1")
    schemas = doc["components"]["schemas"]
    assert set(schemas["SearchIn"]["required"]) == {"type", "from", "to", "purpose"}
    ok = await client.post("/v1/search", json=body(), headers=bearer(make_token()))
    msgspec.json.decode(await ok.read(), type=SearchResponse)  # strict: no unknown fields
    refused = await client.post(
        "/v1/search", json=body(purpose="NOPE"), headers=bearer(make_token())
    )
    msgspec.json.decode(await refused.read(), type=ErrorEnvelope)
    msgspec.json.decode(await (await client.get("/healthz")).read(), type=Health)
    msgspec.json.decode(await (await client.get("/readyz")).read(), type=Ready)
    for status in ("200", "400", "401", "403", "429", "503"):
        assert status in doc["paths"]["/v1/search"]["post"]["responses"]


async def test_unknown_route_and_method_use_the_error_envelope(client):
    resp = await client.get("/v1/nope")
    assert resp.status == 404
    assert (await resp.json())["error"]["code"] == "not_found"
    resp = await client.get("/v1/search")
    assert resp.status == 405
    assert (await resp.json())["error"]["code"] == "method_not_allowed"
    assert "POST" in resp.headers["Allow"]
