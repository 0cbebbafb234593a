"""``payload_format="aws"``: results in AWS's typed envelope, failures under AWS's error types.

The workflow input and result and Invoke payloads stay plain JSON, as AWS's SDK writes them;
either format reads back into the same JSON values and the same declared types; a datetime,
Decimal, UUID, bytes or tuple without a declared type comes back as itself in "aws" (as AWS's SDK
gives it) and in its JSON form in "json", as docs/lambda.md says.
"""

from __future__ import annotations

import functools
import json
import uuid
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import anyio
import msgspec
import pytest

import durable_gen as dg
from durable_gen._wire import InvocationInput, InvocationOutput
from durable_gen.local import LocalService
from durable_gen.testing import TestRunner, replay

CALLEE = "callee"


def callee(payload: Any) -> Any:
    return {"echo": payload}


def _fail() -> None:
    raise ValueError("no luck")


def until_big(state: dict[str, int], _attempt: int) -> dg.WaitDecision:
    return dg.WaitDecision.done() if state["n"] >= 2 else dg.WaitDecision.again(1)


def child_body():  # type: ignore[no-untyped-def]
    return (yield dg.Step(lambda: [1, {"b": 2}], name="pair"))


def everything(event: dict[str, Any]):  # type: ignore[no-untyped-def]
    user = yield dg.Step(lambda: {"user": "ada", "count": 2}, name="user")
    state = yield dg.WaitForCondition(
        lambda s: {"n": s["n"] + 1}, {"n": 0}, wait_strategy=until_big, name="grow"
    )
    pair = yield dg.Child(child_body, name="child")
    batch = yield dg.Map(lambda x: {"x": x}, [1, 2], name="map")
    called = yield dg.Invoke(CALLEE, {"a": 1}, name="call")
    try:
        yield dg.Step(_fail, name="doomed", retry=dg.Retry(max_attempts=1))
    except dg.StepFailedError as exc:
        failed = exc.error_type
    return {
        "event": event,
        "user": user,
        "state": state,
        "pair": pair,
        "batch": batch.get_results(),
        "called": called,
        "failed": failed,
    }


def _record(fmt: str) -> tuple[Any, dict[str, Any]]:
    runner = TestRunner(functions={CALLEE: callee}, payload_format=fmt)  # type: ignore[arg-type]
    run = runner.run(everything, {"k": [1]})
    return run.result(), run.export()


def _by_name(export: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {op["Name"]: op for op in export["Operations"] if op.get("Name")}


def test_aws_format_writes_the_envelope_where_aws_does() -> None:
    _, export = _record("aws")
    ops = _by_name(export)
    user = json.loads(ops["user"]["StepDetails"]["Result"])
    assert user == {"t": "m", "v": {"user": {"t": "s", "v": "ada"}, "count": {"t": "i", "v": 2}}}
    grow = json.loads(ops["grow"]["StepDetails"]["Result"])
    assert grow == {"t": "m", "v": {"n": {"t": "i", "v": 2}}}
    child = json.loads(ops["child"]["ContextDetails"]["Result"])
    assert child == {
        "t": "l",
        "v": [{"t": "i", "v": 1}, {"t": "m", "v": {"b": {"t": "i", "v": 2}}}],
    }
    batch = json.loads(ops["map"]["ContextDetails"]["Result"])
    assert batch["t"] == "br"
    item = json.loads(ops["map-item-0"]["ContextDetails"]["Result"])
    assert item["t"] == "m"
    # plain JSON: the Invoke payload, the workflow input and result
    assert json.loads(ops["call"]["ChainedInvokeDetails"]["Result"]) == {"echo": {"a": 1}}
    [execution] = [op for op in export["Operations"] if op["Type"] == "EXECUTION"]
    assert json.loads(execution["ExecutionDetails"]["InputPayload"]) == {"k": [1]}


def test_aws_format_records_aws_error_types() -> None:
    _, aws = _record("aws")
    _, plain = _record("json")
    aws_error = _by_name(aws)["doomed"]["StepDetails"]["Error"]["ErrorType"]
    plain_error = _by_name(plain)["doomed"]["StepDetails"]["Error"]["ErrorType"]
    assert aws_error == "ValueError"
    assert plain_error == "ValueError"

    def fails(_event: Any):  # type: ignore[no-untyped-def]
        yield dg.Step(_fail, name="doomed", retry=dg.Retry(max_attempts=1))

    run = TestRunner(payload_format="aws").run(fails, None)
    error = run.record.error
    assert error is not None
    assert error.error_type == "aws_durable_execution_sdk_python.exceptions.StepError"
    run = TestRunner().run(fails, None)
    assert run.record.error is not None
    assert run.record.error.error_type == "ValueError"  # durable_gen keeps the step's type


def test_both_formats_give_the_workflow_the_same_values() -> None:
    aws_result, aws = _record("aws")
    plain_result, plain = _record("json")
    assert aws_result == plain_result
    assert aws_result["user"] == {"user": "ada", "count": 2}
    assert aws_result["batch"] == [{"x": 1}, {"x": 2}]
    # and each history replays into the same result, whatever format it was written in
    for export in (aws, plain):
        report = replay(everything, export)
        assert report.status == "ok", report
        assert report.result == plain_result


def test_the_execution_result_stays_plain_json() -> None:
    def wf(_event: Any):  # type: ignore[no-untyped-def]
        return (yield dg.Step(lambda: {"a": [1]}, name="s"))

    run = TestRunner(payload_format="aws").run(wf, None)
    assert json.loads(run.record.result or "null") == {"a": [1]}


def test_run_takes_the_option() -> None:
    assert dg.run(everything, {"k": [1]}, functions={CALLEE: callee}, skip_time=True,
                  payload_format="aws")["user"] == {"user": "ada", "count": 2}  # fmt: skip


@pytest.mark.parametrize(
    "make",
    [
        lambda: TestRunner(payload_format="xml"),  # type: ignore[arg-type]
        lambda: dg.run(everything, payload_format="xml"),  # type: ignore[arg-type]
        lambda: dg.make_handler(everything, LocalService(), payload_format="xml"),  # type: ignore[arg-type]
        lambda: dg.lambda_handler(everything, service=LocalService(), payload_format="xml"),  # type: ignore[arg-type]
        lambda: dg.Interpreter(everything, [], payload_format="xml"),  # type: ignore[arg-type]
    ],
    ids=["TestRunner", "run", "make_handler", "lambda_handler", "Interpreter"],
)
def test_an_unknown_format_is_refused(make: Any) -> None:
    with pytest.raises(dg.ValidationError, match=r"payload_format must be 'json'.*'aws'"):
        make()


def test_lambda_handler_writes_the_aws_format() -> None:
    """The Lambda handler, run by the embedded engine with the events Lambda would send."""

    def wf(_event: Any):  # type: ignore[no-untyped-def]
        return (yield dg.Step(lambda: {"a": 1}, name="s"))

    engine = LocalService()
    handler = dg.lambda_handler(wf, service=engine, payload_format="aws")

    def as_lambda(event: InvocationInput) -> InvocationOutput:
        return msgspec.convert(handler(msgspec.to_builtins(event)), InvocationOutput)

    engine.register("wf", as_lambda)
    arn = engine.start("wf", "null")
    record = engine.run(arn)
    assert record.status == "SUCCEEDED"
    assert json.loads(record.result or "null") == {"a": 1}
    [step] = [op for op in engine.get_operations(arn) if op.name == "s"]
    assert step.step_details is not None
    assert json.loads(step.step_details.result or "") == {"t": "m", "v": {"a": {"t": "i", "v": 1}}}


def test_invoke_and_invoke_async_write_the_aws_format() -> None:
    def wf(_event: Any):  # type: ignore[no-untyped-def]
        return (yield dg.Step(lambda: {"a": 1}, name="s"))

    def sync(engine: LocalService) -> Any:
        return lambda event: dg.invoke(wf, event, engine, payload_format="aws")

    def async_(engine: LocalService) -> Any:
        return lambda event: anyio.run(
            functools.partial(dg.invoke_async, wf, event, engine, payload_format="aws")
        )

    for handler in (sync, async_):
        engine = LocalService()
        engine.register("wf", handler(engine))
        arn = engine.start("wf", "null")
        assert engine.run(arn).status == "SUCCEEDED"
        [step] = [op for op in engine.get_operations(arn) if op.name == "s"]
        assert step.step_details is not None
        assert json.loads(step.step_details.result or "")["t"] == "m", handler


# --- values without a declared type (docs/lambda.md, "Payload formats") ---------------------

_AT = datetime(2024, 5, 6, 7, 8, 9, tzinfo=timezone(timedelta(hours=2)))
_UNTYPED: dict[str, tuple[Any, Any, Any]] = {
    # value a step returns: what "json" gives back, what "aws" gives back (as AWS's SDK does)
    "datetime": (_AT, "2024-05-06T07:08:09+02:00", _AT),
    "date": (date(2024, 2, 29), "2024-02-29", date(2024, 2, 29)),
    "decimal": (Decimal("1.10"), "1.10", Decimal("1.10")),
    "uuid": (uuid.UUID(int=7), str(uuid.UUID(int=7)), uuid.UUID(int=7)),
    "bytes": (b"\x00\xff", "AP8=", b"\x00\xff"),
    "tuple": ((1, "a"), [1, "a"], (1, "a")),
    "nested": (
        {"k": [(1, date(2020, 1, 1))]},
        {"k": [[1, "2020-01-01"]]},
        {"k": [(1, date(2020, 1, 1))]},
    ),
    "json": ({"a": [1, None, 1.5, "x"]}, {"a": [1, None, 1.5, "x"]}, {"a": [1, None, 1.5, "x"]}),
}


@pytest.mark.parametrize("fmt", ["json", "aws"])
@pytest.mark.parametrize("case", _UNTYPED)
def test_without_a_declared_type_each_format_gives_back_what_the_docs_say(
    case: str, fmt: str
) -> None:
    value, as_json, as_aws = _UNTYPED[case]
    seen: list[Any] = []

    def wf(_: Any):  # type: ignore[no-untyped-def]
        got = yield dg.Step(lambda: value, name="untyped")
        seen.append(got)
        yield dg.Wait(seconds=1, name="w")
        return "done"

    run = TestRunner(payload_format=fmt).run(wf, None)  # type: ignore[arg-type]
    assert run.result() == "done"
    replay(wf, run.export()).raise_for_status()
    want = as_json if fmt == "json" else as_aws
    assert len(seen) == 3  # the first run, the replay after the wait, the replayer's
    for got in seen:
        assert type(got) is type(want) and got == want, (got, want)


# --- values nested too deeply to write ----------------------------------------------------------


def _nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize("fmt", ["json", "aws"])
def test_a_step_result_nested_too_deeply_fails_the_step_with_a_serialization_error(
    fmt: str,
) -> None:
    def wf(_: Any):  # type: ignore[no-untyped-def]
        try:
            yield dg.Step(lambda: _nested(5000), name="deep", retry=dg.Retry.never())
        except dg.StepFailedError as exc:
            return [exc.error_type, exc.error_message]
        return None

    run = TestRunner(payload_format=fmt).run(wf, None)  # type: ignore[arg-type]
    error_type, message = run.result()
    assert error_type.endswith(("SerializationError", "SerDesError")), error_type
    assert "nested too deeply" in message and "'deep'" in message, message


@pytest.mark.parametrize("fmt", ["json", "aws"])
def test_a_workflow_result_nested_too_deeply_fails_the_execution_typed(fmt: str) -> None:
    def wf(_: Any):  # type: ignore[no-untyped-def]
        yield dg.Step(lambda: 1, name="one")
        return _nested(5000)

    run = TestRunner(payload_format=fmt).run(wf, None)  # type: ignore[arg-type]
    assert run.status == "FAILED"
    assert run.error is not None and run.error.error_type is not None
    assert run.error.error_type.endswith(("SerializationError", "SerDesError")), run.error
    assert "nested too deeply" in (run.error.error_message or "")


def test_a_result_over_the_limit_in_the_envelope_says_what_it_weighs_as_plain_json() -> None:
    rows = {"rows": [{"a": i} for i in range(40_000)]}  # ~0.45 MB of JSON, ~1.6 MB enveloped

    def wf(_: Any):  # type: ignore[no-untyped-def]
        try:
            yield dg.Step(lambda: rows, name="rows", retry=dg.Retry.never())
        except dg.StepFailedError as exc:
            return exc.error_message
        return "fits"

    assert TestRunner().run(wf, None).result() == "fits"
    message = TestRunner(payload_format="aws").run(wf, None).result()
    plain = len(json.dumps(rows, separators=(",", ":")))
    assert "1 MiB payload limit" in message, message
    assert "AWS's typed envelope" in message and f"as plain JSON it is {plain} bytes" in message


# --- a batch result no Map or Parallel fills in again ------------------------------------------


def _double(x: int) -> int:
    return x * 2


def _first_of(_: Any) -> dg.Workflow[dg.BatchResult[int]]:
    return (
        yield from dg.Map(
            _double,
            [1, 2, 3, 4],
            name="m",
            max_concurrency=1,
            completion=dg.Completion(min_successful=1),
            item_namer=lambda item, i: f"item-{item}",
        )
    )


@pytest.mark.parametrize("fmt", ["json", "aws"])
def test_a_batch_result_a_child_returns_comes_back_whole_in_both_formats(fmt: str) -> None:
    seen: list[Any] = []

    def wf(_: Any):  # type: ignore[no-untyped-def]
        batch = yield dg.Child(_first_of, (None,), name="child")
        seen.append((batch.total_count, [(i.name, i.status) for i in batch.items]))
        yield dg.Wait(seconds=1, name="w")
        return batch.total_count

    run = TestRunner(payload_format=fmt).run(wf, None)  # type: ignore[arg-type]
    assert run.result() == 4
    replay(wf, run.export()).raise_for_status()
    want = (4, [("item-1", "SUCCEEDED")] + [(f"item-{i}", "NOT_STARTED") for i in (2, 3, 4)])
    assert seen == [want] * 3  # the first run, the replay after the wait, the replayer's


def test_an_operation_view_shows_the_same_json_in_both_formats() -> None:
    # docs/testing.md: OperationView.result is the recorded result decoded from JSON; a test
    # asserting on it must not change when the deployment switches to payload_format="aws"
    def wf(_: Any):  # type: ignore[no-untyped-def]
        yield dg.Step(lambda: {"user": "ada", "n": [1, 2]}, name="user")
        yield dg.Step(lambda: (date(2024, 1, 1), Decimal("1.10")), name="pair")
        yield dg.Step(lambda: {"t": "s", "v": "x"}, name="lookalike")
        yield dg.Map(lambda x: {"x": x}, [1, 2], name="map")
        return None

    names = ("user", "pair", "lookalike", "map", "map-item-0")
    views = {}
    for fmt in ("json", "aws"):
        run = TestRunner(payload_format=fmt).run(wf, None)  # type: ignore[arg-type]
        views[fmt] = {name: run.operation(name).result for name in names}
    assert views["aws"] == views["json"]
    assert views["json"]["user"] == {"user": "ada", "n": [1, 2]}
    assert views["json"]["pair"] == ["2024-01-01", "1.10"]
    assert views["json"]["lookalike"] == {"t": "s", "v": "x"}
    assert views["json"]["map"]["items"][1]["result"] == {"x": 2}


def test_a_result_that_is_itself_an_envelope_is_sent_wrapped_as_docs_lambda_md_says() -> None:
    # A limit documented in docs/lambda.md ("The rule that tells the two apart"): readers of
    # plain JSON see the wrapped form; durable_gen reads back the value.
    def wf(_: Any):  # type: ignore[no-untyped-def]
        yield dg.Step(lambda: 1, name="one")
        return {"t": "i", "v": 3}

    run = TestRunner().run(wf, None)
    assert run.result() == {"t": "i", "v": 3}
    assert json.loads(run.record.result or "null") == {
        "t": "m",
        "v": {"t": {"t": "s", "v": "i"}, "v": {"t": "i", "v": 3}},
    }
