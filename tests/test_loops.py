from __future__ import annotations

import asyncio

import uvloop

from proxy import loops


async def _running_loop() -> asyncio.AbstractEventLoop:
    return asyncio.get_running_loop()


def test_run_returns_the_result_and_runs_on_uvloop() -> None:
    loop = loops.run(_running_loop())
    assert isinstance(loop, uvloop.Loop)
    assert loop.is_closed()  # the runner closes what it made


def test_new_event_loop_is_uvloop() -> None:
    loop = loops.new_event_loop()
    try:
        assert isinstance(loop, uvloop.Loop)
    finally:
        loop.close()


def test_commands_share_the_loop_factory() -> None:
    """The server and the audit verifier must run on the loop the benchmarks measure."""
    import inspect

    from proxy.cli import audit, demo, report, serve

    for module in (audit, demo, report, serve):
        source = inspect.getsource(module)
        assert "loops." in source, module.__name__
        assert "asyncio.run(" not in source, module.__name__
