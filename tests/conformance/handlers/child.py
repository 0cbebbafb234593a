"""Handlers of the ``child`` requirements (3-x): ``dg.Child`` contexts.

The child functions are ``@dg.workflow`` functions: that names a child context after its
function, as AWS's ``@durable_with_child_context`` does (the requirements expect a name).
"""

from __future__ import annotations

import time
from typing import Any

import durable_gen as dg

from ._support import ATTEMPTS, Crash

# The requirements that log in child contexts enable replay logging, to see a body run again.
log = dg.get_logger(__name__, log_during_replay=True)

NO_RETRY = dg.Retry.never()


@dg.step
def echo(value: Any) -> Any:
    return value


@dg.step(retry=NO_RETRY)
def fail(message: str = "child step failed") -> None:
    raise RuntimeError(message)


@dg.workflow
def single_step(value: Any):
    return (yield echo(value))


@dg.workflow
def child_basic(event: str):  # 3-1
    return (yield dg.Child(single_step, (event,)))


@dg.workflow
def child_named(event: dict[str, str]):  # 3-2
    return (yield dg.Child(single_step, (event["value"],), name=event["name"]))


@dg.workflow
def two_steps(value: str):
    first = yield echo(value)
    return (yield echo(first))


@dg.workflow
def child_sequential_steps(event: str):  # 3-3
    return (yield dg.Child(two_steps, (event,)))


@dg.workflow
def failing_child():
    yield fail()


@dg.workflow
def child_fails(_event: None):  # 3-4
    return (yield dg.Child(failing_child))


@dg.workflow
def child_failure_caught(event: str):  # 3-5
    try:
        yield dg.Child(failing_child)
    except dg.ChildFailedError:
        return (yield echo(event))


@dg.workflow
def inner(value: str):
    return (yield echo(value))


@dg.workflow
def outer(value: str):
    yield echo(value)
    return (yield dg.Child(inner, (value,)))


@dg.workflow
def nested_children(event: str):  # 3-6
    return (yield dg.Child(outer, (event,)))


def echo_after_one_failure(key: str):
    def flaky_echo(value: str) -> str:
        if ATTEMPTS.next(key) == 1:
            raise RuntimeError("transient failure")
        return value

    return flaky_echo


@dg.workflow
def retried_step(value: str):
    retry = dg.Retry(max_attempts=2, initial_delay=1, jitter="none")
    return (yield dg.Step(echo_after_one_failure("3-7"), (value,), retry=retry))


@dg.workflow
def child_step_retry(event: str):  # 3-7
    return (yield dg.Child(retried_step, (event,)))


@dg.step(retry=dg.Retry(max_attempts=2, initial_delay=1, jitter="none"))
def always_fails() -> None:
    raise RuntimeError("always fails")


@dg.workflow
def exhausting_child():
    yield always_fails()


@dg.workflow
def child_retry_exhausted(_event: None):  # 3-8
    return (yield dg.Child(exhausting_child))


@dg.workflow
def child_replay_cached(event: str):  # 3-9
    result = yield dg.Child(single_step, (event,))
    yield dg.Wait(seconds=1)
    return result


@dg.workflow
def step_and_wait(value: str):
    result = yield echo(value)
    yield dg.Wait(seconds=1)
    return result


@dg.workflow
def child_step_and_wait(event: str):  # 3-10
    return (yield dg.Child(step_and_wait, (event,)))


LARGE_RESULT_BYTES = 300 * 1024


@dg.workflow
def large_result(value: str):
    # Replay logging on: the body runs again when the large result is rebuilt, and says so.
    log.info("building a large result for %s", value)
    seed = yield echo(value)
    return seed * (LARGE_RESULT_BYTES // len(seed) + 1)


@dg.workflow
def child_large_result(event: str):  # 3-11
    big = yield dg.Child(large_result, (event,))
    yield dg.Wait(seconds=1)
    return {"length": len(big), "prefix": big[: len(event)]}


def crash_once(key: str):
    def echo_or_crash(value: str) -> str:
        if ATTEMPTS.next(key) == 1:
            # "after StepStarted is checkpointed": a step running past the start window (5 ms)
            # has its START sent while it runs, in the default mode too
            time.sleep(0.05)
            raise Crash(1)
        return value

    return echo_or_crash


@dg.workflow
def crashing_step(value: str):
    return (yield dg.Step(crash_once("3-12"), (value,)))


@dg.workflow
def child_interrupted(event: str):  # 3-12
    return (yield dg.Child(crashing_step, (event,)))


@dg.workflow
def only_wait(value: str):
    yield dg.Wait(seconds=1)
    return value


@dg.workflow
def child_with_wait(event: str):  # 3-13
    result = yield dg.Child(only_wait, (event,))
    yield echo(event)
    return result


class UppercaseText:
    """Records a string result as its upper-cased text (not JSON), and reads it back as is."""

    def serialize(self, value: str) -> str:
        return value.upper()

    def deserialize(self, payload: str) -> str:
        return payload


@dg.workflow
def child_custom_serdes(event: str):  # 3-14
    return (yield dg.Child(single_step, (event,), serdes=UppercaseText()))


@dg.workflow
def raises_directly():
    raise ValueError("child failed without a durable operation")
    yield  # a generator function: it runs as a child context


@dg.workflow
def child_error_without_step(_event: None):  # 3-15
    return (yield dg.Child(raises_directly))


@dg.workflow
def returns_null():
    return None
    yield  # a generator function: it runs as a child context


@dg.workflow
def child_returns_null(_event: None):  # 3-16
    return (yield dg.Child(returns_null))


@dg.workflow
def logs_only(value: str):
    # Replay logging on: a completed child must not run again on replay.
    log.info("child context got %s", value)
    return value
    yield  # a generator function: it runs as a child context


@dg.workflow
def child_logger_only(event: str):  # 3-17
    result = yield dg.Child(logs_only, (event,))
    yield dg.Wait(seconds=1)
    return result


@dg.workflow
def child_mixed(event: str):  # 3-18
    result = yield dg.Child(step_and_wait, (event,))
    yield echo(result)
    yield dg.Wait(seconds=1)
    return result


HANDLERS = {
    "3-1": child_basic,
    "3-2": child_named,
    "3-3": child_sequential_steps,
    "3-4": child_fails,
    "3-5": child_failure_caught,
    "3-6": nested_children,
    "3-7": child_step_retry,
    "3-8": child_retry_exhausted,
    "3-9": child_replay_cached,
    "3-10": child_step_and_wait,
    "3-11": child_large_result,
    "3-12": child_interrupted,
    "3-13": child_with_wait,
    "3-14": child_custom_serdes,
    "3-15": child_error_without_step,
    "3-16": child_returns_null,
    "3-17": child_logger_only,
    "3-18": child_mixed,
}
