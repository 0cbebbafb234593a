"""The handler choices docs/conformance.md states hold: written that way, a handler passes.

A checker writes handlers from that page alone; where it says which logger to use, a handler
that follows it passes and one that does what it warns against fails.
"""

from __future__ import annotations

import logging
from typing import Any

import durable_gen as dg

from .handlers import Handler
from .runner import run_embedded
from .suite import load_requirement

replaying = dg.get_logger("conformance.documented", log_during_replay=True)
plain = logging.getLogger("conformance.documented.plain")


def _logs_with(logger: Any) -> Any:
    def logs_only(value: str):  # type: ignore[no-untyped-def]
        logger.info(f"child logs {value}")
        return value
        yield

    @dg.workflow
    def child_logger_only(value: str):  # type: ignore[no-untyped-def]
        result = yield dg.Child(logs_only, (value,), name="logger")
        yield dg.Wait(seconds=1)
        return result

    return child_logger_only


def test_replay_logging_with_get_logger_log_during_replay_passes_3_17() -> None:
    result = run_embedded(load_requirement("3-17"), Handler(_logs_with(replaying)), {})
    assert result.status == "passed", result.errors


def test_a_plain_logging_logger_is_not_seen_by_the_log_checks() -> None:
    result = run_embedded(load_requirement("3-17"), Handler(_logs_with(plain)), {})
    assert result.status == "failed"
    assert any("ExpectedLogs" in error or "log" in error.lower() for error in result.errors)
