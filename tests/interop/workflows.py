"""The interop corpus in durable_gen: one workflow per case AWS's SDK recorded.

Each ``Case`` pairs a workflow with the input and the callback answers its recording used;
``aws_corpus.py`` holds the AWS SDK handler of the same key, ``record.py`` records it on AWS's
emulator into ``fixtures/``, and ``test_replay_aws.py`` replays every fixture against the
workflow here. A workflow is written as a user porting the AWS handler would write it: the
same operations in the same order, with the same explicit names.
"""

from __future__ import annotations

import dataclasses
import functools
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import msgspec

import durable_gen as dg

#: No retry: one attempt.
ONCE = dg.Retry(max_attempts=1)


def _retry(attempts: int) -> dg.Retry:
    return dg.Retry(max_attempts=attempts, initial_delay=1, backoff=2.0, jitter="none")


@dataclass(frozen=True)
class CallbackAnswer:
    """How the recorder answers the next callback: ``succeed`` with a payload, ``fail`` with
    an error, or ``none`` (let it time out)."""

    action: str
    payload: str | None = None
    error: dict[str, str] | None = None


@dataclass(frozen=True)
class Case:
    workflow: Callable[..., Any]
    input: Any = None
    callbacks: tuple[CallbackAnswer, ...] = ()
    #: Why the durable_gen result differs from AWS's by design (listed in docs/migration.md);
    #: ``result`` is then what the durable_gen workflow returns instead.
    differs: str | None = None
    result: Any = None


# --- steps ----------------------------------------------------------------------------------


def step_shapes(_event: Any):
    shapes = {
        "dict": lambda: {"user": "ada", "count": 2},
        "list": lambda: [1, "two", 3.5],
        "nested": lambda: {"a": [{"b": None, "c": [True, False]}], "d": {"e": {"f": 1}}},
        "str": lambda: "hello",
        "int": lambda: 42,
        "float": lambda: 2.5,
        "bool": lambda: True,
        "none": lambda: None,
        "empty_dict": lambda: {},
        "empty_list": lambda: [],
    }
    out = {}
    for name, fn in shapes.items():
        out[name] = yield dg.Step(fn, name=name)
    return out


@dg.step
def add(a: int, b: int) -> int:
    return a + b


def step_default_name(event: Any):
    return (yield add(event["a"], event["b"]))


def step_unnamed_lambda(_event: Any):
    return (yield dg.Step(lambda: "anonymous"))


def _fail(message: str = "the step always fails") -> None:
    raise ValueError(message)


def step_retry_then_succeed(_event: Any):
    return (yield dg.Step(lambda: "ok after 3", name="flaky", retry=_retry(3)))


def step_retry_exhausted(_event: Any):
    return (yield dg.Step(_fail, name="doomed", retry=_retry(3)))


def step_retry_exhausted_caught(_event: Any):
    try:
        yield dg.Step(_fail, name="doomed", retry=_retry(2))
    except dg.StepFailedError as exc:
        return {"caught": exc.error_type, "message": exc.error_message}
    return "unreachable"


def step_fails_once(_event: Any):
    first = yield dg.Step(lambda: "before", name="before")
    yield dg.Step(_fail, name="doomed", retry=ONCE)
    return first


def body_raises(_event: Any):
    yield dg.Step(lambda: 1, name="one")
    raise KeyError("missing-key")


# --- waits ----------------------------------------------------------------------------------


def waits(_event: Any):
    yield dg.Wait(seconds=2, name="pause")
    yield dg.Wait(seconds=1)
    return (yield dg.Step(lambda: "after waits", name="after"))


# --- callbacks ------------------------------------------------------------------------------


def callback_success(_event: Any):
    handle = yield dg.CreateCallback(name="approval", timeout=60)
    yield dg.Step(lambda: "sent", name="notify")
    return {"answer": (yield handle)}


def callback_failure(_event: Any):
    handle = yield dg.CreateCallback(name="approval")
    return (yield handle)


def callback_failure_caught(_event: Any):
    handle = yield dg.CreateCallback(name="approval")
    try:
        return (yield handle)
    except dg.CallbackError as exc:
        return {"failed": exc.error_message}


def callback_timeout_caught(_event: Any):
    handle = yield dg.CreateCallback(name="approval", timeout=1)
    try:
        return (yield handle)
    except dg.CallbackTimeoutError:
        return "timed out"


def callback_unnamed(_event: Any):
    handle = yield dg.CreateCallback()
    return (yield handle)


def _submit(_callback_id: str) -> None:
    return None


def _submit_fails(_callback_id: str) -> None:
    raise ConnectionError("could not hand the callback over")


def submit_ticket(_callback_id: str, queue: str) -> None:
    return None


def wait_for_callback_decorated(_event: Any):
    submit = functools.partial(submit_ticket, queue="support")
    return (yield dg.WaitForCallback(submit, name="submit_ticket"))


def wait_for_callback_success(_event: Any):
    return (yield dg.WaitForCallback(_submit, name="approval"))


def wait_for_callback_unnamed(_event: Any):
    return (yield dg.WaitForCallback(_submit))


def wait_for_callback_timeout_caught(_event: Any):
    try:
        return (yield dg.WaitForCallback(_submit, name="approval", timeout=1))
    except dg.CallbackTimeoutError:
        return "timed out"


def wait_for_callback_failure(_event: Any):
    return (yield dg.WaitForCallback(_submit, name="approval"))


def wait_for_callback_submitter_fails(_event: Any):
    try:
        return (yield dg.WaitForCallback(_submit_fails, name="approval", retry=ONCE))
    except dg.CallbackError as exc:
        return {"submitter failed": exc.error_message}


# --- wait for condition -----------------------------------------------------------------------


def _until_three(state: int, _attempt: int) -> dg.WaitDecision:
    return dg.WaitDecision.done() if state >= 3 else dg.WaitDecision.again(1)


def _inc(state: int) -> int:
    return state + 1


def wait_for_condition_named(_event: Any):
    return (yield dg.WaitForCondition(_inc, 0, wait_strategy=_until_three, name="poll"))


def wait_for_condition_unnamed(_event: Any):
    return (yield dg.WaitForCondition(_inc, 0, wait_strategy=_until_three))


def _grow(state: dict[str, Any]) -> dict[str, Any]:
    return {"count": state["count"] + 1, "seen": [*state["seen"], state["count"]]}


def _until_dict_done(state: dict[str, Any], _attempt: int) -> dg.WaitDecision:
    return dg.WaitDecision.done() if state["count"] >= 2 else dg.WaitDecision.again(1)


def wait_for_condition_dict_state(_event: Any):
    initial = {"count": 0, "seen": []}
    return (yield dg.WaitForCondition(_grow, initial, wait_strategy=_until_dict_done, name="grow"))


# --- invokes --------------------------------------------------------------------------------

CALLEE = "interop-callee"


def invoke_success(_event: Any):
    return (yield dg.Invoke(CALLEE, {"x": 21}, name="double"))


def invoke_failure_caught(_event: Any):
    try:
        return (yield dg.Invoke(CALLEE, {"x": 1, "fail": True}, name="double"))
    except dg.InvokeFailedError as exc:
        return {"invoke failed": exc.error_type}


# --- child contexts -------------------------------------------------------------------------


def _child_body():
    a = yield dg.Step(lambda: 1, name="a")
    yield dg.Wait(seconds=1, name="inner-wait")
    b = yield dg.Step(lambda: {"b": 2}, name="b")
    return {"a": a, **b}


def child_context(_event: Any):
    return (yield dg.Child(_child_body, name="child"))


@dg.workflow  # AWS's @durable_with_child_context: the child is named after it
def decorated_child(x: int):
    return (yield dg.Step(lambda: x * 3, name="triple"))


def child_context_default_name(_event: Any):
    return (yield dg.Child(decorated_child, (5,)))


def _child_fails():
    yield dg.Step(lambda: "fine", name="fine")
    raise ValueError("the child gave up")


def child_context_failure_caught(_event: Any):
    try:
        return (yield dg.Child(_child_fails, name="child"))
    except dg.ChildFailedError as exc:
        return {"child failed": exc.error_message}


def _child_step_fails():
    return (yield dg.Step(_fail, name="doomed", retry=ONCE))


def child_context_step_failure(_event: Any):
    return (yield dg.Child(_child_step_fails, name="child"))


# --- map and parallel -----------------------------------------------------------------------


def _item_step(item: Any, _index: int):
    return (yield dg.Step(lambda: item * 10, name="times-ten"))


def _item_fails_on_odd(item: int, _index: int):
    if item % 2:
        raise ValueError(f"odd item {item}")
    return (yield dg.Step(lambda: {"item": item}, name="keep"))


def _upper(item: str, _index: int):
    return item.upper()
    yield  # a generator: the item is a context without operations, as on AWS


def _project(batch: dg.BatchResult) -> dict[str, Any]:
    return {
        "results": batch.results() if not batch.has_failure else None,
        "succeeded": batch.success_count,
        "failed": batch.failure_count,
        "reason": batch.completion_reason,
    }


def map_basic(_event: Any):
    return _project((yield dg.Map(_item_step, [1, 2, 3], name="tens")))


def map_unnamed(_event: Any):
    return _project((yield dg.Map(_item_step, [4, 5])))


def map_item_namer(_event: Any):
    batch = yield dg.Map(_upper, ["a", "b"], name="up", item_namer=lambda item, i: f"item-{item}")
    return _project(batch)


def map_tolerated_failures(_event: Any):
    completion = dg.Completion(tolerated_failure_count=1)
    batch = yield dg.Map(
        _item_fails_on_odd, [2, 3, 4], name="evens", max_concurrency=1, completion=completion
    )
    return _project(batch)


def map_first_failure(_event: Any):
    completion = dg.Completion(tolerated_failure_count=0)
    batch = yield dg.Map(
        _item_fails_on_odd, [2, 3, 4, 6], name="evens", max_concurrency=1, completion=completion
    )
    return _project(batch)


def map_min_successful(_event: Any):
    completion = dg.Completion(min_successful=2)
    batch = yield dg.Map(
        _item_step, [1, 2, 3, 4], name="two", max_concurrency=1, completion=completion
    )
    return _project(batch)


def map_failure_raised(_event: Any):
    completion = dg.Completion(tolerated_failure_count=0)
    batch = yield dg.Map(
        _item_fails_on_odd, [1, 2], name="evens", max_concurrency=1, completion=completion
    )
    batch.raise_if_failed()
    return "unreachable"


def _b_step():
    return (yield dg.Step(lambda: "step branch", name="work"))


def _b_wait():
    yield dg.Wait(seconds=1, name="nap")
    return [1, 2]


def _b_fail():
    raise RuntimeError("branch failed")
    yield


def parallel_basic(_event: Any):
    return _project((yield dg.Parallel([_b_step, _b_wait], name="both", max_concurrency=1)))


def parallel_tolerated_failure(_event: Any):
    completion = dg.Completion(tolerated_failure_count=1)
    batch = yield dg.Parallel(
        [_b_step, _b_fail, _b_wait], name="mixed", max_concurrency=1, completion=completion
    )
    return _project(batch)


def _first():
    return (yield dg.Step(lambda: "one", name="one"))


def _second():
    return "two"
    yield


def parallel_named_branches(_event: Any):
    branches = [dg.Branch(_first, name="first"), dg.Branch(_second, name="second")]
    return _project((yield dg.Parallel(branches, max_concurrency=1)))


def _nested_item(item: int, _index: int):
    def left():
        return (yield dg.Step(lambda: item + 1, name="left"))

    def right():
        return item * 2
        yield

    inner = yield dg.Parallel([left, right], name="inner", max_concurrency=1)
    return inner.get_results()


def nested_batches(_event: Any):
    return _project((yield dg.Map(_nested_item, [1, 2], name="outer", max_concurrency=1)))


def map_failure_percentage(_event: Any):
    completion = dg.Completion(tolerated_failure_percentage=50)
    batch = yield dg.Map(
        _item_fails_on_odd, [1, 2, 3, 4], name="half", max_concurrency=1, completion=completion
    )
    return _project(batch)


def parallel_min_successful(_event: Any):
    completion = dg.Completion(min_successful=1)
    batch = yield dg.Parallel(
        [_b_step, _b_wait, _b_step], name="first-wins", max_concurrency=1, completion=completion
    )
    return _project(batch)


def _item_in_child(item: int, _index: int):
    def body():
        return (yield dg.Step(lambda: item + 100, name="inner"))

    return (yield dg.Child(body, name=f"child-{item}"))


def child_in_map(_event: Any):
    return _project((yield dg.Map(_item_in_child, [1, 2], name="items", max_concurrency=1)))


def _wrapper():
    return (yield dg.WaitForCallback(_submit, name="approval"))


def wait_for_callback_in_child(_event: Any):
    return (yield dg.Child(_wrapper, name="wrapper"))


def _invoke_branch(x: int) -> Callable[[], Any]:
    def branch():
        return (yield dg.Invoke(CALLEE, {"x": x}, name=f"double-{x}"))

    return branch


def invoke_in_parallel(_event: Any):
    branches = [_invoke_branch(1), _invoke_branch(2)]
    return _project((yield dg.Parallel(branches, name="invokes", max_concurrency=1)))


def step_at_most_once(_event: Any):
    return (yield dg.Step(lambda: "charged", name="charge", semantics=dg.AT_MOST_ONCE))


def callback_heartbeat_timeout_caught(_event: Any):
    handle = yield dg.CreateCallback(name="approval", timeout=60, heartbeat_timeout=1)
    try:
        return (yield handle)
    except dg.CallbackTimeoutError as exc:
        return {"timed out": exc.error_type}


def _never_done(_state: int, attempt: int) -> dg.WaitDecision:
    if attempt >= 2:
        raise dg.WaitConditionNotMetError("gave up after 2 checks")
    return dg.WaitDecision.again(1)


def wait_for_condition_exhausted(_event: Any):
    try:
        return (yield dg.WaitForCondition(_inc, 0, wait_strategy=_never_done, name="poll"))
    except dg.StepFailedError as exc:
        return {"gave up": exc.error_message}


# --- values of extended types, typed ports, errors with data ---------------------------------

#: What the value cases return, as AWS's SDK gives them to its code (shared by both sides).
AT = datetime(2025, 3, 4, 5, 6, 7, 890123, tzinfo=timezone(timedelta(hours=5, minutes=30)))
UID = uuid.UUID("12345678-1234-5678-1234-567812345678")


def receipt_value() -> dict[str, Any]:
    return {
        "at": AT,
        "day": date(2024, 2, 29),
        "amount": Decimal("10.10"),
        "id": UID,
        "raw": b"\x00\xff",
        "pair": (1, "a"),
        "note": None,
        "nested": {"k": [(1, Decimal("0.50"))], "naive": datetime(2024, 1, 1, 12, 0)},
    }


def item_value(item: int) -> dict[str, Any]:
    return {"i": item, "at": datetime(2025, 1, item, tzinfo=UTC), "amount": Decimal("1.50") * item}


def describe(value: Any) -> Any:
    """A JSON picture of ``value`` that keeps every type, offset and digit (both sides use it)."""
    if isinstance(value, dict):
        return {str(k): describe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [type(value).__name__, [describe(v) for v in value]]
    if isinstance(value, datetime):
        return ["datetime", value.isoformat()]
    if isinstance(value, (date, Decimal, uuid.UUID)):
        return [type(value).__name__, str(value)]
    if isinstance(value, bytes):
        return ["bytes", value.hex()]
    return value


def extended_values(_event: Any):
    out = {}
    for name, value in receipt_value().items():
        out[name] = yield dg.Step(functools.partial(_same, value), name=name)
    yield dg.Wait(seconds=1, name="pause")
    return describe(out)


def _same(value: Any) -> Any:
    return value


@dataclass
class Nested:
    k: list[tuple[int, Decimal]]
    naive: datetime


@dataclass
class Receipt:
    at: datetime
    day: date
    amount: Decimal
    id: uuid.UUID
    raw: bytes
    pair: tuple[int, str]
    note: str | None
    nested: Nested


@dataclass
class Item:
    i: int
    at: datetime
    amount: Decimal


@dataclass
class ChildOut:
    p: tuple[int, str]
    d: Decimal


@dataclass
class Poll:
    n: int
    seen: tuple[int, ...]


def _receipt() -> Receipt:
    return msgspec.convert(receipt_value(), Receipt)


def _work(item: int) -> Item:
    return Item(**item_value(item))


def _typed_item(item: int, index: int) -> dg.Workflow[Item]:
    return (yield from dg.Step(_work, (item,), name="work", retry=ONCE))


def _pair() -> tuple[int, str]:
    return (7, "z")


def _typed_child() -> dg.Workflow[ChildOut]:
    p = yield from dg.Step(_pair, name="pair")
    return ChildOut(p=p, d=Decimal("0.1"))


def _count(state: Poll) -> Poll:
    return Poll(n=state.n + 1, seen=(*state.seen, state.n))


def _two_polls(state: Poll, attempt: int) -> dg.WaitDecision:
    return dg.WaitDecision.done() if state.n >= 2 else dg.WaitDecision.again(1)


def typed_values(_event: Any) -> dg.Workflow[Any]:
    """A typed port of an AWS handler whose steps return dicts: dataclasses on this side."""
    receipt = yield from dg.Step(_receipt, name="receipt", retry=ONCE)
    items = yield from dg.Map(_typed_item, [1, 2, 3], name="items", max_concurrency=1)
    child = yield from dg.Child(_typed_child, name="child")
    state = yield from dg.WaitForCondition(
        _count, Poll(0, ()), wait_strategy=_two_polls, name="poll"
    )
    yield from dg.Wait(seconds=1, name="pause")
    assert type(receipt) is Receipt and type(receipt.nested) is Nested
    assert all(type(item) is Item for item in items.results())
    assert type(child) is ChildOut and type(state) is Poll
    return describe(
        {
            "receipt": dataclasses.asdict(receipt),
            "items": [dataclasses.asdict(item) for item in items.results()],
            "child": dataclasses.asdict(child),
            "state": dataclasses.asdict(state),
        }
    )


def big_item(item: int) -> dict[str, Any]:
    """About 100 KiB: three of them make a batch result over the 256 KiB context limit."""
    return {
        "i": item,
        "at": datetime(2025, 1, item, tzinfo=UTC),
        "blob": "é" * 50_000,
    }  # 100 KB of UTF-8


@dataclass
class BigItem:
    i: int
    at: datetime
    blob: str


def _big(item: int) -> BigItem:
    return BigItem(**big_item(item))


def _big_item(item: int, index: int) -> dg.Workflow[BigItem]:
    return (yield from dg.Step(_big, (item,), name="work", retry=ONCE))


def _big_child() -> dg.Workflow[list[BigItem]]:
    out = []
    for item in (1, 2, 3):
        out.append((yield from dg.Step(_big, (item,), name=f"part-{item}", retry=ONCE)))
    return out


def large_results(_event: Any) -> dg.Workflow[Any]:
    """A Map and a child context whose results AWS's SDK records with ReplayChildren and a
    summary: the typed port rebuilds both from their children. Not a recorded case (its
    history is megabytes): test_typed_handover.py runs it live on AWS's emulator."""
    batch = yield from dg.Map(_big_item, [1, 2, 3], name="items", max_concurrency=1)
    parts = yield from dg.Child(_big_child, name="parts")
    yield from dg.Wait(seconds=1, name="pause")
    assert all(type(item) is BigItem for item in [*batch.results(), *parts])
    return describe(
        {
            "batch": [[i.i, i.at, len(i.blob)] for i in batch.results()],
            "count": batch.total_count,
            "parts": [[p.i, p.at, len(p.blob)] for p in parts],
        }
    )


class Declined(Exception):
    """A step's own exception, recorded under its module-qualified class name."""


def _decline() -> None:
    raise Declined("card declined")


def _fail_with_data() -> None:
    raise dg.StepFailedError("over the limit", error_data='{"limit": 500}')


def step_errors_cross(_event: Any):
    out = []
    for fn, name in ((_decline, "charge"), (_fail_with_data, "reserve")):
        try:
            yield dg.Step(fn, name=name, retry=ONCE)
        except dg.StepFailedError as exc:
            out.append([exc.error_type.rsplit(".", 1)[-1], exc.error_message, exc.error_data])
    return out


def callee(event: Any):
    """The function the invoke cases call (recorded by AWS's SDK too, not replayed here)."""
    if event.get("fail"):
        raise RuntimeError("the callee failed")
    return {"doubled": event["x"] * 2}
    yield


_SUCCEED = CallbackAnswer("succeed", payload='{"approved": true, "by": "ops"}')
_FAIL = CallbackAnswer("fail", error={"ErrorType": "Rejected", "ErrorMessage": "not today"})
_NONE = CallbackAnswer("none")
_RAW_CALLBACK = (
    "AWS's SDK hands a callback result to the workflow as the raw string it received (its "
    "pass-through serdes); durable_gen decodes the JSON"
)

CASES: dict[str, Case] = {
    "step_shapes": Case(step_shapes, {}),
    "step_default_name": Case(step_default_name, {"a": 2, "b": 3}),
    "step_unnamed_lambda": Case(step_unnamed_lambda, {}),
    "step_retry_then_succeed": Case(step_retry_then_succeed, {"label": "flaky"}),
    "step_retry_exhausted": Case(step_retry_exhausted, {}),
    "step_retry_exhausted_caught": Case(step_retry_exhausted_caught, {}),
    "step_fails_once": Case(step_fails_once, {}),
    "body_raises": Case(body_raises, {}),
    "waits": Case(waits, {}),
    "callback_success": Case(
        callback_success,
        {},
        (_SUCCEED,),
        differs=_RAW_CALLBACK,
        result={"answer": {"approved": True, "by": "ops"}},
    ),
    "callback_failure": Case(callback_failure, {}, (_FAIL,)),
    "callback_failure_caught": Case(callback_failure_caught, {}, (_FAIL,)),
    "callback_timeout_caught": Case(callback_timeout_caught, {}, (_NONE,)),
    "callback_unnamed": Case(
        callback_unnamed,
        {},
        (_SUCCEED,),
        differs=_RAW_CALLBACK,
        result={"approved": True, "by": "ops"},
    ),
    "wait_for_callback_success": Case(wait_for_callback_success, {}, (_SUCCEED,)),
    "wait_for_callback_unnamed": Case(wait_for_callback_unnamed, {}, (_SUCCEED,)),
    "wait_for_callback_timeout_caught": Case(wait_for_callback_timeout_caught, {}, (_NONE,)),
    "wait_for_callback_failure": Case(wait_for_callback_failure, {}, (_FAIL,)),
    "wait_for_callback_submitter_fails": Case(wait_for_callback_submitter_fails, {}, (_NONE,)),
    "wait_for_condition_named": Case(wait_for_condition_named, {}),
    "wait_for_condition_unnamed": Case(wait_for_condition_unnamed, {}),
    "wait_for_condition_dict_state": Case(wait_for_condition_dict_state, {}),
    "invoke_success": Case(invoke_success, {}),
    "invoke_failure_caught": Case(invoke_failure_caught, {}),
    "child_context": Case(child_context, {}),
    "child_context_default_name": Case(child_context_default_name, {}),
    "child_context_failure_caught": Case(child_context_failure_caught, {}),
    "child_context_step_failure": Case(child_context_step_failure, {}),
    "map_basic": Case(map_basic, {}),
    "map_unnamed": Case(map_unnamed, {}),
    "map_item_namer": Case(map_item_namer, {}),
    "map_tolerated_failures": Case(map_tolerated_failures, {}),
    "map_first_failure": Case(map_first_failure, {}),
    "map_min_successful": Case(map_min_successful, {}),
    "map_failure_raised": Case(map_failure_raised, {}),
    "parallel_basic": Case(parallel_basic, {}),
    "parallel_tolerated_failure": Case(parallel_tolerated_failure, {}),
    "parallel_named_branches": Case(parallel_named_branches, {}),
    "nested_batches": Case(nested_batches, {}),
    "map_failure_percentage": Case(map_failure_percentage, {}),
    "parallel_min_successful": Case(parallel_min_successful, {}),
    "child_in_map": Case(child_in_map, {}),
    "wait_for_callback_in_child": Case(wait_for_callback_in_child, {}, (_SUCCEED,)),
    "invoke_in_parallel": Case(invoke_in_parallel, {}),
    "step_at_most_once": Case(step_at_most_once, {}),
    "callback_heartbeat_timeout_caught": Case(
        callback_heartbeat_timeout_caught,
        {},
        (_NONE,),
        differs=(
            "a callback exception's error_type is the type recorded on the callback "
            "(Callback.Heartbeat) in durable_gen, the exception's class path in AWS's SDK"
        ),
        result={"timed out": "Callback.Heartbeat"},
    ),
    "wait_for_condition_exhausted": Case(wait_for_condition_exhausted, {}),
    "wait_for_callback_decorated": Case(wait_for_callback_decorated, {}, (_SUCCEED,)),
    "extended_values": Case(extended_values, {}),
    "typed_values": Case(typed_values, {}),
    "step_errors_cross": Case(step_errors_cross, {}),
}
