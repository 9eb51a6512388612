"""$PROMETHEUS_MULTIPROC_DIR made usable before prometheus-client writes to it.

With the variable set, prometheus-client opens a file in that directory for every metric as
the metric is defined, that is while proxy.metrics is imported: a missing directory would fail
that import with a traceback. So a missing directory is created (mode 0700: the files say what
the proxy served), and one that cannot be is a MetricsDirError naming the path and the reason,
which `alpr-proxy` reports in one line before any command imports the metrics.
"""

from __future__ import annotations

import os
from pathlib import Path

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


class MetricsDirError(Exception):
    """The directory named by $PROMETHEUS_MULTIPROC_DIR is missing and cannot be created."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{MULTIPROC_ENV}={path}: cannot create the directory: {reason}")
        self.path = path
        self.reason = reason


def ensure_multiproc_dir() -> Path | None:
    """The directory the variable names, created if missing; None when the variable is unset."""
    given = os.environ.get(MULTIPROC_ENV)
    if not given:
        return None
    path = Path(given)
    if path.is_dir():
        return path
    try:
        path.mkdir(mode=0o700, parents=True)
    except FileExistsError as exc:  # something that is not a directory is in the way
        raise MetricsDirError(given, "a file of that name exists") from exc
    except OSError as exc:
        raise MetricsDirError(given, exc.strerror or str(exc)) from exc
    return path
