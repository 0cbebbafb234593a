"""True start times: a step still running after the start window has its START checkpointed
while it runs, from the driver's thread; a fast step still costs one checkpoint.
"""

from __future__ import annotations

import contextvars
import time
from typing import Any

import anyio
import pytest

import durable_gen as dg
from durable_gen import runtime as rt
from durable_gen._wire import InvocationInput, InvocationOutput, OperationUpdate
from durable_gen.local import LocalService, RealClock, VirtualClock


class Counting(LocalService):
    """An embedded engine that notes the actions of every checkpoint call."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.calls: list[list[str]] = []

    def checkpoint(self, arn: str, token: str, updates: list[OperationUpdate]) -> Any:
        self.calls.append([f"{u.type}:{u.action}" for u in updates])
        return super().checkpoint(arn, token, updates)


def run(workflow: Any, *, real_clock: bool = False, **options: Any) -> tuple[Counting, str]:
    engine = Counting(clock=RealClock() if real_clock else VirtualClock())
    engine.register("wf", dg.make_handler(workflow, engine, **options))
    arn = engine.start("wf", "null")
    engine.run(arn)
    return engine, arn


@dg.step
def fast(x: int) -> int:
    return x


@dg.step
def slow(x: int) -> int:
    time.sleep(0.05)
    return x


def two_steps(_: Any):  # type: ignore[no-untyped-def]
    a = yield fast(1)
    b = yield slow(2)
    return a + b


def test_a_fast_step_costs_one_checkpoint_a_slow_one_sends_start_first() -> None:
    engine, arn = run(two_steps, real_clock=True)
    assert engine.get_execution(arn).result == "3"
    assert engine.calls == [["STEP:START", "STEP:SUCCEED"], ["STEP:START"], ["STEP:SUCCEED"]]
    steps = [e for e in engine.get_history(arn) if e.event_type.startswith("Step")]
    started, succeeded = steps[2], steps[3]
    assert started.event_type == "StepStarted" and succeeded.event_type == "StepSucceeded"
    # the START carries the step's real start (within the window), not its end
    assert succeeded.event_timestamp - started.event_timestamp >= 30  # type: ignore[operator]


def test_start_window_none_sends_start_with_the_outcome() -> None:
    engine, _ = run(two_steps, start_window=None)
    assert engine.calls == [["STEP:START", "STEP:SUCCEED"]] * 2


def test_a_larger_window_keeps_a_slow_step_in_one_checkpoint() -> None:
    engine, _ = run(two_steps, start_window=1.0)
    assert engine.calls == [["STEP:START", "STEP:SUCCEED"]] * 2


@pytest.mark.parametrize("mode", ["eager", "batch"])
def test_other_modes_send_no_early_start(mode: str) -> None:
    windowed, _ = run(two_steps, checkpointing=mode)
    without, _ = run(two_steps, checkpointing=mode, start_window=None)
    assert windowed.calls == without.calls
    assert len(windowed.calls) == (3 if mode == "eager" else 1)


class Crash(SystemExit):
    """The process ends in the middle of a step."""


ATTEMPTS: list[int] = []


@dg.step
def long_then_crash(x: str) -> str:
    ATTEMPTS.append(1)
    time.sleep(0.05)
    if len(ATTEMPTS) == 1:
        raise Crash(1)
    return x


def crash_in_child(x: str):  # type: ignore[no-untyped-def]
    return (yield long_then_crash(x))


def test_a_crash_inside_a_long_step_leaves_its_start() -> None:
    ATTEMPTS.clear()

    def wf(_: Any):  # type: ignore[no-untyped-def]
        return (yield dg.Child(crash_in_child, ("in",)))

    engine, arn = run(wf)
    assert engine.get_execution(arn).result == '"in"' and len(ATTEMPTS) == 2
    kinds = [e.event_type for e in engine.get_history(arn)]
    assert kinds[1:] == [
        "ContextStarted",
        "StepStarted",
        "InvocationCompleted",  # the crash
        "StepSucceeded",  # the second run: no second START
        "ContextSucceeded",
        "InvocationCompleted",
        "ExecutionSucceeded",
    ]


def test_long_map_items_get_their_start_while_they_run() -> None:
    def item(n: int):  # type: ignore[no-untyped-def]
        return (yield slow(n))

    def wf(_: Any):  # type: ignore[no-untyped-def]
        batch = yield dg.Map(item, [1, 2])
        return batch.results()

    engine, arn = run(wf)
    assert engine.get_execution(arn).result == "[1,2]"
    flat = [a for call in engine.calls for a in call]
    first_succeed = flat.index("STEP:SUCCEED")
    assert flat[:first_succeed].count("STEP:START") == 2  # both STARTs before any outcome


def test_invoke_async_sends_the_start_of_a_long_async_step() -> None:
    @dg.step
    async def aslow() -> int:
        await anyio.sleep(0.05)
        return 7

    def wf(_: Any):  # type: ignore[no-untyped-def]
        return (yield aslow())

    engine = Counting(clock=VirtualClock())

    def handler(event: InvocationInput) -> InvocationOutput:
        return anyio.run(lambda: dg.invoke_async(wf, event, engine))

    engine.register("wf", handler)
    arn = engine.start("wf", "null")
    assert engine.run(arn).result == "7"
    assert engine.calls == [["STEP:START"], ["STEP:SUCCEED"]]


def test_the_calling_threads_context_reaches_a_watched_step() -> None:
    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")
    var.set("caller")

    @dg.step
    def read() -> str:
        return var.get()

    def wf(_: Any):  # type: ignore[no-untyped-def]
        return (yield read())

    engine, arn = run(wf)
    assert engine.get_execution(arn).result == '"caller"'


@pytest.mark.parametrize("bad", [-1, "5ms", float("nan"), True])
def test_a_bad_start_window_is_a_validation_error(bad: Any) -> None:
    with pytest.raises(dg.ValidationError, match="start_window"):
        dg.make_handler(two_steps, LocalService(), start_window=bad)


# --- the interpreter's side -----------------------------------------------------------------


def child_step(_: Any):  # type: ignore[no-untyped-def]
    return (yield fast(1))


def in_child(_: Any):  # type: ignore[no-untyped-def]
    return (yield dg.Child(child_step, (None,)))


def first_task(interp: dg.Interpreter) -> dg.StepTask:
    action = interp.next_action()
    assert isinstance(action, rt.RunTasks)
    return action.tasks[0]


def test_started_flushes_what_is_pending_then_the_start_once() -> None:
    interp = dg.Interpreter(in_child, [])
    task = first_task(interp)
    flush = interp.started(task)
    assert flush is not None
    assert [(u.type, u.action) for u in flush.updates] == [("CONTEXT", "START"), ("STEP", "START")]
    with pytest.raises(dg.ValidationError, match="observe"):
        interp.started(task)
    interp.observe([])
    assert interp.started(task) is None  # once per attempt
    interp.task_succeeded(task, 1)
    action = interp.next_action()
    assert isinstance(action, rt.Flush)
    # the step's outcome goes out alone (no second START), then its context's
    sent = [(u.type, u.action) for u in action.updates]
    assert sent[0] == ("STEP", "SUCCEED") and ("STEP", "START") not in sent


@pytest.mark.parametrize("mode", ["eager", "batch"])
def test_started_gives_nothing_outside_step_mode(mode: Any) -> None:
    interp = dg.Interpreter(in_child, [], checkpointing=mode)
    action = interp.next_action()
    if isinstance(action, rt.Flush):  # eager: the STARTs went out before the task
        interp.observe([])
        action = interp.next_action()
    assert isinstance(action, rt.RunTasks)
    assert interp.started(action.tasks[0]) is None


def test_started_gives_nothing_for_an_at_most_once_step() -> None:
    def wf(_: Any):  # type: ignore[no-untyped-def]
        return (yield dg.Step(print, semantics=dg.AT_MOST_ONCE))

    interp = dg.Interpreter(wf, [])
    action = interp.next_action()
    assert isinstance(action, rt.Flush)
    interp.observe([])
    task = first_task(interp)
    assert interp.started(task) is None
    interp.task_succeeded(task, None)
    assert interp.started(task) is None  # no longer running


@pytest.mark.parametrize(
    ("window", "calls"),
    [
        (0.005, [["STEP:START", "STEP:SUCCEED"], ["STEP:START"], ["STEP:SUCCEED"]]),
        (None, [["STEP:START", "STEP:SUCCEED"]] * 2),
    ],
)
def test_the_lambda_handler_takes_the_start_window(window: Any, calls: Any) -> None:
    import msgspec

    from durable_gen._wire import to_builtins
    from durable_gen.aws import lambda_handler

    engine = Counting(clock=VirtualClock())
    handler = lambda_handler(two_steps, service=engine, start_window=window)
    engine.register(
        "wf", lambda e: msgspec.convert(handler(to_builtins(e), None), InvocationOutput)
    )
    arn = engine.start("wf", "null")
    assert engine.run(arn).result == "3"
    assert engine.calls == calls
    with pytest.raises(dg.ValidationError, match="start_window"):
        lambda_handler(two_steps, service=engine, start_window=-1)


def test_invocations_running_at_once_each_get_their_start() -> None:
    # Drivers alive at the same time share one watchdog: each armed step is its own job.
    import threading

    results: list[tuple[Counting, str]] = []
    lock = threading.Lock()

    def one() -> None:
        outcome = run(two_steps, real_clock=True)
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=one) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 4
    for engine, arn in results:
        assert engine.get_execution(arn).result == "3"
        assert engine.calls == [["STEP:START", "STEP:SUCCEED"], ["STEP:START"], ["STEP:SUCCEED"]]


def test_many_fast_steps_between_slow_ones_each_slow_one_gets_its_start() -> None:
    # Arming a fast step takes no lock: a slow step armed at any moment of the watchdog's
    # cycle (asleep, just woken, about to sleep) must still have its START sent, from several
    # invocations at once.
    import threading

    @dg.step
    def medium(x: int) -> int:
        time.sleep(0.02)
        return x

    def mixed(_: Any):  # type: ignore[no-untyped-def]
        total = 0
        for i in range(12):
            for _ in range(i * 7 % 23):
                total += yield fast(1)
            total += yield medium(1)
        return total

    class Named(LocalService):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.calls: list[list[str]] = []

        def checkpoint(self, arn: str, token: str, updates: Any) -> Any:
            self.calls.append([f"{u.name}:{u.action}" for u in updates])
            return super().checkpoint(arn, token, updates)

    results: list[tuple[Named, str]] = []
    lock = threading.Lock()

    def one() -> None:
        engine = Named(clock=RealClock())
        engine.register("wf", dg.make_handler(mixed, engine))
        arn = engine.start("wf", "null")
        engine.run(arn)
        with lock:
            results.append((engine, arn))

    threads = [threading.Thread(target=one) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 3
    fast_steps = sum(i * 7 % 23 for i in range(12))
    for engine, arn in results:
        assert engine.get_execution(arn).result == str(12 + fast_steps)
        # each medium step's START went out alone, while it ran (a fast step may too, when
        # the threads of this test keep it from running within the window)
        assert engine.calls.count(["medium:START"]) == 12
        assert engine.calls.count(["medium:SUCCEED"]) == 12
        assert ["medium:START", "medium:SUCCEED"] not in engine.calls


def test_the_watchdog_keeps_no_engine_alive_and_ends_soon_after_the_last_invocation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import gc
    import threading
    import weakref

    from durable_gen._driver import _StepThreads

    def watchdogs() -> set[threading.Thread]:
        return {t for t in threading.enumerate() if t.name == "durable-gen-start"}

    before = watchdogs()
    monkeypatch.setattr(_StepThreads, "_live", None)  # this test's driver starts its own
    engine, _ = run(two_steps, real_clock=True)  # the watchdog sends the slow step's START
    assert engine.calls[1] == ["STEP:START"]
    ref = weakref.ref(engine)
    del engine
    started = watchdogs() - before
    assert len(started) == 1
    deadline = time.monotonic() + 5
    while (ref() is not None or any(t.is_alive() for t in started)) and (
        time.monotonic() < deadline
    ):
        gc.collect()
        time.sleep(0.02)
    assert ref() is None  # nothing holds the engine: not the sleeping watchdog
    assert not any(t.is_alive() for t in started)  # ended a while after the last invocation


def test_fast_steps_one_after_another_do_not_wake_the_watchdog_each(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A step that ends within its window needs nothing from the watchdog thread; waking it on
    # every step (a futex call and a switch of threads) cost a store-backed step about a
    # tenth of its time.
    from types import SimpleNamespace

    from durable_gen._driver import START_WINDOW, _Watchdog

    looks = 0
    original = _Watchdog._next

    def counting(self: _Watchdog) -> Any:
        nonlocal looks
        looks += 1
        return original(self)

    monkeypatch.setattr(_Watchdog, "_next", counting)
    watchdog = _Watchdog()
    inv = SimpleNamespace(window=START_WINDOW, send_start=lambda task: None)
    steps = 200
    started = time.monotonic()
    for _ in range(steps):
        job = watchdog.arm(inv, None)  # type: ignore[arg-type]
        time.sleep(0.0002)  # the step runs
        watchdog.disarm(job)
        time.sleep(0.0002)  # its checkpoint lets other threads run
    elapsed = time.monotonic() - started
    watchdog.stop()
    assert looks < steps / 2
    assert looks <= elapsed / START_WINDOW + 5  # about one look per window, not per step
