"""Every Prometheus metric, defined once, and the `/metrics` exposition (served by the metrics
listener, proxy.http.metrics_listener, never on the API port: SPEC §9a).

Label sets are bounded: decisions and reason codes are closed enumerations, routes are route
templates (never raw paths), methods outside a fixed set are "other". No user ids, no plates.
No metric counts withheld reads, by reason or in total: two scrapes around one search would
isolate what it withheld (a plate's days, a visit to a clinic). Those counts live in the audit
entries and reports, whose readers are authenticated and themselves audited.

Several workers (`server.workers > 1`): `serve` points PROMETHEUS_MULTIPROC_DIR at a fresh
directory before they start; prometheus-client keeps every value in per-process files there,
which the metrics listener in the workers' parent aggregates (counters and histograms add up;
each gauge says how in its `multiprocess_mode`). Info does not work in that mode, so the
policy version is an info-style gauge (`alpr_proxy_policy_info{version} 1`).
"""

from __future__ import annotations

import os
import time
from bisect import bisect_left
from collections.abc import Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from proxy.metrics_dir import MULTIPROC_ENV, ensure_multiproc_dir

ensure_multiproc_dir()  # before the first metric opens its file there
STARTED_AT = time.time()  # the checkpoint age counts from here until a first success

REGISTRY = CollectorRegistry(auto_describe=True)

# --- searches and disclosure -------------------------------------------------------------

SEARCHES = Counter(
    "alpr_proxy_searches_total",
    "Searches by decision (allowed, refused, error) and reason code (none when allowed).",
    ["decision", "reason"],
    registry=REGISTRY,
)
READS = Counter(
    "alpr_proxy_reads_total",
    'Reads returned by allowed searches (fate is always "returned"; withheld reads are'
    " counted in no metric, only in the audit log).",
    ["fate"],
    registry=REGISTRY,
)
STAGE_SECONDS = Histogram(
    "alpr_proxy_stage_seconds",
    "Time spent per search stage: auth, policy, store, filter, audit (until the entry commits).",
    ["stage"],
    buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
    registry=REGISTRY,
)

# --- HTTP ---------------------------------------------------------------------------------

HTTP_REQUESTS = Counter(
    "alpr_proxy_http_requests_total",
    "HTTP requests by route template, method and status.",
    ["route", "method", "status"],
    registry=REGISTRY,
)
HTTP_SECONDS = Histogram(
    "alpr_proxy_http_request_duration_seconds",
    "Whole-request latency by route template and method.",
    ["route", "method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
    registry=REGISTRY,
)
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED_ROUTE = "unmatched"
FLUSH_INTERVAL_S = 1.0


class _Pending:
    """One labelled counter or histogram as the request path sees it: increments and
    observations are added up here, in plain floats, and folded into prometheus-client by
    flush(). prometheus-client takes a lock per call, and with several workers writes a
    memory-mapped file per call; a search made about ten such calls, which the profile put at
    a tenth of the proxy's own CPU per search."""

    __slots__ = ("_bounds", "_child", "_counts", "_sum")

    def __init__(self, child: Any, bounds: tuple[float, ...] | None) -> None:
        self._child = child
        self._bounds = bounds  # a histogram's upper bounds (the last is +Inf), None: a counter
        self._sum = 0.0
        self._counts = [0] * len(bounds) if bounds is not None else []

    def inc(self, amount: float = 1.0) -> None:
        self._sum += amount

    def observe(self, value: float) -> None:
        self._sum += value
        # The first bucket whose upper bound is >= value, as Histogram.observe picks it.
        self._counts[bisect_left(self._bounds, value)] += 1  # type: ignore[arg-type]

    def flush(self) -> None:
        if self._bounds is None:
            if self._sum:
                self._child.inc(self._sum)
                self._sum = 0.0
            return
        if not any(self._counts):
            return
        # Histogram has no public call that adds many observations at once; these are the
        # values observe() itself increments (tests/test_metrics.py checks they still are).
        self._child._sum.inc(self._sum)
        for i, n in enumerate(self._counts):
            if n:
                self._child._buckets[i].inc(n)
                self._counts[i] = 0
        self._sum = 0.0


_CHILDREN: dict[tuple[MetricWrapperBase, tuple[str, ...]], _Pending] = {}


def child(metric: Counter | Histogram, *values: str) -> _Pending:
    """``metric.labels(*values)`` for the request path: memoised (labels() validates, converts
    and locks on every call) and buffered until the next flush(). Every label here comes from
    a small fixed set (routes, methods, statuses, stages, decisions, reasons)."""
    key = (metric, values)
    found = _CHILDREN.get(key)
    if found is None:
        labelled = metric.labels(*values)
        bounds = None
        if isinstance(labelled, Histogram):
            bounds = tuple(labelled._upper_bounds)
        found = _CHILDREN[key] = _Pending(labelled, bounds)
    return found


def flush() -> None:
    """Fold what child() buffered into prometheus-client. Runs before every exposition and
    every FLUSH_INTERVAL_S (proxy.app), so with several workers each one's share of a scrape
    is at most that old."""
    for pending in _CHILDREN.values():
        pending.flush()


def method_label(method: str) -> str:
    return method if method in _METHODS else "other"


# --- authentication -----------------------------------------------------------------------

AUTH_FAILURES = Counter(
    "alpr_proxy_auth_failures_total", "Requests with a missing or invalid token.", registry=REGISTRY
)
AUTH_FAILURES_UNLOGGED = Counter(
    "alpr_proxy_auth_failures_unlogged_total",
    "Invalid-token requests not written to the audit log because their client exceeded the cap.",
    registry=REGISTRY,
)

# --- the audit log ------------------------------------------------------------------------

AUDIT_BATCH_SIZE = Histogram(
    "alpr_proxy_audit_batch_size",
    "Entries per audit commit.",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024),
    registry=REGISTRY,
)
AUDIT_COMMIT_SECONDS = Histogram(
    "alpr_proxy_audit_commit_seconds",
    "Duration of one audit batch transaction.",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
    registry=REGISTRY,
)
AUDIT_FAILURES = Counter(
    "alpr_proxy_audit_write_failures_total",
    "Audit batches that failed to commit (every request in them was refused).",
    registry=REGISTRY,
)
AUDIT_QUEUE_DEPTH = Gauge(
    "alpr_proxy_audit_queue_depth",
    "Entries waiting for the audit writer (summed over live workers).",
    registry=REGISTRY,
    multiprocess_mode="livesum",
)
AUDIT_LOG_ENTRIES = Gauge(
    "alpr_proxy_audit_log_entries",
    "Size of the audit log in entries, as of the latest commit.",
    registry=REGISTRY,
    multiprocess_mode="max",  # the log only grows: the largest size any worker saw is current
)
_LAST_SUCCESS = "alpr_proxy_audit_checkpoint_last_success_timestamp_seconds"
CHECKPOINT_LAST_SUCCESS = Gauge(
    _LAST_SUCCESS,
    "Unix time of the latest successful checkpoint run (signed, or nothing new to sign).",
    registry=REGISTRY,
    multiprocess_mode="max",  # any worker's checkpoint covers the whole committed log
)
CHECKPOINT_INTERVAL = Gauge(
    "alpr_proxy_audit_checkpoint_interval_seconds",
    "Configured interval between checkpoint runs (log.checkpoint_interval_s).",
    registry=REGISTRY,
    multiprocess_mode="max",
)
CHECKPOINT_AGE = "alpr_proxy_audit_checkpoint_age_seconds"  # computed at scrape, see below
# SPEC §10, set every second by each worker (proxy.audit.witnessed_log), per configured witness.
WITNESS_COSIGNED_SIZE = Gauge(
    "alpr_proxy_witness_cosigned_size", "Size of the latest checkpoint the witness cosigned.",
    ["witness"], registry=REGISTRY, multiprocess_mode="max",
)  # fmt: skip
WITNESS_LAG = Gauge(
    "alpr_proxy_witness_lag_seconds", "Seconds since the witness last cosigned (since start).",
    ["witness"], registry=REGISTRY, multiprocess_mode="livemin",
)  # fmt: skip
WITNESS_FAILURES = Counter(
    "alpr_proxy_witness_failures", "Failed submissions by status: an HTTP status, transport,"
    " ahead or forked (the last two are alarms).", ["witness", "status"], registry=REGISTRY,
)  # fmt: skip
WITNESS_QUORUM_AGE = Gauge(
    "alpr_proxy_witness_quorum_age_seconds", "Seconds since a checkpoint last reached the"
    " quorum (since start if none has).", registry=REGISTRY, multiprocess_mode="livemin",
)  # fmt: skip

# --- state --------------------------------------------------------------------------------

READY = Gauge(
    "alpr_proxy_ready",
    "1 when the latest readiness check passed (0 if any live worker's latest check failed).",
    registry=REGISTRY,
    multiprocess_mode="livemin",
)
POLICY_INFO = Gauge(
    "alpr_proxy_policy_info",
    "The policy version in force (value 1; 0 for versions replaced by a reload).",
    ["version"],
    registry=REGISTRY,
    multiprocess_mode="livemax",  # two versions at 1 means workers disagree
)
_policy_version: str | None = None


def set_policy_version(version: str) -> None:
    global _policy_version
    if _policy_version is not None and _policy_version != version:
        POLICY_INFO.labels(_policy_version).set(0)
    POLICY_INFO.labels(version).set(1)
    _policy_version = version


WORKER_RESTARTS = Counter(
    "alpr_proxy_worker_restarts_total", "Workers that exited unexpectedly and were replaced"
    " (counted by the replacement as it starts).", registry=REGISTRY,
)  # fmt: skip

# SPEC §12: exigent searches past exigent_review_hours without a supervisor's or oversight's
# review, in the whole log (proxy.oversight.reports.flag_exigent), recounted by every worker
# after each checkpoint run: the most recent count is current. A count of searches, no user.
EXIGENT_REVIEWS_OVERDUE = Gauge(
    "alpr_proxy_exigent_reviews_overdue",
    "Exigent searches whose review is overdue (past exigent_review_hours, unreviewed).",
    registry=REGISTRY,
    multiprocess_mode="livemostrecent",
)

# --- exposition ---------------------------------------------------------------------------


class _WithDerived(Collector):
    """The source's metrics plus values computed at scrape time from them."""

    def __init__(self, source: Collector, now: float) -> None:
        self._source = source
        self._now = now

    def collect(self) -> Iterable[Metric]:
        last = None
        for family in self._source.collect():
            if family.name == _LAST_SUCCESS and family.samples:
                last = max(s.value for s in family.samples)
            yield family
        yield GaugeMetricFamily(
            CHECKPOINT_AGE,
            "Seconds since the latest successful checkpoint run (since start if none yet).",
            value=max(0.0, self._now - (last or STARTED_AT)),
        )


def exposition(multiproc_dir: str | None = None, *, now: float | None = None) -> bytes:
    """The text exposition: of this process, or of every process writing to `multiproc_dir`
    (default: $PROMETHEUS_MULTIPROC_DIR when set)."""
    flush()
    path = multiproc_dir or os.environ.get(MULTIPROC_ENV)
    source: Collector = REGISTRY
    if path:
        source = MultiProcessCollector(None, path=path)  # type: ignore[no-untyped-call]
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_WithDerived(source, time.time() if now is None else now))
    return generate_latest(registry)
