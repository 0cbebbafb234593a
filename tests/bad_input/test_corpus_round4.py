"""A bad-input corpus over the public API, written from README.md and docs/*.md alone.

Every mistake gets a typed durable_gen error whose message says what to do, and loses nothing
already recorded: an execution that was running keeps its records, a store stays readable.
The corpus keeps the cases that were already right beside those fixed with it, so that a
regression of any of them is caught.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Generator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import durable_gen as dg
from durable_gen import runtime
from durable_gen.aws import LambdaService
from durable_gen.local import (
    LocalService,
    MemoryStore,
    SqliteStore,
    VirtualClock,
    Worker,
    open_store,
    register_function,
)
from durable_gen.otel import trace_id_of
from durable_gen.testing import TestRunner, load_history, replay

nan, inf = float("nan"), float("inf")


def plain(x: Any = None) -> Any:
    return x


async def coroutine_fn(x: Any = None) -> Any:
    return x


async def _async_generator(callback_id: str) -> Any:
    yield callback_id


@dg.step
def double(x: int) -> int:
    return 2 * x


def waits(_: Any) -> Generator[Any, Any, Any]:
    yield dg.Wait(seconds=1)
    return "done"


def awaits_callback(_: Any) -> Generator[Any, Any, Any]:
    handle = yield dg.CreateCallback(name="approval", timeout=60)
    return (yield handle)


def invokes(_: Any) -> Generator[Any, Any, Any]:
    return (yield dg.Invoke("f", 1))


#: (case, the call, the error type, a fragment of the message): mistakes refused where made.
CASES: list[tuple[str, Callable[[], object], type[Exception], str]] = [
    # --- commands: wrong types and out-of-range numbers ---
    ("wait-bool", lambda: dg.Wait(seconds=True), dg.ValidationError, "whole number"),
    ("wait-float", lambda: dg.Wait(seconds=1.5), dg.ValidationError, "whole number"),
    ("wait-nan", lambda: dg.Wait(seconds=nan), dg.ValidationError, "whole number"),
    ("wait-inf", lambda: dg.Wait(seconds=inf), dg.ValidationError, "whole number"),
    ("wait-zero", lambda: dg.Wait(seconds=0), dg.ValidationError, "between 1 and"),
    ("wait-huge", lambda: dg.Wait(seconds=10**30), dg.ValidationError, "between 1 and"),
    ("wait-str", lambda: dg.Wait(seconds="5"), dg.ValidationError, "whole number"),
    (
        "wait-timedelta",
        lambda: dg.Wait(seconds=timedelta(minutes=1)),
        dg.ValidationError,
        "pass its seconds, e.g. 60",
    ),
    ("name-empty", lambda: dg.Wait(seconds=1, name=""), dg.ValidationError, "non-empty"),
    ("name-control", lambda: dg.Wait(seconds=1, name="a\nb"), dg.ValidationError, "printable"),
    ("name-long", lambda: dg.Wait(seconds=1, name="a" * 257), dg.ValidationError, "256"),
    ("name-int", lambda: dg.Step(plain, name=5), dg.ValidationError, "non-empty string"),
    ("map-zero", lambda: dg.Map(plain, [1], max_concurrency=0), dg.ValidationError, "positive"),
    ("map-bool", lambda: dg.Map(plain, [1], max_concurrency=True), dg.ValidationError, "int"),
    ("map-int-items", lambda: dg.Map(plain, 5), dg.ValidationError, "sequence"),
    (
        "map-generator-items",
        lambda: dg.Map(plain, (i for i in range(2))),
        dg.ValidationError,
        "sequence",
    ),
    ("map-called-step", lambda: dg.Map(double(1), [1]), dg.ValidationError, "callable"),
    ("parallel-spread", lambda: dg.Parallel(plain, plain), dg.ValidationError, "a list"),
    (
        "completion-percent",
        lambda: dg.Completion(tolerated_failure_percentage=200),
        dg.ValidationError,
        "between 0 and 100",
    ),
    (
        "completion-nan",
        lambda: dg.Completion(tolerated_failure_percentage=nan),
        dg.ValidationError,
        "between 0 and 100",
    ),
    ("completion-negative", lambda: dg.Completion(min_successful=-1), dg.ValidationError, "1"),
    ("invoke-empty-name", lambda: dg.Invoke("", 1), dg.ValidationError, "1 to 256"),
    ("invoke-int-name", lambda: dg.Invoke(5, 1), dg.ValidationError, "string"),
    ("callback-negative", lambda: dg.CreateCallback(timeout=-1), dg.ValidationError, "between"),
    ("callback-zero", lambda: dg.CreateCallback(timeout=0), dg.ValidationError, "between"),
    (
        "callback-heartbeat-nan",
        lambda: dg.CreateCallback(heartbeat_timeout=nan),
        dg.ValidationError,
        "whole number",
    ),
    ("step-timeout-zero", lambda: dg.Step(plain, timeout=0), dg.ValidationError, "greater"),
    ("step-args-list", lambda: dg.Step(plain, [1]), dg.ValidationError, "tuple"),
    ("step-args-str", lambda: dg.Step(plain, "ab"), dg.ValidationError, "tuple"),
    ("step-semantics", lambda: dg.Step(plain, semantics="once"), dg.ValidationError, "at_"),
    ("patched-empty", lambda: dg.Patched(""), dg.ValidationError, "change id"),
    ("patched-int", lambda: dg.Patched(5), dg.ValidationError, "change id"),
    ("retry-on-int", lambda: dg.Retry(retry_on=(int,)), dg.ValidationError, "exception types"),
    ("retry-on-bare", lambda: dg.Retry(retry_on=ValueError), dg.ValidationError, "tuple"),
    ("strategy-zero", lambda: dg.WaitStrategy(until=bool, delay=0), dg.ValidationError, "1"),
    ("child-not-callable", lambda: dg.Child(5), dg.WorkflowDefinitionError, "generator"),
    (
        "wait-for-condition-generator-check",
        lambda: dg.WaitForCondition(waits, 0),
        dg.WorkflowDefinitionError,
        "runs as a step",
    ),
    (
        "wait-for-callback-async-generator-submitter",
        lambda: dg.WaitForCallback(_async_generator),
        dg.WorkflowDefinitionError,
        "runs as a step",
    ),
    # --- run(): options and the workflow itself ---
    ("run-not-callable", lambda: dg.run(5, 1), dg.WorkflowDefinitionError, "run()"),
    ("run-plain-function", lambda: dg.run(plain, 1), dg.WorkflowDefinitionError, "run() needs"),
    (
        "run-async-workflow",
        lambda: dg.run(coroutine_fn, 1),
        dg.WorkflowDefinitionError,
        "async def",
    ),
    ("run-object-input", lambda: dg.run(waits, object()), dg.SerializationError, "input"),
    ("run-checkpointing", lambda: dg.run(waits, 1, checkpointing="x"), dg.ValidationError, "'"),
    ("run-format", lambda: dg.run(waits, 1, payload_format="xml"), dg.ValidationError, "json"),
    ("run-functions-list", lambda: dg.run(waits, 1, functions=[waits]), dg.ValidationError, "{"),
    ("run-plugin-class", lambda: dg.run(waits, 1, plugins=dg.Plugin()), dg.ValidationError, "["),
    ("run-serdes", lambda: dg.run(waits, 1, serdes=5), dg.ValidationError, "serialize"),
    ("run-skip-time-str", lambda: dg.run(waits, 1, skip_time="no"), dg.ValidationError, "True"),
    (
        "run-invoke-target-number",
        lambda: dg.run(invokes, 1, functions={"f": 5}),
        dg.ValidationError,
        "must be a function",
    ),
    (
        "run-invoke-target-async",
        lambda: dg.run(invokes, 1, functions={"f": coroutine_fn}),
        dg.ValidationError,
        "async def",
    ),
    (
        "run-invoke-target-step",
        lambda: dg.run(invokes, 1, functions={"f": double}),
        dg.ValidationError,
        "double.fn",
    ),
    (
        "register-invoke-target-number",
        lambda: register_function(LocalService(), "f", 5),
        dg.ValidationError,
        "must be a function",
    ),
    (
        "runner-register-async",
        lambda: TestRunner().register("f", coroutine_fn),
        dg.ValidationError,
        "async def",
    ),
    # --- a class where an instance is due ---
    (
        "step-serdes-class",
        lambda: dg.Step(plain, serdes=dg.JsonSerdes),
        dg.ValidationError,
        "JsonSerdes(...)",
    ),
    (
        "run-serdes-class",
        lambda: dg.run(waits, 1, serdes=dg.JsonSerdes),
        dg.ValidationError,
        "not the class",
    ),
    (
        "service-clock-class",
        lambda: LocalService(clock=VirtualClock),
        dg.ValidationError,
        "VirtualClock(...)",
    ),
    (
        "service-store-class",
        lambda: LocalService(store=MemoryStore),
        dg.ValidationError,
        "MemoryStore(...)",
    ),
    (
        "handler-service-class",
        lambda: runtime.make_handler(waits, LocalService),
        dg.ValidationError,
        "the class LocalService",
    ),
    ("step-retry-class", lambda: dg.Step(plain, retry=dg.Retry), dg.ValidationError, "Retry("),
    (
        "compensations-retry-class",
        lambda: dg.RunCompensations(retry=dg.Retry),
        dg.ValidationError,
        "Retry(",
    ),
    (
        "compensations-retry-number",
        lambda: dg.RunCompensations(retry=3),
        dg.ValidationError,
        "Retry(",
    ),
    ("plugin-class", lambda: dg.run(waits, 1, plugins=[dg.Plugin]), dg.ValidationError, "Plugin()"),
    # --- the embedded engine ---
    ("service-store-path", lambda: LocalService(store="x.db"), dg.ValidationError, "open_store"),
    ("service-clock", lambda: LocalService(clock=5), dg.ValidationError, "Clock"),
    ("service-page-size", lambda: LocalService(page_size=0), dg.ValidationError, "at least 1"),
    ("service-page-size-bool", lambda: LocalService(page_size=True), dg.ValidationError, "an int"),
    ("service-crashes-bool", lambda: LocalService(max_crashes=True), dg.ValidationError, "an int"),
    (
        "service-run-until-str",
        lambda: LocalService().run("x", until="5"),
        dg.ValidationError,
        "until",
    ),
    (
        "service-run-until-bool",
        lambda: LocalService().run("x", until=True),
        dg.ValidationError,
        "until",
    ),
    (
        "virtual-clock-auto-advance-str",
        lambda: VirtualClock(auto_advance="no"),
        dg.ValidationError,
        "True (skip",
    ),
    ("service-crashes", lambda: LocalService(max_crashes=-1), dg.ValidationError, "at least 1"),
    (
        "service-unknown-arn",
        lambda: LocalService().get_execution("x"),
        dg.ExecutionNotFoundError,
        "ARN",
    ),
    ("service-run-arn", lambda: LocalService().run("x"), dg.ExecutionNotFoundError, "start()"),
    ("service-stop-arn", lambda: LocalService().stop("x"), dg.ExecutionNotFoundError, "ARN"),
    (
        "service-unknown-function",
        lambda: LocalService().start("nofn"),
        dg.FunctionNotRegisteredError,
        "register it first",
    ),
    (
        "service-list-status",
        lambda: LocalService().list_executions(status="DONE"),
        dg.ValidationError,
        "SUCCEEDED",
    ),
    (
        "service-list-status-lowercase",
        lambda: LocalService().list_executions(status="succeeded"),
        dg.ValidationError,
        "SUCCEEDED",
    ),
    (
        "service-unknown-callback",
        lambda: LocalService().send_callback_success("nope", "1"),
        dg.UnknownCallbackError,
        "CallbackId",
    ),
    (
        "service-callback-int-id",
        lambda: LocalService().send_callback_heartbeat(5),
        dg.UnknownCallbackError,
        "CallbackId",
    ),
    (
        "virtual-clock-back",
        lambda: VirtualClock().advance(-1),
        dg.ValidationError,
        "cannot go back",
    ),
    ("virtual-clock-nan", lambda: VirtualClock().advance(nan), dg.ValidationError, ">= 0"),
    ("virtual-clock-str", lambda: VirtualClock(start_ms="0"), dg.ValidationError, "int"),
    # --- stores: bad options are ValidationErrors, not StoreErrors ---
    ("store-url-unknown", lambda: open_store("mysql://h/db"), dg.ValidationError, "postgresql://"),
    ("store-url-empty", lambda: open_store(""), dg.ValidationError, "non-empty"),
    ("store-url-int", lambda: open_store(5), dg.ValidationError, "path or URL"),
    ("store-sqlite-url", lambda: open_store("sqlite://x.db"), dg.ValidationError, "sqlite:///"),
    ("store-pool-sqlite", lambda: open_store("x.db", pool_size=2), dg.ValidationError, "Postgres"),
    (
        "store-synchronous-postgres",
        lambda: open_store("postgresql://127.0.0.1/x", synchronous="FULL"),
        dg.ValidationError,
        "SQLite only",
    ),
    ("sqlite-path-none", lambda: SqliteStore(None), dg.ValidationError, "path"),
    (
        "sqlite-synchronous",
        lambda: SqliteStore(":memory:", synchronous="OFF"),
        dg.ValidationError,
        "FULL",
    ),
    (
        "sqlite-timeout-negative",
        lambda: SqliteStore(":memory:", timeout=-1),
        dg.ValidationError,
        "0 or more",
    ),
    (
        "sqlite-timeout-str",
        lambda: SqliteStore(":memory:", timeout="5"),
        dg.ValidationError,
        "timeout",
    ),
    (
        "sqlite-lease-nan",
        lambda: SqliteStore(":memory:", lease_seconds=nan),
        dg.ValidationError,
        "lease_seconds",
    ),
    (
        "sqlite-lease-str",
        lambda: SqliteStore(":memory:", lease_seconds="30"),
        dg.ValidationError,
        "lease_seconds",
    ),
    # --- the reference store of durable_gen.runtime ---
    (
        "apply-updates-not-a-list",
        lambda: runtime.apply_updates({}, 5, now_ms=0),
        dg.ValidationError,
        "action.updates",
    ),
    (
        "apply-updates-a-string",
        lambda: runtime.apply_updates({}, "updates", now_ms=0),
        dg.ValidationError,
        "action.updates",
    ),
    ("now-empty-name", lambda: dg.Now(name=""), dg.ValidationError, "Now name"),
    # --- observability ---
    ("trace-id-of-number", lambda: trace_id_of(5), dg.ValidationError, "ARN"),
    ("trace-id-of-empty", lambda: trace_id_of(""), dg.ValidationError, "ARN"),
    # --- the Lambda handler and its service client ---
    (
        "lambda-handler-service-number",
        lambda: dg.lambda_handler(waits, service=5),
        dg.ValidationError,
        "DurableService",
    ),
    (
        "lambda-service-delay-nan",
        lambda: LambdaService(object(), base_delay=nan),
        dg.ValidationError,
        "must not be negative",
    ),
    (
        "lambda-service-delay-inf",
        lambda: LambdaService(object(), max_delay=inf),
        dg.ValidationError,
        "finite",
    ),
    (
        "lambda-service-delay-str",
        lambda: LambdaService(object(), base_delay="0.1"),
        dg.ValidationError,
        "base_delay",
    ),
    (
        "lambda-service-page-str",
        lambda: LambdaService(object(), page_size="5"),
        dg.ValidationError,
        "between 1 and 1000",
    ),
    (
        "worker-register-number",
        lambda: Worker(":memory:").register(5),
        dg.ValidationError,
        "MODULE",
    ),
    ("worker-concurrency", lambda: Worker(":memory:", concurrency=0), dg.ValidationError, ">= 1"),
    ("worker-patience", lambda: Worker(":memory:", patience=-1), dg.ValidationError, "patience"),
    ("worker-poll", lambda: Worker(":memory:", poll=nan), dg.ValidationError, "poll"),
]


@pytest.mark.parametrize(
    ("call", "error", "fragment"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_a_mistake_is_refused_with_a_typed_error(
    call: Callable[[], object], error: type[Exception], fragment: str
) -> None:
    with pytest.raises(error) as caught:
        call()
    assert fragment in str(caught.value), str(caught.value)
    assert isinstance(caught.value, dg.DurableGenError)


def test_the_case_names_are_unique() -> None:
    names = [case[0] for case in CASES]
    assert len(names) == len(set(names))


#: (case, a workflow, the error type the execution fails with): mistakes made in a body.
def _yields_class(_: Any) -> Generator[Any, Any, Any]:
    yield dg.Wait


def _yields_none(_: Any) -> Generator[Any, Any, Any]:
    yield None


def _yields_generator(_: Any) -> Generator[Any, Any, Any]:
    return (yield waits(1))


def _unserializable_step(_: Any) -> Generator[Any, Any, Any]:
    return (yield dg.Step(object))


def _unserializable_payload(_: Any) -> Generator[Any, Any, Any]:
    return (yield dg.Invoke("f", object()))


def _step_of_a_generator_function(_: Any) -> Generator[Any, Any, Any]:
    return (yield dg.Step(waits, (1,)))


def _step_of_an_async_generator_function(_: Any) -> Generator[Any, Any, Any]:
    return (yield dg.Step(_async_generator, ("x",)))


def _handle_built_by_hand(_: Any) -> Generator[Any, Any, Any]:
    return (yield dg.CallbackHandle(callback_id="made-up", operation_id="made-up"))


def _misspelt_in_body(_: Any) -> Generator[Any, Any, Any]:
    yield dg.Wait(minutes=1)


BODIES: list[tuple[str, Callable[[Any], Generator[Any, Any, Any]], str, str]] = [
    ("yields-a-class", _yields_class, "WorkflowDefinitionError", "not a durable_gen command"),
    ("yields-none", _yields_none, "WorkflowDefinitionError", "not a durable_gen command"),
    ("yields-a-generator", _yields_generator, "WorkflowDefinitionError", "yield from"),
    ("unserializable-step-result", _unserializable_step, "SerializationError", "payload"),
    ("unserializable-invoke-payload", _unserializable_payload, "SerializationError", "payload"),
    ("misspelt-keyword", _misspelt_in_body, "ArgumentError", "seconds=60"),
    (
        "callback-handle-built-by-hand",
        _handle_built_by_hand,
        "WorkflowDefinitionError",
        "dg.CreateCallback",
    ),
    (
        "step-of-a-generator-function",
        _step_of_a_generator_function,
        "WorkflowDefinitionError",
        "waits is a generator function, a workflow",
    ),
    (
        "step-of-an-async-generator-function",
        _step_of_an_async_generator_function,
        "WorkflowDefinitionError",
        "yield from",
    ),
]


@pytest.mark.parametrize(
    ("workflow", "error_type", "fragment"), [b[1:] for b in BODIES], ids=[b[0] for b in BODIES]
)
def test_a_mistake_in_a_workflow_body_fails_the_execution_with_its_error(
    workflow: Callable[[Any], Generator[Any, Any, Any]], error_type: str, fragment: str
) -> None:
    with pytest.raises(dg.ExecutionFailedError) as caught:
        dg.run(workflow, None, skip_time=True, functions={"f": plain})
    assert caught.value.error_type == error_type
    assert fragment in (caught.value.error_message or "")


def test_a_command_yielded_twice_runs_twice() -> None:
    def twice(_: Any) -> Generator[Any, Any, Any]:
        command = double(3)
        return [(yield command), (yield command)]

    assert dg.run(twice, None) == [6, 6]


# --- calls in the wrong order lose nothing recorded ----------------------------------------


def _started(service: LocalService) -> tuple[str, str]:
    register_function(service, "wf", awaits_callback)
    arn = service.start("wf", json.dumps(1))
    service.run_until_idle()
    callback = next(op for op in service.get_operations(arn) if op.type == "CALLBACK")
    assert callback.callback_details is not None
    callback_id = callback.callback_details.callback_id
    assert callback_id is not None
    return arn, callback_id


def test_bad_callback_calls_leave_the_running_execution_as_it_was() -> None:
    service = LocalService(clock=VirtualClock(auto_advance=False))
    arn, callback_id = _started(service)
    before = service.get_operations(arn)
    for bad in (
        lambda: service.send_callback_success("not-an-id", '"x"'),
        lambda: service.send_callback_success(callback_id, {"not": "text"}),
        lambda: service.send_callback_failure(callback_id, {"ErrorType": "x"}),
        lambda: service.get_execution(arn + "x"),
        lambda: service.list_executions(status="DONE"),
        lambda: service.start("wf", execution_nme="x"),
    ):
        with pytest.raises(dg.DurableGenError):
            bad()
    assert service.get_operations(arn) == before
    assert service.get_execution(arn).status == "RUNNING"
    # The callback still completes, once.
    service.send_callback_success(callback_id, json.dumps("approved"))
    with pytest.raises(dg.UnknownCallbackError, match="already ended"):
        service.send_callback_success(callback_id, json.dumps("again"))
    with pytest.raises(dg.UnknownCallbackError, match="already ended"):
        service.send_callback_heartbeat(callback_id)
    service.run_until_idle()
    record = service.get_execution(arn)
    assert (record.status, record.result) == ("SUCCEEDED", '"approved"')


def test_a_callback_sent_after_its_timeout_is_refused() -> None:
    service = LocalService(clock=VirtualClock())
    arn, callback_id = _started(service)
    service.run(arn)
    assert service.get_execution(arn).status == "FAILED"
    with pytest.raises(dg.UnknownCallbackError, match="already ended"):
        service.send_callback_success(callback_id, '"late"')


def test_a_result_asked_for_before_the_end_says_what_the_execution_waits_on() -> None:
    runner = TestRunner(skip_time=True)
    run = runner.start(awaits_callback, 1)
    with pytest.raises(dg.ExecutionSuspendedError, match="next invocation"):
        run.result()  # started, not run yet
    runner.run_until_idle()
    with pytest.raises(dg.ExecutionSuspendedError, match="approval"):
        run.result()  # waiting for the callback
    run.send_callback_success("approval", "ok")
    runner.run_until_idle()
    assert run.result() == "ok"


# --- stores that are not ours stay as they were ---------------------------------------------


def test_a_corrupt_file_is_a_store_error_and_is_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "corrupt.db"
    path.write_bytes(b"not a database" * 100)
    for opener in (lambda: SqliteStore(path), lambda: open_store(str(path)), lambda: Worker(path)):
        with pytest.raises(dg.StoreError, match="corrupt or not a durable_gen database"):
            opener()
    assert path.read_bytes() == b"not a database" * 100


def test_a_database_of_another_program_is_refused_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE executions (x INTEGER)")
        conn.execute("INSERT INTO executions VALUES (7)")
    conn.close()
    with pytest.raises(dg.StoreError, match="did not create"):
        SqliteStore(path)
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT x FROM executions").fetchall() == [(7,)]
    conn.close()


def test_a_second_engine_on_the_same_file_sees_and_completes_the_execution(
    tmp_path: Path,
) -> None:
    path = tmp_path / "shared.db"
    first = LocalService(store=SqliteStore(path), clock=VirtualClock(auto_advance=False))
    arn, callback_id = _started(first)
    second = LocalService(store=SqliteStore(path), clock=VirtualClock(auto_advance=False))
    register_function(second, "wf", awaits_callback)
    assert second.get_execution(arn).status == "RUNNING"
    second.send_callback_success(callback_id, '"from the second"')
    second.run_until_idle()
    assert first.get_execution(arn).result == '"from the second"'


def test_the_memory_store_takes_no_options() -> None:
    with pytest.raises(dg.ArgumentError):
        MemoryStore(path="x.db")  # type: ignore[call-arg]


def test_a_misspelt_operation_type_is_refused_not_an_empty_list() -> None:
    run = TestRunner(skip_time=True).run(waits, None)
    assert [op.type for op in run.operations(type="WAIT")] == ["WAIT"]
    for bad in ("WAITS", "wait", "Step"):
        with pytest.raises(dg.ValidationError, match="CHAINED_INVOKE"):
            run.operations(type=bad)
        with pytest.raises(dg.ValidationError, match="CHAINED_INVOKE"):
            run.operation("x", type=bad)


def test_a_crash_schedule_that_is_not_one_is_refused_where_it_is_armed() -> None:
    runner = TestRunner(skip_time=True)
    for bad in ("after_checkpoints", {"after_checkpoints": {1}}, 1, None):
        with pytest.raises(dg.ValidationError, match="CrashSchedule"):
            runner.crash(bad)  # type: ignore[arg-type]
    # The runner still works, with no schedule armed.
    assert runner.run(waits, None).result() == "done"


@pytest.mark.parametrize(
    ("decision", "fragment"),
    [
        ({"stop": False, "delay": timedelta(seconds=30)}, "pass its seconds, e.g. 30"),
        ({"stop": False, "delay": 1.5}, "whole number of seconds"),
        ({"stop": False, "delay": nan}, "whole number of seconds"),
        ({"stop": False, "delay": 0}, "between 1 and"),
        ({"stop": False, "delay": -5}, "between 1 and"),
        ({"stop": "no", "delay": 5}, "True or False"),
        ({"stop": 0}, "True or False"),
    ],
)
def test_a_bad_wait_decision_is_refused_where_it_is_built(
    decision: dict[str, Any], fragment: str
) -> None:
    with pytest.raises(dg.ValidationError, match=fragment):
        dg.WaitDecision(**decision)


def test_a_wait_strategy_returning_a_bad_decision_fails_the_step_not_the_engine() -> None:
    # A float delay reached the embedded engine's clock and crashed dg.run itself; "no" as
    # stop was truthy and ended the polling.
    def check(state: int) -> int:
        return state + 1

    for decision in ({"stop": False, "delay": 1.5}, {"stop": "no", "delay": 5}):

        def flow(_: Any, decision: dict[str, Any] = decision) -> Generator[Any, Any, Any]:
            return (
                yield dg.WaitForCondition(
                    check,
                    0,
                    wait_strategy=lambda s, a: dg.WaitDecision(**decision),
                )
            )

        with pytest.raises(dg.ExecutionFailedError) as caught:
            dg.run(flow, None, skip_time=True)
        assert caught.value.error_type == "ValidationError"
    assert dg.WaitDecision.again(3) == dg.WaitDecision(False, 3)
    assert dg.WaitDecision.done().stop is True


@pytest.mark.parametrize("seconds", [1.5, "5", True, None])
def test_the_reference_store_refuses_durations_that_are_not_whole_seconds(seconds: Any) -> None:
    updates = [
        runtime.OperationUpdate(
            id="w",
            type="WAIT",
            action="START",
            wait_options=runtime.WaitOptions(wait_seconds=seconds),
        ),
        runtime.OperationUpdate(
            id="c",
            type="CALLBACK",
            action="START",
            callback_options=runtime.CallbackOptions(timeout_seconds=seconds),
        ),
    ]
    for update in updates:
        if update.type == "CALLBACK" and seconds is None:
            continue  # no callback timeout: allowed
        operations: dict[str, Any] = {}
        with pytest.raises(dg.InvalidCheckpointError, match="whole seconds"):
            runtime.apply_updates(operations, [update], now_ms=0)
        assert operations == {}  # nothing recorded


def test_flags_and_paths_of_the_testing_tools_are_checked() -> None:
    runner = TestRunner(skip_time=True)
    run = runner.run(waits, None)
    history = run.export()
    with pytest.raises(dg.ValidationError, match="True or False"):
        runner.run_until_idle(include_callback_timeouts="no")  # type: ignore[arg-type]
    with pytest.raises(dg.ValidationError, match="file path"):
        run.export(5)  # type: ignore[arg-type]
    for arn in (5, ""):
        with pytest.raises(dg.ValidationError, match="execution_arn"):
            replay(waits, history, execution_arn=arn)  # type: ignore[arg-type]
        with pytest.raises(dg.ValidationError, match="execution_arn"):
            load_history(history, execution_arn=arn)  # type: ignore[arg-type]
    with pytest.raises(dg.ValidationError, match="once must be True or False"):
        Worker(":memory:").run(once="no")  # type: ignore[arg-type]
    assert replay(waits, history, execution_arn="arn:x").status == "ok"


def _awaits_in_a_child(handle: Any) -> Generator[Any, Any, Any]:
    return (yield handle)


def _hands_the_handle_to_a_child(_: Any) -> Generator[Any, Any, Any]:
    handle = yield dg.CreateCallback(name="approval", timeout=60)
    return (yield dg.Child(_awaits_in_a_child, (handle,), name="waiter"))


def test_a_handle_from_create_callback_may_be_awaited_in_a_child_context() -> None:
    # The check on handles built by hand leaves handles the workflow was given alone.
    runner = TestRunner(skip_time=True)
    run = runner.start(_hands_the_handle_to_a_child, None)
    runner.run_until_idle()
    run.send_callback_success("approval", "yes")
    runner.run_until_idle()
    assert run.result() == "yes"
