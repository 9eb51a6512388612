"""What HTTP sees of the witnessed log (SPEC §10): the checkpoint served, the search gate and
/readyz's witness report. With witness_quorum = 0 nothing here changes a response."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

import msgspec
from aiohttp import web

from proxy.audit.canonical import Record
from proxy.audit.verify import VerificationError
from proxy.audit.witnessing import WitnessedCheckpoint
from proxy.errors import ProxyError
from proxy.http.common import read_audit
from proxy.http.state import AUDIT_WRITER, WITNESSING


class WitnessState(msgspec.Struct, forbid_unknown_fields=True):
    """One witness in /readyz (the OpenAPI schema; witness_report builds it)."""

    name: str
    cosigned_size: int
    cosigned_at: float | None
    failures: int
    last_status: int | None
    alarm: bool


class ReadyWitnesses(msgspec.Struct, forbid_unknown_fields=True):
    quorum: int  # 0: no witnesses, and nothing else is reported
    witnessed_size: int | msgspec.UnsetType | None = msgspec.UNSET
    refusing: str | msgspec.UnsetType | None = msgspec.UNSET
    witnesses: list[WitnessState] | msgspec.UnsetType = msgspec.UNSET


async def checkpoint_note(app: web.Application) -> bytes | None:
    """The note to serve when witnesses are configured: the newest checkpoint that reached the
    quorum, with one verified cosignature line per witness that cosigned it; None without
    witnesses. 503 audit_unavailable while no checkpoint has reached the quorum."""
    witnessing = app.get(WITNESSING)
    if witnessing is None:
        return None
    try:
        witnessed: WitnessedCheckpoint | None = await read_audit(witnessing.newest)
    except VerificationError as exc:  # a stored checkpoint the log key does not open
        raise ProxyError("audit_unavailable", f"a stored checkpoint is not valid: {exc}") from None
    if witnessed is None:
        raise ProxyError(
            "audit_unavailable",
            f"no checkpoint has been cosigned by {witnessing.quorum} witnesses yet",
        )
    return witnessed.note()


def search_append(app: web.Application) -> Callable[[Record], Coroutine[Any, Any, int]]:
    """The append a search uses: the writer's, failing closed first (503 audit_unavailable,
    as when the log cannot be written) while the log is not witnessed enough."""
    append = app[AUDIT_WRITER].append
    witnessing = app.get(WITNESSING)
    if witnessing is None:
        return append

    async def guarded(record: Record) -> int:
        reason = witnessing.refusal()
        if reason is not None:
            raise ProxyError("audit_unavailable", f"searches are paused: {reason}")
        return await append(record)

    return guarded


def witnessed_check(app: web.Application) -> dict[str, bool]:
    """/readyz's check: present only when witnesses are configured."""
    witnessing = app.get(WITNESSING)
    return {} if witnessing is None else {"witnessed": witnessing.refusal() is None}


def witness_report(app: web.Application) -> dict[str, Any]:
    """Witness state for /readyz (no secrets: names, sizes, failures)."""
    witnessing = app.get(WITNESSING)
    if witnessing is None:
        return {"quorum": 0}
    pool = witnessing.pool
    witnessed = pool.witnessed
    return {
        "quorum": witnessing.quorum,
        "witnessed_size": None if witnessed is None else witnessed.size,
        "refusing": witnessing.refusal(),
        "witnesses": [
            {
                "name": s.name,
                "cosigned_size": s.cosigned_size,
                "cosigned_at": s.cosigned_at,
                "failures": s.failures,
                "last_status": s.last_status,
                "alarm": s.ahead_size is not None or s.forked_size is not None,
            }
            for s in pool.status()
        ],
    }
