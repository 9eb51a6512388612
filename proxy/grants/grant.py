"""One owner's grant file, and its key-change file, checked (SPEC §11). Pure: the file's bytes,
the owner's keys and quorum, this deployment's log origin and ``now`` in; a ``Grant`` (or
``KeyChange``) out, or ``GrantRefused`` with the first reason that applies, in this order:
signatures (unsigned, bad_signature, under_signed), then the text (invalid), then what it says
(wrong_owner, wrong_deployment, future_dated, expired). Rollback needs the record and is judged
by ``proxy.grants.effective``."""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar

from proxy.grants.reasons import GrantRefused
from proxy.grants.signed import SignedText, open_owner_note
from proxy.policy.grant_body import (
    GrantBody,
    KeyChangeBody,
    parse_grant_body,
    parse_key_change_body,
)
from proxy.policy.model import PolicyError


class _Named(Protocol):
    """What a grant and a key change both say: whose, for which log, issued when."""

    @property
    def owner(self) -> str: ...
    @property
    def deployment(self) -> str: ...
    @property
    def issued(self) -> datetime: ...


_Body = TypeVar("_Body", bound=_Named)


@dataclass(frozen=True, slots=True)
class Grant:
    body: GrantBody
    signed: SignedText


@dataclass(frozen=True, slots=True)
class KeyChange:
    body: KeyChangeBody
    signed: SignedText


def _toml(text: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise GrantRefused("invalid", f"not valid TOML: {exc}") from None


def _fields(error: PolicyError) -> GrantRefused:
    return GrantRefused("invalid", "; ".join(str(e) for e in error.errors))


def _names(owner: str, origin: str, said_owner: str, said_origin: str) -> None:
    if said_owner != owner:
        raise GrantRefused("wrong_owner", f"names owner {said_owner!r}, not {owner!r}")
    if said_origin != origin:
        raise GrantRefused(
            "wrong_deployment", f"names deployment {said_origin!r}, this log is {origin!r}"
        )


def _body(
    parse: Callable[[dict[str, Any]], _Body], text: str, owner: str, origin: str, now: datetime
) -> _Body:
    """A signed text's body, parsed, naming this owner and deployment, and issued by now."""
    try:
        body = parse(_toml(text))
    except PolicyError as exc:
        raise _fields(exc) from None
    _names(owner, origin, body.owner, body.deployment)
    if body.issued > now:
        raise GrantRefused("future_dated", f"issued {body.issued.isoformat()}, later than now")
    return body


def check_grant(
    data: bytes, owner: str, keys: Sequence[str], quorum: int, origin: str, now: datetime
) -> Grant:
    """The grant, if validly signed and in its validity window now; else GrantRefused."""
    signed = open_owner_note(data, keys, quorum)
    body = _body(parse_grant_body, signed.text, owner, origin, now)
    if body.expires <= now:
        raise GrantRefused("expired", f"expired {body.expires.isoformat()}")
    return Grant(body, signed)


def check_key_change(
    data: bytes, owner: str, keys: Sequence[str], quorum: int, origin: str, now: datetime
) -> KeyChange:
    """A key change signed by a quorum of the keys on record (``keys``, ``quorum``)."""
    signed = open_owner_note(data, keys, quorum)
    return KeyChange(_body(parse_key_change_body, signed.text, owner, origin, now), signed)
