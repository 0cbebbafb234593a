"""Handlers of the ``step`` requirements (1-x): single steps, retries, semantics, serdes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import durable_gen as dg

from ._support import ATTEMPTS, Crash, TransientError, UppercaseSerdes

log = dg.get_logger(__name__)

NO_RETRY = dg.Retry.never()
#: One second between attempts, no jitter: the delays the requirements expect.
EVERY_SECOND = dg.Retry(max_attempts=3, initial_delay=1, backoff=1, jitter="none")


@dg.step
def greet(name: str) -> str:
    return f"Hello, {name}!"


@dg.workflow
def step_basic(event: str):  # 1-1
    return (yield greet(event))


@dg.workflow
def step_named(event: str):  # 1-2
    return (yield dg.Step(greet.fn, (event,), name="custom_step_name"))


@dg.step
def step_one() -> str:
    return "first"


@dg.step
def step_two(previous: str) -> str:
    return f"{previous}_second"


@dg.workflow
def sequential_steps(_event: None):  # 1-3
    first = yield step_one()
    return (yield step_two(first))


@dg.step
def build_response(event: dict[str, Any]) -> dict[str, Any]:
    return {"user": {"name": event["name"], "tags": event["tags"]}, "count": len(event["tags"])}


@dg.workflow
def complex_result(event: dict[str, Any]):  # 1-4
    return (yield build_response(event))


@dg.step
def do_nothing() -> None:
    return None


@dg.workflow
def null_result(_event: None):  # 1-5
    return (yield do_nothing())


@dg.step(serdes=UppercaseSerdes())
def return_input(value: str) -> str:
    return value


@dg.workflow
def custom_serdes(event: str):  # 1-6
    return (yield return_input(event))


@dg.step
def greet_and_log(name: str) -> str:
    log.info("Greeting step started for: %s", name)
    greeting = f"Hello, {name}!"
    log.info("Greeting step completed with: %s", greeting)
    return greeting


@dg.workflow
def step_with_logger(event: str):  # 1-7
    return (yield greet_and_log(event))


@dg.step
def compute() -> str:
    return "computed"


@dg.workflow
def step_then_wait(_event: None):  # 1-8
    result = yield compute()
    yield dg.Wait(seconds=2)
    return result


@dg.step
def cached() -> str:
    log.info("step executed")
    return "cached_value"


@dg.workflow
def replay_skips_step(_event: None):  # 1-9
    result = yield cached()
    yield dg.Wait(seconds=1)
    return result


@dg.step(retry=NO_RETRY)
def fails_once_logged() -> None:
    log.info("step executed")
    raise RuntimeError("permanent failure")


@dg.workflow
def replay_rethrows(_event: None):  # 1-10
    try:
        yield fails_once_logged()
    except dg.StepFailedError as exc:
        caught = exc.error_message
    yield dg.Wait(seconds=1)
    return caught


def fails_first_attempt(key: str) -> Callable[[], str]:
    """A step body that raises on its first attempt and succeeds afterwards."""

    def unreliable_func() -> str:
        if ATTEMPTS.next(key) == 1:
            raise RuntimeError("transient failure")
        return "Operation succeeded"

    return unreliable_func


@dg.workflow
def retry_then_succeed(_event: None):  # 1-11
    return (yield dg.Step(fails_first_attempt("1-11"), retry=EVERY_SECOND))


@dg.step(retry=dg.Retry(max_attempts=4, initial_delay=1, backoff=1, jitter="none"))
def always_fail() -> None:
    raise RuntimeError("always fails")


@dg.workflow
def retry_exhausted(_event: None):  # 1-12
    return (yield always_fail())


@dg.step
def fails_twice() -> str:
    if ATTEMPTS.next("1-13") <= 2:
        raise RuntimeError("transient failure")
    return "third time lucky"


@dg.workflow
def default_retry(_event: None):  # 1-13
    return (yield fails_twice())


@dg.step(retry=dg.Retry(max_attempts=5, initial_delay=2, backoff=3, jitter="none"))
def fails_twice_custom() -> str:
    if ATTEMPTS.next("1-14") <= 2:
        raise RuntimeError("transient failure")
    return "third time lucky"


@dg.workflow
def custom_retry(_event: None):  # 1-14
    return (yield fails_twice_custom())


@dg.step(
    retry=dg.Retry(
        max_attempts=3, initial_delay=1, backoff=1, jitter="none", retry_on=(TransientError,)
    )
)
def transient_once() -> str:
    if ATTEMPTS.next("1-15") == 1:
        raise TransientError("try again")
    return "recovered"


@dg.workflow
def retry_specific_exception(_event: None):  # 1-15
    return (yield transient_once())


@dg.step(
    retry=dg.Retry(
        max_attempts=3,
        initial_delay=1,
        jitter="none",
        retry_if=lambda exc: not isinstance(exc, TransientError),
    )
)
def transient_always() -> str:
    raise TransientError("not retried")


@dg.workflow
def no_retry_on_transient(_event: None):  # 1-16
    return (yield transient_always())


def crash_with(value: str) -> None:
    log.info("at-most-once step input: %s", value)
    raise Crash(1)


@dg.workflow
def at_most_once_interrupted(event: str):  # 1-17
    return (
        yield dg.Step(
            crash_with,
            (event,),
            name="at_most_once_flaky_step",
            semantics=dg.AT_MOST_ONCE,
            retry=NO_RETRY,
        )
    )


def crash_first_attempt(value: str) -> str:
    log.info("at-most-once step input: %s", value)
    if ATTEMPTS.next("1-18") == 1:
        raise Crash(1)
    return "succeeded on second attempt"


@dg.workflow
def at_most_once_retried(event: str):  # 1-18
    return (
        yield dg.Step(
            crash_first_attempt,
            (event,),
            name="at_most_once_flaky_step",
            semantics=dg.AT_MOST_ONCE,
            retry=EVERY_SECOND,
        )
    )


@dg.step(retry=NO_RETRY)
def failing_func() -> None:
    raise ValueError("step failed")


@dg.workflow
def step_fails(_event: None):  # 1-19
    return (yield failing_func())


@dg.step
def fallback() -> str:
    return "fallback_result"


@dg.workflow
def error_caught(_event: None):  # 1-20
    try:
        return (yield failing_func())
    except dg.StepFailedError:
        return (yield fallback())


HANDLERS = {
    "1-1": step_basic,
    "1-2": step_named,
    "1-3": sequential_steps,
    "1-4": complex_result,
    "1-5": null_result,
    "1-6": custom_serdes,
    "1-7": step_with_logger,
    "1-8": step_then_wait,
    "1-9": replay_skips_step,
    "1-10": replay_rethrows,
    "1-11": retry_then_succeed,
    "1-12": retry_exhausted,
    "1-13": default_retry,
    "1-14": custom_retry,
    "1-15": retry_specific_exception,
    "1-16": no_retry_on_transient,
    "1-17": at_most_once_interrupted,
    "1-18": at_most_once_retried,
    "1-19": step_fails,
    "1-20": error_caught,
}
