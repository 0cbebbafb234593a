"""The handler choices docs/conformance.md states hold: written that way, a handler passes.

A checker writes handlers from that page alone; where it says which logger to use, a handler
that follows it passes and one that does what it warns against fails.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

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


class Crash(SystemExit):
    """The handlers' crash, as the page says: a ``SystemExit`` subclass."""


@dg.step(name="at_most_once_flaky_step", semantics=dg.AT_MOST_ONCE, retry=dg.Retry.never())
def at_most_once_flaky_step(value: str) -> str:
    replaying.info(f"running with {value}")
    raise Crash(1)


@dg.workflow
def step_1_17(value: str):  # type: ignore[no-untyped-def]
    return (yield at_most_once_flaky_step(value))


def test_a_step_raising_a_systemexit_subclass_crashes_the_invocation_as_1_17_asks() -> None:
    result = run_embedded(load_requirement("1-17"), Handler(step_1_17), {})
    assert result.status == "passed", result.errors


def test_the_testing_crash_stops_the_engine_instead_as_the_page_warns() -> None:
    from durable_gen.testing import Crash as ProcessDeath

    @dg.step(semantics=dg.AT_MOST_ONCE, retry=dg.Retry.never())
    def dies(value: str) -> str:
        raise ProcessDeath()

    @dg.workflow
    def dying(value: str):  # type: ignore[no-untyped-def]
        return (yield dies(value))

    with pytest.raises(ProcessDeath):
        run_embedded(load_requirement("1-17"), Handler(dying), {})
