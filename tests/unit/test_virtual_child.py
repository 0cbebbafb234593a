"""Virtual child contexts, ``Child(..., virtual=True)``: nothing recorded, yet hooked and traced."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

import durable_gen as dg
from durable_gen import runtime
from durable_gen._ids import operation_id
from durable_gen.local import LocalService, VirtualClock
from durable_gen.testing import TestRunner, replay

ran: list[str] = []


@pytest.fixture(autouse=True)
def _clear() -> None:
    ran.clear()


@dg.step
def add_one(x: int) -> int:
    ran.append(f"add_one({x})")
    return x + 1


@dg.step(retry=dg.Retry.never())
def refuse(x: int) -> int:
    raise ValueError(f"no {x}")


def pricing(x: int):  # type: ignore[no-untyped-def]
    y = yield add_one(x)
    yield dg.Wait(5, name="inside")
    return (yield add_one(y))


@dg.workflow
def quote(x: int):  # type: ignore[no-untyped-def]
    total = yield dg.Child(pricing, (x,), name="pricing", virtual=True)
    return (yield add_one(total))


def ids() -> tuple[str, str, str]:
    """The root's first position, the first operation inside a context there, the root's 2nd."""
    first = operation_id(None, 1)
    return first, operation_id(first, 1), operation_id(None, 2)


class Recorder(dg.Plugin):
    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []

    def on_invocation_start(self, info: dg.InvocationInfo) -> None:
        self.events.append(("invocation",))

    def on_operation_start(self, op: dg.OperationInfo) -> None:
        self.events.append(("start", op.name, op.type, op.virtual, op.parent_id))

    def on_operation_end(self, op: dg.OperationInfo, status: str) -> None:
        self.events.append(("end", op.name, status, op.virtual))


# --- what is recorded -------------------------------------------------------------------------


def test_a_virtual_child_records_nothing_of_its_own_and_suspends_inside() -> None:
    runner = TestRunner()
    run = runner.run(quote, 1)
    assert run.result() == 4
    assert ran == ["add_one(1)", "add_one(2)", "add_one(3)"]  # each step once, across the wait
    ops = run.operations()
    assert [(op.type, op.name) for op in ops] == [
        ("STEP", "add_one"),
        ("WAIT", "inside"),
        ("STEP", "add_one"),
        ("STEP", "add_one"),
    ]
    assert all(op.parent_id is None for op in ops)  # the enclosing (root) context
    position, first_inside, second = ids()
    assert ops[0].id == first_inside  # its operations' ids derive from its position
    assert ops[3].id == second  # it took position 1 of the root
    assert position not in {op.id for op in ops}
    assert [e.event_type for e in run.history() if "Context" in e.event_type] == []


def test_inside_a_nested_child_its_operations_belong_to_that_child() -> None:
    @dg.workflow
    def outer(x: int):  # type: ignore[no-untyped-def]
        return (yield dg.Child(quote, (x,), name="outer"))

    run = TestRunner().run(outer, 1)
    assert run.result() == 4
    (context,) = run.operations(type="CONTEXT")
    inner = [op for op in run.operations() if op.type != "CONTEXT"]
    assert {op.parent_id for op in inner} == {context.id}


def test_nested_virtual_children_and_a_flat_map_item_report_the_nearest_recorded_context() -> None:
    def innermost(x: int):  # type: ignore[no-untyped-def]
        return (yield add_one(x))

    def middle(x: int):  # type: ignore[no-untyped-def]
        return (yield dg.Child(innermost, (x,), virtual=True))

    def item(x: int, i: int):  # type: ignore[no-untyped-def]
        return (yield dg.Child(middle, (x,), virtual=True))

    @dg.workflow
    def fan_out(xs: list[int]):  # type: ignore[no-untyped-def]
        batch = yield dg.Map(item, xs, name="fan", nesting="flat")
        alone = yield dg.Child(middle, (10,), virtual=True)
        return [*batch.get_results(), alone]

    run = TestRunner().run(fan_out, [1, 2])
    assert run.result() == [2, 3, 11]
    (batch,) = run.operations(type="CONTEXT")
    steps = run.operations(type="STEP")
    assert [op.parent_id for op in steps] == [batch.id, batch.id, None]
    item0 = operation_id(batch.id, 0)
    item0_step = operation_id(operation_id(operation_id(item0, 1), 1), 1)
    assert item0_step in {op.id for op in steps}  # items run concurrently: in either order


def test_the_result_goes_through_serdes_as_for_a_recorded_child() -> None:
    def pair() -> Any:
        yield from ()
        return (1, 2)

    @dg.workflow
    def both(_: Any):  # type: ignore[no-untyped-def]
        virtual = yield dg.Child(pair, virtual=True)
        recorded = yield dg.Child(pair)
        return [virtual, recorded, virtual == recorded]

    assert TestRunner().run(both, None).result() == [[1, 2], [1, 2], True]


# --- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize("virtual", [True, False], ids=["virtual", "recorded"])
def test_a_failure_raises_what_a_recorded_child_raises(virtual: bool) -> None:
    def body(x: int):  # type: ignore[no-untyped-def]
        return (yield refuse(x))

    @dg.workflow
    def catches(x: int):  # type: ignore[no-untyped-def]
        try:
            yield dg.Child(body, (x,), name="c", virtual=virtual)
        except dg.ChildFailedError as exc:
            return [type(exc).__name__, exc.error_type, exc.error_message]
        return "no error"

    run = TestRunner().run(catches, 7)
    assert run.result() == ["ChildFailedError", "ValueError", "no 7"]
    assert len(run.operations(type="CONTEXT")) == (0 if virtual else 1)


def test_failures_are_alike_virtual_or_recorded() -> None:
    def body(x: int):  # type: ignore[no-untyped-def]
        yield add_one(x)
        raise KeyError("missing")

    def catches(virtual: bool) -> Any:
        @dg.workflow
        def wf(x: int):  # type: ignore[no-untyped-def]
            try:
                yield dg.Child(body, (x,), name="c", virtual=virtual)
            except dg.ChildFailedError as exc:
                return [exc.error_type, exc.error_message]
            return None

        return wf

    virtual = TestRunner().run(catches(True), 1).result()
    recorded = TestRunner().run(catches(False), 1).result()
    assert virtual == recorded and virtual[0] == "KeyError"


def test_an_uncaught_failure_fails_the_execution() -> None:
    def body() -> Any:
        yield from ()
        raise RuntimeError("broken")

    @dg.workflow
    def wf(_: Any):  # type: ignore[no-untyped-def]
        return (yield dg.Child(body, virtual=True))

    run = TestRunner().run(wf, None)
    assert run.status == "FAILED"
    assert run.error is not None and "broken" in (run.error.error_message or "")


def test_a_retried_step_inside_resumes_inside() -> None:
    tries: list[int] = []

    @dg.step(retry=dg.Retry(max_attempts=3, initial_delay=2, jitter="none"))
    def flaky() -> str:
        tries.append(1)
        if len(tries) < 3:
            raise ConnectionError("again")
        return "ok"

    def body():  # type: ignore[no-untyped-def]
        return (yield flaky())

    @dg.workflow
    def wf(_: Any):  # type: ignore[no-untyped-def]
        return (yield dg.Child(body, name="v", virtual=True))

    recorder = Recorder()
    run = TestRunner(plugins=[recorder]).run(wf, None)
    assert run.result() == "ok"
    assert run.operation("flaky").attempts == 3
    assert [e for e in recorder.events if e[1:2] == ("v",)] == [
        ("start", "v", "CONTEXT", True, None),
        ("end", "v", "SUCCEEDED", True),
    ]


@pytest.mark.parametrize("bad", ["yes", 1, None])
def test_virtual_must_be_a_bool(bad: Any) -> None:
    with pytest.raises(dg.ValidationError, match=r"virtual must be True .* or False"):
        dg.Child(pricing, (1,), virtual=bad)


# --- hooks ------------------------------------------------------------------------------------


def test_hooks_see_it_start_once_and_end_once_across_invocations() -> None:
    recorder = Recorder()
    run = TestRunner(plugins=[recorder]).run(quote, 1)
    assert run.result() == 4
    assert recorder.events == [
        ("invocation",),
        ("start", "pricing", "CONTEXT", True, None),
        ("start", "add_one", "STEP", False, None),
        ("end", "add_one", "SUCCEEDED", False),
        ("start", "inside", "WAIT", False, None),
        ("invocation",),  # the wait fired: the body replays, then goes on
        ("start", "add_one", "STEP", False, None),
        ("end", "add_one", "SUCCEEDED", False),
        ("end", "pricing", "SUCCEEDED", True),
        ("start", "add_one", "STEP", False, None),
        ("end", "add_one", "SUCCEEDED", False),
    ]


def _hooks_through(is_async: bool) -> tuple[Any, list[tuple[Any, ...]]]:
    import anyio

    recorder = Recorder()
    engine = LocalService(clock=VirtualClock())

    def handler(event: Any) -> Any:
        if is_async:
            return anyio.run(lambda: runtime.invoke_async(quote, event, engine, plugins=[recorder]))
        return runtime.invoke(quote, event, engine, plugins=[recorder])

    engine.register("wf", handler)
    arn = engine.start("wf", "1")
    return engine.run(arn).result, recorder.events


def test_the_async_driver_fires_the_same_hooks() -> None:
    result, events = _hooks_through(is_async=True)
    assert (result, events) == _hooks_through(is_async=False)
    assert result == "4" and ("end", "pricing", "SUCCEEDED", True) in events


def test_a_replayed_virtual_child_fires_no_hook() -> None:
    @dg.workflow
    def then_wait(x: int):  # type: ignore[no-untyped-def]
        total = yield dg.Child(lambda_free, (x,), name="v", virtual=True)
        yield dg.Wait(5, name="later")
        return total

    recorder = Recorder()
    assert TestRunner(plugins=[recorder]).run(then_wait, 1).result() == 2
    mine = [e for e in recorder.events if e[0] == "invocation" or e[1] == "v"]
    assert mine == [
        ("invocation",),
        ("start", "v", "CONTEXT", True, None),
        ("end", "v", "SUCCEEDED", True),
        ("invocation",),
    ]


def lambda_free(x: int):  # type: ignore[no-untyped-def]
    return (yield add_one(x))


def test_a_failed_virtual_child_ends_failed_in_the_hooks() -> None:
    def body() -> Any:
        yield from ()
        raise RuntimeError("broken")

    @dg.workflow
    def wf(_: Any):  # type: ignore[no-untyped-def]
        try:
            yield dg.Child(body, name="v", virtual=True)
        except dg.ChildFailedError:
            return "handled"
        return "no"

    recorder = Recorder()
    assert TestRunner(plugins=[recorder]).run(wf, None).result() == "handled"
    assert ("end", "v", "FAILED", True) in recorder.events


# --- the host interface -----------------------------------------------------------------------


def test_actions_carry_the_events_in_the_order_they_happened() -> None:
    interp = runtime.Interpreter(quote, [], input=1, checkpointing="batch")
    first = interp.next_action()
    assert isinstance(first, runtime.RunTasks)
    position = ids()[0]
    assert first.events == (
        runtime.VirtualContextEvent(
            action="START", operation_id=position, parent_id=None, name="pricing"
        ),
    )
    (task,) = first.tasks
    interp.task_succeeded(task, 2)
    flush = interp.next_action()  # the inner wait suspends: everything goes out
    assert isinstance(flush, runtime.Flush) and flush.events == ()
    assert [u.type for u in flush.updates] == ["STEP", "STEP", "WAIT"]


def _waits(x: int):  # type: ignore[no-untyped-def]
    yield dg.Wait(1, name="w")
    return x


@dg.workflow
def after_a_resumed_child(x: int):  # type: ignore[no-untyped-def]
    yield dg.Child(_waits, (x,), name="recorded")
    return (yield dg.Child(lambda_free, (x,), name="v", virtual=True))


@pytest.mark.parametrize("mode", ["step", "eager", "batch"])
def test_its_start_comes_before_the_steps_inside_when_updates_wait_to_be_sent(
    mode: dg.CheckpointMode,
) -> None:
    # the recorded child's SUCCEED is not sent before the step inside the virtual child starts
    recorder = Recorder()
    run = TestRunner(plugins=[recorder], checkpointing=mode).run(after_a_resumed_child, 1)
    assert run.result() == 2
    second = recorder.events[recorder.events.index(("invocation",), 1) :]
    starts = [e[1] for e in second if e[0] == "start"]
    assert starts == ["v", "add_one"]  # the enclosing context first, once
    ends = [e[1] for e in second if e[0] == "end"]
    assert ends == ["recorded", "add_one", "v"]


def test_an_end_after_unsent_updates_goes_with_their_flush() -> None:
    def body(x: int):  # type: ignore[no-untyped-def]
        return (yield add_one(x))

    @dg.workflow
    def wf(x: int):  # type: ignore[no-untyped-def]
        y = yield dg.Child(body, (x,), name="v", virtual=True)
        yield dg.Wait(1, name="w")
        return y

    interp = runtime.Interpreter(wf, [], input=1, checkpointing="batch")
    (task,) = interp.next_action().tasks  # type: ignore[union-attr]
    interp.task_succeeded(task, 2)
    flush = interp.next_action()
    assert isinstance(flush, runtime.Flush)
    assert [(u.type, u.action) for u in flush.updates] == [
        ("STEP", "START"),
        ("STEP", "SUCCEED"),
        ("WAIT", "START"),
    ]
    (end,) = flush.events
    assert (end.action, end.position) == ("SUCCEED", 2)  # after the step, before the wait


# --- determinism ------------------------------------------------------------------------------


def _recorded(workflow: Any, x: int = 1) -> dict[str, Any]:
    run = TestRunner().run(workflow, x)
    assert run.done
    return run.export()


@dg.workflow
def nested_quote(x: int):  # type: ignore[no-untyped-def]
    total = yield dg.Child(pricing, (x,), name="pricing")
    return (yield add_one(total))


@dg.workflow
def renamed_quote(x: int):  # type: ignore[no-untyped-def]
    total = yield dg.Child(pricing, (x,), name="costing", virtual=True)
    return (yield add_one(total))


@dg.workflow
def inlined_quote(x: int):  # type: ignore[no-untyped-def]
    y = yield add_one(x)
    yield dg.Wait(5, name="inside")
    total = yield add_one(y)
    return (yield add_one(total))


@dg.workflow
def two_quotes(x: int):  # type: ignore[no-untyped-def]
    yield dg.Child(pricing, (x,), name="extra", virtual=True)
    total = yield dg.Child(pricing, (x,), name="pricing", virtual=True)
    return (yield add_one(total))


def test_the_same_code_replays_and_the_name_is_not_matched() -> None:
    history = _recorded(quote)
    assert replay(quote, history).status == "ok"
    assert replay(renamed_quote, history).status == "ok"  # nothing recorded carries its name


@pytest.mark.parametrize(
    ("recorded_by", "replayed_by", "recorded"),
    [
        (nested_quote, quote, "CONTEXT/RunInChildContext name='pricing'"),  # made virtual
        (quote, nested_quote, "STEP/Step name='add_one'"),  # made recorded
        (quote, inlined_quote, "a virtual CONTEXT/RunInChildContext"),  # removed
        (quote, two_quotes, "STEP/Step name='add_one'"),  # one inserted before
    ],
    ids=["made-virtual", "made-recorded", "removed", "inserted"],
)
def test_a_changed_virtual_child_is_a_divergence(
    recorded_by: Any, replayed_by: Any, recorded: str
) -> None:
    report = replay(replayed_by, _recorded(recorded_by))
    assert report.status == "diverged", report.message
    assert report.divergence is not None and recorded in (report.divergence.recorded or "")


def test_patched_before_a_virtual_child_sees_old_executions_went_past() -> None:
    runner = TestRunner(skip_time=False)

    @dg.workflow
    def v1(x: int):  # type: ignore[no-untyped-def]
        total = yield dg.Child(pricing, (x,), name="pricing", virtual=True)
        return (yield add_one(total))

    @dg.workflow
    def v2(x: int):  # type: ignore[no-untyped-def]
        if (yield dg.Patched("audit")):
            yield add_one(100)
        total = yield dg.Child(pricing, (x,), name="pricing", virtual=True)
        return (yield add_one(total))

    run = runner.run(v1, 1)  # suspended on the wait inside the virtual child
    assert run.status == "RUNNING"
    runner.deploy(v1, v2)
    runner.advance(5)
    assert run.result() == 4
    assert "add_one(100)" not in ran  # the old execution keeps the old path
    assert TestRunner().run(v2, 1).result() == 4 and "add_one(100)" in ran


def _patched_at_the_end(deprecated: bool) -> tuple[Any, Any, list[int]]:
    """Version 1 waits after a virtual child; version 2 adds a step at the end of that child
    behind Patched (or, later, Deprecated)."""
    extra: list[int] = []

    @dg.step
    def audit(x: int) -> int:
        extra.append(x)
        return x

    def body_v1(x: int):  # type: ignore[no-untyped-def]
        return (yield add_one(x))

    def body_v2(x: int):  # type: ignore[no-untyped-def]
        total = yield add_one(x)
        if deprecated:
            yield dg.Deprecated("audit")
            yield audit(total)
        elif (yield dg.Patched("audit")):
            yield audit(total)
        return total

    def gated(body: Any) -> Any:
        def wf(x: int):  # type: ignore[no-untyped-def]
            total = yield dg.Child(body, (x,), name="pricing", virtual=True)
            handle = yield dg.CreateCallback(name="after")
            return [total, (yield handle)]

        return wf

    return gated(body_v1), gated(body_v2), extra


def test_patched_at_the_end_of_a_virtual_child_sees_old_executions_went_past() -> None:
    """The old execution ended the virtual child and went on (it waits after it): Patched is
    False there, as docs/versioning.md says, and the new step does not run late for it (it
    answered True, the frontier, since nothing after it was recorded inside the child)."""
    v1, v2, extra = _patched_at_the_end(deprecated=False)
    runner = TestRunner(skip_time=False)
    run = runner.run(v1, 1)
    assert run.status == "RUNNING"
    report = replay(v2, run.export())
    assert report.status == "ok" and report.outcome == "suspended", report.message
    runner.deploy(v1, v2)
    run.send_callback_success("after", "ok")
    runner.run_until_idle()
    assert run.result() == [2, "ok"]
    assert extra == []  # the old path
    assert "audit" not in [op.name for op in run.operations()]
    assert TestRunner().run(v2, 1).status == "RUNNING" and extra == [2]  # new executions: new path

    v1, v3, _ = _patched_at_the_end(deprecated=True)
    run = TestRunner(skip_time=False).run(v1, 1)
    report = replay(v3, run.export())
    assert report.status == "diverged", report.message
    assert "change 'audit' is Deprecated" in report.message


def test_a_suspended_execution_whose_virtual_child_was_removed_fails_at_once() -> None:
    runner = TestRunner(skip_time=False)
    run = runner.run(quote, 1)  # waits inside the virtual child
    assert run.status == "RUNNING"
    runner.deploy(quote, inlined_quote)
    ran.clear()
    runner.advance(5)
    assert run.status == "FAILED"
    assert run.error is not None and run.error.error_type == "NonDeterminismError"
    assert ran == []  # nothing ran again


def _tail_trimmed(flat: bool) -> tuple[Any, Any, list[str]]:
    """Version 1 and 2 of a workflow whose context that records nothing (a virtual child, or
    a flat Map item) lost its last step, and a list of what version 2 ran after it."""
    after: list[str] = []

    @dg.step
    def first(x: int) -> int:
        return x

    @dg.step
    def second(x: int) -> int:
        return x

    @dg.step
    def appended(x: int) -> int:
        after.append("appended")
        return x

    def body_v1(x: int):  # type: ignore[no-untyped-def]
        if x == 0:  # the item that waits (a flat Map runs both items)
            handle = yield dg.CreateCallback(name="inner-gate")
            return (yield handle)
        yield first(x)
        return (yield second(x))

    def body_v2(x: int):  # type: ignore[no-untyped-def]
        if x == 0:
            handle = yield dg.CreateCallback(name="inner-gate")
            return (yield handle)
        return (yield first(x))  # `second` removed: the execution recorded it

    def gated(body: Any, with_appended: bool) -> Any:
        def wf(x: int):  # type: ignore[no-untyped-def]
            if flat:
                yield dg.Map(body, [0, x], name="m", nesting="flat")
            else:
                yield dg.Child(body, (x,), name="inner", virtual=True)
                handle = yield dg.CreateCallback(name="inner-gate")
                yield handle
            if with_appended:
                yield appended(x)
            return x

        return wf

    return gated(body_v1, False), gated(body_v2, True), after


@pytest.mark.parametrize("flat", [False, True], ids=["virtual-child", "flat-map-item"])
def test_a_recorded_step_removed_at_the_end_of_a_context_that_records_nothing(
    flat: bool,
) -> None:
    """Caught when that context's code ends, as for a recorded context: by `replay` of the
    suspended execution (it used to say ok), and by the resume before the code after it runs
    (it used to fail only when the workflow returned, after running the appended step)."""
    v1, v2, after = _tail_trimmed(flat)
    runner = TestRunner(skip_time=False)
    run = runner.run(v1, 1)
    assert run.status == "RUNNING"  # waits on the gate, after the body's two steps

    report = replay(v2, run.export())
    assert report.status == "diverged", report.message
    assert report.divergence is not None
    assert (report.divergence.recorded or "").startswith("STEP/Step name='second'")
    assert "ended after 1 operation(s)" in report.message
    assert (report.divergence.position or "").startswith("operation 2 of context ")
    assert replay(v2, {"Events": run.export()["Events"]}).status == "diverged"

    runner.deploy(v1, v2)
    run.send_callback_success("inner-gate", "ok")
    runner.run_until_idle()
    assert run.status == "FAILED"
    assert run.error is not None and run.error.error_type == "NonDeterminismError"
    assert "STEP/Step name='second'" in (run.error.error_message or "")
    assert after == []  # nothing of version 2 ran past the changed context


# --- traces -----------------------------------------------------------------------------------


def _spans(view: str, workflow: Any) -> list[Any]:
    sdk_trace = pytest.importorskip("opentelemetry.sdk.trace")
    export = pytest.importorskip("opentelemetry.sdk.trace.export")
    memory = pytest.importorskip("opentelemetry.sdk.trace.export.in_memory_span_exporter")
    from durable_gen.otel import OpenTelemetryPlugin

    exporter = memory.InMemorySpanExporter()
    provider = sdk_trace.TracerProvider()
    provider.add_span_processor(export.SimpleSpanProcessor(exporter))
    clock = VirtualClock()
    engine = LocalService(clock=clock)
    plugin = OpenTelemetryPlugin(
        provider,
        view=view,  # type: ignore[arg-type]
        clock=lambda: clock.now_ms() * 1_000_000,
    )
    engine.register("wf", dg.make_handler(workflow, engine, plugins=[plugin]))
    arn = engine.start("wf", json.dumps(1))
    assert engine.run(arn).status == "SUCCEEDED"
    spans = list(exporter.get_finished_spans())
    provider.shutdown()
    return spans


def test_invocation_view_one_span_per_invocation_that_runs_it() -> None:
    spans = _spans("invocation", quote)
    invocations = sorted((s for s in spans if s.name == "Invocation"), key=lambda s: s.start_time)
    first, second = sorted((s for s in spans if s.name == "pricing"), key=lambda s: s.start_time)
    assert first.attributes["durable.operation.type"] == "CONTEXT"
    assert first.attributes["durable.operation.subtype"] == "RunInChildContext"
    assert first.attributes["durable.operation.status"] == "STARTED"  # suspended inside
    assert first.parent.span_id == invocations[0].context.span_id
    assert second.attributes["durable.operation.status"] == "SUCCEEDED"
    assert second.status.status_code.name == "OK"
    assert second.parent.span_id == invocations[1].context.span_id
    assert first.context.span_id in [link.context.span_id for link in second.links]
    # its operations report the root as their parent: siblings of its span
    steps = [s for s in spans if s.name == "add_one"]
    assert {s.parent.span_id for s in steps} <= {i.context.span_id for i in invocations}


def test_execution_view_one_span_when_it_ends() -> None:
    spans = _spans("execution", quote)
    (workflow,) = (s for s in spans if s.name == "Workflow")
    (context,) = (s for s in spans if s.name == "pricing")
    assert context.parent.span_id == workflow.context.span_id
    assert context.status.status_code.name == "OK"
    assert context.attributes["durable.operation.status"] == "SUCCEEDED"
    (wait,) = (s for s in spans if s.name == "inside")
    # recorded times are whole milliseconds: the wait may seem to start up to 1 ms earlier
    assert context.start_time <= wait.start_time + 1_000_000
    assert wait.end_time <= context.end_time
    assert len(context.links) == 1  # the invocation that saw it end


# --- logging ------------------------------------------------------------------------------------

log = dg.get_logger("tests.virtual_child")


def logged(x: int):  # type: ignore[no-untyped-def]
    log.info("inside before %s", x)
    y = yield add_one(x)
    yield dg.Wait(5, name="inside")
    log.info("inside after %s", y)
    return y


@dg.workflow
def logs_around(x: int):  # type: ignore[no-untyped-def]
    log.info("start")
    y = yield dg.Child(logged, (x,), name="v", virtual=True)
    log.info("end %s", y)
    return y


def test_each_line_inside_is_logged_once_across_the_suspension(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="tests.virtual_child")
    assert TestRunner().run(logs_around, 1).result() == 2
    lines = [r.getMessage() for r in caplog.records if r.name == "tests.virtual_child"]
    assert lines == ["start", "inside before 1", "inside after 2", "end 2"]
