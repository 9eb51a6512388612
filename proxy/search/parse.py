"""`POST /v1/search` bodies: strict JSON types in, a normalised SearchQuery out.

The body is decoded once into plain JSON values (kept verbatim for the audit entry: the query
"exactly as asked"), then converted with msgspec into typed structs that reject wrong types,
unknown fields and naive timestamps. Anything malformed is `invalid_request`, never a 500:
duplicate keys (the decision and the audit entry must see one value), timestamps that cannot be
represented in UTC, an `on_behalf_of.ori` that is not an ORI, bidi controls and blank fillers in
any string, and free text without a letter or digit once invisible characters are removed
(the optional `declaration` may hold no invisible character at all).
"""

from __future__ import annotations

import contextlib
import json
import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import msgspec
import orjson

from proxy.errors import ProxyError
from proxy.model import ORI_SYNTAX, Area, OnBehalfOf, SearchQuery, is_ori
from proxy.policy.declaration import MAX_DECLARATION_CHARS, declaration_problem
from proxy.policy.plates import normalize_pattern, normalize_plate
from proxy.policy.text import has_text, refused_character

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
    # An extension of the search contract (docs/api.md): a written declaration some sharing
    # rules require (proxy.policy.declaration).
    declaration: Annotated[str, msgspec.Meta(max_length=MAX_DECLARATION_CHARS)] | None = None
    # SPEC §12: the audit index of the approved request this search repeats. An index, so at
    # most 63 bits; 0 is never a search (the log opens with policy_loaded).
    approval: Annotated[int, msgspec.Meta(ge=1, le=2**63 - 1)] | None = None


_decoder = msgspec.json.Decoder()


def decode_body(body: bytes) -> Any:
    """The body as plain JSON values, or raise invalid_request."""
    try:
        value = _decoder.decode(body)
        # The audit entry keeps the query exactly as asked, so it must be able to hold it:
        # canonical JSON (orjson) has no integers beyond 64 bits and no nesting beyond 254
        # levels, both of which msgspec decodes.
        orjson.dumps(value)
        _refuse_duplicate_keys(body, value)
        return value
    except orjson.JSONEncodeError as exc:
        raise ProxyError("invalid_request", f"body cannot be recorded exactly: {exc}") from None
    except msgspec.DecodeError as exc:
        raise ProxyError("invalid_request", f"body is not valid JSON: {exc}") from None
    except UnicodeDecodeError:  # msgspec raises it, not DecodeError, for invalid UTF-8
        raise ProxyError("invalid_request", "body is not valid UTF-8") from None
    except RecursionError:
        raise ProxyError("invalid_request", "body is nested too deeply") from None


# A JSON string (the body is valid JSON by now). Outside strings, ':' only ends an object key,
# so the colons left after removing strings count the keys as sent; fewer keys decoded means a
# repeat. No second parse on the hot path: about 2 us for a typical 300-byte body.
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')


def _colons_outside_strings(body: bytes) -> int:
    if b"\\" not in body:  # no escapes: every quote opens or closes a string
        return b"".join(body.split(b'"')[::2]).count(b":")
    return _JSON_STRING.sub(b"", body).count(b":")


def _key_count(value: Any) -> int:
    if isinstance(value, dict):
        return len(value) + sum(_key_count(v) for v in value.values())
    if isinstance(value, list):
        return sum(_key_count(v) for v in value)
    return 0


def _refuse_duplicate_keys(body: bytes, value: Any) -> None:
    if _colons_outside_strings(body) == _key_count(value):
        return

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: set[str] = set()
        for key, _ in items:
            if key in seen:
                raise ProxyError("invalid_request", f"body repeats the key {key!r}")
            seen.add(key)
        return dict(items)

    # json.loads names the repeated key; it cannot fail on a body msgspec decoded, but if it
    # did, the body is refused all the same.
    with contextlib.suppress(ValueError, RecursionError):
        json.loads(body, object_pairs_hook=pairs)
    raise ProxyError("invalid_request", "body repeats a key")


def _instant(name: str, value: datetime) -> datetime:
    try:
        value.astimezone(UTC)  # the store and every comparison work in UTC
    except OverflowError:
        raise ProxyError("invalid_request", f"`{name}` is out of range in UTC") from None
    return value


def _check_text(s: SearchIn) -> None:
    obo = s.on_behalf_of
    strings = {
        "purpose": s.purpose,
        "plate": s.plate,
        "plate_state": s.plate_state,
        "pattern": s.pattern,
        "case_number": s.case_number,
        "justification": s.justification,
        "on_behalf_of.ori": obo.ori if obo else None,
        "on_behalf_of.person": obo.person if obo else None,
    }
    for name, value in strings.items():
        why = refused_character(value) if value else None
        if why is not None:
            raise ProxyError("invalid_request", f"`{name}` {why}")
    # Blank (empty or spaces) is left to the policy's *_required checks; text that is there but
    # invisible is refused here. A person, when given, must be named.
    for name in ("purpose", "case_number", "justification", "on_behalf_of.person"):
        value = strings[name]
        visible = bool(value and value.strip()) or name == "on_behalf_of.person"
        if value is not None and visible and not has_text(value):
            raise ProxyError(
                "invalid_request",
                f"`{name}` has no letter or digit once invisible characters are removed",
            )
    if obo is not None and not is_ori(obo.ori):
        raise ProxyError("invalid_request", f"`on_behalf_of.ori` must be an ORI: {ORI_SYNTAX}")
    # Stricter than the other text: an invisible character could only make a declaration
    # silently fail to match, withholding reads without telling the investigator why.
    why = declaration_problem(s.declaration) if s.declaration is not None else None
    if why is not None:
        raise ProxyError("invalid_request", f"`declaration` {why}")


def parse_search(asked: Any) -> SearchQuery:
    if not isinstance(asked, dict):
        raise ProxyError("invalid_request", "body must be a JSON object")
    try:
        s = msgspec.convert(asked, SearchIn)
    except msgspec.ValidationError as exc:
        raise ProxyError("invalid_request", str(exc)) from None
    _check_text(s)
    _instant("from", s.from_)
    _instant("to", s.to)
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
        declaration=s.declaration,
        approval=s.approval,
    )
