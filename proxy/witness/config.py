"""Witness configuration (SPEC §10): ``[witness]`` and ``[[witness.logs]]`` in TOML.

Validated once at start; an unknown key, a wrong type or an unusable key is an error, never a
default. Scalar keys of ``[witness]`` may be overridden as ``ALPR_PROXY_WITNESS_<KEY>`` (SPEC §3).
Relative file paths are resolved against the config file's directory.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from proxy.audit.verify import VerificationError, Verifier, is_valid_key_name


class WitnessConfigError(ValueError):
    """A configuration mistake; the message is one line naming the setting."""


class LogEntry(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    origin: str
    keys: list[str]


class WitnessSection(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: str
    signing_key_file: str = "witness.key"
    listen: str = "127.0.0.1:9300"
    state: str = "witness.db"
    logs: list[LogEntry] = msgspec.field(default_factory=list)
    max_body_bytes: int = 64 * 1024  # 63 proof lines and a checkpoint with many signatures


@dataclass(frozen=True)
class WitnessConfig:
    name: str
    signing_key_file: Path
    host: str
    port: int
    state: Path
    log_keys: Mapping[str, tuple[Verifier, ...]]  # origin -> trusted log keys (type 0x01)
    max_body_bytes: int


_SCALARS = ("name", "signing_key_file", "listen", "state", "max_body_bytes")


def split_host_port(value: str) -> tuple[str, int]:
    """``host:port`` or ``[v6 address]:port``."""
    host, sep, port = value.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise WitnessConfigError(f"config: witness.listen must be host:port, got {value!r}")
    return host, int(port)


def _log_keys(logs: list[LogEntry]) -> dict[str, tuple[Verifier, ...]]:
    out: dict[str, tuple[Verifier, ...]] = {}
    for i, log in enumerate(logs):
        where = f"config: witness.logs[{i}]"
        if not log.origin or any(c < " " for c in log.origin):
            raise WitnessConfigError(f"{where}.origin must be one non-empty line")
        if log.origin in out:
            raise WitnessConfigError(f"{where}: origin {log.origin!r} is configured twice")
        if not log.keys:
            raise WitnessConfigError(f"{where}.keys: at least one log vkey is needed")
        try:
            verifiers = tuple(Verifier.from_key(k.strip()) for k in log.keys)
        except VerificationError as exc:
            raise WitnessConfigError(f"{where}.keys: {exc} (want type 0x01 log vkeys)") from None
        if len({(v.name, v.key_hash) for v in verifiers}) != len(verifiers):
            raise WitnessConfigError(f"{where}.keys: a key is listed twice")
        out[log.origin] = verifiers
    return out


def _read(path: Path, env: Mapping[str, str]) -> dict[str, Any]:
    try:
        parsed = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise WitnessConfigError(f"cannot read config {path}: {exc}") from None
    unknown = sorted(set(parsed) - {"witness"})
    if unknown:
        raise WitnessConfigError(f"config: unknown section [{unknown[0]}]; want [witness]")
    section = parsed.get("witness")
    if not isinstance(section, dict):
        raise WitnessConfigError("config: a [witness] table is required")
    for key in _SCALARS:
        if (name := f"ALPR_PROXY_WITNESS_{key.upper()}") in env:
            section[key] = env[name]
    return section


def load_witness_config(path: str | Path, env: Mapping[str, str] | None = None) -> WitnessConfig:
    p = Path(path)
    section = _read(p, os.environ if env is None else env)
    try:
        w = msgspec.convert(section, WitnessSection, strict=False)
    except msgspec.ValidationError as exc:
        raise WitnessConfigError(f"config: witness: {exc}") from None
    if not is_valid_key_name(w.name):
        raise WitnessConfigError(f"config: witness.name {w.name!r}: no spaces, no '+'")
    if not w.logs:
        raise WitnessConfigError("config: no [[witness.logs]]: the witness would refuse all")
    if not 1024 <= w.max_body_bytes <= 1 << 20:
        raise WitnessConfigError("config: witness.max_body_bytes must be in [1024, 1048576]")
    host, port = split_host_port(w.listen)
    base = p.resolve().parent
    return WitnessConfig(
        name=w.name,
        signing_key_file=base / w.signing_key_file,
        host=host,
        port=port,
        state=base / w.state,
        log_keys=_log_keys(w.logs),
        max_body_bytes=w.max_body_bytes,
    )
