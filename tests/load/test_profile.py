"""load/profile.py: py-spy's collapsed stacks summarised into self and inclusive shares."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from load import profile

_HEAD = 'process 1:"python -m proxy serve";thread 7:"MainThread";'
_LOOP = "run_app (/x/site-packages/aiohttp/web.py:502)"
_SEARCH = "search (/work/main/proxy/http/search.py:{})"
_DECIDE = "decide (/work/main/proxy/policy/evaluate.py:90)"
RAW = "\n".join(
    [
        f"{_HEAD}{_LOOP};{_SEARCH.format(52)};{_DECIDE} 30",
        f"{_HEAD}{_LOOP};{_SEARCH.format(60)};fetch (/x/site-packages/asyncpg/pool.py:746) 10",
        f'process 2:"python -c from x import spawn_main; spawn_main(7)";{_LOOP} 60',
        "not a stack line",
    ]
)


def test_shares_of_own_and_inclusive_time():
    p = profile.summarize(RAW)
    assert p.samples == 100
    assert p.self_top == [
        ("run_app (aiohttp/web.py:502)", 0.6),
        ("decide (main/proxy/policy/evaluate.py:90)", 0.3),
        ("fetch (asyncpg/pool.py:746)", 0.1),
    ]
    # run_app is on every sample: it says nothing and is left out.
    assert p.inclusive_top == [
        ("search (main/proxy/http/search.py)", 0.4),
        ("decide (main/proxy/policy/evaluate.py)", 0.3),
        ("fetch (asyncpg/pool.py)", 0.1),
    ]
    # This project's own frames (proxy/, load/), without the library ones.
    assert p.project == p.inclusive_top[:2]
    text = profile.markdown(p, app_ms_per_request=0.5)
    assert "| `search (main/proxy/http/search.py)` | 40.0% | 200.0 |" in text
    assert profile.markdown(profile.summarize("")).startswith("No samples")


_PARENT = 'process 1:"python -m proxy serve";'
_WORKER = 'process 5:"python -c from multiprocessing.spawn import spawn_main; spawn_main(4)";'
_BOOT = "<module> (<string>:1);_main (/x/lib/python3.11/multiprocessing/spawn.py:131)"


def test_spawned_workers_stacks_lose_every_process_prefix_and_their_bootstrap():
    """A worker's stack names its parent's process, then its own; neither is a frame, and the
    spawn bootstrap on all but the parent's samples is left out like the event loop."""
    raw = "\n".join(
        [
            f'{_PARENT}{_WORKER}thread 9:"MainThread";{_BOOT};{_LOOP};{_SEARCH.format(52)} 97',
            f'{_PARENT}thread 7:"MainThread";select (/x/lib/python3.11/selectors.py:468) 3',
        ]
    )
    p = profile.summarize(raw)
    assert p.samples == 100
    names = [name for name, _ in p.inclusive_top]
    assert names == ["select (selectors.py)"]  # search, the loop and the bootstrap: 97 %
    assert not any("process" in n or "spawn_main(" in n for n, _ in p.self_top)
    assert p.self_top[0] == ("search (main/proxy/http/search.py:52)", 0.97)


BUSY = """
import time
def busy_function():
    x = 0
    for i in range(20000):
        x += i * i
    return x
end = time.monotonic() + 20
while time.monotonic() < end:
    busy_function()
"""


@pytest.mark.skipif(not profile.available(), reason="py-spy is not installed")
def test_py_spy_finds_the_function_a_process_spends_its_time_in(tmp_path: Path):
    script = tmp_path / "busy.py"  # a file: py-spy writes the command line into each stack
    script.write_text(BUSY)
    busy = subprocess.Popen([sys.executable, str(script)])
    try:
        time.sleep(0.3)
        raw = tmp_path / "busy.raw"
        sampler = profile.record(busy.pid, 1.5, raw, delay_s=0.1)
        _, err = sampler.communicate(timeout=60)
        assert sampler.returncode == 0, err
    finally:
        busy.kill()
        busy.wait()
    p = profile.summarize(raw.read_text())
    assert p.samples > 50
    in_busy = sum(share for name, share in p.self_top if name.startswith("busy_function"))
    assert in_busy > 0.8
