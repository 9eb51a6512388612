"""Structured JSON logs: one object per line, with whatever `extra` fields a call passes.

What is logged, and what never is (at info level or below): each request's line carries its
request id, method, route template, status, decision and error code, and duration; a search adds
its audit index, policy version and counts. Plates, patterns, case numbers and justifications
are never passed to a logger: they belong to the audit log, whose access is itself controlled.

Lines are written to stderr through a buffer that is flushed within FLUSH_DELAY_S, and at once
for warnings and errors: one line per request would otherwise be one write(2) per request.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import select
import sys
from datetime import UTC, datetime
from typing import Any

import orjson

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
# LogRecord.__init__ sets these first, in this number; `extra` fields come after them.
_SET_BY_INIT = len(vars(logging.makeLogRecord({})))
FLUSH_DELAY_S = 0.1
_PID = os.getpid()
_MAX_BUFFERED = 1 << 16


def _refresh_pid() -> None:
    global _PID
    _PID = os.getpid()


os.register_at_fork(after_in_child=_refresh_pid)  # spawned workers import this module anew


def _head(at: datetime, level: str, logger: str, pid: int | None, message: str) -> dict[str, Any]:
    """The fields every line starts with, in this order."""
    return {
        "time": at.isoformat(),
        "level": level.lower(),
        "logger": logger,
        "pid": pid,
        "message": message,
    }


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return self.format_bytes(record).decode()

    def format_bytes(self, record: logging.LogRecord) -> bytes:
        out = _head(
            datetime.fromtimestamp(record.created, UTC),
            record.levelname,
            record.name,
            record.process,  # several workers share one stream
            record.getMessage(),
        )
        for key, value in itertools.islice(vars(record).items(), _SET_BY_INIT, None):
            if key not in _STANDARD:
                out[key] = value
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(out, default=str)


class BufferedJsonHandler(logging.Handler):
    """JSON lines to a file descriptor. Inside an event loop, info lines wait up to
    FLUSH_DELAY_S to be written together; warnings, errors, lines from outside a loop and
    logging.shutdown() flush at once. Each write(2) holds whole lines and at most PIPE_BUF
    bytes, so workers sharing one pipe never interleave inside a line (a single longer line
    is written alone, as an unbuffered handler would)."""

    def __init__(self, fd: int) -> None:
        super().__init__()
        self._fd = fd
        self._lines: list[bytes] = []
        self._size = 0
        self._scheduled = False
        self.setFormatter(JsonFormatter())

    def emit(self, record: logging.LogRecord) -> None:
        try:
            formatter = self.formatter
            if isinstance(formatter, JsonFormatter):
                line = formatter.format_bytes(record) + b"\n"
            else:
                line = (self.format(record) + "\n").encode()
            self.write(line, record.levelno)
        except Exception:
            self.handleError(record)

    def write(self, line: bytes, level: int) -> None:
        """Buffer one formatted line (ending in a newline) logged at ``level``."""
        self._lines.append(line)
        self._size += len(line)
        if level >= logging.WARNING or self._size >= _MAX_BUFFERED:
            self.flush()
        elif not self._scheduled:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                self.flush()
                return
            self._scheduled = True
            loop.call_later(FLUSH_DELAY_S, self.flush)

    def flush(self) -> None:
        self._scheduled = False
        lines, self._lines, self._size = self._lines, [], 0
        chunk: list[bytes] = []
        size = 0
        for line in lines:
            if chunk and size + len(line) > select.PIPE_BUF:
                self._write(b"".join(chunk))
                chunk, size = [], 0
            chunk.append(line)
            size += len(line)
        if chunk:
            self._write(b"".join(chunk))

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        # A closed or broken stderr loses the lines, as it would for logging.StreamHandler
        # (which reports to that same stderr); it must not raise into the event loop.
        with contextlib.suppress(OSError):
            while view:
                view = view[os.write(self._fd, view) :]


_direct: BufferedJsonHandler | None = None  # set by configure_logging


def log_line(logger: logging.Logger, level: int, message: str, fields: dict[str, Any]) -> None:
    """``logger.log(level, message, extra=fields)``, the same JSON line, for lines logged on
    every request: when configure_logging's handler is the only one, the line goes to it
    directly (a LogRecord and the handler chain cost more than the rest of the line; the
    profile put them at 6% of a search). Otherwise, e.g. under a test's log capture or an
    operator's own handlers, it is logged the usual way."""
    handler = _direct
    root = logging.root
    if (
        handler is None
        or logger.handlers
        or root.handlers != [handler]
        or logger.filters
        or handler.filters
        or root.filters
        or not logger.propagate
    ):
        logger.log(level, message, extra=fields)
        return
    if not logger.isEnabledFor(level) or level < handler.level:
        return
    line = _head(datetime.now(UTC), logging.getLevelName(level), logger.name, _PID, message)
    line.update(fields)
    handler.write(orjson.dumps(line, default=str) + b"\n", level)


def configure_logging(level: int = logging.INFO) -> None:
    # The pid is logged; thread and multiprocessing names are not: skip collecting them.
    logging.logThreads = False
    logging.logMultiprocessing = False
    handler: logging.Handler
    try:
        handler = BufferedJsonHandler(sys.stderr.fileno())
    except (AttributeError, OSError, ValueError):  # stderr replaced by something without a fd
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    global _direct
    _direct = handler if isinstance(handler, BufferedJsonHandler) else None
