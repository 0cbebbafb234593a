"""A ``retry_if`` that raises: the step fails once, with that error, naming the predicate."""

from __future__ import annotations

from typing import Any

import durable_gen as dg
from durable_gen.testing import TestRunner


class HttpError(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(f"http {code}")
        self.code = code


calls: list[int] = []


@dg.step(retry=dg.Retry(max_attempts=4, initial_delay=1, retry_if=lambda e: e.code >= 500))  # type: ignore[attr-defined]
def fetch() -> str:
    calls.append(1)
    raise ValueError("not an HttpError")


@dg.workflow
def fetching(_: Any):  # type: ignore[no-untyped-def]
    try:
        return (yield fetch())
    except dg.StepFailedError as exc:
        return [exc.error_type, exc.error_message]


def test_a_retry_if_that_raises_fails_the_step_once_with_its_error() -> None:
    calls.clear()
    run = TestRunner().run(fetching, None)
    assert run.status == "SUCCEEDED", run.error
    error_type, message = run.result()
    assert error_type == "AttributeError"
    assert message.startswith("retry_if raised AttributeError:") and "ValueError" in message
    assert calls == [1]  # not run again: the failure is recorded at the first attempt
