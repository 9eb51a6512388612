"""Load generator: closed loop (maximum throughput) and open loop (fixed rate, CO-corrected).

    python -m load.loadgen --url http://127.0.0.1:8080 --spec requests.json \\
        --mode closed --connections 32 --duration 10 --warmup 2 --out result.json
    python -m load.loadgen --url ... --spec ... --mode open --rate 1000 --duration 10

Closed loop: C connections, each sends its next request as soon as the previous answer is in;
throughput is what the server sustains, latency is measured from each request's actual send.

Open loop: request i is *due* at t0 + i/R whether or not earlier ones were answered. A due
request takes an idle connection, or opens a new one (up to --max-connections), or waits in the
generator's queue. Its latency runs from when it was due, not from when it could be sent, so a
stalled server shows up as the latency every request scheduled during the stall would have seen
(coordinated omission corrected). Requests still unanswered when the drain time runs out count as
errors ("incomplete") and enter the histogram with their latency so far, a lower bound.

The HTTP/1.1 client is a small keep-alive client on asyncio streams (uvloop when available): it
writes pre-encoded requests and reads the status line, headers and body (Content-Length or
chunked). It is much cheaper per request than a general client, so the generator's own core is
less of a limit; the result reports the generator's CPU use so that a saturated generator shows.

Every run is bounded: it stops sending after warm-up + duration and stops waiting after the
drain time. Latencies are recorded in an HdrHistogram (1 us .. 1 h, 3 significant digits) and
timed with time.perf_counter (uvloop's loop.time() is cached per iteration, in milliseconds).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
import random
import sys
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
import psutil
from hdrh.histogram import HdrHistogram

_HIST_MAX_US = 3600 * 1_000_000
# Not loop.time(): uvloop's is libuv's cached, millisecond-resolution loop time.
_clock = time.perf_counter
PERCENTILES = (("p50", 50.0), ("p90", 90.0), ("p99", 99.0), ("p99_9", 99.9))
# Failures of one round trip; anything else is a bug in the generator and should surface.
TRANSPORT_ERRORS = (
    OSError,
    EOFError,
    asyncio.IncompleteReadError,
    asyncio.LimitOverrunError,
    TimeoutError,
    ValueError,
)


# ---------------------------------------------------------------------------------------------
# Requests


@dataclass(frozen=True, slots=True)
class Request:
    kind: str  # "hit", "miss", "refused", ... : how results are broken down
    raw: bytes  # the whole HTTP/1.1 request, ready to write
    expect: int = 0  # the status this request should get; 0 means any 2xx


@dataclass(frozen=True, slots=True)
class Target:
    host: str
    port: int

    @classmethod
    def from_url(cls, url: str) -> Target:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"need an http://host:port URL, not {url!r}")
        return cls(parts.hostname, parts.port or 80)


def encode_request(
    target: Target,
    method: str,
    path: str,
    body: bytes = b"",
    headers: Mapping[str, str] | None = None,
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {target.host}:{target.port}"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    if body or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


@dataclass(frozen=True, slots=True)
class Mix:
    """Shares of the request kinds; they need not sum to 1 (they are normalised)."""

    hit: float = 0.85  # exact plates that exist, drawn with the store's skew
    miss: float = 0.10  # well-formed plates that do not exist
    refused: float = 0.05  # refused by policy (a prohibited purpose)

    @classmethod
    def parse(cls, text: str) -> Mix:
        """`hit=0.85,miss=0.1,refused=0.05` (omitted kinds are 0)."""
        shares = dict.fromkeys(("hit", "miss", "refused"), 0.0)
        for part in filter(None, (p.strip() for p in text.split(","))):
            name, _, value = part.partition("=")
            if name not in shares:
                raise ValueError(f"unknown request kind {name!r}; use hit, miss, refused")
            shares[name] = float(value)
            if shares[name] < 0:
                raise ValueError(f"{name}: share must not be negative")
        if sum(shares.values()) <= 0:
            raise ValueError("the mix needs at least one positive share")
        return cls(**shares)

    def describe(self) -> str:
        total = self.hit + self.miss + self.refused
        return ", ".join(
            f"{k} {v / total:.0%}"
            for k, v in (("hit", self.hit), ("miss", self.miss), ("refused", self.refused))
        )


@dataclass(frozen=True, slots=True)
class SearchTemplate:
    """What every generated search carries besides its plate."""

    purpose: str
    case_number: str
    justification: str
    refused_purpose: str
    refused_justification: str
    window: timedelta  # searches cover [now - window, now + 1 h)


def _ts(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def search_specs(
    *,
    hits: Sequence[str],
    misses: Sequence[str],
    tokens: Sequence[str],
    mix: Mix,
    template: SearchTemplate,
    now: datetime,
    count: int = 10_000,
    seed: int = 1,
    refused_status: int = 403,
) -> list[dict[str, Any]]:
    """`count` search request specs (kind, expected status, headers, body), in random order.

    Hits are drawn uniformly from `hits`, so a plate listed k times is searched k times as
    often: pass plates sampled from reads to reproduce the store's skew. Tokens rotate in order,
    so every token is used within the first len(tokens) requests (warm-up fills token caches).
    Pass refused_status=200 for a server without policy (the baseline runs those searches).
    """
    if not hits or not tokens or (mix.miss > 0 and not misses):
        raise ValueError("need hit plates, tokens, and miss plates when the mix has misses")
    rng = random.Random(seed)
    kinds = rng.choices(
        ("hit", "miss", "refused"), weights=(mix.hit, mix.miss, mix.refused), k=count
    )
    window = {"from": _ts(now - template.window), "to": _ts(now + timedelta(hours=1))}
    specs: list[dict[str, Any]] = []
    for i, kind in enumerate(kinds):
        plate = rng.choice(misses) if kind == "miss" else rng.choice(hits)
        refused = kind == "refused"
        body = {
            "type": "plate",
            "plate": plate,
            **window,
            "purpose": template.refused_purpose if refused else template.purpose,
            "case_number": template.case_number,
            "justification": (
                template.refused_justification if refused else template.justification
            ),
        }
        specs.append(
            {
                "kind": kind,
                "expect": refused_status if refused else 200,
                "headers": {
                    "Authorization": f"Bearer {tokens[i % len(tokens)]}",
                    "Content-Type": "application/json",
                },
                "body": body,
            }
        )
    return specs


def write_spec(
    path: Path, specs: Sequence[Mapping[str, Any]], url_path: str = "/v1/search"
) -> None:
    path.write_bytes(orjson.dumps({"method": "POST", "path": url_path, "requests": list(specs)}))


def load_spec(path: Path, target: Target) -> list[Request]:
    doc = orjson.loads(path.read_bytes())
    method, url_path = doc.get("method", "POST"), doc.get("path", "/v1/search")
    out = []
    for spec in doc["requests"]:
        body = spec.get("body")
        raw_body = b"" if body is None else orjson.dumps(body)
        raw = encode_request(target, method, url_path, raw_body, spec.get("headers"))
        out.append(Request(spec.get("kind", "request"), raw, int(spec.get("expect", 0))))
    if not out:
        raise ValueError(f"{path}: no requests")
    return out


# ---------------------------------------------------------------------------------------------
# HTTP/1.1 keep-alive connection


class HttpConnection:
    """One keep-alive connection; reconnects lazily after a failure or `Connection: close`."""

    def __init__(self, target: Target) -> None:
        self._target = target
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def roundtrip(self, raw: bytes) -> int:
        """Send one request, read the whole response, return its status."""
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(
                self._target.host, self._target.port
            )
        reader, writer = self._reader, self._writer
        assert reader is not None
        writer.write(raw)
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1."):
            raise ValueError("not an HTTP/1.x response")
        status = int(head[9:12])
        lower = head.lower()
        at = lower.find(b"\r\ncontent-length:")
        if at >= 0:
            length = int(lower[at + 17 : lower.index(b"\r\n", at + 2)])
            if length:
                await reader.readexactly(length)
        elif b"\r\ntransfer-encoding: chunked" in lower:
            await self._read_chunked(reader)
        else:  # no framing: the body runs to the end of the connection
            await reader.read()
            self.close()
            return status
        if b"\r\nconnection: close" in lower:
            self.close()
        return status

    @staticmethod
    async def _read_chunked(reader: asyncio.StreamReader) -> None:
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";", 1)[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")  # no trailers expected
                return
            await reader.readexactly(size + 2)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None


# ---------------------------------------------------------------------------------------------
# Recording


def _tree_cpu(pid: int) -> float:
    """User + system CPU seconds of a process and all its live descendants."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0.0
    total = 0.0
    for p in procs:
        with contextlib.suppress(psutil.Error):
            t = p.cpu_times()
            total += t.user + t.system
    return total


class CpuWatch:
    """CPU seconds of watched process trees (and of this process) over the measured window."""

    def __init__(self, watch: Mapping[str, int] | None) -> None:
        self._watch = dict(watch or {})
        self._start: dict[str, float] = {}
        self._start_self = 0.0
        self.used: dict[str, float] = {}
        self.used_self = 0.0

    def start(self) -> None:
        self._start_self = time.process_time()
        self._start = {name: _tree_cpu(pid) for name, pid in self._watch.items()}

    def stop(self) -> None:
        self.used_self = time.process_time() - self._start_self
        self.used = {
            name: _tree_cpu(pid) - self._start.get(name, 0.0) for name, pid in self._watch.items()
        }


@dataclass
class RunResult:
    mode: str  # closed | open
    target: str
    duration_s: float
    warmup_s: float
    connections: int  # closed: C; open: the most connections it opened
    rate: float | None  # open: the scheduled rate
    sent: int  # every request sent, warm-up included
    requests: int  # measured requests (answered or failed)
    answered: int  # measured requests that got a response, whatever its status
    # Every response received in the measured window, warm-up requests' included: what the
    # server delivered while its CPU was being measured (the denominator for CPU per request).
    answered_in_window: int
    ok: int  # measured requests answered with their expected status
    errors: dict[str, int]  # transport failures by kind, "status NNN" for unexpected statuses
    statuses: dict[str, int]
    by_kind: dict[str, dict[str, int]]  # kind -> status (or error) -> count
    elapsed_s: float  # measured window: first measured send (or due time) to last answer
    throughput_rps: float  # answered / elapsed_s
    latency_ms: dict[str, float]
    send_lag_ms: dict[str, float]  # open: due time -> written to a connection
    generator_cpu_s: float
    generator_cpu_util: float  # generator CPU / elapsed; near 1.0 means the generator limited
    cpu_s: dict[str, float] = field(default_factory=dict)  # watched process trees
    samples: list[tuple[int, float]] | None = None  # (request number, latency s) if kept

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        if self.samples is None:
            out.pop("samples")
        return out


def _summary(hist: HdrHistogram) -> dict[str, float]:
    if hist.get_total_count() == 0:
        return {name: 0.0 for name, _ in PERCENTILES} | {"max": 0.0, "mean": 0.0}
    out = {name: hist.get_value_at_percentile(p) / 1000 for name, p in PERCENTILES}
    out["max"] = hist.get_max_value() / 1000
    out["mean"] = round(hist.get_mean_value() / 1000, 3)
    return out


class Recorder:
    def __init__(self, keep_samples: bool = False) -> None:
        self.latency = HdrHistogram(1, _HIST_MAX_US, 3)
        self.lag = HdrHistogram(1, _HIST_MAX_US, 3)
        self.statuses: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.by_kind: dict[str, Counter[str]] = {}
        self.requests = 0
        self.answered_ = 0
        self.in_window = 0
        self.ok = 0
        self.samples: list[tuple[int, float]] | None = [] if keep_samples else None

    def _latency(self, number: int, seconds: float) -> None:
        self.latency.record_value(min(_HIST_MAX_US, max(1, round(seconds * 1e6))))
        if self.samples is not None:
            self.samples.append((number, seconds))

    def answered(self, number: int, req: Request, status: int, seconds: float) -> None:
        self.requests += 1
        self.answered_ += 1
        self.statuses[str(status)] += 1
        self.by_kind.setdefault(req.kind, Counter())[str(status)] += 1
        if status == req.expect or (req.expect == 0 and 200 <= status < 300):
            self.ok += 1
        else:
            self.errors[f"status {status}"] += 1
        self._latency(number, seconds)

    def failed(self, number: int, req: Request, error: str, seconds: float | None) -> None:
        self.requests += 1
        self.errors[error] += 1
        self.by_kind.setdefault(req.kind, Counter())[error] += 1
        if seconds is not None:
            self._latency(number, seconds)

    def lagged(self, seconds: float) -> None:
        self.lag.record_value(min(_HIST_MAX_US, max(1, round(seconds * 1e6))))

    def result(self, **kw: Any) -> RunResult:
        elapsed = kw["elapsed_s"]
        return RunResult(
            **kw,
            requests=self.requests,
            answered=self.answered_,
            answered_in_window=self.in_window,
            ok=self.ok,
            errors=dict(sorted(self.errors.items())),
            statuses=dict(sorted(self.statuses.items())),
            by_kind={k: dict(sorted(v.items())) for k, v in sorted(self.by_kind.items())},
            throughput_rps=round(self.answered_ / elapsed, 1) if elapsed > 0 else 0.0,
            latency_ms=_summary(self.latency),
            send_lag_ms=_summary(self.lag),
            samples=self.samples,
        )


# ---------------------------------------------------------------------------------------------
# Closed loop


async def run_closed(
    target: Target,
    requests: Sequence[Request],
    *,
    connections: int,
    duration: float,
    warmup: float = 0.0,
    request_timeout: float = 30.0,
    watch: Mapping[str, int] | None = None,
    keep_samples: bool = False,
) -> RunResult:
    """C connections, each sending back to back for warmup + duration seconds.

    Requests sent during the warm-up are not recorded; requests sent before the end are waited
    for (each at most `request_timeout`), so the run ends within warmup + duration + that.
    """
    if connections < 1 or duration <= 0 or warmup < 0:
        raise ValueError("need connections >= 1, duration > 0, warmup >= 0")
    loop = asyncio.get_running_loop()
    rec = Recorder(keep_samples)
    cpu = CpuWatch(watch)
    numbers = itertools.count()
    sent = 0
    measure_from = _clock() + warmup
    end = measure_from + duration
    last_done = measure_from

    async def worker() -> None:
        nonlocal sent, last_done
        conn = HttpConnection(target)
        try:
            while (started := _clock()) < end:
                number = next(numbers)
                req = requests[number % len(requests)]
                sent += 1
                measured = started >= measure_from
                try:
                    async with asyncio.timeout(request_timeout):
                        status = await conn.roundtrip(req.raw)
                except TRANSPORT_ERRORS as exc:
                    conn.close()
                    if measured:
                        rec.failed(number, req, type(exc).__name__, None)
                    await asyncio.sleep(0.01)  # a refused connect must not spin
                    continue
                done = _clock()
                if done >= measure_from:
                    rec.in_window += 1
                if measured:
                    rec.answered(number, req, status, done - started)
                    last_done = max(last_done, done)
        finally:
            conn.close()

    start_handle = loop.call_later(max(0.0, measure_from - _clock()), cpu.start)
    try:
        await asyncio.gather(*(worker() for _ in range(connections)))
    finally:
        start_handle.cancel()
    cpu.stop()
    elapsed = max(last_done, end) - measure_from
    return rec.result(
        mode="closed",
        target=f"{target.host}:{target.port}",
        duration_s=duration,
        warmup_s=warmup,
        connections=connections,
        rate=None,
        sent=sent,
        elapsed_s=round(elapsed, 4),
        generator_cpu_s=round(cpu.used_self, 3),
        generator_cpu_util=round(cpu.used_self / elapsed, 3) if elapsed > 0 else 0.0,
        cpu_s={k: round(v, 3) for k, v in cpu.used.items()},
    )


# ---------------------------------------------------------------------------------------------
# Open loop


async def run_open(
    target: Target,
    requests: Sequence[Request],
    *,
    rate: float,
    duration: float,
    warmup: float = 0.0,
    max_connections: int = 256,
    request_timeout: float = 30.0,
    drain: float = 10.0,
    watch: Mapping[str, int] | None = None,
    keep_samples: bool = False,
) -> RunResult:
    """Request i is due at t0 + i/rate for i < rate * (warmup + duration); latency is measured
    from that due time. The run ends when every request is answered or `drain` seconds after the
    last one was due, whichever is first."""
    if rate <= 0 or duration <= 0 or warmup < 0 or max_connections < 1 or drain < 0:
        raise ValueError("need rate > 0, duration > 0, warmup >= 0, max_connections >= 1")
    loop = asyncio.get_running_loop()
    rec = Recorder(keep_samples)
    cpu = CpuWatch(watch)
    total = max(1, round(rate * (warmup + duration)))
    first_measured = round(rate * warmup)
    queue: asyncio.Queue[tuple[int, float]] = asyncio.Queue()
    inflight: dict[int, float] = {}
    workers: list[asyncio.Task[None]] = []
    idle = starting = taken = 0
    remaining = total
    all_answered = asyncio.Event()
    t0 = _clock() + 0.005
    measure_from = t0 + first_measured / rate
    last_done = measure_from

    def finished() -> None:
        nonlocal remaining
        remaining -= 1
        if remaining == 0:
            all_answered.set()

    async def worker() -> None:
        nonlocal idle, starting, taken, last_done
        conn = HttpConnection(target)
        starting -= 1
        try:
            while True:
                idle += 1
                try:
                    number, due = await queue.get()
                finally:
                    idle -= 1
                taken += 1
                inflight[number] = due
                req = requests[number % len(requests)]
                measured = number >= first_measured
                if measured:
                    rec.lagged(_clock() - due)
                try:
                    async with asyncio.timeout(request_timeout):
                        status = await conn.roundtrip(req.raw)
                except TRANSPORT_ERRORS as exc:
                    conn.close()
                    if measured:
                        rec.failed(number, req, type(exc).__name__, _clock() - due)
                else:
                    done = _clock()
                    if done >= measure_from:
                        rec.in_window += 1
                    if measured:
                        rec.answered(number, req, status, done - due)
                        last_done = max(last_done, done)
                del inflight[number]
                finished()
        finally:
            conn.close()

    def spawn() -> None:
        nonlocal starting
        starting += 1
        workers.append(asyncio.create_task(worker()))

    start_handle = loop.call_later(max(0.0, measure_from - _clock()), cpu.start)
    try:
        number = 0
        while number < total:
            due_now = min(total, int((_clock() - t0) * rate) + 1)
            while number < due_now:
                queue.put_nowait((number, t0 + number / rate))
                number += 1
                if queue.qsize() > idle + starting and len(workers) < max_connections:
                    spawn()
            if number < total:
                await asyncio.sleep(max(0.0, t0 + number / rate - _clock()))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(all_answered.wait(), drain)
        cutoff = _clock()
        # Whatever is left was never answered: an error, with its latency so far.
        while not queue.empty():
            number, due = queue.get_nowait()
            inflight[number] = due
        for number, due in sorted(inflight.items()):
            if number >= first_measured:
                rec.failed(number, requests[number % len(requests)], "incomplete", cutoff - due)
                last_done = cutoff
    finally:
        start_handle.cancel()
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
    cpu.stop()
    elapsed = last_done - measure_from
    return rec.result(
        mode="open",
        target=f"{target.host}:{target.port}",
        duration_s=duration,
        warmup_s=warmup,
        connections=len(workers),
        rate=rate,
        sent=taken,
        elapsed_s=round(elapsed, 4),
        generator_cpu_s=round(cpu.used_self, 3),
        generator_cpu_util=round(cpu.used_self / elapsed, 3) if elapsed > 0 else 0.0,
        cpu_s={k: round(v, 3) for k, v in cpu.used.items()},
    )


# ---------------------------------------------------------------------------------------------
# Command line


def pin_generator(cpu: int | None = None) -> str:
    """Pin this process to `cpu`, or to the last CPU it may use when it may use two or more."""
    if not hasattr(os, "sched_setaffinity"):
        return "not pinned (no sched_setaffinity)"
    if cpu is None:
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) < 2:
            return f"not pinned (only CPU {cpus})"
        cpu = cpus[-1]
    os.sched_setaffinity(0, {cpu})
    return f"pinned to CPU {cpu}"


def _parse_watch(items: Sequence[str]) -> dict[str, int]:
    out = {}
    for item in items:
        name, _, pid = item.partition("=")
        if not name or not pid.isdigit():
            raise argparse.ArgumentTypeError(f"--watch wants NAME=PID, not {item!r}")
        out[name] = int(pid)
    return out


def run_loop(coro_factory: Callable[[], Any]) -> Any:
    try:
        import uvloop
    except ImportError:  # pragma: no cover
        return asyncio.run(coro_factory())
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro_factory())


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m load.loadgen", description=__doc__.split("\n")[0])
    p.add_argument("--url", required=True, help="http://127.0.0.1:PORT")
    p.add_argument("--spec", required=True, type=Path, help="request spec JSON (see write_spec)")
    p.add_argument("--mode", choices=("closed", "open"), required=True)
    p.add_argument("--connections", type=int, default=32, help="closed loop: concurrency")
    p.add_argument("--rate", type=float, default=0.0, help="open loop: requests per second")
    p.add_argument("--max-connections", type=int, default=256, help="open loop: cap")
    p.add_argument("--duration", type=float, default=10.0)
    p.add_argument("--warmup", type=float, default=2.0)
    p.add_argument("--timeout", type=float, default=30.0, help="per request")
    p.add_argument("--drain", type=float, default=10.0, help="open loop: wait after the last")
    p.add_argument("--watch", action="append", default=[], help="NAME=PID: CPU of its tree")
    p.add_argument("--cpu", type=int, help="pin to this CPU (default: the last one allowed)")
    p.add_argument("--no-pin", action="store_true", help="do not pin at all")
    p.add_argument("--out", type=Path, help="write the result JSON here (default: stdout)")
    args = p.parse_args(argv)
    if args.mode == "open" and args.rate <= 0:
        p.error("--mode open needs --rate > 0")
    pinning = "not pinned (--no-pin)" if args.no_pin else pin_generator(args.cpu)
    target = Target.from_url(args.url)
    requests = load_spec(args.spec, target)
    watch = _parse_watch(args.watch)

    def run() -> Any:
        if args.mode == "closed":
            return run_closed(
                target,
                requests,
                connections=args.connections,
                duration=args.duration,
                warmup=args.warmup,
                request_timeout=args.timeout,
                watch=watch,
            )
        return run_open(
            target,
            requests,
            rate=args.rate,
            duration=args.duration,
            warmup=args.warmup,
            max_connections=args.max_connections,
            request_timeout=args.timeout,
            drain=args.drain,
            watch=watch,
        )

    result: RunResult = run_loop(run)
    doc = result.to_json() | {"generator_pinning": pinning}
    text = orjson.dumps(doc, option=orjson.OPT_INDENT_2)
    if args.out:
        args.out.write_bytes(text)
    else:
        sys.stdout.buffer.write(text + b"\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
