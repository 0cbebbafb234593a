"""Handlers written from README.md and docs/*.md alone, in forms the other sets do not use.

The fan-out requirements use the ``Completion`` presets, ``Branch`` objects, callable objects
whose ``__call__`` is a generator, and ``functools.partial`` of a workflow.
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import json
from collections.abc import Callable
from typing import Any, TypedDict

import durable_gen as dg


class Boom(Exception):
    pass


def _projection(batch: dg.BatchResult[Any], *, status: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {"completionReason": batch.completion_reason}
    if status:
        out["status"] = "FAILED" if batch.has_failure else "SUCCEEDED"
    out["successCount"] = batch.success_count
    out["failureCount"] = batch.failure_count
    out["totalCount"] = batch.success_count + batch.failure_count + batch.started_count
    return out


class Returns:
    """A branch or Map function: an object whose ``__call__`` is a generator function."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def __call__(self, *args: Any) -> Any:
        return self.value
        yield  # a workflow


class Raises:
    def __call__(self, *args: Any) -> Any:
        raise Boom("branch failed")
        yield


def outcome(fail: bool, value: str = "ok"):
    if fail:
        raise Boom("item failed")
    return value
    yield


def parallel_8_6(_input: Any):
    batch = yield dg.Parallel(
        [Returns("ok"), Raises(), Returns("never")],
        name="failfast",
        max_concurrency=1,
        completion=dg.Completion.all_successful(),
    )
    return _projection(batch)


def parallel_8_8(_input: Any):
    batch = yield dg.Parallel(
        [dg.Branch(Returns(f"b{i}"), name=f"b{i}") for i in range(4)],
        name="min-successful",
        max_concurrency=1,
        completion=dg.Completion(min_successful=2),
    )
    p = _projection(batch, status=False)
    return {k: p[k] for k in ("completionReason", "successCount", "totalCount")}


def parallel_8_17(_input: Any):
    batch = yield dg.Parallel(
        [
            functools.partial(outcome, False),
            functools.partial(outcome, True),
            functools.partial(outcome, False),
        ],
        max_concurrency=1,
        completion=dg.Completion(min_successful=3),
    )
    return _projection(batch)


def parallel_8_18(_input: Any):
    batch = yield dg.Parallel(
        [Raises(), Raises(), Returns("c"), Returns("d")],
        name="combined",
        max_concurrency=1,
        completion=dg.Completion(min_successful=3, tolerated_failure_count=1),
    )
    p = _projection(batch)
    del p["status"]
    return p


def parallel_8_22(_input: Any):
    batch = yield dg.Parallel(
        [Raises(), Returns(1), Returns(2), Returns(3)],
        max_concurrency=1,
        completion=dg.Completion(tolerated_failure_percentage=25),
    )
    return _projection(batch)


def map_9_5(_input: Any):
    batch = yield dg.Map(
        Returns2(),
        [False, True, False],
        max_concurrency=1,
        completion=dg.Completion.all_successful(),
    )
    return _projection(batch)


class Returns2:
    def __call__(self, fail: bool, index: int) -> Any:
        if fail:
            raise Boom(f"item {index} failed")
        return "ok"
        yield


def map_9_7(_input: Any):
    batch = yield dg.Map(
        functools.partial(outcome, value="done"),
        [False] * 4,
        max_concurrency=1,
        completion=dg.Completion(min_successful=2),
    )
    p = _projection(batch, status=False)
    return {k: p[k] for k in ("completionReason", "successCount", "totalCount")}


def map_9_10(_input: Any):
    batch = yield dg.Map(
        outcome,
        [True, True, False, False],
        max_concurrency=1,
        completion=dg.Completion(tolerated_failure_percentage=25),
    )
    p = _projection(batch)
    del p["status"]
    return p


def map_9_13(items: list[int]):
    def times_ten(item: int):
        return item * 10
        yield

    batch = yield dg.Map(
        times_ten, items, max_concurrency=1, item_namer=lambda item, index: f"item-{item}"
    )
    return batch.results()


HANDLERS = {
    "8-6": parallel_8_6,
    "8-8": parallel_8_8,
    "8-17": parallel_8_17,
    "8-18": parallel_8_18,
    "8-22": parallel_8_22,
    "9-5": map_9_5,
    "9-7": map_9_7,
    "9-10": map_9_10,
    "9-13": map_9_13,
}


# wait_for_condition: a wait strategy written as a function returning WaitDecision, plain checks.


def _add_one(state: int) -> int:
    return state + 1


def wfc_6_5(threshold: int):
    def strategy(state: int, attempt: int) -> dg.WaitDecision:
        return dg.WaitDecision.done() if state >= threshold else dg.WaitDecision.again(2)

    return (yield dg.WaitForCondition(_add_one, initial_state=0, wait_strategy=strategy))


def wfc_6_6(start: int):
    return (
        yield dg.WaitForCondition(
            _add_one,
            initial_state=start,
            wait_strategy=dg.WaitStrategy(until=lambda s: False, delay=1, max_attempts=3),
        )
    )


class Reversed:
    """State serdes: writes the string reversed inside brackets."""

    def serialize(self, value: str) -> str:
        return "[" + value[::-1] + "]"

    def deserialize(self, text: str) -> str:
        return text[1:-1][::-1]


def _append_x(state: str) -> str:
    return state + "x"


def wfc_6_11(_input: Any):
    return (
        yield dg.WaitForCondition(
            _append_x,
            initial_state="",
            wait_strategy=dg.WaitStrategy(until=lambda s: len(s) >= 2, delay=1),
            serdes=Reversed(),
        )
    )


# wait_for_callback: submitters as @step functions and callable objects.


@dg.step(retry=dg.Retry(max_attempts=5, initial_delay=3))
def _always_fails(callback_id: str) -> None:
    raise Boom("cannot submit " + callback_id)


def wfcb_7_7(name: str):
    return (
        yield dg.WaitForCallback(
            _always_fails,
            name=name,
            retry=dg.Retry(max_attempts=2, initial_delay=1, backoff=1.0, jitter="none"),
        )
    )


class Submitter:
    def __init__(self) -> None:
        self.seen: list[str] = []

    def __call__(self, callback_id: str) -> None:
        self.seen.append(callback_id)


def wfcb_7_15(name: str):
    return (yield dg.WaitForCallback(Submitter(), name=name))


HANDLERS.update(
    {
        "6-5": wfc_6_5,
        "6-6": wfc_6_6,
        "6-11": wfc_6_11,
        "7-7": wfcb_7_7,
        "7-15": wfcb_7_15,
    }
)


# plugin suite: one plugin written from docs/observability.md, async steps.


class Recorder(dg.Plugin):
    """Prints one JSON record per hook, stamped with the execution's ARN."""

    def __init__(self, tag: str = "CONFPLUGIN", *, faulty: bool = False) -> None:
        self.tag = tag
        self.faulty = faulty
        self.arn: str | None = None

    def _emit(self, **fields: Any) -> None:
        print(json.dumps({"plugin": self.tag, **fields, "durableExecutionArn": self.arn}))
        if self.faulty:
            raise RuntimeError(f"{fields['hook']} broke")

    def on_invocation_start(self, info: dg.InvocationInfo) -> None:
        self.arn = info.execution_arn
        self._emit(hook="invocation-start", first=info.first)

    def on_invocation_end(self, info: dg.InvocationInfo, status: str) -> None:
        self._emit(hook="invocation-end", status=status)

    def on_operation_start(self, op: dg.OperationInfo) -> None:
        if op.type == "STEP":
            self._emit(hook="operation-start", op=op.operation_id)

    def on_operation_end(self, op: dg.OperationInfo, status: str) -> None:
        if op.type == "STEP":
            self._emit(hook="operation-end", op=op.operation_id, status=status)

    def on_attempt_start(self, attempt: dg.AttemptInfo) -> None:
        if attempt.type == "STEP":
            self._emit(hook="attempt-start", n=attempt.attempt, op=attempt.operation_id)

    def on_attempt_end(self, attempt: dg.AttemptInfo, outcome: str, error: Any) -> None:
        if attempt.type == "STEP":
            self._emit(
                hook="attempt-end", n=attempt.attempt, outcome=outcome, op=attempt.operation_id
            )


@dg.step
async def greeting(name: str) -> str:
    dg.get_logger("greeting").info(f"Greeting step running for: {name}")
    return f"Hello, {name}!"


def plugin_greet(name: str):
    return (yield greeting(name))


_tries: dict[str, int] = {}


@dg.step(retry=dg.Retry(max_attempts=3, initial_delay=1, jitter="none"))
async def unreliable() -> str:
    _tries["n"] = _tries.get("n", 0) + 1
    if _tries["n"] == 1:
        raise Boom("first attempt fails")
    return "Operation succeeded"


def reset() -> None:
    """Clears the attempt counter: call before each run."""
    _tries.clear()


def plugin_10_3(_input: Any):
    return (yield unreliable())


def plugin_10_6(_input: Any):
    yield dg.Wait(2)


@dg.step(retry=dg.Retry(max_attempts=1))
async def always_throws() -> None:
    raise Boom("always")


def plugin_10_7(_input: Any):
    yield always_throws()


HANDLERS.update(
    {
        "10-1": plugin_greet,
        "10-2": plugin_greet,
        "10-3": plugin_10_3,
        "10-4": plugin_greet,
        "10-5": plugin_greet,
        "10-6": plugin_10_6,
        "10-7": plugin_10_7,
    }
)

PLUGINS: dict[str, Callable[[], list[dg.Plugin]]] = {
    "10-1": lambda: [Recorder()],
    "10-2": lambda: [Recorder()],
    "10-3": lambda: [Recorder()],
    "10-4": lambda: [Recorder("CONFPLUGIN-FAULTY", faulty=True)],
    "10-5": lambda: [Recorder("CONFPLUGIN-A"), Recorder("CONFPLUGIN-B")],
    "10-6": lambda: [Recorder()],
    "10-7": lambda: [Recorder()],
}


# callbacks read into declared types (result_type=) rather than through a serdes.


@dataclasses.dataclass
class Received:
    id: str
    message: str
    timestamp: datetime.datetime


def callback_4_15(name: str):
    handle = yield dg.CreateCallback(name=name, result_type=Received)
    got = yield handle
    return {
        "received": {
            "id": got.id,
            "message": got.message,
            "timestamp": int(got.timestamp.timestamp()),
        }
    }


def callback_4_16(name: str):
    count = yield (yield dg.CreateCallback(name=name, result_type=int))
    return {"count": count, "doubled": count * 2}


class Decision(TypedDict):
    status: str


def wfcb_7_11(name: str):
    decision = yield dg.WaitForCallback(lambda callback_id: None, name=name, result_type=Decision)
    return decision["status"]


def callback_4_5(name: str):
    handle = yield dg.CreateCallback(name=name, heartbeat_timeout=10)
    return (yield handle)


HANDLERS.update(
    {"4-15": callback_4_15, "4-16": callback_4_16, "7-11": wfcb_7_11, "4-5": callback_4_5}
)


# steps: StepFailedError subclasses, bound methods, options given to Step over @step's.


class TransientError(dg.StepFailedError):
    """A failure that carries data (docs: error_data comes from StepFailedError subclasses)."""


class Flaky:
    """Fails the first ``failures`` attempts of the process (the counter survives replays)."""

    def __init__(self, failures: int) -> None:
        self.failures = failures

    def call(self) -> str:
        _tries["flaky"] = _tries.get("flaky", 0) + 1
        if _tries["flaky"] <= self.failures:
            raise TransientError("transient", error_data=json.dumps({"attempt": _tries["flaky"]}))
        return "recovered"


def step_1_15(_input: Any):
    return (
        yield dg.Step(
            Flaky(1).call,
            retry=dg.Retry(initial_delay=1, jitter="none", retry_on=(TransientError,)),
        )
    )


def step_1_16(_input: Any):
    return (
        yield dg.Step(
            Flaky(5).call,
            retry=dg.Retry(retry_if=lambda exc: not isinstance(exc, TransientError)),
        )
    )


@dg.step(retry=dg.Retry.never())
def _twice_failing() -> str:
    _tries["twice"] = _tries.get("twice", 0) + 1
    if _tries["twice"] <= 2:
        raise RuntimeError(f"attempt {_tries['twice']} failed")
    return "ok"


def step_1_14(_input: Any):
    # options given to Step win over the @step's (here: its retry policy)
    return (
        yield dg.Step(_twice_failing, retry=dg.Retry(initial_delay=2, backoff=3.0, jitter="none"))
    )


def step_1_13(_input: Any):
    return (yield dg.Step(_twice_failing.fn, name=None))


HANDLERS.update({"1-13": step_1_13, "1-14": step_1_14, "1-15": step_1_15, "1-16": step_1_16})


# Map serdes: a whole-batch serdes whose deserialize returns a plain list (what the yield gives).


class OpSerde:
    def serialize(self, batch: dg.BatchResult[str]) -> str:
        return "OPSERDE:" + ",".join(batch.results())

    def deserialize(self, text: str) -> list[str]:
        return text.removeprefix("OPSERDE:").split(",")


def _upper(item: str) -> dg.Workflow[str]:
    return item.upper()
    yield


def map_9_19(_input: Any):
    return (yield dg.Map(_upper, ["x", "y"], max_concurrency=1, serdes=OpSerde()))


def map_9_20(_input: Any):
    results = yield dg.Map(_upper, ["x", "y"], max_concurrency=1, serdes=OpSerde())
    yield dg.Wait(1)
    return results


class Wrapped:
    def serialize(self, value: str) -> str:
        return "wrapped:" + value

    def deserialize(self, text: str) -> str:
        return text.removeprefix("wrapped:")


def map_9_14(_input: Any):
    batch = yield dg.Map(_upper, ["x", "y"], max_concurrency=1, item_serdes=Wrapped())
    return batch.get_results()


HANDLERS.update({"9-14": map_9_14, "9-19": map_9_19, "9-20": map_9_20})


# child contexts whose body is a plain function (called as the child's whole body).

_child_log = dg.get_logger("outsider13b.child", log_during_replay=True)


def _explode() -> None:
    raise ValueError("thrown directly in the child body")


def child_3_15(_input: Any):
    yield dg.Child(_explode, name="explode")


def _nothing() -> None:
    return None


def child_3_16(_input: Any):
    return (yield dg.Child(_nothing, name="nothing"))


def _log_and_return(value: str) -> str:
    _child_log.info(f"child saw {value}")
    return value


def child_3_17(value: str):
    result = yield dg.Child(_log_and_return, (value,), name="logger-only")
    yield dg.Wait(1)
    return result


HANDLERS.update({"3-15": child_3_15, "3-16": child_3_16, "3-17": child_3_17})


class OwnArn(Recorder):
    """Stamps each record with the ARN of the info its hook was given, not a captured one."""

    def on_operation_start(self, op: dg.OperationInfo) -> None:
        self.arn = op.execution_arn
        super().on_operation_start(op)

    def on_operation_end(self, op: dg.OperationInfo, status: str) -> None:
        self.arn = op.execution_arn
        super().on_operation_end(op, status)

    def on_attempt_start(self, attempt: dg.AttemptInfo) -> None:
        self.arn = attempt.execution_arn
        super().on_attempt_start(attempt)

    def on_attempt_end(self, attempt: dg.AttemptInfo, outcome: str, error: Any) -> None:
        self.arn = attempt.execution_arn
        super().on_attempt_end(attempt, outcome, error)

    def on_invocation_end(self, info: dg.InvocationInfo, status: str) -> None:
        self.arn = info.execution_arn
        super().on_invocation_end(info, status)


#: The plugin requirements again, with ``OwnArn``: requirement key -> plugins.
OWN_ARN_PLUGINS: dict[str, Callable[[], list[dg.Plugin]]] = {
    "10-1": lambda: [OwnArn()],
    "10-2": lambda: [OwnArn()],
    "10-3": lambda: [OwnArn()],
    "10-6": lambda: [OwnArn()],
    "10-7": lambda: [OwnArn()],
}
