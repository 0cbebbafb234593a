"""Bad input, sixth round: mistakes a user who read only the README and docs/ makes, each met
with a typed durable_gen error whose message says what to do, and each leaving what was
recorded intact (the execution goes on once given valid input).

Every entry point that records an error object a caller hands in (a callback failure, a stop,
an answer to a host's callback or invoke) refuses the same things alike: a field of the wrong
type, text that is not valid Unicode, an object over the 32 KiB limit.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import durable_gen as dg
from durable_gen import runtime as rt
from durable_gen.local import (
    LocalService,
    MemoryStore,
    SqliteStore,
    VirtualClock,
    register_function,
)
from durable_gen.runtime import ErrorObject

# --- error objects handed in: one rule at every entry point -------------------------------

_ids: list[str] = []


@dg.step
def _hand_over(callback_id: str) -> None:
    _ids.append(callback_id)


@dg.workflow
def _approval(_: None) -> dg.Workflow[object]:
    handle = yield dg.CreateCallback(name="approval")
    yield _hand_over(handle.callback_id)
    return (yield handle)


@pytest.fixture(params=["memory", "sqlite"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> LocalService:
    store = MemoryStore() if request.param == "memory" else SqliteStore(str(tmp_path / "x.db"))
    engine = LocalService(store=store)
    register_function(engine, "approval", _approval)
    return engine


#: Error objects no entry point records, with the error each raises and a fragment of it.
_BAD_ERRORS: dict[str, tuple[ErrorObject, type[dg.DurableGenError] | None, str]] = {
    "message-surrogate": (
        ErrorObject(error_type="Rejected", error_message="bad \ud800"),
        None,
        r"is not valid Unicode text: its error_message holds '\\ud800' at character 4",
    ),
    "type-surrogate": (
        ErrorObject(error_type="Re\udcffjected"),
        None,
        r"is not valid Unicode text: its error_type",
    ),
    "data-surrogate": (
        ErrorObject(error_type="Rejected", error_data='"\udc80"'),
        None,
        r"is not valid Unicode text: its error_data",
    ),
    "trace-surrogate": (
        ErrorObject(error_type="Rejected", stack_trace=["ok", "bad \ud800"]),
        None,
        r"is not valid Unicode text: its stack_trace\[1\]",
    ),
    "message-over-32k": (
        ErrorObject(error_type="Rejected", error_message="x" * 40_000),
        dg.PayloadTooLargeError,
        r"is \d+ bytes of JSON .*over the limit of an error object, 32 KiB \(32768 bytes\); "
        r"nothing was recorded. Leave out its stack_trace",
    ),
    # Measured as the service measures it: JSON with non-ASCII escaped (6 bytes each), so
    # 6,000 accented letters (12,000 bytes of UTF-8) are 36,000 bytes.
    "accents-over-32k": (
        ErrorObject(error_type="Rejected", error_message="é" * 6_000),
        dg.PayloadTooLargeError,
        r"is 3\d{4} bytes of JSON \(non-ASCII characters escaped",
    ),
    "trace-over-32k": (
        ErrorObject(error_type="Rejected", stack_trace=["  File 'x.py', line 1" * 20] * 100),
        dg.PayloadTooLargeError,
        r"over the limit of an error object",
    ),
}


@pytest.mark.parametrize("case", list(_BAD_ERRORS))
def test_a_callback_failure_that_cannot_be_recorded_is_refused_and_the_callback_stays_open(
    engine: LocalService, case: str
) -> None:
    error, cls, fragment = _BAD_ERRORS[case]
    _ids.clear()
    arn = engine.start("approval", None)
    engine.run_until_idle()
    with pytest.raises(cls or dg.InvalidInputError, match="the callback failure (.*)?" + fragment):
        engine.send_callback_failure(_ids[0], error)
    engine.send_callback_success(_ids[0], '"approved"')
    engine.run_until_idle()
    record = engine.get_execution(arn)
    assert (record.status, record.result) == ("SUCCEEDED", '"approved"')


def test_a_callback_failure_just_under_the_limit_is_recorded_whole(engine: LocalService) -> None:
    _ids.clear()
    arn = engine.start("approval", None)
    engine.run_until_idle()
    message = "x" * 32_000
    engine.send_callback_failure(_ids[0], ErrorObject(error_type="Rejected", error_message=message))
    engine.run_until_idle()
    record = engine.get_execution(arn)
    assert record.status == "FAILED" and record.error is not None
    assert record.error.error_message == message


@pytest.mark.parametrize("case", list(_BAD_ERRORS))
def test_a_stop_error_that_cannot_be_recorded_is_refused_and_the_execution_runs_on(
    engine: LocalService, case: str
) -> None:
    error, cls, fragment = _BAD_ERRORS[case]
    _ids.clear()
    arn = engine.start("approval", None)
    engine.run_until_idle()
    with pytest.raises(cls or dg.InvalidInputError, match="stop\\(\\)'s error= (.*)?" + fragment):
        engine.stop(arn, error)
    assert engine.get_execution(arn).status == "RUNNING"
    engine.send_callback_success(_ids[0], '"approved"')
    engine.run_until_idle()
    assert engine.get_execution(arn).status == "SUCCEEDED"


def _waits_on_callback_and_invoke(_: Any) -> dg.Workflow[list[Any]]:
    handle = yield from dg.CreateCallback(name="approval")
    answer = yield from handle
    tax = yield from dg.Invoke("tax", 1, name="tax", result_type=float)
    return [answer, tax]


def _drive(store: dict[str, rt.Operation]) -> rt.Action:
    interp = rt.Interpreter(_waits_on_callback_and_invoke, list(store.values()))
    action = interp.next_action()
    while isinstance(action, rt.Flush):
        interp.observe(rt.apply_updates(store, action.updates, now_ms=0).operations)
        action = interp.next_action()
    return action


def _host_store() -> dict[str, rt.Operation]:
    return {
        "exec": rt.Operation(
            id="exec",
            type="EXECUTION",
            status="STARTED",
            execution_details=rt.ExecutionDetails(input_payload="1"),
        )
    }


@pytest.mark.parametrize("case", list(_BAD_ERRORS))
def test_a_host_answer_error_that_cannot_be_recorded_is_refused_and_the_store_unchanged(
    case: str,
) -> None:
    error, cls, fragment = _BAD_ERRORS[case]
    store = _host_store()
    assert isinstance(_drive(store), rt.Done)  # suspended on the callback
    (callback,) = [op for op in store.values() if op.type == "CALLBACK"]
    assert callback.callback_details is not None
    callback_id = callback.callback_details.callback_id
    assert callback_id is not None
    before = dict(store)
    with pytest.raises(cls or dg.ValidationError, match=r"complete_callback\(\)'s error= "):
        rt.complete_callback(store, callback_id, now_ms=1, error=error)
    with pytest.raises(cls or dg.ValidationError, match=fragment):
        rt.complete_callback(store, callback_id, now_ms=1, error=error)
    assert store == before
    rt.complete_callback(store, callback_id, now_ms=1, result='"ok"')
    assert isinstance(_drive(store), rt.Done)  # suspended on the invoke
    (invoke,) = [op for op in store.values() if op.type == "CHAINED_INVOKE"]
    before = dict(store)
    with pytest.raises(cls or dg.ValidationError, match=r"complete_invoke\(\)'s error= "):
        rt.complete_invoke(store, invoke.id, now_ms=2, error=error)
    assert store == before
    rt.complete_invoke(store, invoke.id, now_ms=2, result="0.2")
    done = _drive(store)
    assert isinstance(done, rt.Done) and done.outcome == rt.Succeeded('["ok",0.2]')


def test_the_test_runner_refuses_a_callback_failure_over_the_limit_and_keeps_it_open() -> None:
    from durable_gen.testing import TestRunner

    runner = TestRunner()
    run = runner.run(_approval, None)
    with pytest.raises(dg.PayloadTooLargeError, match="Leave out its stack_trace"):
        run.send_callback_failure("approval", "Rejected", "x" * 40_000)
    run.send_callback_failure("approval", "Rejected", "x" * 4_000)
    runner.run_until_idle()
    with pytest.raises(dg.ExecutionFailedError) as caught:
        run.result()
    assert caught.value.error_message == "x" * 4_000


# Helpers shared by later groups.
_Call = Callable[[], object]


def _raises(call: _Call, cls: type[BaseException], fragment: str) -> BaseException:
    with pytest.raises(cls, match=re.escape(fragment)) as caught:
        call()
    return caught.value


# --- a command returned instead of yielded --------------------------------------------------


@dg.step
def _charge(amount: int) -> int:
    return amount


#: Commands whose fields the codec can write: returned, each used to end the execution as a
#: success with a dict of its fields.
_RETURNED: dict[str, Callable[[], object]] = {
    "Wait": lambda: dg.Wait(seconds=5),
    "Now": lambda: dg.Now(),
    "UUID": lambda: dg.UUID(),
    "Random": lambda: dg.Random(),
    "Patched": lambda: dg.Patched("new-tax"),
    "Invoke": lambda: dg.Invoke("tax", 1),
    "CreateCallback": lambda: dg.CreateCallback(name="approval"),
    "Step": lambda: _charge(1),
}


@pytest.mark.filterwarnings("ignore::durable_gen.UnyieldedCommandWarning")
@pytest.mark.parametrize("kind", list(_RETURNED))
@pytest.mark.parametrize("where", ["workflow", "child", "map-item"])
def test_a_command_returned_instead_of_yielded_fails_with_advice(kind: str, where: str) -> None:
    make = _RETURNED[kind]

    def body(_: object) -> dg.Workflow[object]:
        if False:
            yield  # a generator function that returns before yielding anything
        return make()

    def via_child(_: None) -> dg.Workflow[object]:
        return (yield dg.Child(body, (None,), name="sub"))

    def via_map(_: None) -> dg.Workflow[object]:
        batch = yield dg.Map(body, [1])
        return batch.get_results()

    workflow = {"workflow": body, "child": via_child, "map-item": via_map}[where]
    with pytest.raises(dg.ExecutionFailedError) as caught:
        dg.run(workflow, None, functions={"tax": lambda payload: payload})
    error = caught.value
    assert error.error_type in ("SerializationError", "ChildFailedError", "BatchFailedError")
    assert f"is a command ({kind}), not a value" in str(error)
    assert "yield it and use what the yield returns" in str(error)


def test_a_callback_handle_returned_instead_of_awaited_fails_with_advice() -> None:
    @dg.workflow
    def approval(_: None) -> dg.Workflow[object]:
        handle = yield dg.CreateCallback(name="approval")
        return handle  # meant: return (yield handle)

    with pytest.raises(dg.ExecutionFailedError, match="SerializationError") as caught:
        dg.run(approval, None)
    assert "is a CallbackHandle, not a value" in str(caught.value)
    assert "return (yield handle)" in str(caught.value)
    assert "return handle.callback_id" in str(caught.value)


# --- two engines on one SQLite file ---------------------------------------------------------

_steps_run: list[int] = []


@dg.step
def _once(x: int) -> int:
    _steps_run.append(x)
    return x


@dg.workflow
def _two_steps(x: int) -> dg.Workflow[list[int]]:
    first = yield _once(x)
    yield dg.Wait(seconds=1)
    return [first, (yield _once(x + 1))]


def test_an_engine_with_nothing_registered_leaves_a_shared_files_executions_alone(
    tmp_path: Path,
) -> None:
    path = str(tmp_path / "shared.db")
    _steps_run.clear()
    owner = LocalService(store=SqliteStore(path), clock=VirtualClock())
    register_function(owner, "two-steps", _two_steps)
    arn = owner.start("two-steps", "1")
    # Another engine on the same file, say a script that only reads and answers callbacks:
    # it registered nothing, so the execution is not its to run (running it would fail it
    # with FunctionNotRegisteredError, a record nothing can undo).
    reader = LocalService(store=SqliteStore(path))
    reader.run_until_idle()
    assert reader.get_execution(arn).status == "RUNNING"
    assert reader.get_execution(arn).error is None
    assert _steps_run == []
    record = owner.run(arn)
    assert (record.status, record.result) == ("SUCCEEDED", "[1,2]")
    assert _steps_run == [1, 2]


# --- values JSON cannot write -------------------------------------------------------------


@dg.step
def _cyclic(_: int) -> object:
    loop: list[object] = []
    loop.append(loop)
    return loop


@dg.workflow
def _returns_cyclic_step(x: int) -> dg.Workflow[object]:
    return (yield _cyclic(x))


@dg.workflow
def _echo(value: object) -> dg.Workflow[object]:
    yield dg.Wait(seconds=1)
    return value


def test_a_value_that_holds_itself_is_a_serialization_error_that_says_so() -> None:
    with pytest.raises(dg.ExecutionFailedError) as caught:
        dg.run(_returns_cyclic_step, 1)
    assert caught.value.error_type == "SerializationError"
    assert "the result of step '_cyclic'" in str(caught.value)
    assert "or holds itself" in str(caught.value)
    loop: dict[str, object] = {}
    loop["self"] = loop
    with pytest.raises(dg.SerializationError, match=r"the workflow input: .* or holds itself"):
        dg.run(_echo, loop)


def test_a_deep_but_readable_value_goes_through_and_a_deeper_one_is_refused_with_advice() -> None:
    def nested(depth: int) -> list[object]:
        root: list[object] = []
        here = root
        for _ in range(depth):
            inner: list[object] = []
            here.append(inner)
            here = inner
        return root

    assert dg.run(_echo, nested(400), skip_time=True) == nested(400)
    with pytest.raises(dg.SerializationError, match="keep it to a few hundred levels"):
        dg.run(_echo, nested(5_000), skip_time=True)


# --- a callback answered with the wrong kind of id ---------------------------------------

_handles: list[dg.CallbackHandle[object]] = []


@dg.workflow
def _keeps_handle(_: None) -> dg.Workflow[object]:
    handle = yield dg.CreateCallback(name="approval")
    _handles.append(handle)
    yield _hand_over(handle.callback_id)
    return (yield handle)


def test_a_callback_answered_with_its_handle_or_bytes_says_what_to_pass() -> None:
    from durable_gen.testing import TestRunner

    _handles.clear()
    runner = TestRunner()
    run = runner.run(_keeps_handle, None)
    handle = _handles[-1]
    with pytest.raises(dg.UnknownCallbackError, match=r"pass handle\.callback_id"):
        runner.send_callback_success(handle, "approved")  # type: ignore[arg-type]
    with pytest.raises(dg.UnknownCallbackError, match=r"pass callback_id\.decode\(\)"):
        runner.service.send_callback_success(handle.callback_id.encode(), '"x"')  # type: ignore[arg-type]
    with pytest.raises(dg.UnknownCallbackError, match=r"\(an int: a callback id is a str\)"):
        runner.send_callback_heartbeat(5)  # type: ignore[arg-type]
    # DurableRun answers by name: an id or a handle there says so.
    with pytest.raises(KeyError, match=r"is a callback's id \(or handle\).*'approval'"):
        run.send_callback_success(handle.callback_id, "approved")
    with pytest.raises(KeyError, match=r"is a callback's id \(or handle\)"):
        run.send_callback_success(handle, "approved")  # type: ignore[arg-type]
    with pytest.raises(KeyError, match="no callback named 'approvals'"):
        run.send_callback_success("approvals", "approved")
    # None of it answered the callback.
    assert run.status == "RUNNING"
    run.send_callback_success("approval", "approved")
    runner.run_until_idle()
    assert run.result() == "approved"


# --- two workflows of one name in a TestRunner ----------------------------------------------


def _make_workflow(answer: str) -> Callable[[None], dg.Workflow[str]]:
    @dg.workflow
    def made(_: None) -> dg.Workflow[str]:
        yield dg.Wait(seconds=10)
        return answer

    return made


def test_two_workflows_of_one_factory_keep_their_own_code_in_one_test_runner() -> None:
    from durable_gen.local import workflow_name
    from durable_gen.testing import TestRunner

    first, second = _make_workflow("first"), _make_workflow("second")
    assert workflow_name(first) == workflow_name(second)  # same module and qualname
    runner = TestRunner(skip_time=False)
    run_first = runner.run(first, None)
    run_second = runner.run(second, None)
    again = runner.run(first, None)
    runner.advance(20)
    runner.run_until_idle()
    # The second registration used to replace the first: the first execution resumed with the
    # second workflow's code and returned "second".
    assert [run_first.result(), run_second.result(), again.result()] == [
        "first",
        "second",
        "first",
    ]
    # deploy() still replaces the code a workflow object runs under, whichever name it has.
    third = _make_workflow("third")
    waiting = runner.run(second, None)
    runner.deploy(second, third)
    runner.advance(20)
    runner.run_until_idle()
    assert waiting.result() == "third"


# --- presets called with arguments ----------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "advice"),
    [
        (lambda: dg.Completion.first_successful(2), "write Completion(min_successful=N)"),
        (lambda: dg.Completion.all_completed(1), "Completion(tolerated_failure_count=N)"),
        (lambda: dg.Completion.all_successful(0), "Completion(tolerated_failure_count=N)"),
        (lambda: dg.Retry.never(3), "write Retry(max_attempts=N)"),
        (lambda: dg.Retry.never(max_attempts=1), "write Retry(max_attempts=N)"),
        (lambda: dg.WaitDecision.done(5), "write WaitDecision.again(seconds)"),
        (lambda: dg.WaitDecision.again(), "is missing 1 required positional argument: 'delay'"),
        (lambda: dg.WaitDecision.again(seconds=5), "unknown keyword argument 'seconds'"),
    ],
    ids=[
        "first-successful-n",
        "all-completed-n",
        "all-successful-n",
        "never-n",
        "never-keyword",
        "done-arg",
        "again-no-delay",
        "again-seconds",
    ],
)
def test_a_preset_called_with_arguments_is_an_argument_error_naming_the_call_to_write(
    call: _Call, advice: str
) -> None:
    error = _raises(call, dg.ArgumentError, advice)
    assert isinstance(error, TypeError)  # what Python raised before, still caught so


def test_the_presets_still_build_what_they_name() -> None:
    assert dg.Completion.first_successful() == dg.Completion(min_successful=1)
    assert dg.Completion.all_completed() == dg.Completion(tolerated_failure_percentage=100)
    assert dg.Retry.never().max_attempts == 1
    assert dg.WaitDecision.again(3) == dg.WaitDecision(False, 3)
    assert dg.WaitDecision.done().stop is True


# --- AWS configuration from the environment that botocore cannot use -----------------------


@pytest.mark.parametrize(
    ("variable", "value", "fragment"),
    [
        ("AWS_PROFILE", "no-such-profile", "The config profile (no-such-profile) could not"),
        ("AWS_CONFIG_FILE", "{not-ini}", "Unable to parse config file"),
        ("AWS_STS_REGIONAL_ENDPOINTS", "sometimes", "STS regional endpoints option"),
    ],
    ids=["profile", "config-file", "sts-option"],
)
def test_aws_settings_botocore_cannot_use_are_a_validation_error_naming_them(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, variable: str, value: str, fragment: str
) -> None:
    pytest.importorskip("boto3")
    from durable_gen.aws import LambdaService, create_client

    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "a")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "b")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    if variable == "AWS_CONFIG_FILE":
        (tmp_path / "bad-config").write_text(value)
        value = str(tmp_path / "bad-config")
    monkeypatch.setenv(variable, value)
    for build in (create_client, LambdaService):
        with pytest.raises(dg.ValidationError) as caught:
            build()
        message = str(caught.value)
        assert fragment in message
        assert "fix or unset the setting it names, or pass a ready client=" in message


def test_replay_given_the_run_object_instead_of_its_history_says_what_to_pass() -> None:
    from durable_gen.testing import TestRunner, replay

    runner = TestRunner()
    run = runner.run(_two_steps, 1)
    report = replay(_two_steps, run)  # type: ignore[arg-type]
    assert report.status == "invalid"
    assert "got DurableRun: pass its history, run.export() (or run.history())" in report.message
    assert replay(_two_steps, run.export()).status == "ok"
    assert replay(_two_steps, run.history()).status == "ok"


# --- a step's own StepFailedError with fields the service cannot record -------------------


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [
        ({"error_data": {"code": 51}}, "error_data must be a str or None (it is recorded as"),
        ({"error_data": 51}, "got int 51: encode it first, error_data=json.dumps(...)"),
        ({"error_data": b"raw"}, "got bytes b'raw'"),
        ({"error_type": 404}, "error_type must be a str (the name the workflow tests"),
        ({"stack_trace": "line 1\nline 2"}, "stack_trace must be a list of str"),
    ],
    ids=["data-dict", "data-int", "data-bytes", "type-int", "trace-str"],
)
def test_a_step_failure_with_fields_that_are_not_text_says_so_at_the_raise(
    fields: dict[str, Any], fragment: str
) -> None:
    # The error used to be built, and recording it then failed the execution with an
    # AttributeError from inside durable_gen ("'dict' object has no attribute 'isascii'").
    with pytest.raises(dg.ValidationError, match=re.escape(fragment)):
        dg.StepFailedError("declined", **fields)

    @dg.step(retry=dg.Retry.never())
    def decline(_: int) -> None:
        raise dg.StepFailedError("declined", **fields)

    @dg.workflow
    def pay(_: None) -> dg.Workflow[object]:
        try:
            yield decline(1)
        except dg.StepFailedError as exc:
            return [exc.error_type, exc.error_message]
        return None

    error_type, message = dg.run(pay, None)  # type: ignore[misc]
    assert error_type == "ValidationError"
    assert fragment in message


def test_a_step_failure_with_text_fields_is_recorded_as_given() -> None:
    @dg.step(retry=dg.Retry.never())
    def decline(_: int) -> None:
        raise dg.StepFailedError(
            404, error_type="Declined", error_data='{"code": 51}', stack_trace=("a", "b")
        )

    @dg.workflow
    def pay(_: None) -> dg.Workflow[object]:
        try:
            yield decline(1)
        except dg.StepFailedError as exc:
            return [exc.error_type, exc.error_message, exc.error_data]
        return None

    assert dg.run(pay, None) == ["Declined", "404", '{"code": 51}']


# --- payloads and errors a checkpoint cannot record -----------------------------------------


class _SurrogateSerdes:
    def serialize(self, value: object) -> str:
        return "bad \ud800"

    def deserialize(self, text: str) -> object:
        return text


@dg.step(serdes=_SurrogateSerdes(), retry=dg.Retry.never())
def _badly_serialized(_: int) -> str:
    return "fine"


@dg.workflow
def _catches_serdes(_: None) -> dg.Workflow[object]:
    try:
        return (yield _badly_serialized(1))
    except dg.StepFailedError as exc:
        return [exc.error_type, exc.error_message]


def test_a_serdes_that_writes_text_that_is_not_unicode_fails_its_step_on_every_store(
    engine: LocalService,
) -> None:
    # On SQLite the checkpoint used to raise a raw UnicodeEncodeError (the invocation crashed
    # until the execution failed with it); in memory the step was recorded with the text.
    register_function(engine, "catches-serdes", _catches_serdes)
    record = engine.run(engine.start("catches-serdes", None))
    assert record.status == "SUCCEEDED" and record.result is not None
    error_type, message = json.loads(record.result)
    assert error_type == "SerializationError"
    assert "the serdes of the result of step '_badly_serialized' returned text that is not" in (
        message
    )


def _raw_updates(engine: LocalService, updates: list[rt.OperationUpdate]) -> list[str]:
    """Checkpoint each update on its own from a handler of the engine's; what each did."""
    said: list[str] = []

    def handler(event: rt.InvocationInput) -> rt.InvocationOutput:
        arn, token = event.durable_execution_arn, event.checkpoint_token
        for update in updates:
            try:
                token = engine.checkpoint(arn, token, [update]).checkpoint_token
                said.append("recorded")
            except dg.InvalidCheckpointError as exc:
                said.append(str(exc))
        return rt.InvocationOutput(status="SUCCEEDED", result='"done"')

    engine.register("raw", handler)
    arn = engine.start("raw", None)
    engine.run_until_idle()
    assert engine.get_execution(arn).status == "SUCCEEDED"  # nothing refused stopped it
    return said


def test_a_checkpoint_with_a_payload_or_error_no_store_can_carry_is_refused_alike(
    engine: LocalService,
) -> None:
    def step(uid: str, action: str, **fields: Any) -> rt.OperationUpdate:
        return rt.OperationUpdate(
            id=uid,
            type="STEP",
            action=action,  # type: ignore[arg-type]
            name="s",
            sub_type="Step",
            **fields,
        )

    said = _raw_updates(
        engine,
        [
            step("a", "SUCCEED", payload='"\udcff"'),
            step("b", "SUCCEED", payload=5),
            step("c", "FAIL", error=ErrorObject(error_type="E", error_message="bad \ud800")),
            step("d", "FAIL", error=ErrorObject(error_type="E", error_data={"code": 1})),  # type: ignore[arg-type]
            step("e", "SUCCEED", payload='"fine"'),
        ],
    )
    assert said[0].endswith(
        "the Payload is not valid Unicode text (surrogates not allowed: '\\udcff' at character 1)"
    )
    assert said[1].endswith("the Payload must be a str (JSON text), got int")
    assert "the Error is not valid Unicode text: its error_message" in said[2]
    assert "the Error cannot be recorded: its error_data is dict" in said[3]
    assert all(s.startswith("checkpoint refused, nothing was recorded") for s in said[:4])
    assert said[4] == "recorded"


# --- Map / Parallel / Completion options: the corpus tried this round ---------------------


def _item(x: int) -> int:
    if x == 2:
        raise ValueError("item 2 fails")
    return x


_OPTION_MISTAKES: dict[str, tuple[_Call, str]] = {
    "concurrency-negative": (lambda: dg.Map(_item, [1], max_concurrency=-1), "positive int"),
    "concurrency-zero": (lambda: dg.Map(_item, [1], max_concurrency=0), "positive int"),
    "concurrency-float": (lambda: dg.Map(_item, [1], max_concurrency=1.5), "positive int"),
    "concurrency-bool": (lambda: dg.Map(_item, [1], max_concurrency=True), "positive int"),
    "concurrency-str": (lambda: dg.Map(_item, [1], max_concurrency="3"), "positive int"),
    "items-str": (lambda: dg.Map(_item, "abc"), "must be a sequence (list or tuple), got str"),
    "items-generator": (lambda: dg.Map(_item, (i for i in [1])), "got generator"),
    "items-set": (lambda: dg.Map(_item, {1, 2}), "got set"),
    "items-dict": (lambda: dg.Map(_item, {"a": 1}), "got dict"),
    "completion-dict": (lambda: dg.Map(_item, [1], completion={"min_successful": 1}), "Completion"),
    "tolerated-negative": (lambda: dg.Completion(tolerated_failure_count=-1), "at least 0"),
    "tolerated-float": (lambda: dg.Completion(tolerated_failure_count=1.5), "at least 0"),
    "min-successful-zero": (lambda: dg.Completion(min_successful=0), "leave it None"),
    "percentage-over-100": (lambda: dg.Completion(tolerated_failure_percentage=150), "0 and 100"),
    "percentage-nan": (lambda: dg.Completion(tolerated_failure_percentage=math.nan), "0 and 100"),
    "percentage-bool": (lambda: dg.Completion(tolerated_failure_percentage=True), "0 and 100"),
    "branches-function": (lambda: dg.Parallel(_item), "a list of functions"),
    "branches-generator": (lambda: dg.Parallel(f for f in [_item]), "a list of functions"),
    "branch-needs-argument": (lambda: dg.Parallel([_item]), "called with no arguments"),
    "nesting-unknown": (lambda: dg.Map(_item, [1], nesting="deep"), "'nested' or 'flat'"),
}


@pytest.mark.parametrize("case", list(_OPTION_MISTAKES))
def test_a_batch_option_mistake_is_a_validation_error_where_it_is_written(case: str) -> None:
    call, fragment = _OPTION_MISTAKES[case]
    _raises(call, dg.ValidationError, fragment)


@dg.workflow
def _batches(_: None) -> dg.Workflow[list[object]]:
    zero = yield dg.Map(_item, [1, 2, 3], completion=dg.Completion(tolerated_failure_count=0))
    empty = yield dg.Parallel([])
    ranged = yield dg.Map(_item, range(3, 6), max_concurrency=10)
    return [
        zero.completion_reason,
        zero.failure_count,
        empty.total_count,
        empty.completion_reason,
        ranged.results(),
    ]


def test_edge_values_of_batch_options_are_accepted_and_mean_what_the_guide_says() -> None:
    # Zero tolerated failures: the first failure decides (as with no policy); an empty
    # Parallel completes; a range is a sequence; a concurrency above the item count is fine.
    reason, failures, total, empty_reason, ranged = dg.run(_batches, None, skip_time=True)  # type: ignore[misc]
    assert (reason, failures) == ("FAILURE_TOLERANCE_EXCEEDED", 1)
    assert (total, empty_reason) == (0, "ALL_COMPLETED")
    assert ranged == [3, 4, 5]


def _check_returning_a_command(state):  # type: ignore[no-untyped-def]  # no annotation: plain JSON
    return dg.Wait(seconds=1)


@dg.workflow
def _polls_with_a_command(_: None) -> dg.Workflow[object]:
    return (yield dg.WaitForCondition(_check_returning_a_command, 0))


def test_a_wait_for_condition_check_returning_a_command_fails_instead_of_a_dict_state() -> None:
    # Unannotated, the check's state is plain JSON: the Wait used to become the state
    # {"seconds": 1, "name": null} and the execution succeeded with it.
    with pytest.raises(dg.ExecutionFailedError) as caught:
        dg.run(_polls_with_a_command, None)
    assert caught.value.error_type == "WorkflowDefinitionError"
    assert "check _check_returning_a_command returned is a command (Wait), not a value" in str(
        caught.value
    )
