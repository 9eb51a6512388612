"""`POST /v1/search` body parsing refuses what would make the decision and the audit entry
disagree, or what cannot be represented (issue 13, items 3, 4, 6, 8 and 10)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from proxy.errors import ProxyError
from proxy.search.parse import decode_body, parse_search

BODY: dict[str, Any] = {
    "type": "plate",
    "plate": "7ABC123",
    "from": "2026-01-01T00:00:00Z",
    "to": "2026-02-01T00:00:00Z",
    "purpose": "HOMICIDE",
    "case_number": "26-004211",
    "justification": "Vehicle seen leaving scene of 1/14 homicide, witness statement",
    "on_behalf_of": {"ori": "CA0300000", "person": "Det. R. Alvarez"},
}


def invalid(raw: bytes) -> str:
    with pytest.raises(ProxyError) as e:
        parse_search(decode_body(raw))
    assert e.value.code == "invalid_request"
    return e.value.message


def send(**changes: Any) -> str:
    return invalid(orjson.dumps({**BODY, **changes}))


def test_the_example_body_parses() -> None:
    q = parse_search(decode_body(orjson.dumps(BODY)))
    assert q.on_behalf_of is not None and q.on_behalf_of.ori == "CA0300000"


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        (b', "purpose": "CIVIL_IMMIGRATION"}', "purpose"),
        (b', "on_behalf_of": {"ori": "CA0010000"}}', "on_behalf_of"),
        (b', "x": {"a": 1, "a": 1}}', "a"),
    ],
)
def test_duplicate_keys_are_refused(raw: bytes, key: str) -> None:
    body = orjson.dumps(BODY)[:-1] + raw
    assert invalid(body) == f"body repeats the key {key!r}"


def test_nested_duplicate_and_escaped_keys_are_refused() -> None:
    obo = b'"on_behalf_of": {"ori": "CA0300000", "person": "a", "person": "b"}'
    assert invalid(b'{"type": "plate", ' + obo + b"}") == "body repeats the key 'person'"
    # An escaped spelling of the same key is the same key.
    raw = b'{"purpose": "HOMICIDE", "purpos\\u0065": "CIVIL_IMMIGRATION"}'
    assert invalid(raw) == "body repeats the key 'purpose'"


def test_colons_and_quotes_inside_strings_are_not_keys() -> None:
    body = {**BODY, "justification": 'He said: "go" \\ at 10:30, "to": nowhere, witness'}
    assert parse_search(decode_body(orjson.dumps(body))).justification == body["justification"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("from", "9999-12-31T23:59:59-14:00"),
        ("to", "9999-12-31T23:59:59-14:00"),
        ("from", "0001-01-01T00:00:00+14:00"),
    ],
)
def test_timestamps_outside_utc_are_invalid_request(field: str, value: str) -> None:
    changes = {field: value}
    if field == "to":
        changes["from"] = "9999-12-30T00:00:00Z"
    assert send(**changes) == f"`{field}` is out of range in UTC"


@pytest.mark.parametrize(
    "ori", ["*", "", "CA00109", "CA0010900X", "CA0010900 ", "CA 010900", "CA001090\u0130", "*" * 9]
)
def test_on_behalf_of_ori_must_be_an_ori(ori: str) -> None:
    assert "on_behalf_of.ori" in send(on_behalf_of={"ori": ori})


@pytest.mark.parametrize(
    "field", ["case_number", "justification", "purpose", "plate", "on_behalf_of.person"]
)
@pytest.mark.parametrize("char", ["\u202e", "\u202a", "\u2066", "\u200e", "\u061c", "\u3164"])
def test_bidi_controls_and_fillers_are_refused_in_every_field(field: str, char: str) -> None:
    text = f"{char}ECI\u202c Vehicle seen leaving scene of the homicide"
    if field == "plate":
        text = f"7ABC{char}123"
    changes: dict[str, Any] = {field: text}
    if field == "on_behalf_of.person":
        changes = {"on_behalf_of": {"ori": "CA0300000", "person": text}}
    message = send(**changes)
    assert message.startswith(f"`{field}` contains a ")
    assert f"(U+{ord(char):04X})" in message


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("case_number", "\u200b\u200b"),
        ("justification", "\u3164" * 25),
        ("justification", "\u2800" * 25),
        ("justification", "\u200b" * 25),
        ("purpose", "\u200b"),
        ("on_behalf_of.person", "\u200b"),
        ("on_behalf_of.person", ""),
        ("on_behalf_of.person", "  "),
    ],
)
def test_invisible_text_is_not_text(field: str, value: str) -> None:
    changes: dict[str, Any] = {field: value}
    if field == "on_behalf_of.person":
        changes = {"on_behalf_of": {"ori": "CA0300000", "person": value}}
    message = send(**changes)
    assert message.startswith(f"`{field}` ")
    assert "letter or digit" in message or "filler" in message


def test_blank_case_number_is_left_to_the_policy() -> None:
    # Spaces only: not refused here, so the policy answers case_number_required.
    body = orjson.dumps({**BODY, "case_number": "   "})
    assert parse_search(decode_body(body)).case_number == "   "


def test_a_declaration_is_kept_as_sent() -> None:
    text = "We declare   this search is\nnot for immigration enforcement."
    body = {**BODY, "declaration": text}
    assert parse_search(decode_body(orjson.dumps(body))).declaration == text
    assert parse_search(decode_body(orjson.dumps(BODY))).declaration is None


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("We declare\u202e that", "contains a bidirectional control character (U+202E)"),
        ("We de\u200bclare", "contains an invisible character (U+200B)"),
        ("We declare\u00ad", "contains an invisible character (U+00AD)"),
        ("We \u3164 declare", "contains a blank filler character (U+3164)"),
        ("", "has no letter or digit"),
        (" \n ", "has no letter or digit"),
        ("x" * 2001, "length <= 2000"),
    ],
)
def test_a_declaration_with_invisible_or_no_text_is_refused(value: str, why: str) -> None:
    message = send(declaration=value)
    assert "declaration" in message and why in message
