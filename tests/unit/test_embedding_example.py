"""The custom runtime of docs/embedding.md runs real workflows with no LocalService."""

from __future__ import annotations

from typing import Any

from examples import embedding

import durable_gen as dg


def test_tiny_runtime_runs_map_wait_and_callback() -> None:
    runtime = embedding.TinyRuntime(embedding.checkout, '["book", "pen"]')

    def between(rt: embedding.TinyRuntime) -> None:
        if not rt.fire_due_timers():
            rt.answer_callback(embedding.sent[-1], '"yes"')

    result = runtime.run(between)
    assert result == {"reserved": ["reserved:book", "reserved:pen"], "approval": "yes"}
    assert runtime.now == 3600
    assert runtime.invocations == 3  # start, after the wait, after the callback


def test_tiny_runtime_retries_a_failing_step_after_its_delay() -> None:
    attempts: list[int] = []

    @dg.step(retry=dg.Retry(max_attempts=3, initial_delay=10, jitter="none"))
    def flaky() -> str:
        attempts.append(1)
        if len(attempts) < 3:
            raise ConnectionError("try again")
        return "ok"

    def wf(_: Any):  # type: ignore[no-untyped-def]
        return (yield flaky())

    runtime = embedding.TinyRuntime(wf, "null")
    assert runtime.run() == "ok"
    assert len(attempts) == 3 and runtime.now == 30  # 10 s, then 20 s
