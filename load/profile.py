"""Where a server's CPU goes: py-spy samples of its processes while a load runs.

    python -m load.profile --pid PID --duration 10 [--out profile.txt]

`record` samples every thread of a process tree with py-spy and keeps the collapsed stacks
(py-spy pauses the target for each sample, about 1 % of its time at 250 Hz: without pausing,
it reads stacks that change under it, and about half of them come out truncated);
`summarize` turns them into the two views a profile is read by: *self* (the line a sample was
in) and *inclusive* (every function on the stack). Shares are of the samples in which the
process was running Python, which is what "app CPU per request" in the reports measures, so
share x app CPU ms/request estimates what each function costs a request.

py-spy reads the target's memory with ptrace: it needs root or `ptrace_scope` 0. When it is
missing or refused, callers go on without a profile.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

RATE_HZ = 250


def available() -> bool:
    return shutil.which("py-spy") is not None


def record(
    pid: int, duration_s: float, out: Path, *, delay_s: float = 0.0
) -> subprocess.Popen[bytes]:
    """Start py-spy on `pid` (and its children) after `delay_s`, for `duration_s`; collapsed
    stacks go to `out`. The caller waits for the returned process."""
    cmd = [
        "py-spy",
        "record",
        "--pid",
        str(pid),
        "--duration",
        str(max(1, round(duration_s))),
        "--rate",
        str(RATE_HZ),
        "--format",
        "raw",
        "--output",
        str(out),
        "--subprocesses",
    ]
    # A shell for the delay, so the warm-up is not sampled and nothing here has to wait.
    script = f"sleep {delay_s:.3f}; exec " + " ".join(cmd)
    return subprocess.Popen(  # noqa: S602 - fixed command, numbers and our own path only
        script,
        shell=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


@dataclass(frozen=True)
class Profile:
    samples: int
    self_top: list[tuple[str, float]]  # (function and line, share of samples)
    inclusive_top: list[tuple[str, float]]  # (function and file, share of samples)
    # Inclusive shares of this project's own functions (proxy/, load/), down to 0.5 %: where
    # the protection's cost is, function by function, below the library frames above it.
    project: list[tuple[str, float]] = field(default_factory=list)


_PROJECT = ("(proxy/", "(load/", "/proxy/", "/load/")
_PROJECT_MIN_SHARE = 0.005
_EVERYWHERE = 0.95
_LIBRARY_PATH = re.compile(r"site-packages/|/lib/python3[.0-9]*/")
_ENTRY_POINTS = ("<module> ", "main ", "serve ", "run_worker ", "_worker_main ")  # every sample


def _frame_name(frame: str, *, line: bool) -> str:
    """'search (proxy/http/search.py:52)' -> 'search (proxy/http/search.py:52)' or, without
    the line, 'search (proxy/http/search.py)'. Paths are cut to the package."""
    func, sep, where = frame.partition(" (")
    if not sep:
        return frame
    path, _, lineno = where.rstrip(")").rpartition(":")
    library = _LIBRARY_PATH.split(path, 1)
    path = library[1] if len(library) > 1 else path.split("/work/", 1)[-1]
    return f"{func} ({path}:{lineno})" if line else f"{func} ({path})"


def summarize(raw: str, top: int = 25) -> Profile:
    """Collapsed stacks ("frame;frame;... count" per line, root first) to a Profile."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for row in raw.splitlines():
        stack, _, count = row.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        # With --subprocesses each stack starts with `process PID:"command line"`, once per
        # process from the root of the tree (a spawned worker's stack: the parent's, then its
        # own), and a spawned worker's command line holds semicolons of its own.
        while stack.startswith("process ") and '";' in stack:
            stack = stack.split('";', 1)[1]
        frames = [f for f in stack.split(";") if f and not f.startswith("thread ")]
        if not frames:
            continue
        total += n
        own[_frame_name(frames[-1], line=True)] += n
        for name in {_frame_name(f, line=False) for f in frames}:
            inclusive[name] += n
    if total == 0:
        return Profile(0, [], [])
    # Frames on (nearly) every sample say nothing: the interpreter's entry, the event loop,
    # a spawned worker's bootstrap (all but the parent's few samples).
    skip = {name for name, n in inclusive.items() if n >= _EVERYWHERE * total}
    ranked = [(name, n / total) for name, n in inclusive.most_common() if name not in skip]
    return Profile(
        total,
        [(name, n / total) for name, n in own.most_common(top)],
        ranked[:top],
        [
            (name, share)
            for name, share in ranked
            if share >= _PROJECT_MIN_SHARE
            and any(m in name for m in _PROJECT)
            and not name.startswith(_ENTRY_POINTS)
        ],
    )


def markdown(profile: Profile, app_ms_per_request: float | None = None) -> str:
    """Two tables; with the app's CPU per request, each share also as microseconds."""
    if profile.samples == 0:
        return "No samples (py-spy found no running Python thread).\n"

    def table(title: str, rows: list[tuple[str, float]]) -> list[str]:
        head = f"| {title} | share |" + (" us/request |" if app_ms_per_request else "")
        out = [head, "|---|---:|" + ("---:|" if app_ms_per_request else "")]
        for name, share in rows:
            cells = f"| `{name}` | {share:.1%} |"
            if app_ms_per_request:
                cells += f" {share * app_ms_per_request * 1000:.1f} |"
            out.append(cells)
        return out

    lines = [f"{profile.samples} samples at {RATE_HZ} Hz.", ""]
    lines += table("inclusive (function and everything it calls)", profile.inclusive_top)
    if profile.project:
        lines += ["", *table("this project's functions, inclusive (>= 0.5 %)", profile.project)]
    lines += ["", *table("self (the line running when sampled)", profile.self_top)]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m load.profile", description=__doc__.split("\n")[0])
    p.add_argument("--pid", type=int, required=True)
    p.add_argument("--duration", type=float, default=10.0)
    p.add_argument("--top", type=int, default=25)
    p.add_argument("--raw", type=Path, default=Path("profile.raw"), help="collapsed stacks")
    p.add_argument("--out", type=Path, help="write the markdown summary here (default: stdout)")
    args = p.parse_args(argv)
    if not available():
        p.error("py-spy is not installed (pip install -e '.[load]')")
    proc = record(args.pid, args.duration, args.raw)
    _, err = proc.communicate()
    if proc.returncode != 0:
        print(err.decode(errors="replace"))
        return 1
    text = markdown(summarize(args.raw.read_text(), args.top))
    if args.out:
        args.out.write_text(text)
    else:
        print(text, end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
