"""Prints ``otel conformance: N passed, M failed`` and ``telemetry conformance: ...`` at the end.

Counted as in ``tests/conformance/conftest.py``: an expected failure counts as failed, a skipped
test in neither; when the suites could not be fetched the line says so.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

_PREFIX = "tests/conformance/otel/test_otel_conformance.py::"
_counts: dict[str, Counter[str]] = {"otel": Counter(), "telemetry": Counter()}
_skipped: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if not report.nodeid.startswith(_PREFIX):
        return
    name = report.nodeid.removeprefix(_PREFIX)
    if name.startswith("test_suites_are_available"):
        if report.skipped:
            _skipped.append(str(report.longrepr[-1]) if isinstance(report.longrepr, tuple) else "")
        return
    suite = "telemetry" if name.startswith("test_telemetry") else "otel"
    if report.when == "call":
        if hasattr(report, "wasxfail") or report.failed:
            _counts[suite]["failed"] += 1
        elif report.passed:
            _counts[suite]["passed"] += 1
    elif report.when == "setup" and report.failed:
        _counts[suite]["failed"] += 1


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for suite, counts in _counts.items():
        if counts["passed"] or counts["failed"]:
            terminalreporter.write_line(
                f"{suite} conformance: {counts['passed']} passed, {counts['failed']} failed"
            )
    for reason in _skipped:
        terminalreporter.write_line(f"otel/telemetry conformance NOT RUN: {reason}")
