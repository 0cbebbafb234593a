"""The asyncio runtime of docs/embedding.md runs real workflows with public imports only."""

from __future__ import annotations

import ast
import asyncio
import pathlib
from typing import Any

import pytest
from examples import embedding

import durable_gen as dg

EXAMPLE = pathlib.Path(embedding.__file__)


def test_the_example_imports_only_public_modules() -> None:
    tree = ast.parse(EXAMPLE.read_text())
    modules = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
            if node.module == "durable_gen":
                modules |= {f"durable_gen.{alias.name}" for alias in node.names}
    ours = {m for m in modules if m.split(".")[0] == "durable_gen"}
    assert ours == {"durable_gen", "durable_gen.runtime"}, ours
    assert not any(part.startswith("_") for m in ours for part in m.split("."))


def test_tiny_runtime_runs_map_wait_and_callback() -> None:
    runtime = embedding.TinyRuntime(embedding.checkout, '["book", "pen"]')

    def between(rt: embedding.TinyRuntime) -> None:
        if not rt.fire_due_timers():
            rt.answer_callback(embedding.sent[-1], '"yes"')

    result = asyncio.run(runtime.run(between))
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
    assert asyncio.run(runtime.run()) == "ok"
    assert len(attempts) == 3 and runtime.now == 30  # 10 s, then 20 s


def test_tiny_runtime_runs_async_steps_invokes_and_now() -> None:
    @dg.step
    async def fetch(x: int) -> int:
        await asyncio.sleep(0)
        return x * 10

    def wf(x: int):  # type: ignore[no-untyped-def]
        a = yield fetch(x)
        tax = yield dg.Invoke("tax", {"amount": a})
        yield dg.Wait(seconds=5)
        t = yield dg.Now()
        return {"a": a, "tax": tax, "at": t.isoformat()}

    runtime = embedding.TinyRuntime(wf, "4", functions={"tax": lambda p: p["amount"] // 10})
    result = asyncio.run(runtime.run())
    assert result == {"a": 40, "tax": 4, "at": "1970-01-01T00:00:05+00:00"}


def test_a_callback_timeout_reaches_the_workflow_as_callback_timeout_error() -> None:
    def wf(_: Any):  # type: ignore[no-untyped-def]
        handle = yield dg.CreateCallback(name="approval", timeout=60)
        try:
            return (yield handle)
        except dg.CallbackTimeoutError as exc:
            return exc.error_type

    runtime = embedding.TinyRuntime(wf, "null")
    assert asyncio.run(runtime.run()) == "Callback.Timeout"
    assert runtime.now == 60


@pytest.mark.parametrize("mode", ["step", "eager", "batch"])
def test_every_checkpointing_mode_gives_the_same_result(mode: str) -> None:
    runtime = embedding.TinyRuntime(embedding.checkout, '["a", "b", "c"]', checkpointing=mode)  # type: ignore[arg-type]

    def between(rt: embedding.TinyRuntime) -> None:
        if not rt.fire_due_timers():
            rt.answer_callback(embedding.sent[-1], '"ok"')

    result = asyncio.run(runtime.run(between))
    assert result["reserved"] == ["reserved:a", "reserved:b", "reserved:c"]


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_tiny_runtime_times_out_a_step_past_its_timeout(is_async: bool) -> None:
    """The docs' runtime enforces ``deadline_ms`` as the docs ask of a host: a step still
    running at its deadline fails with StepTimeoutError, as on the engine."""

    if is_async:

        @dg.step(timeout=0.05, retry=dg.Retry.never())
        async def hangs() -> str:
            await asyncio.sleep(5)
            return "late"

    else:

        @dg.step(timeout=0.05, retry=dg.Retry.never())
        def hangs() -> str:
            import time

            time.sleep(0.5)
            return "late"

    def workflow(_: Any) -> Any:
        try:
            return (yield hangs())
        except dg.StepTimeoutError as exc:
            return exc.error_type

    runtime = embedding.TinyRuntime(workflow, "null")
    assert asyncio.run(runtime.run()) == "StepTimeoutError"
