"""Tell a verifier's configuration mistake from a tampered log, before verifying.

A verifier key for another log, or an origin that is not the log's, makes every checkpoint fail
alike; reporting that as tampering sends an auditor chasing an attack that never happened. So
the oldest and newest stored checkpoints (and an external one) are parsed, not trusted: when
none of them carries a signature line by the given key, or none names the expected origin, a
setting is wrong and the error says which. When some do and some do not, the full verification
runs and reports the odd one out as tampering. (A log re-signed wholesale by another key looks
like a wrong key; the message says so.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from proxy.audit import verify as v

_ENDS = """
(SELECT note FROM audit.checkpoints ORDER BY size LIMIT 1)
UNION ALL
(SELECT note FROM audit.checkpoints ORDER BY size DESC LIMIT 1)
"""


class ConfigurationMismatch(Exception):
    """The key or origin given to the verifier does not belong to this log."""


@dataclass(frozen=True)
class Expected:
    key: v.Verifier
    key_setting: str  # where the key came from, for the message: "--key" or a config key
    origin: str
    origin_setting: str | None  # "log.origin" when configured; None: taken from the key's name


@dataclass(frozen=True)
class _Seen:
    origin: str
    signers: tuple[tuple[str, int], ...]


def _seen(note: object) -> _Seen | None:
    """The origin line and signature key IDs of a note, unverified; None when malformed."""
    try:
        text = note.decode() if isinstance(note, bytes) else note
        if not isinstance(text, str):
            return None
        body, _, sigs = text.rpartition("\n\n")
        signers = []
        for line in sigs.rstrip("\n").split("\n"):
            s = v.parse_signature(line)
            signers.append((s.name, s.key_hash))
        return _Seen(body.split("\n", 1)[0], tuple(signers))
    except (UnicodeDecodeError, v.VerificationError):
        return None


def check_notes(notes: Sequence[object], want: Expected) -> None:
    """Raise ConfigurationMismatch when no note is signed by the key or names the origin."""
    seen = [s for s in map(_seen, notes) if s is not None]
    if not seen:
        return
    key_id = (want.key.name, want.key.key_hash)
    if not any(key_id in s.signers for s in seen):
        found = sorted({f"{n}+{h:08x}" for s in seen for n, h in s.signers})
        raise ConfigurationMismatch(
            f"{want.key_setting}: key {want.key.name}+{want.key.key_hash:08x} did not sign this"
            f" log's checkpoints (they are signed by {', '.join(found) or 'no key'}); give the"
            " verifier key of this log. If it is the right key, every checkpoint was signed by"
            " another key: do not trust this log."
        )
    origins = {s.origin for s in seen}
    if want.origin not in origins:
        actual = ", ".join(sorted(repr(o) for o in origins))
        if want.origin_setting is None:
            where = f"log.origin is not set, so the key's name {want.origin!r} was used"
        else:
            where = f"{want.origin_setting} is {want.origin!r}"
        raise ConfigurationMismatch(
            f"{where}, but this log's checkpoints name the origin {actual}: set log.origin"
        )


async def check_log(conn: asyncpg.Connection, want: Expected, external: bytes | None) -> None:
    notes: list[object] = [row["note"] for row in await conn.fetch(_ENDS)]
    check_notes(notes, want)
    if external is not None:
        check_notes([external], want)
