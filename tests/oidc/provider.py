"""Start tests/oidc/provider.mjs (the npm package oidc-provider on the machine's Node.js) for
the test session: a real OpenID provider with the console as a public PKCE client.

Its npm dependencies are installed with `npm ci` (the committed package-lock.json) into a cache
directory keyed by the lock file's hash, once per machine; the script is copied beside them,
since Node resolves an ES module's imports from the module's own directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
CACHE_ENV = "ALPR_PROXY_TEST_CACHE"
SCOPE = "alpr"


@dataclass(frozen=True)
class OidcProvider:
    issuer: str
    client_id: str
    audience: str
    resource: str

    @property
    def jwks_url(self) -> str:
        return f"{self.issuer}/jwks"


def node_missing_reason() -> str | None:
    if shutil.which("node") is None or shutil.which("npm") is None:
        return "Node.js is not installed (Debian: apt-get install -y nodejs npm)"
    return None


def installed_dir() -> Path:
    """The cache directory with node_modules for the committed lock file (npm ci once)."""
    lock = (HERE / "package-lock.json").read_bytes()
    base = Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "alpr-proxy-tests")
    target = base / f"oidc-{hashlib.sha256(lock).hexdigest()[:16]}"
    if not (target / "node_modules" / "oidc-provider").is_dir():
        target.mkdir(parents=True, exist_ok=True)
        for name in ("package.json", "package-lock.json"):
            shutil.copyfile(HERE / name, target / name)
        subprocess.run(
            ["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=target,
            check=True,
            timeout=300,
        )
    shutil.copyfile(HERE / "provider.mjs", target / "provider.mjs")
    return target


@contextlib.asynccontextmanager
async def running_provider(
    redirect_uris: Sequence[str],
    users: Mapping[str, Mapping[str, object]],
    *,
    client_id: str = "console",
    audience: str = "alpr-proxy",
) -> AsyncIterator[OidcProvider]:
    directory = installed_dir()
    scratch = Path(tempfile.mkdtemp(prefix="alpr-proxy-oidc-"))
    config = scratch / "config.json"
    config.write_text(
        json.dumps(
            {
                "audience": audience,
                "scope": SCOPE,
                "clients": [{"client_id": client_id, "redirect_uris": list(redirect_uris)}],
                "users": users,
            }
        )
    )
    log = (scratch / "provider.log").open("wb")  # its warnings; kept only when it fails
    proc = await asyncio.create_subprocess_exec(
        "node",
        "provider.mjs",
        str(config),
        cwd=directory,
        stdout=asyncio.subprocess.PIPE,
        stderr=log,
    )
    started = False
    try:
        assert proc.stdout is not None
        async with asyncio.timeout(30):
            line = (await proc.stdout.readline()).decode().strip()
        assert line.startswith("issuer "), f"provider did not start: {line!r} (see {log.name})"
        started = True
        issuer = line.removeprefix("issuer ")
        yield OidcProvider(issuer, client_id, audience, f"urn:{audience}")
    finally:
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
        await proc.wait()
        log.close()
        if started:
            shutil.rmtree(scratch, ignore_errors=True)
