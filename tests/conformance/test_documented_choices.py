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


# --- differences from AWS's SDK the page lists ---------------------------------------------------


@pytest.mark.parametrize("build", [dg.Retry, dg.WaitStrategy])
def test_a_backoff_below_one_is_refused_where_it_is_built(build: Any) -> None:
    kwargs = {"until": bool} if build is dg.WaitStrategy else {}
    with pytest.raises(dg.ValidationError, match="backoff must be a finite number of at least 1"):
        build(backoff=0.5, **kwargs)


class _Tagged:
    def serialize(self, value: Any) -> str:
        if isinstance(value, dg.BatchResult):
            return "batch:" + ",".join(str(v) for v in value.results())
        return f"item:{value}"

    def deserialize(self, text: str) -> Any:
        if text.startswith("item:"):
            return int(text.removeprefix("item:"))
        values = [int(v) for v in text.removeprefix("batch:").split(",")]
        items = [dg.BatchItem(index=i, status="SUCCEEDED", result=v) for i, v in enumerate(values)]
        return dg.BatchResult(items=items, completion_reason="ALL_COMPLETED")


def _payloads(serdes_kwargs: dict[str, Any]) -> dict[str | None, str | None]:
    from durable_gen.testing import TestRunner

    def tripled(event):  # type: ignore[no-untyped-def]
        r = yield dg.Map(lambda x, i: x * 3, [1, 2], name="m", **serdes_kwargs)
        return r.results()

    run = TestRunner().run(tripled, None)
    assert run.result() == [3, 6]
    return {
        op.get("Name"): (op.get("ContextDetails") or {}).get("Result")
        for op in run.export()["Operations"]
        if op["Type"] == "CONTEXT"
    }


def test_a_maps_serdes_writes_the_whole_batch_only_and_item_serdes_the_items() -> None:
    alone = _payloads({"serdes": _Tagged()})
    assert alone["m"] == "batch:3,6"
    assert [alone["map-item-0"], alone["map-item-1"]] == ["3", "6"]  # the default codec
    both = _payloads({"serdes": _Tagged(), "item_serdes": _Tagged()})
    assert [both["map-item-0"], both["map-item-1"]] == ["item:3", "item:6"]


def test_first_successful_on_an_empty_batch_is_all_completed() -> None:
    def empty(event):  # type: ignore[no-untyped-def]
        r = yield dg.Map(lambda x, i: x, [], completion=dg.Completion.first_successful())
        return str(r.completion_reason)

    assert dg.run(empty, None) == "ALL_COMPLETED"


def test_a_condition_out_of_attempts_and_a_silent_callback_record_the_engines_messages() -> None:
    from durable_gen.testing import TestRunner

    def polls(event):  # type: ignore[no-untyped-def]
        strategy = dg.WaitStrategy(until=lambda s: False, delay=1, max_attempts=2)
        try:
            yield dg.WaitForCondition(lambda s: s, 0, wait_strategy=strategy, name="poll")
        except dg.WaitConditionNotMetError as e:
            return e.error_message

    assert (
        dg.run(polls, None, skip_time=True) == "condition not met after 2 checks (max_attempts=2)"
    )

    def asks(event):  # type: ignore[no-untyped-def]
        handle = yield dg.CreateCallback(name="approve", timeout=60, heartbeat_timeout=1)
        try:
            return (yield handle)
        except dg.CallbackTimeoutError as e:
            return [e.error_type, e.error_message]

    runner = TestRunner()
    run = runner.run(asks, None)
    runner.run_until_idle(include_callback_timeouts=True)
    assert run.result() == [
        "Callback.Heartbeat",
        "no heartbeat arrived within the heartbeat timeout of 1 second",
    ]
