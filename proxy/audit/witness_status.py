"""Per-witness state and the startup verdict, as pure functions of submission outcomes.

Scheduling (witness_pool.py) reads :func:`next_due`; metrics read :class:`WitnessStatus` and
:func:`label`. A 409 size above our checkpoint is kept as ``ahead_size`` (an alarm) and never
becomes the ``old`` size we submit: it is unsigned, and believing it would let a witness steer
what the proxy proves.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from proxy.witness.client import Cosigned, Forked, Outcome, WitnessAhead, WitnessEndpoint

RETRY_BASE_S = 0.25
RETRY_CAP_S = 5.0  # SPEC §10: a failing witness is retried at least every 5 s


@dataclass(frozen=True)
class WitnessStatus:
    """What the proxy knows of one witness (for metrics, /readyz and scheduling)."""

    name: str
    known_size: int = 0  # the size it holds, as far as we know: the `old` we submit next
    cosigned_size: int = 0  # the last checkpoint it cosigned for us
    cosigned_at: float | None = None  # when (our clock)
    failures: int = 0  # consecutive
    next_attempt_at: float = 0.0
    last_status: int | None = None  # 200, the failing HTTP status, or None (transport)
    last_error: str = ""
    ahead_size: int | None = None  # ALARM: it claims a size above our checkpoint's
    forked_size: int | None = None  # ALARM: it holds another root at this size of ours


def retry_delay(failures: int) -> float:
    return min(RETRY_CAP_S, RETRY_BASE_S * (1 << min(16, max(0, failures - 1))))


def next_due(status: WitnessStatus, latest_size: int, refresh_s: float) -> float:
    """When the witness should next get the latest checkpoint (compare with the clock)."""
    if status.failures:
        return status.next_attempt_at
    if status.cosigned_size != latest_size or status.cosigned_at is None:
        return 0.0
    return status.cosigned_at + refresh_s


def after(status: WitnessStatus, outcome: Outcome, now: float) -> WitnessStatus:
    """The witness's status once ``outcome`` is known (pure)."""
    if isinstance(outcome, Cosigned):
        return replace(
            status, known_size=outcome.size, cosigned_size=outcome.size, cosigned_at=now,
            failures=0, next_attempt_at=0.0, last_status=200, last_error="", ahead_size=None,
            forked_size=None,
        )  # fmt: skip
    failures = status.failures + 1
    failed = replace(status, failures=failures, next_attempt_at=now + retry_delay(failures))
    if isinstance(outcome, WitnessAhead):  # never adopted as `old`: it is unsigned
        return replace(failed, last_status=409, last_error="ahead of the log",
                       ahead_size=outcome.witness_size)  # fmt: skip
    if isinstance(outcome, Forked):
        return replace(failed, last_status=409, last_error="another root at our size",
                       forked_size=outcome.witness_size)  # fmt: skip
    learned = outcome.witness_size
    known = learned if learned is not None and learned <= outcome.size else status.known_size
    return replace(failed, known_size=known, last_status=outcome.status,
                   last_error=outcome.reason[:200])  # fmt: skip


def label(outcome: Outcome) -> str:
    """A metric label for the outcome: ok, ahead, forked, an HTTP status, or transport."""
    if isinstance(outcome, Cosigned):
        return "ok"
    if isinstance(outcome, WitnessAhead):
        return "ahead"
    if isinstance(outcome, Forked):
        return "forked"
    return "transport" if outcome.status is None else str(outcome.status)


def quorum_warning(witnesses: Sequence[WitnessEndpoint], quorum: int) -> str | None:
    distinct = len({w.verifier.public_key for w in witnesses})
    if quorum * 2 <= distinct:
        return (f"log.witness_quorum = {quorum} is at most half of the {distinct} witnesses: "
                "two disjoint halves could cosign two forks of the log")  # fmt: skip
    return None


@dataclass(frozen=True)
class StartupReport:
    latest_size: int  # the database's newest checkpoint (0: none yet)
    ahead: tuple[WitnessAhead, ...]
    forked: tuple[Forked, ...]
    outcomes: tuple[Outcome, ...]

    @property
    def behind(self) -> bool:
        """Fail closed: a witness holds a larger tree, or another root at our size."""
        return bool(self.ahead or self.forked)

    def message(self) -> str:
        """One line for the operator's log."""
        if not self.behind:
            return f"witnesses agree with the audit log at checkpoint {self.latest_size}"
        parts = [f"{a.witness} cosigned size {a.witness_size}" for a in self.ahead]
        parts += [f"{f.witness} holds another root at size {f.witness_size}" for f in self.forked]
        return (f"audit log is behind its witnesses ({'; '.join(parts)}), the database's newest "
                f"checkpoint is {self.latest_size}: refusing to sign or serve; restore the "
                "database, do not re-sign")  # fmt: skip
