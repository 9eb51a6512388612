"""Frozen settings from a TOML file plus `ALPR_PROXY_<SECTION>_<KEY>` environment overrides.

Validated once at start: an unknown key or a wrong type is an error, never a silent default,
because a typo in a security product's config must not quietly change what it enforces.
Relative file paths are resolved against the config file's directory.
"""

from __future__ import annotations

import logging
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import msgspec

from proxy.audit.witness_status import quorum_warning
from proxy.witness.client import WitnessConfigError, WitnessEndpoint


class ServerSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    max_body_bytes: int = 64 * 1024
    # Requests waiting longer than this for their audit commit get 503 audit_unavailable.
    audit_wait_timeout_s: float = 10.0
    # A request body must arrive within this (a client trickling it gets 408); a connection
    # must complete its request headers within keepalive_timeout_s of opening or of its last
    # response (slow-header clients are closed), and idle keep-alive connections close then.
    read_timeout_s: float = 30.0
    keepalive_timeout_s: float = 75.0


class DatabaseSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    store_dsn: str = ""
    audit_dsn: str = ""
    # `alpr-proxy migrate` connects with these when set (a role allowed to create schemas and
    # roles); the proxy itself uses the least-privileged store_dsn / audit_dsn.
    migrate_store_dsn: str = ""
    migrate_audit_dsn: str = ""
    # `alpr-proxy retention purge` deletes reads past retention as this role (SELECT and DELETE
    # on alpr.reads only); never the proxy's read-only store_dsn.
    purge_dsn: str = ""
    store_pool_size: int = 10
    audit_pool_size: int = 4
    # Rows a search may examine at most; reaching it marks the response truncated.
    search_row_limit: int = 50_000
    connect_timeout_s: float = 5.0
    statement_timeout_s: float = 10.0


class AuthSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    issuer: str = ""
    audience: str = "alpr-proxy"
    jwks_url: str = ""
    jwks_file: str = ""
    public_key_file: str = ""
    algorithms: list[str] = msgspec.field(default_factory=lambda: ["RS256", "ES256", "EdDSA"])
    dev_private_key_file: str = ""
    leeway_s: int = 30
    # Invalid tokens are logged as auth_failure entries up to this many per client address per
    # minute; the rest are only counted in a metric, so a flood cannot fill the log.
    auth_failure_entries_per_minute: int = 10
    # ... and this many in total, whatever the address (behind a TLS terminator or a NAT every
    # client has one address); the rest are counted in the same metric.
    auth_failure_entries_per_minute_total: int = 120
    # The console's sign-in (OpenID Connect, authorization code + PKCE): its client id at the
    # IdP (empty: no sign-in), the IdP's issuer URL (empty: `issuer`; discovery is
    # {oidc_issuer}/.well-known/openid-configuration), the scopes it asks for, and the RFC 8707
    # resource indicator some IdPs need to issue an access token for this proxy (optional).
    console_client_id: str = ""
    oidc_issuer: str = ""
    console_scopes: list[str] = msgspec.field(default_factory=lambda: ["openid", "profile"])
    console_resource: str = ""


class ConsoleSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    # Map tiles for the console's maps: a URL template such as
    # https://tile.example.org/{z}/{x}/{y}.png; empty: no tiles, a plain view (offline).
    # Its origin is the only third-party origin the console's CSP ever admits.
    tile_url: str = ""


class PolicySettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    file: str = "policy.toml"
    # SPEC §11: one <ORI>.grant (and, for a key change, <ORI>.keys) per owner with grant_keys;
    # "" means none, so such owners share with no one.
    grants_dir: str = ""


class WitnessSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One `[[log.witnesses]]` entry (SPEC §10): name (= the key's name), url, key (vkey)."""

    name: str
    url: str
    key: str


class LogSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    origin: str = "example.org/alpr-proxy/audit"
    signing_key_file: str = "log-signing.key"
    checkpoint_interval_s: float = 5.0
    max_batch: int = 1000
    max_queue: int = 20000
    # SPEC §10: cosignatures a checkpoint needs before it is published (0 = no witnesses), and
    # how long committed entries may stay uncovered by such a checkpoint before searches stop.
    witness_quorum: int = 0
    max_unwitnessed_s: float = 60.0
    witnesses: list[WitnessSettings] = msgspec.field(default_factory=list)


class MetricsSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    # SPEC §9a: /metrics on its own listener, never the API port (per-search counts seen there
    # could reveal what a search withheld). Port 0 picks a free port (logged at start).
    listen: str = "127.0.0.1:9464"
    bearer_token_file: str = ""  # when set, scrapers must send `Authorization: Bearer <it>`

    @property
    def address(self) -> tuple[str, int]:
        return split_host_port(self.listen, "metrics.listen")


class Settings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    server: ServerSettings = msgspec.field(default_factory=ServerSettings)
    database: DatabaseSettings = msgspec.field(default_factory=DatabaseSettings)
    auth: AuthSettings = msgspec.field(default_factory=AuthSettings)
    policy: PolicySettings = msgspec.field(default_factory=PolicySettings)
    log: LogSettings = msgspec.field(default_factory=LogSettings)
    metrics: MetricsSettings = msgspec.field(default_factory=MetricsSettings)
    console: ConsoleSettings = msgspec.field(default_factory=ConsoleSettings)


class SettingsError(ValueError):
    pass


def split_host_port(value: str, setting: str) -> tuple[str, int]:
    """`host:port` or `[v6 address]:port` -> (host, port)."""
    host, sep, port = value.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not sep or not host or "[" in host or "]" in host or not port.isdigit():
        raise SettingsError(f"config: {setting} must be host:port, got {value!r}")
    if not 0 <= int(port) <= 65535:
        raise SettingsError(f"config: {setting}: port {port} is not between 0 and 65535")
    return host, int(port)


_PATH_KEYS = {
    ("auth", "jwks_file"),
    ("auth", "public_key_file"),
    ("auth", "dev_private_key_file"),
    ("policy", "file"),
    ("policy", "grants_dir"),
    ("log", "signing_key_file"),
    ("metrics", "bearer_token_file"),
}
_LIST_KEYS = {("auth", "algorithms"), ("auth", "console_scopes")}
_NO_ENV_KEYS = {("log", "witnesses")}  # an array of tables: the config file only


_SECTIONS: dict[str, type[msgspec.Struct]] = {
    "server": ServerSettings,
    "database": DatabaseSettings,
    "auth": AuthSettings,
    "policy": PolicySettings,
    "log": LogSettings,
    "metrics": MetricsSettings,
    "console": ConsoleSettings,
}


def _env_overrides(env: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for section, struct in _SECTIONS.items():
        for key in struct.__struct_fields__:
            name = f"ALPR_PROXY_{section.upper()}_{key.upper()}"
            if name not in env or (section, key) in _NO_ENV_KEYS:
                continue
            raw = env[name]
            value: Any = raw
            if (section, key) in _LIST_KEYS:
                value = [part.strip() for part in raw.split(",") if part.strip()]
            out.setdefault(section, {})[key] = value
    return out


def load_settings(
    path: str | Path | None = None,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
) -> Settings:
    """Read `path` (optional), apply environment and explicit overrides, validate."""
    env = os.environ if env is None else env
    data: dict[str, dict[str, Any]] = {}
    base = Path.cwd()
    if path is not None:
        p = Path(path)
        try:
            parsed = tomllib.loads(p.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise SettingsError(f"cannot read config {p}: {exc}") from exc
        for section, values in parsed.items():
            if not isinstance(values, dict):
                raise SettingsError(f"config: [{section}] must be a table")
            data[section] = dict(values)
        base = p.resolve().parent
    for layer in (_env_overrides(env), overrides or {}):
        for section, values in layer.items():
            data.setdefault(section, {}).update(values)
    for section, key in _PATH_KEYS:
        value = data.get(section, {}).get(key)
        if isinstance(value, str) and value and not Path(value).is_absolute():
            data[section][key] = str(base / value)
    try:
        # strict=False lets environment strings become ints and floats; types are still checked.
        settings = msgspec.convert(data, Settings, strict=False)
    except msgspec.ValidationError as exc:
        raise SettingsError(f"config: {exc}") from exc
    _check(settings)
    return settings


def _check(s: Settings) -> None:
    if s.metrics.address[1] == s.server.port != 0:  # 0: each gets a free port of its own
        raise SettingsError("config: metrics.listen must not use the API port (server.port)")
    if not 1 <= s.server.workers <= 64:
        raise SettingsError("config: server.workers must be between 1 and 64")
    if s.server.read_timeout_s <= 0 or s.server.keepalive_timeout_s <= 0:
        raise SettingsError("config: server.read_timeout_s and keepalive_timeout_s must be > 0")
    if s.log.checkpoint_interval_s <= 0:
        raise SettingsError("config: log.checkpoint_interval_s must be positive")
    if s.log.max_batch < 1 or s.log.max_queue < 1:
        raise SettingsError("config: log.max_batch and log.max_queue must be positive")
    _check_witnesses(s.log)
    _check_console(s)
    sources = [x for x in (s.auth.jwks_url, s.auth.jwks_file, s.auth.public_key_file) if x]
    if len(sources) > 1:
        raise SettingsError(
            "config: set exactly one of auth.jwks_url, auth.jwks_file, auth.public_key_file"
        )


def _check_console(s: Settings) -> None:
    """The console's URLs are written into its Content-Security-Policy: each must be an
    absolute https URL (http only on loopback, for tests and a local IdP)."""
    urls = {"console.tile_url": s.console.tile_url}
    if s.auth.console_client_id:
        urls["auth.oidc_issuer (or auth.issuer)"] = s.auth.oidc_issuer or s.auth.issuer
    for name, url in urls.items():
        if url and url_origin(url) is None:
            raise SettingsError(
                f"config: {name} must be an https URL (http only on loopback), got {url!r}"
            )


def url_origin(url: str) -> str | None:
    """`scheme://host[:port]` of an https URL (or an http URL on a loopback host), else None."""
    parts = urlsplit(url)
    loopback = parts.hostname in ("127.0.0.1", "::1", "localhost")
    if not parts.hostname or not (parts.scheme == "https" or (parts.scheme == "http" and loopback)):
        return None
    # Leaflet's {s} subdomain placeholder becomes CSP's wildcard subdomain.
    host = parts.netloc.rpartition("@")[2].replace("{s}", "*")
    return f"{parts.scheme}://{host}"


def _check_witnesses(log: LogSettings) -> None:
    """SPEC §10: each witness's name is its key's name; the quorum counts distinct keys."""
    if log.witness_quorum < 0:
        raise SettingsError("config: log.witness_quorum must be >= 0")
    try:  # checked even while the quorum is 0: a typo must not wait to surface
        endpoints = [WitnessEndpoint.from_config(w.name, w.url, w.key) for w in log.witnesses]
    except WitnessConfigError as exc:
        raise SettingsError(f"config: log.witnesses: {exc}") from None
    names = [w.name for w in endpoints]
    if len(set(names)) != len(names):
        raise SettingsError(f"config: log.witnesses: a name appears twice in {names}")
    if log.witness_quorum == 0:
        return
    if log.max_unwitnessed_s <= 0:
        raise SettingsError("config: log.max_unwitnessed_s must be > 0 when witness_quorum > 0")
    distinct = len({w.verifier.public_key for w in endpoints})
    if log.witness_quorum > distinct:
        raise SettingsError(
            f"config: log.witness_quorum = {log.witness_quorum} exceeds the {distinct} distinct"
            " witness keys in [[log.witnesses]]"
        )
    if (warning := quorum_warning(endpoints, log.witness_quorum)) is not None:
        logging.getLogger("alpr_proxy").warning("config: %s", warning)
