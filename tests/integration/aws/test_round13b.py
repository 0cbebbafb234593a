"""Round 13b corpus for the Lambda path, written from docs/lambda.md: durable_gen handlers run
through AWS's emulator (`dex-local-runner`, on 127.0.0.1, `--skip-time`, invocation input and
state pages of a few hundred bytes) in both payload formats, each compared with the same
workflow on the embedded engine (`dg.run`): many invocations forced by waits, step retries
across invocations with unusual error text, `Invoke` of durable targets (in either payload
format) and of a plain function, histories read over many pages, a Map whose items wait,
callbacks answered through the emulator's API with unusual bodies and errors, an execution
timeout and a chained invoke whose target times out."""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

import durable_gen as dg
from durable_gen.aws import lambda_handler

try:
    from .emulator import Emulator, LambdaEndpoint
    from .lambda_support import settle_pending
except ImportError:
    from emulator import Emulator, LambdaEndpoint  # type: ignore[no-redef]
    from lambda_support import settle_pending  # type: ignore[no-redef]

DURABLE_JSON = "r13b-target-json"
DURABLE_AWS = "r13b-target-aws"
PLAIN = "r13b-plain"
SLOW = "r13b-slow"
FORMATS = ["json", "aws"]


@pytest.fixture(scope="module")
def emu(lambda_endpoint_server: LambdaEndpoint) -> Iterator[Emulator]:
    pytest.importorskip("aws_durable_execution_sdk_python_testing")
    durable = {"DurableConfig": {"ExecutionTimeout": 60}}
    with Emulator(
        lambda_endpoint_server.url,
        skip_time=True,
        retry_backoff_seconds=0.1,
        max_invocation_page_bytes=300,
        function_configs={
            DURABLE_JSON: durable,
            DURABLE_AWS: durable,
            PLAIN: {},
            "stopped-fn": durable,
            SLOW: {"DurableConfig": {"ExecutionTimeout": 2}},
        },
    ) as emulator:
        yield emulator
        emulator.stop_unfinished()


@pytest.fixture(autouse=True)
def _quiet() -> Iterator[None]:
    logging.disable(logging.WARNING)  # failed attempts, logged by the handler
    yield
    logging.disable(logging.NOTSET)


def _deploy(emu: Emulator, endpoint: LambdaEndpoint, name: str, workflow: Any, fmt: str) -> None:
    handler = lambda_handler(workflow, client=emu.client, payload_format=fmt)
    endpoint.register(name, settle_pending(handler))


def _plain_json(value: Any) -> Any:
    return json.loads(json.dumps(value))


# -- workflows ------------------------------------------------------------------------------

ATTEMPTS: dict[str, int] = {}
_lock = threading.Lock()


class Odd(Exception):
    pass


def flaky(key: str, succeed_at: int) -> dict[str, int]:
    with _lock:
        ATTEMPTS[key] = ATTEMPTS.get(key, 0) + 1
        n = ATTEMPTS[key]
    if n < succeed_at:
        raise Odd("ünïcode\nline two\t\x01 " + "é" * 3)
    return {"attempts": n}


@dg.workflow
def many_waits(inp: dict[str, int]) -> Any:
    total = 0
    for i in range(inp["n"]):
        total += yield dg.Step(lambda i=i: i, name=f"s{i}")
        yield dg.Wait(seconds=1, name=f"w{i}")
    return total


@dg.workflow
def retries(inp: dict[str, str]) -> Any:
    key = inp["key"]
    first = yield dg.Step(
        flaky, args=(key, 3), name="flaky", retry=dg.Retry(max_attempts=5, initial_delay=1)
    )
    try:
        yield dg.Step(
            flaky, args=(key + "-never", 99), name="never", retry=dg.Retry(max_attempts=2)
        )
    except dg.StepFailedError as e:
        return [first, e.error_type, e.error_message, e.error_data]
    return first


@dg.workflow
def target(inp: Any) -> Any:
    yield dg.Wait(seconds=1, name="w")
    value = yield dg.Step(lambda: inp, name="echo")
    if isinstance(value, dict) and "fail" in value:
        raise Odd(value["fail"])
    return value


def plain(event: Any, context: Any = None) -> Any:
    if isinstance(event, dict) and "raise" in event:
        raise ValueError(event["raise"])
    return {"got": event}


@dg.workflow
def caller(inp: dict[str, Any]) -> Any:
    out: list[Any] = []
    for payload in inp["payloads"]:
        try:
            result = yield dg.Invoke(inp["fn"], payload, name=f"inv{len(out)}")
            out.append(["ok", result])
        except dg.InvokeFailedError as e:
            out.append(["err", e.error_type, e.error_message, e.error_data])
    return out


@dg.workflow
def big(inp: dict[str, int]) -> Any:
    total = 0
    for i in range(inp["n"]):
        total += len((yield dg.Step(lambda i=i: "x" * 50 + str(i), name=f"b{i}")))
    return total


@dg.workflow
def map_waits(inp: dict[str, list[int]]) -> Any:
    def item(x: int) -> Any:
        yield dg.Wait(seconds=1, name="iw")
        return (yield dg.Step(lambda: x * 2, name="dbl"))

    result = yield dg.Map(item, inp["items"], name="m", max_concurrency=2)
    return result.all_results()


@dg.workflow
def callback(inp: Any) -> Any:
    handle = yield dg.CreateCallback(name="cb", timeout=120)
    try:
        return ["ok", (yield handle)]
    except dg.CallbackError as e:
        return ["err", type(e).__name__, e.error_type, e.error_message, e.error_data]


@dg.workflow
def slow(inp: Any) -> Any:
    handle = yield dg.CreateCallback(name="never", timeout=600)
    return (yield handle)


@dg.workflow
def calls_slow(inp: Any) -> Any:
    try:
        return ["ok", (yield dg.Invoke(SLOW, {}, name="inv"))]
    except dg.InvokeFailedError as e:
        return ["err", e.error_type, e.error_message]


# -- runs -----------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_waits_forcing_many_invocations_end_as_the_engine(
    emu: Emulator, lambda_endpoint: LambdaEndpoint, function_name: str, fmt: str
) -> None:
    _deploy(emu, lambda_endpoint, function_name, many_waits, fmt)
    arn = emu.start(function_name, {"n": 12})
    outcome = emu.wait(arn, timeout=60)
    assert outcome.status == "SUCCEEDED", outcome
    assert outcome.json() == dg.run(many_waits, {"n": 12}, skip_time=True, payload_format=fmt)
    assert len(lambda_endpoint.invocations_for(arn)) >= 13


@pytest.mark.parametrize("fmt", FORMATS)
def test_step_retries_across_invocations_with_unusual_error_text(
    emu: Emulator, lambda_endpoint: LambdaEndpoint, function_name: str, fmt: str
) -> None:
    key = uuid.uuid4().hex
    expected = _plain_json(
        dg.run(retries, {"key": "embedded" + key}, skip_time=True, payload_format=fmt)
    )
    _deploy(emu, lambda_endpoint, function_name, retries, fmt)
    outcome = emu.wait(emu.start(function_name, {"key": key}), timeout=60)
    assert outcome.status == "SUCCEEDED", outcome
    assert outcome.json() == expected
    assert (ATTEMPTS[key], ATTEMPTS[key + "-never"]) == (3, 2)


PAYLOADS: list[Any] = [None, 3, "é", {"t": "i", "v": 3}, [1, [2]], {"fail": "bad\x00thing ü"}]


@pytest.mark.parametrize("target_fmt", FORMATS)
@pytest.mark.parametrize("fmt", FORMATS)
def test_invoking_a_durable_function_in_either_format_ends_as_the_engine(
    emu: Emulator, lambda_endpoint: LambdaEndpoint, function_name: str, fmt: str, target_fmt: str
) -> None:
    name = DURABLE_AWS if target_fmt == "aws" else DURABLE_JSON
    _deploy(emu, lambda_endpoint, name, target, target_fmt)
    _deploy(emu, lambda_endpoint, function_name, caller, fmt)
    inp = {"payloads": PAYLOADS, "fn": name}
    # the target's format decides how its failure is named (module-qualified under "aws")
    expected = _plain_json(
        dg.run(caller, inp, functions={name: target}, skip_time=True, payload_format=target_fmt)
    )
    outcome = emu.wait(emu.start(function_name, inp), timeout=60)
    assert outcome.status == "SUCCEEDED", outcome
    assert outcome.json() == expected


@pytest.mark.parametrize("fmt", FORMATS)
def test_invoking_a_plain_function_ends_as_the_engine(
    emu: Emulator, lambda_endpoint: LambdaEndpoint, function_name: str, fmt: str
) -> None:
    lambda_endpoint.register(PLAIN, plain)
    _deploy(emu, lambda_endpoint, function_name, caller, fmt)
    inp = {"payloads": [None, 5, {"raise": "boom é"}, {"t": "s"}], "fn": PLAIN}
    expected = _plain_json(
        dg.run(caller, inp, functions={PLAIN: plain}, skip_time=True, payload_format=fmt)
    )
    outcome = emu.wait(emu.start(function_name, inp), timeout=60)
    assert outcome.status == "SUCCEEDED", outcome
    assert outcome.json() == expected


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_history_over_many_pages_and_a_map_of_waiting_items_end_as_the_engine(
    emu: Emulator, lambda_endpoint: LambdaEndpoint, function_name: str, fmt: str
) -> None:
    _deploy(emu, lambda_endpoint, function_name, big, fmt)
    outcome = emu.wait(emu.start(function_name, {"n": 150}), timeout=60)
    assert outcome.status == "SUCCEEDED", outcome
    assert outcome.json() == dg.run(big, {"n": 150}, payload_format=fmt)
    _deploy(emu, lambda_endpoint, function_name + "-map", map_waits, fmt)
    outcome = emu.wait(emu.start(function_name + "-map", {"items": list(range(5))}), timeout=60)
    assert outcome.status == "SUCCEEDED", outcome
    expected = dg.run(map_waits, {"items": list(range(5))}, skip_time=True, payload_format=fmt)
    assert outcome.json() == expected


SUCCESS_BODIES: list[tuple[bytes, Any]] = [
    (b"", None),
    (b'{"t": "i", "v": 3}', 3),  # a complete envelope reads as its value (docs/lambda.md)
    ('"é"'.encode(), "é"),
    (b"  7  ", 7),
    (b"1e400", float("inf")),  # read as infinity, written back as null
]


@pytest.mark.parametrize("fmt", FORMATS)
def test_callbacks_answered_through_the_api_with_unusual_bodies(
    emu: Emulator, lambda_endpoint: LambdaEndpoint, function_name: str, fmt: str
) -> None:
    _deploy(emu, lambda_endpoint, function_name, callback, fmt)
    for body, value in SUCCESS_BODIES:
        arn = emu.start(function_name, {})
        emu.send_callback_success(emu.callback_id(arn, timeout=10), body)
        outcome = emu.wait(arn, timeout=30)
        assert outcome.status == "SUCCEEDED", (body, outcome)
        assert outcome.json() == _plain_json(["ok", value if value != float("inf") else None])
    failures: list[dict[str, str]] = [
        {"error_message": "m", "error_type": "T", "error_data": "not json {"},
        {},
        {"error_message": "é" * 10, "error_data": '{"t": "i", "v": 1}'},
        {"error_type": ""},
    ]
    for error in failures:
        arn = emu.start(function_name, {})
        emu.send_callback_failure(emu.callback_id(arn, timeout=10), **error)
        outcome = emu.wait(arn, timeout=30)
        assert outcome.status == "SUCCEEDED", (error, outcome)
        assert outcome.json() == [
            "err",
            "CallbackFailedError",
            error.get("error_type"),
            error.get("error_message"),
            error.get("error_data"),
        ]


def test_an_execution_timeout_and_an_invoked_function_that_times_out(
    emu: Emulator, lambda_endpoint: LambdaEndpoint, function_name: str
) -> None:
    _deploy(emu, lambda_endpoint, function_name, callback, "json")
    arn = emu.start(function_name, {}, execution_timeout_seconds=2)
    outcome = emu.wait(arn, timeout=30)
    assert outcome.status == "TIMED_OUT", outcome
    assert emu.event_types(arn)[-1] == "ExecutionTimedOut"

    _deploy(emu, lambda_endpoint, SLOW, slow, "json")
    _deploy(emu, lambda_endpoint, function_name + "-caller", calls_slow, "json")
    outcome = emu.wait(emu.start(function_name + "-caller", {}), timeout=30)
    assert outcome.status == "SUCCEEDED", outcome
    result = outcome.json()
    assert result[0] == "err" and result[1] == "ChainedInvoke.Timeout", result


# -- an invoked execution stopped from outside ----------------------------------------------


@dg.workflow
def calls_stopped(inp: Any) -> Any:
    try:
        return ["ok", (yield dg.Invoke("stopped-fn", {}, name="inv"))]
    except dg.InvokeFailedError as e:
        return ["err", e.error_type, e.error_message]


def test_an_invoked_execution_stopped_with_an_untyped_error_has_a_type() -> None:
    """The service records a stopped invoked execution's error with a message alone (AWS's
    emulator: "Execution stopped by user request"); the workflow's `InvokeFailedError` names
    it `Invoke.STOPPED`, as for a stop recorded without an error."""
    import tests.integration.aws.test_round10 as r10

    from durable_gen import runtime as rt
    from durable_gen.aws import LambdaService

    class Stopping(r10.FakeLambda):
        def move_on(self) -> None:
            for request in self.invokes:
                rt.complete_invoke(
                    self.store,
                    request.operation_id,
                    now_ms=self.now_ms,
                    status="STOPPED",
                    error=rt.ErrorObject(error_message="Execution stopped by user request"),
                )
            self.invokes.clear()

    fake = Stopping(
        "arn:aws:lambda:us-east-1:123456789012:function:f:1/durable-execution/s/t", "{}"
    )
    handler = lambda_handler(calls_stopped, service=LambdaService(fake, sleep=lambda _: None))
    output = handler(fake.event(), r10.Context())
    assert output["Status"] == "PENDING", output
    fake.move_on()
    output = handler(fake.event(), r10.Context())
    assert output["Status"] == "SUCCEEDED", output
    assert json.loads(output["Result"]) == [
        "err",
        "Invoke.STOPPED",
        "Execution stopped by user request",
    ]


def test_an_invoked_execution_stopped_on_the_emulator_has_a_type(
    emu: Emulator, lambda_endpoint: LambdaEndpoint, function_name: str
) -> None:
    import time

    _deploy(emu, lambda_endpoint, "stopped-fn", slow, "json")
    _deploy(emu, lambda_endpoint, function_name, calls_stopped, "json")
    arn = emu.start(function_name, {})
    deadline = time.monotonic() + 20
    child = None
    while child is None and time.monotonic() < deadline:
        started = lambda_endpoint.invocations_of("stopped-fn")
        child = started[0].event["DurableExecutionArn"] if started else None
        time.sleep(0.1)
    assert child is not None
    emu.callback_id(child, timeout=10)  # the invoked execution waits for its callback
    emu.stop(child)
    outcome = emu.wait(arn, timeout=30)
    assert outcome.status == "SUCCEEDED", outcome
    assert outcome.json()[:2] == ["err", "Invoke.STOPPED"]


# -- wait-for-callbacks answered through the API, against TestRunner -------------------------


def _submit(callback_id: str) -> None:
    pass


@dg.workflow
def waits_for_callbacks(inp: Any) -> Any:
    out: list[Any] = []
    for i in range(3):
        try:
            out.append(["ok", (yield dg.WaitForCallback(_submit, name=f"ask{i}", timeout=60))])
        except dg.CallbackError as e:
            out.append(["err", type(e).__name__, e.error_type, e.error_message, e.error_data])
    both = yield dg.Parallel(
        [
            lambda: (yield dg.WaitForCallback(_submit, name="pa", timeout=60)),
            lambda: (yield dg.WaitForCallback(_submit, name="pb", timeout=60)),
        ],
        name="p",
    )
    out.append(
        [
            [
                item.status,
                item.result,
                item.error and [item.error.error_type, item.error.error_message],
            ]
            for item in both.items
        ]
    )
    return out


#: (callback, answer): the Parallel ends once "pa" fails, leaving "pb" unanswered
ANSWERS: list[tuple[str, bytes | dict[str, str]]] = [
    ("ask0", b'{"t": "t", "v": [1, 2]}'),  # not a well-formed envelope: plain JSON
    ("ask1", {"error_type": "Weird.Type", "error_message": "é\n", "error_data": "{"}),
    ("ask2", {}),
    ("pa", {"error_message": "x"}),
]


@pytest.mark.parametrize("fmt", FORMATS)
def test_wait_for_callbacks_answered_through_the_api_end_as_the_test_runner(
    emu: Emulator, lambda_endpoint: LambdaEndpoint, function_name: str, fmt: str
) -> None:
    from durable_gen.testing import TestRunner

    runner = TestRunner(payload_format=fmt)
    run = runner.start(waits_for_callbacks, {})
    runner.run_until_idle()
    for name, answer in ANSWERS:
        if isinstance(answer, bytes):
            runner.send_callback_success(run.callback_id(name), payload=answer.decode())
        else:
            runner.send_callback_failure(
                run.callback_id(name),
                answer.get("error_type"),
                answer.get("error_message"),
                answer.get("error_data"),
            )
        runner.run_until_idle()
    expected = _plain_json(run.result())

    _deploy(emu, lambda_endpoint, function_name, waits_for_callbacks, fmt)
    arn = emu.start(function_name, {})
    for name, answer in ANSWERS:
        callback_id = emu.callback_id(arn, name=f"{name} create callback id", timeout=10)
        if isinstance(answer, bytes):
            emu.send_callback_success(callback_id, answer)
        else:
            emu.send_callback_failure(callback_id, **answer)
    outcome = emu.wait(arn, timeout=30)
    assert outcome.status == "SUCCEEDED", outcome
    assert outcome.json() == expected
