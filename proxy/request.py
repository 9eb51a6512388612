"""`POST /v1/search` bodies: strict JSON types in, a normalised SearchQuery out.

The body is decoded once into plain JSON values (kept verbatim for the audit entry: the query
"exactly as asked"), then converted with msgspec into typed structs that reject wrong types,
unknown fields and naive timestamps. Anything malformed is `invalid_request`, never a 500.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
import orjson

from proxy.errors import ProxyError
from proxy.model import Area, OnBehalfOf, SearchQuery
from proxy.policy.text import normalize_pattern, normalize_plate

_Text = Annotated[str, msgspec.Meta(max_length=200)]
_Aware = Annotated[datetime, msgspec.Meta(tz=True)]


class AreaIn(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    lat: Annotated[float, msgspec.Meta(ge=-90, le=90)]
    lon: Annotated[float, msgspec.Meta(ge=-180, le=180)]
    radius_m: Annotated[float, msgspec.Meta(gt=0, le=1_000_000)]


class OnBehalfOfIn(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    ori: Annotated[str, msgspec.Meta(min_length=1, max_length=32)]
    person: _Text | None = None


class SearchIn(msgspec.Struct, forbid_unknown_fields=True, frozen=True, rename={"from_": "from"}):
    type: Literal["plate", "partial_plate", "area"]
    from_: _Aware
    to: _Aware
    purpose: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    plate: Annotated[str, msgspec.Meta(max_length=32)] | None = None
    plate_state: Annotated[str, msgspec.Meta(max_length=8)] | None = None
    pattern: Annotated[str, msgspec.Meta(max_length=32)] | None = None
    area: AreaIn | None = None
    case_number: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    justification: Annotated[str, msgspec.Meta(max_length=2000)] | None = None
    on_behalf_of: OnBehalfOfIn | None = None


_decoder = msgspec.json.Decoder()


def decode_body(body: bytes) -> Any:
    """The body as plain JSON values, or raise invalid_request."""
    try:
        value = _decoder.decode(body)
        # The audit entry keeps the query exactly as asked, so it must be able to hold it:
        # canonical JSON (orjson) has no integers beyond 64 bits and no nesting beyond 254
        # levels, both of which msgspec decodes.
        orjson.dumps(value)
        return value
    except orjson.JSONEncodeError as exc:
        raise ProxyError("invalid_request", f"body cannot be recorded exactly: {exc}") from None
    except msgspec.DecodeError as exc:
        raise ProxyError("invalid_request", f"body is not valid JSON: {exc}") from None
    except UnicodeDecodeError:  # msgspec raises it, not DecodeError, for invalid UTF-8
        raise ProxyError("invalid_request", "body is not valid UTF-8") from None
    except RecursionError:
        raise ProxyError("invalid_request", "body is nested too deeply") from None


def parse_search(asked: Any) -> SearchQuery:
    if not isinstance(asked, dict):
        raise ProxyError("invalid_request", "body must be a JSON object")
    try:
        s = msgspec.convert(asked, SearchIn)
    except msgspec.ValidationError as exc:
        raise ProxyError("invalid_request", str(exc)) from None
    if s.from_ > s.to:
        raise ProxyError("invalid_request", "`from` must not be after `to`")
    plate = pattern = None
    area = None
    if s.type == "plate":
        if s.plate is None:
            raise ProxyError("invalid_request", "`plate` is required for type plate")
        plate = normalize_plate(s.plate)
        if plate is None:
            raise ProxyError(
                "invalid_request", "`plate` must be 1-10 ASCII letters and digits after normalising"
            )
    elif s.type == "partial_plate":
        if s.pattern is None:
            raise ProxyError("invalid_request", "`pattern` is required for type partial_plate")
        pattern = normalize_pattern(s.pattern)
        if pattern is None:
            raise ProxyError(
                "invalid_request",
                "`pattern` needs at least 4 known characters; use * and ? as wildcards",
            )
    else:
        if s.area is None:
            raise ProxyError("invalid_request", "`area` is required for type area")
        area = Area(s.area.lat, s.area.lon, s.area.radius_m)
    state = None
    if s.plate_state is not None:
        state = s.plate_state.strip().upper()
        if len(state) != 2 or not state.isascii() or not state.isalpha():
            raise ProxyError("invalid_request", "`plate_state` must be a two-letter code")
    obo = None
    if s.on_behalf_of is not None:
        obo = OnBehalfOf(s.on_behalf_of.ori, s.on_behalf_of.person)
    return SearchQuery(
        type=s.type,
        from_=s.from_,
        to=s.to,
        purpose=s.purpose,
        case_number=s.case_number,
        justification=s.justification,
        on_behalf_of=obo,
        plate=plate,
        plate_state=state,
        pattern=pattern,
        area=area,
    )
