"""`GET /v1/log/entries?start=S&end=E` (SPEC §10): a range of entries, for verifying over HTTP.

Entries ``[S, E)`` that exist (fewer when the log ends before ``E``; none when it ends at or
before ``S``), at most 10,000, each entry's exact canonical bytes followed by ``\\n``, as
``application/jsonl``. Oversight sees every entry; an auditor only a range whose every entry
concerns their agency (the scope of ``GET /v1/log/entries/{index}``), else 403 and nothing.
One ``audit_access`` entry per request, committed before the first byte of the body: reading
the log is on the record, and a verification grows the log by one entry per range, not by its
own size.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web
from multidict import MultiMapping

from proxy.errors import ErrorCode, ProxyError
from proxy.http.audit_api import AUDIT_INDEX_HEADER, ROLES, record_access, visible
from proxy.http.common import authenticate, read_audit
from proxy.http.log_api import parse_index
from proxy.http.state import AUDIT_POOL

MAX_RANGE = 10_000
MEDIA_TYPE = "application/jsonl"
ENDPOINT = "GET /v1/log/entries"
_WRITE_BATCH = 256  # entries joined per write: few syscalls, small buffers
_PARAMS = frozenset({"start", "end"})


@dataclass(frozen=True)
class EntryRange:
    start: int
    end: int  # exclusive


def parse_range(query: MultiMapping[str]) -> EntryRange:
    """``start`` and ``end`` exactly once each, non-negative, ``start <= end``, at most 10,000."""
    unknown = sorted(set(query) - _PARAMS)
    if unknown:
        raise ProxyError("invalid_request", f"unknown query parameter `{unknown[0]}`")
    values: dict[str, int] = {}
    for name in ("start", "end"):
        given = query.getall(name, [])
        if len(given) != 1:
            raise ProxyError("invalid_request", f"query parameter `{name}` is required, once")
        values[name] = parse_index(given[0], name)
    start, end = values["start"], values["end"]
    if end < start:
        raise ProxyError("invalid_request", f"end {end} is before start {start}")
    if end - start > MAX_RANGE:
        raise ProxyError(
            "invalid_request", f"at most {MAX_RANGE} entries per request, asked {end - start}"
        )
    return EntryRange(start, end)


async def _read(request: web.Request, wanted: EntryRange) -> list[bytes]:
    async def read() -> list[bytes]:
        rows = await request.app[AUDIT_POOL].fetch(
            "SELECT idx, body FROM audit.entries WHERE idx >= $1 AND idx < $2 ORDER BY idx",
            wanted.start,
            wanted.end,
        )
        bodies = []
        for expected, row in enumerate(rows, wanted.start):
            if int(row["idx"]) != expected:  # a hole is the log's fault: never hide it
                break
            bodies.append(bytes(row["body"]))
        return bodies

    return await read_audit(read)  # type: ignore[no-any-return]


async def entries(request: web.Request) -> web.StreamResponse:
    principal = await authenticate(request, roles=ROLES)
    wanted = parse_range(request.query)
    bodies = await _read(request, wanted)
    refused: ErrorCode | None = None
    if not all(visible(principal, body) for body in bodies):
        refused = "forbidden_role"
    filters = {"start": wanted.start, "end": wanted.end}
    at = await record_access(
        request, principal, ENDPOINT, filters, 0 if refused else len(bodies), refused
    )
    if refused is not None:
        raise ProxyError(
            "forbidden_role",
            "this range holds entries that do not concern your agency",
            audit_index=at,
        )
    response = web.StreamResponse(headers={AUDIT_INDEX_HEADER: str(at)})
    response.content_type = MEDIA_TYPE
    await response.prepare(request)
    for i in range(0, len(bodies), _WRITE_BATCH):
        await response.write(b"".join(b + b"\n" for b in bodies[i : i + _WRITE_BATCH]))
    await response.write_eof()
    return response
