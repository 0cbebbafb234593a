"""Interop through the embedding API: one execution taken in turns by AWS's Python SDK (its
handler, checkpointing through a boto3-shaped client) and by a host that drives
`durable_gen.runtime.Interpreter` itself (`payload_format="aws"`, every checkpointing mode),
both over one store changed by `rt.apply_updates`. The host runs the steps an invocation
hands out in a thread pool and reports them in a random order; the shapes are the interop
cases of the earlier corpora (rounds 9 to 11), written in both SDKs, and the callback answers
of round 10. Then a wait-for-condition retry whose record lost its state, read alike by both.
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import random
from typing import Any

import msgspec
import pytest

import durable_gen as dg
from durable_gen import runtime as rt

pytest.importorskip("aws_durable_execution_sdk_python")
pytest.importorskip("aws_durable_execution_sdk_python_testing")

from aws_durable_execution_sdk_python.config import Duration
from aws_durable_execution_sdk_python.context import DurableContext
from aws_durable_execution_sdk_python.execution import durable_execution
from aws_durable_execution_sdk_python.waits import (
    WaitForConditionConfig,
    WaitForConditionDecision,
)
from aws_durable_execution_sdk_python_testing.invoker import create_test_lambda_context

from . import test_round8 as r8
from . import test_round9 as r9
from . import test_round10 as r10
from . import test_round11 as r11

CASES = {
    f"r{n}-{name}": (mod, name) for n, mod in ((9, r9), (10, r10), (11, r11)) for name in mod.CASES
}


class InterpreterHost:
    """An invocation run by a host of its own: an `Interpreter` built from the shared store."""

    def __init__(self, mode: rt.CheckpointMode, seed: int, pool: cf.Executor) -> None:
        self.mode: rt.CheckpointMode = mode
        self.rng = random.Random(seed)
        self.pool = pool

    def invoke(self, client: r8.SharedClient, port: Any) -> dict[str, Any]:
        interp = rt.Interpreter(
            port, list(client.store.values()), execution_arn=r8.ARN, checkpointing=self.mode,
            clock=lambda: client.now_ms / 1000, payload_format="aws",
        )  # fmt: skip
        running: dict[cf.Future[Any], rt.StepTask] = {}
        try:
            while True:
                action = interp.next_action()
                if isinstance(action, rt.Flush):
                    applied = rt.apply_updates(
                        client.store, action.updates, now_ms=client.now_ms,
                        new_callback_id=lambda: f"cb-{next(client.cb)}",
                    )  # fmt: skip
                    for timer in applied.timers:
                        client.timers[timer.kind, timer.operation_id] = timer
                    client.invokes += applied.invokes
                    interp.observe(applied.operations)
                elif isinstance(action, rt.RunTasks):
                    for task in action.tasks:
                        assert not task.is_async
                        running[self.pool.submit(task.fn, *task.args, **task.kwargs)] = task
                elif isinstance(action, rt.WaitForTasks):
                    cf.wait(running, return_when=cf.FIRST_COMPLETED)
                    finished = [f for f in running if f.done()]
                    self.rng.shuffle(finished)
                    for future in finished:
                        task = running.pop(future)
                        error = future.exception()
                        if error is None:
                            interp.task_succeeded(task, future.result())
                        else:
                            assert isinstance(error, Exception)
                            interp.task_failed(task, error)
                else:
                    return self._output(client, action.outcome)
        finally:
            interp.close()

    @staticmethod
    def _output(client: r8.SharedClient, outcome: rt.Outcome) -> dict[str, Any]:
        execution = next(op for op in client.store.values() if op.type == "EXECUTION")
        if isinstance(outcome, rt.Suspended):
            return {"Status": "PENDING"}
        if isinstance(outcome, rt.Succeeded):
            client.store[execution.id] = msgspec.structs.replace(
                execution, status="SUCCEEDED", end_timestamp=client.now_ms
            )
            return {"Status": "SUCCEEDED", "Result": outcome.result}
        client.store[execution.id] = msgspec.structs.replace(
            execution, status="FAILED", end_timestamp=client.now_ms
        )
        return {"Status": "FAILED", "Error": msgspec.to_builtins(outcome.error)}


@pytest.fixture(scope="module")
def pool() -> Any:
    with cf.ThreadPoolExecutor(8) as executor:
        yield executor


def _take_turns(
    name: str, order: str, mode: rt.CheckpointMode, pool: cf.Executor
) -> tuple[dict[str, Any], list[tuple[str, str]], r8.SharedClient]:
    mod, case = CASES[name]
    c = mod.CASES[case]
    client = r8.SharedClient(json.dumps(c.input))
    aws = durable_execution(boto3_client=client)(c.aws)
    host = InterpreterHost(mode, seed=len(name) * 31 + len(order), pool=pool)
    trail: list[tuple[str, str]] = []
    for k in range(60):
        side = order[k % len(order)]
        if side == "a":
            out = aws(client.event(), create_test_lambda_context())
        else:
            out = host.invoke(client, c.port)
        trail.append((side, out["Status"]))
        if out["Status"] != "PENDING":
            return out, trail, client
        if not client.settle({}, lambda op: None):
            raise AssertionError(f"stuck after {trail}")
    raise AssertionError("too many invocations")


@pytest.mark.parametrize("mode", ["step", "eager", "batch"])
@pytest.mark.parametrize("order", ["ad", "da", "d"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_an_interpreter_host_and_aws_sdk_take_turns_on_one_execution(
    name: str, order: str, mode: rt.CheckpointMode, pool: cf.Executor
) -> None:
    mod, case = CASES[name]
    attempts: dict[str, int] = getattr(mod, "ATTEMPTS", {})  # round 9 counts nothing
    attempts.clear()
    out, trail, client = _take_turns(name, order, mode, pool)
    assert out["Status"] == "SUCCEEDED", (trail, out.get("Error"))
    assert json.loads(out["Result"]) == mod.EXPECTED[case]
    if order == "ad":
        assert trail[0][0] == "a"
    # the record is whole: AWS's SDK, handed it, ends the same way and runs nothing again
    ops = msgspec.to_builtins(list(client.store.values()))
    for op in ops:
        if op["Type"] == "EXECUTION":
            op["Status"] = "STARTED"
            op.pop("EndTimestamp", None)
    replayer = r8._Client(ops)
    handler = durable_execution(boto3_client=replayer)(mod.CASES[case].aws)
    attempts.clear()
    event = {
        "DurableExecutionArn": r8.ARN,
        "CheckpointToken": "t-0",
        "InitialExecutionState": {"Operations": ops, "NextMarker": ""},
    }
    again = handler(event, create_test_lambda_context())
    assert again["Status"] == "SUCCEEDED", again.get("Error")
    assert json.loads(again["Result"]) == mod.EXPECTED[case]
    recorded = {op["Id"] for op in ops}
    assert [u.get("Name") for u in replayer.updates if u["Id"] not in recorded] == []
    assert attempts == {}


def _callback_turns(
    name: str, order: str, mode: rt.CheckpointMode, pool: cf.Executor
) -> tuple[dict[str, Any], str]:
    aws_body, port, answer = r10.CALLBACK_CASES[name]
    client = r10._Answering("null", answer)
    aws = durable_execution(boto3_client=client)(aws_body)
    host = InterpreterHost(mode, seed=len(name), pool=pool)
    for k in range(30):
        side = order[k % len(order)]
        if side == "a":
            out = aws(client.event(), create_test_lambda_context())
        else:
            out = host.invoke(client, port)
        if out["Status"] != "PENDING":
            return out, side
        assert client.settle({}, lambda op: None), "stuck"
    raise AssertionError("too many invocations")


@pytest.mark.parametrize("mode", ["step", "eager", "batch"])
@pytest.mark.parametrize("order", ["d", "ad", "da"])
@pytest.mark.parametrize("name", sorted(r10.CALLBACK_CASES))
def test_callback_answers_read_alike_by_aws_sdk_and_an_interpreter_host(
    name: str, order: str, mode: rt.CheckpointMode, pool: cf.Executor
) -> None:
    """The invocation that replays the answered callback reads it as its own SDK does alone:
    AWS's SDK as in round 10, the interpreter host as the port's handler does."""
    aws_alone = None
    if order != "d":
        r10.SUBMITS.clear()
        out, _ = r10._run_turns(*r10.CALLBACK_CASES[name], "a")
        assert out["Status"] == "SUCCEEDED", out
        aws_alone = json.loads(out["Result"])
    r10.SUBMITS.clear()
    out, last = _callback_turns(name, order, mode, pool)
    assert out["Status"] == "SUCCEEDED", out
    expected = r10.PORT_VIEW[name] if last == "d" else aws_alone
    assert json.loads(out["Result"]) == expected


# --- a wait-for-condition retry whose record holds no state, read by both SDKs ----------------

CHECKED: list[tuple[str, Any]] = []


def _port_check(state: dict[str, int]) -> dict[str, int]:
    CHECKED.append(("d", state))
    return {"checks": state["checks"] + 1}


def p_poll(event):  # type: ignore[no-untyped-def]
    return (
        yield dg.WaitForCondition(
            _port_check,
            initial_state={"checks": 0},
            wait_strategy=dg.WaitStrategy(until=lambda s: s["checks"] >= 3, delay=1, backoff=1),
            name="poll",
        )
    )


def a_poll(event: Any, ctx: DurableContext) -> Any:
    def check(state: Any, _ctx: Any) -> Any:
        CHECKED.append(("a", state))
        return {"checks": state["checks"] + 1}

    def strategy(state: Any, attempt: int) -> WaitForConditionDecision:
        if state["checks"] >= 3:
            return WaitForConditionDecision.stop_polling()
        return WaitForConditionDecision.continue_waiting(Duration.from_seconds(1))

    config = WaitForConditionConfig(initial_state={"checks": 0}, wait_strategy=strategy)
    return ctx.wait_for_condition(check, config=config, name="poll")


@pytest.mark.parametrize("status", ["READY", "STARTED"])
def test_a_poll_whose_record_holds_no_state_is_checked_alike_by_both_sdks(status: str) -> None:
    """A retry of a wait-for-condition whose operation lost its state (StepDetails without
    Result): both SDKs check initial_state again."""
    client = r8.SharedClient("null")
    ours = dg.lambda_handler(p_poll, client=client, payload_format="aws")
    out = ours(client.event(), create_test_lambda_context())
    assert out["Status"] == "PENDING"
    (poll,) = (op for op in client.store.values() if op.type == "STEP")
    assert poll.step_details is not None and poll.step_details.result is not None
    stateless = msgspec.structs.replace(
        poll, status=status, step_details=rt.StepDetails(attempt=poll.step_details.attempt)
    )
    ops = msgspec.to_builtins([client.store["e-1"], stateless])
    seen = {}
    for side in "ad":
        CHECKED.clear()
        event = {
            "DurableExecutionArn": r8.ARN,
            "CheckpointToken": "t-0",
            "InitialExecutionState": {"Operations": ops, "NextMarker": ""},
        }
        if side == "a":
            handler = durable_execution(boto3_client=r8._Client(ops))(a_poll)
        else:
            handler = dg.lambda_handler(p_poll, client=r8._Client(ops), payload_format="aws")
        result = handler(event, create_test_lambda_context())
        assert result["Status"] == "PENDING", result
        assert [who for who, _ in CHECKED] == [side]
        seen[side] = CHECKED[0][1]
    assert seen["a"] == seen["d"] == {"checks": 0}
