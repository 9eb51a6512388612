"""`audit verify --state FILE`: the checkpoint a verifier last verified, kept between runs.

The file is the verifier's own memory (what catches a rollback): JSON holding the origin, size
and root of the last fully verified checkpoint and its signed note as served. It is written
atomically (a temporary file in the same directory, fsync, rename, fsync of the directory),
mode 0600, and only after a verification succeeded. On load the note is verified again with the
log key, so a damaged or foreign file is a configuration error, never a silent reset.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from proxy.audit.verify import VerificationError, Verifier, verify_checkpoint

FORMAT = "alpr-proxy verify state v1"


class StateFileError(Exception):
    """The state file cannot be read, parsed, or does not belong to this log (exit 2)."""


@dataclass(frozen=True)
class VerifiedState:
    origin: str
    size: int
    root: bytes
    note: bytes  # the checkpoint as served when it was verified

    def describe(self) -> str:
        return f"size {self.size}, root {base64.b64encode(self.root).decode()}"


def load_state(path: Path, key: Verifier) -> VerifiedState | None:
    """The remembered checkpoint; None if the file does not exist (a first run)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StateFileError(f"cannot read state file {path}: {exc}") from exc
    try:
        data = json.loads(raw)
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError(f"not a {FORMAT!r} file")
        note = str(data["note"]).encode()
        cp = verify_checkpoint(note, key, origin=key.name)
    except (ValueError, KeyError, TypeError, VerificationError) as exc:
        raise StateFileError(
            f"state file {path} is not usable with --key {key.name}: {exc}"
        ) from exc
    state = VerifiedState(cp.origin, cp.size, cp.root_hash, note)
    if data.get("size") != state.size or data.get("root") != _b64(state.root):
        raise StateFileError(f"state file {path}: size or root disagrees with its note")
    return state


def save_state(path: Path, state: VerifiedState) -> None:
    """Replace ``path`` atomically with ``state`` (mode 0600)."""
    text = json.dumps(
        {
            "format": FORMAT,
            "origin": state.origin,
            "size": state.size,
            "root": _b64(state.root),
            "note": state.note.decode(),
        },
        indent=2,
    )
    directory = path.parent if str(path.parent) else Path(".")
    tmp = directory / f".{path.name}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text + "\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()
