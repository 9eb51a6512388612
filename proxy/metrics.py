"""Every Prometheus metric, defined once. Label sets are bounded: no user ids, no plates."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

SEARCHES = Counter(
    "alpr_proxy_searches_total",
    "Search requests by decision and reason code.",
    ["decision", "reason"],
    registry=REGISTRY,
)
READS = Counter(
    "alpr_proxy_reads_total",
    "Reads matched by searches, by fate (returned, or withheld and why).",
    ["fate"],
    registry=REGISTRY,
)
AUTH_FAILURES = Counter(
    "alpr_proxy_auth_failures_total", "Requests with a missing or invalid token.", registry=REGISTRY
)
AUTH_FAILURES_UNLOGGED = Counter(
    "alpr_proxy_auth_failures_unlogged_total",
    "Invalid-token requests not written to the audit log because their client exceeded the cap.",
    registry=REGISTRY,
)
STAGE_SECONDS = Histogram(
    "alpr_proxy_stage_seconds",
    "Time spent per search stage.",
    ["stage"],
    buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
    registry=REGISTRY,
)
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
    "Audit batches that failed to commit.",
    registry=REGISTRY,
)
AUDIT_QUEUE_DEPTH = Gauge(
    "alpr_proxy_audit_queue_depth", "Entries waiting for the audit writer.", registry=REGISTRY
)
