"""The HTTP side of `audit verify --url`: the checkpoint, consistency proofs and entry ranges.

Every answer that is not what a healthy proxy gives to a valid oversight token (a 401 or 403,
a 5xx, an unexpected media type, a refused connection) is a :class:`RemoteSetupError`: the
verification could not run, which is not evidence against the log. Entry ranges are streamed:
the response body is split into lines as it arrives and never held whole.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp

from proxy.audit.verify import ConsistencyProof, VerificationError, parse_consistency_proof

MAX_ENTRY_BYTES = 16 * 1024 * 1024  # far above any entry; a bound on what one line may buffer
_CHUNK = 64 * 1024


class RemoteSetupError(Exception):
    """The verification could not run: URL, token, network or server (exit 2)."""


@dataclass(frozen=True)
class Answer:
    status: int
    code: str  # the SPEC envelope's error code, or "" when there is none
    message: str


def _explain(what: str, answer: Answer) -> str:
    text = f"{what}: HTTP {answer.status}"
    if answer.code:
        text += f" {answer.code}"
    if answer.message:
        text += f": {answer.message}"
    if answer.status in (401, 403):
        text += " (check --token / --token-file: verification needs an oversight token)"
    elif answer.status == 404 and not answer.code:
        text += " (check --url: is it the proxy's base URL?)"
    return text


async def _answer(resp: aiohttp.ClientResponse) -> Answer:
    raw = await resp.content.read(4096)
    try:
        error = json.loads(raw)["error"]
        return Answer(resp.status, str(error["code"]), str(error["message"]))
    except (ValueError, KeyError, TypeError):
        return Answer(resp.status, "", raw[:200].decode("utf-8", "replace").strip())


def _media(resp: aiohttp.ClientResponse) -> str:
    return resp.headers.get("Content-Type", "").split(";")[0].strip().lower()


@dataclass(frozen=True)
class LogClient:
    """The proxy at ``base`` (no trailing slash), as the holder of ``token`` sees it."""

    session: aiohttp.ClientSession
    base: str
    token: str

    @property
    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def checkpoint(self) -> bytes:
        async with self.session.get(f"{self.base}/v1/log/checkpoint", headers=self._auth) as resp:
            if resp.status != 200:
                raise RemoteSetupError(_explain("GET /v1/log/checkpoint", await _answer(resp)))
            if _media(resp) != "text/plain":
                raise RemoteSetupError(
                    f"GET /v1/log/checkpoint: {_media(resp) or 'no'} content type, not a"
                    " signed note (check --url)"
                )
            return await resp.content.read(1024 * 1024)

    async def consistency(self, old: int, size: int) -> ConsistencyProof | None:
        """The server's proof that ``size`` extends ``old``; None when it answers that it
        cannot give one (400): for a checkpoint it signed, that is the log's failure."""
        url = f"{self.base}/v1/log/proof/consistency?old={old}&size={size}"
        async with self.session.get(url, headers=self._auth) as resp:
            if resp.status == 400:
                return None
            if resp.status != 200:
                raise RemoteSetupError(
                    _explain("GET /v1/log/proof/consistency", await _answer(resp))
                )
            try:
                proof = parse_consistency_proof(await resp.read())
            except VerificationError:
                return None
            if (proof.old, proof.size) != (old, size):
                return None
            return proof

    async def entries(self, start: int, end: int) -> AsyncIterator[bytes]:
        """The entries ``[start, end)`` the server sends (perhaps fewer), one at a time."""
        url = f"{self.base}/v1/log/entries?start={start}&end={end}"
        async with self.session.get(url, headers=self._auth) as resp:
            if resp.status != 200:
                raise RemoteSetupError(_explain("GET /v1/log/entries", await _answer(resp)))
            if _media(resp) != "application/jsonl":
                raise RemoteSetupError(f"GET /v1/log/entries: {_media(resp)!r}, not jsonl")
            buffer = b""
            async for chunk in resp.content.iter_chunked(_CHUNK):
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    yield line
                if len(buffer) > MAX_ENTRY_BYTES:
                    raise RemoteSetupError(f"an entry after index {start} exceeds 16 MiB")
            if buffer:  # the body ended inside an entry: a cut connection or a broken server
                raise RemoteSetupError(f"entries from {start}: the response ended mid-entry")
