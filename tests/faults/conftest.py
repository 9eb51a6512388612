"""Print what the fault-injection tests measured at the end of the run (also without -s)."""

from __future__ import annotations

import pytest

from tests.faults.harness import SUMMARY


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if SUMMARY:
        terminalreporter.section("fault injection and graceful shutdown: totals")
        for line in SUMMARY:
            terminalreporter.write_line(line)
