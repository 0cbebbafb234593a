"""Observability and testing tools, checked claim by claim against docs/observability.md,
docs/testing.md and the guide's retry/logging sections (round 9): failed-attempt lines of
batch items, the durable logger's extra fields, hook order in shapes earlier rounds did not
cover, and DurableRun inspection."""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Generator, Iterator
from typing import Any

import pytest

import durable_gen as dg
from durable_gen.plugins import Plugin
from durable_gen.testing import TestRunner


class _Keep(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def step_lines() -> Iterator[_Keep]:
    """The records of ``durable_gen.steps`` (failed attempts), kept while the test runs."""
    keep = _Keep()
    log = logging.getLogger("durable_gen.steps")
    saved = (log.level, log.disabled, logging.root.manager.disable)
    log.setLevel(logging.WARNING)  # whatever other tests of the process left
    log.disabled = False
    logging.disable(logging.NOTSET)
    log.addHandler(keep)
    try:
        yield keep
    finally:
        log.removeHandler(keep)
        log.setLevel(saved[0])
        log.disabled = saved[1]
        logging.disable(saved[2])


# --- a failed attempt of a Map item or a Parallel branch names the item --------------------


@dg.step(retry=dg.Retry(max_attempts=2, initial_delay=1, jitter="none"))
def _pack(item: int) -> int:
    if item == 1:
        raise ValueError(f"bad {item}")
    return item


def _packing(items: list[int]) -> Any:
    result = yield dg.Map(_pack, items, name="packing")
    return [i.status for i in result.items]


def _packing_flat(items: list[int]) -> Any:
    yield dg.Map(_pack, items, name="packing", nesting="flat")
    return "done"


def _both(_: Any) -> Any:
    yield dg.Parallel(
        [functools.partial(_pack, 0), dg.Branch(functools.partial(_pack, 1), name="second")],
        name="both",
    )
    return "done"


def _nested_item(item: int) -> Any:
    return (yield dg.Child(functools.partial(_pack, item), name="inner"))


def _packing_nested(items: list[int]) -> Any:
    yield dg.Map(_nested_item, items, name="packing")
    return "done"


@pytest.mark.parametrize("checkpointing", ["step", "eager", "batch"])
@pytest.mark.parametrize(
    ("workflow", "where"),
    [
        (_packing, "(item 'map-item-1' of Map 'packing')"),
        (_packing_nested, "(item 'map-item-1' of Map 'packing')"),
        (_both, "(branch 'second' of Parallel 'both')"),
        (_packing_flat, "(in Map 'packing')"),
    ],
)
def test_a_failed_attempt_in_a_batch_names_the_item_it_failed_in(
    step_lines: _Keep, checkpointing: str, workflow: Any, where: str
) -> None:
    TestRunner(checkpointing=checkpointing).run(workflow, [0, 1, 2])  # type: ignore[arg-type]
    lines = [r.getMessage() for r in step_lines.records]
    assert lines == [
        f"step '_pack' {where} attempt 1 failed: ValueError: bad 1; retrying in 1 s",
        f"step '_pack' {where} attempt 2 failed: ValueError: bad 1; not retried",
    ]
    assert {r.__dict__["batchItem"] for r in step_lines.records} == {where[1:-1]}


def test_a_failed_attempt_outside_any_batch_has_no_item(step_lines: _Keep) -> None:
    def wf(_: Any) -> Any:
        try:
            yield _pack(1)
        except dg.StepFailedError:
            yield dg.Wait(seconds=1)
        return (yield dg.Child(functools.partial(_pack, 0), name="ctx"))

    TestRunner().run(wf, None)
    assert [r.getMessage() for r in step_lines.records] == [
        "step '_pack' attempt 1 failed: ValueError: bad 1; retrying in 1 s",
        "step '_pack' attempt 2 failed: ValueError: bad 1; not retried",
    ]
    assert not any(hasattr(r, "batchItem") for r in step_lines.records)


# --- determinism checks in several threads at once -----------------------------------------


@dg.step
def _echo(x: int) -> int:
    return x


def _clean(n: int) -> Any:
    out = []
    for i in range(n):
        out.append((yield _echo(i)))
        if i % 3 == 0:
            yield dg.Wait(seconds=1)
    return out


def _forgets_a_yield(n: int) -> Any:
    for i in range(n):
        _echo(99)  # built and never yielded: the check names this line
        yield _echo(i)
    return n


def test_checks_in_several_threads_blame_only_their_own_workflow() -> None:
    """A check collects the unyielded commands of its own runs: before, it caught the warnings
    of every thread, so a correct workflow checked beside a faulty one failed with the other's
    line, and strict mode could be left on (or off) by whichever check ended last."""
    import threading

    from durable_gen import _guard
    from durable_gen.testing import assert_deterministic

    strict_before = _guard.strict
    outcomes: dict[str, list[str]] = {"_clean": [], "_forgets_a_yield": []}
    lock = threading.Lock()

    def check(workflow: Any) -> None:
        for _ in range(4):
            try:
                assert_deterministic(workflow, 9, random_runs=1)
                outcome = "passed"
            except AssertionError as exc:
                outcome = str(exc)
            with lock:
                outcomes[workflow.__name__].append(outcome)

    threads = [
        threading.Thread(target=check, args=(w,))
        for w in (_clean, _forgets_a_yield, _clean, _forgets_a_yield)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    assert outcomes["_clean"] == ["passed"] * 8
    assert len(outcomes["_forgets_a_yield"]) == 8
    for message in outcomes["_forgets_a_yield"]:
        assert "_forgets_a_yield built command(s) in its body and never yielded" in message
        assert "the Step command '_echo', never yielded" in message
    assert _guard.strict is strict_before


# --- hook order: a context ended by news, then a step ---------------------------------------


class _Order(Plugin):
    def __init__(self) -> None:
        self.events: list[tuple[str, str | None]] = []

    def on_operation_start(self, op: Any) -> None:
        self.events.append(("start", op.name))

    def on_operation_end(self, op: Any, status: str) -> None:
        self.events.append(("end", op.name))

    def on_attempt_start(self, attempt: Any) -> None:
        self.events.append(("attempt", attempt.name))


def _branch_wait(i: int) -> Any:
    yield dg.Wait(seconds=5, name=f"w{i}")
    return i


def _par_then_step(_: Any) -> Any:
    yield dg.Parallel(
        [functools.partial(_branch_wait, 1), functools.partial(_branch_wait, 2)], name="par"
    )
    return (yield _echo(3))


@pytest.mark.parametrize(
    ("checkpointing", "second_invocation"),
    [
        (
            "step",
            [("start", "_echo"), ("attempt", "_echo"), ("end", "parallel-branch-0"),
             ("end", "parallel-branch-1"), ("end", "par"), ("end", "_echo")],
        ),
        (
            "eager",
            [("end", "parallel-branch-0"), ("end", "parallel-branch-1"), ("end", "par"),
             ("start", "_echo"), ("attempt", "_echo"), ("end", "_echo")],
        ),
    ],
)  # fmt: skip
def test_a_context_ended_by_news_reports_its_end_when_it_is_checkpointed(
    checkpointing: str, second_invocation: list[tuple[str, str]]
) -> None:
    order = _Order()
    run = TestRunner(checkpointing=checkpointing, plugins=[order]).run(_par_then_step)
    assert run.result() == 3
    first = [("start", n) for n in ("par", "parallel-branch-0", "parallel-branch-1", "w1", "w2")]
    assert order.events == first + second_invocation


# --- one plugin, runners in several threads at once -------------------------------------------


def _one_wait(_: Any) -> Any:
    yield dg.Wait(seconds=10)
    return 1


def test_a_telemetry_plugin_driven_by_runners_in_two_threads_reads_each_runners_clock() -> None:
    """Runner B starts an invocation while runner A's last one runs: A's record used to read
    B's virtual clock (the one lent last), five years later than its start."""
    import json
    import threading
    from datetime import UTC, datetime

    from durable_gen.telemetry import TelemetryPlugin

    records: list[dict[str, Any]] = []
    a_final, b_started, a_done = threading.Event(), threading.Event(), threading.Event()

    class Interleave(Plugin):
        def on_invocation_start(self, info: Any) -> None:
            name = threading.current_thread().name
            if name == "A" and not info.first:
                a_final.set()
                b_started.wait(60)
            if name == "B":
                b_started.set()
                a_done.wait(60)

        def on_invocation_end(self, info: Any, status: str) -> None:
            if threading.current_thread().name == "A" and status != "PENDING":
                a_done.set()

    plugins = [Interleave(), TelemetryPlugin(lambda text: records.append(json.loads(text)))]

    def go(year: int, after: threading.Event | None) -> None:
        if after is not None:
            after.wait(60)
        TestRunner(start=datetime(year, 1, 1, tzinfo=UTC), plugins=plugins).run(_one_wait)

    a = threading.Thread(target=go, args=(2025, None), name="A")
    b = threading.Thread(target=go, args=(2030, a_final), name="B")
    a.start()
    b.start()
    a.join(timeout=120)
    b.join(timeout=120)
    assert sorted((r["startTime"], r["endTime"], r["durationMs"]) for r in records) == [
        ("2025-01-01T00:00:00.000Z", "2025-01-01T00:00:10.000Z", 10_000),
        ("2030-01-01T00:00:00.000Z", "2030-01-01T00:00:10.000Z", 10_000),
    ]


def test_the_steps_of_a_map_see_the_context_variables_a_sequential_step_sees() -> None:
    import contextvars

    request: contextvars.ContextVar[str | None] = contextvars.ContextVar("request", default=None)

    @dg.step
    def read(_: int) -> str | None:
        return request.get()

    def wf(_: Any) -> Any:
        alone = yield read(0)
        batch = yield dg.Map(read, [1, 2, 3], name="m")
        return [alone, *(item.result for item in batch.items)]

    token = request.set("r-42")
    try:
        assert dg.run(wf, None) == ["r-42"] * 4
        assert TestRunner().run(wf).result() == ["r-42"] * 4
    finally:
        request.reset(token)


# --- the durable logger: extra=, adapters and children across resumes ------------------------


def test_extra_wins_and_is_kept_unchanged_in_workflow_and_step_code_across_resumes() -> None:
    name = "tests.obs9.extra"
    keep = _Keep()
    base = logging.getLogger(name)
    base.addHandler(keep)
    base.setLevel(logging.INFO)
    base.propagate = False
    log = dg.get_logger(name)
    adapter = logging.LoggerAdapter(log, {"tenant": "t-1"})
    mine = {"durableExecutionArn": "mine", "k": 1}

    @dg.step
    def work(i: int) -> int:
        log.info("step %d", i, extra=mine)
        return i

    def item(i: int) -> Any:
        adapter.info("item %d before", i)
        yield dg.Wait(seconds=1, name=f"w{i}")
        log.getChild("child").info("item %d after", i)
        return (yield work(i))

    def wf(_: Any) -> Any:
        log.info("start", extra=mine)
        batch = yield dg.Map(item, [0, 1], name="m")
        yield dg.Wait(seconds=2)
        log.warning("end")
        return [i.result for i in batch.items]

    try:
        run = TestRunner().run(wf)
        assert run.result() == [0, 1]
    finally:
        base.removeHandler(keep)
    lines = [(r.name, r.getMessage()) for r in keep.records]
    assert sorted(lines) == sorted(
        [(name, "start"), (name, "item 0 before"), (name, "item 1 before"),
         (f"{name}.child", "item 0 after"), (f"{name}.child", "item 1 after"),
         (name, "step 0"), (name, "step 1"), (name, "end")]
    )  # fmt: skip
    assert mine == {"durableExecutionArn": "mine", "k": 1}  # never changed
    by_message = {r.getMessage(): r.__dict__ for r in keep.records}
    assert by_message["start"]["durableExecutionArn"] == "mine"  # the caller's extra wins
    assert by_message["start"]["executionArn"] == run.arn  # the other fields stay
    assert by_message["item 0 before"]["tenant"] == "t-1"
    assert by_message["item 0 before"]["durableExecutionArn"] == run.arn
    assert by_message["step 1"]["operationName"] == "work"
    assert by_message["step 1"]["attempt"] == 1
    assert by_message["step 1"]["parentId"] is not None  # a Map item's context
    assert by_message["end"]["durableExecutionArn"] == run.arn


# --- hooks set on the instance are checked as class hooks are ---------------------------------


class _InstanceHook(Plugin):
    def __init__(self, name: str, hook: Any) -> None:
        setattr(self, name, hook)


async def _async_hook(attempt: Any, outcome: str, error: Any) -> None:
    return None


@pytest.mark.parametrize(
    ("name", "hook", "message"),
    [
        ("on_attempt_end", lambda attempt: None, r"on_attempt_end\(attempt\) \(set on the "
         r"instance\) cannot take the arguments .* give it the parameters \(attempt, outcome, "
         r"error\)"),
        ("on_attempt_end", _async_hook, "is an async function"),
        ("on_attempt_finish", lambda a, o, e: None, "did you mean on_attempt_end"),
    ],
)  # fmt: skip
def test_a_hook_set_on_the_instance_is_refused_where_the_plugin_is_given(
    name: str, hook: Any, message: str
) -> None:
    plugin = _InstanceHook(name, hook)
    with pytest.raises(dg.ValidationError, match=message):
        TestRunner(plugins=[plugin])
    with pytest.raises(dg.ValidationError, match=message):
        dg.run(_one_wait, None, skip_time=True, plugins=[plugin])


def test_a_good_hook_set_on_the_instance_is_called() -> None:
    seen: list[str] = []
    plugin = _InstanceHook("on_attempt_end", lambda attempt, outcome, error: seen.append(outcome))
    plugin.on_invocation_end = lambda info, status: seen.append(status)  # type: ignore[method-assign]
    assert TestRunner(plugins=[plugin]).run(_par_then_step).result() == 3
    assert seen == ["PENDING", "SUCCEEDED", "SUCCEEDED"]


def test_hooks_set_on_the_instance_are_checked_once_not_at_every_invocation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from durable_gen import _driver

    checks: list[object] = []
    real = _driver._check_instance_hooks

    def counting(plugin: Any, own: dict[str, Any]) -> None:
        checks.append(plugin)
        real(plugin, own)

    monkeypatch.setattr(_driver, "_check_instance_hooks", counting)
    plugin = _InstanceHook("on_attempt_end", lambda attempt, outcome, error: None)
    for _ in range(3):
        _driver.check_plugins([plugin])
    assert checks == [plugin]

    class Unhashable(_InstanceHook):
        __hash__ = None  # type: ignore[assignment]

    odd = Unhashable("on_attempt_end", lambda attempt, outcome, error: None)
    for _ in range(2):  # cannot be remembered: checked each time, and still accepted
        _driver.check_plugins([odd])
    assert checks == [plugin, odd, odd]
    bad = Unhashable("on_attempt_end", lambda attempt: None)
    with pytest.raises(dg.ValidationError, match="cannot take the arguments"):
        _driver.check_plugins([bad])


# --- DurableRun.operation with an index past the operations of that name ----------------------


def _twice(_: Any) -> Any:
    yield _echo(1)
    yield _echo(2)
    return 2


@pytest.mark.parametrize("index", [2, -3])
def test_an_index_past_the_operations_of_a_name_says_how_many_there_are(index: int) -> None:
    run = TestRunner().run(_twice)
    assert run.operation("_echo", index=-1).result == 2
    with pytest.raises(KeyError, match=r"there are 2 \(index 0 to 1, or -1 to -2 from the last\)"):
        run.operation("_echo", index=index)
    with pytest.raises(KeyError, match=r"recorded names: \['_echo'\]"):
        run.operation("echo")


def test_a_replay_ending_in_one_thread_leaves_strict_mode_on_for_a_check_in_another(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # replay() turns strict mode on and off around itself; a determinism check that started
    # in another thread while the replay ran must keep it after the replay ends (or it stops
    # noting unyielded commands).
    from durable_gen import _guard
    from durable_gen.testing import replay
    from durable_gen.testing._strict import strict_mode

    monkeypatch.setattr(_guard, "strict", False)
    inside = threading.Event()
    leave = threading.Event()

    def check() -> None:
        with strict_mode():
            inside.set()
            leave.wait(10)

    other = threading.Thread(target=check)
    start_check = False

    def flow(_: object) -> Generator[Any, Any, int]:
        x: int = yield dg.Step(lambda: 1, name="one")
        if start_check:  # during the replay: the other check begins now
            other.start()
            assert inside.wait(10)
        return x

    recorded = TestRunner().run(flow, None)
    start_check = True
    try:
        assert replay(flow, recorded.export()).outcome == "succeeded"
        assert _guard.strict is True  # the other check still runs
    finally:
        leave.set()
        other.join(10)
    assert _guard.strict is False  # back to what it was before the first
