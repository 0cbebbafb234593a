"""Workflow shapes that the round-10 host runtimes drive and compare with the embedded engine.

Each shape takes ``{"key": <unique per run>, ...}``: side-effect counters are keyed by it, so
several runs of one shape (the engine's, each host's, running side by side) count apart.
Times are whole seconds and short, so a host on a real clock runs them in a few seconds.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

import durable_gen as dg
from durable_gen import runtime as rt

_lock = threading.Lock()
_counts: dict[tuple[str, str], int] = {}


def count(key: str, what: str) -> int:
    """How many times ``what`` ran for the run ``key``, this call included."""
    with _lock:
        _counts[key, what] = _counts.get((key, what), 0) + 1
        return _counts[key, what]


def counted(key: str, what: str) -> int:
    with _lock:
        return _counts.get((key, what), 0)


class Declined(Exception):
    """A step's own exception type."""


# -- steps ---------------------------------------------------------------------------------


@dg.step
def add(key: str, a: int, b: int) -> int:
    count(key, "add")
    return a + b


@dg.step(retry=dg.Retry(max_attempts=3, initial_delay=1, backoff=1, jitter="none"))
def flaky(key: str, fails: int) -> str:
    n = count(key, "flaky")
    if n <= fails:
        raise ConnectionError(f"attempt {n} refused")
    return f"ok after {n}"


@dg.step(semantics=dg.AT_MOST_ONCE, retry=dg.Retry.never())
def charge_once(key: str, cents: int) -> dict[str, Any]:
    count(key, "charge")
    return {"charged": cents}


@dg.step
async def async_triple(key: str, x: int) -> int:
    count(key, "async")
    return x * 3


@dg.step(timeout=1, retry=dg.Retry(max_attempts=2, initial_delay=1, jitter="none"))
def slow_then_fast(key: str) -> str:
    if count(key, "slow") == 1:
        time.sleep(1.6)  # past its timeout: abandoned, its return dropped
        return "late"
    return "fast"


@dg.step(retry=dg.Retry.never())
def refuse(key: str, why: str) -> None:
    raise Declined(why)


def undo_reserve(result: str) -> str:
    return f"undone {result}"


@dg.step(compensate=undo_reserve)
def reserve(key: str, what: str) -> str:
    count(key, f"reserve {what}")
    return what


@dg.step(retry=dg.Retry.never())
def price(item: dict[str, Any], index: int) -> dict[str, Any]:
    if item.get("bad"):
        raise Declined(f"no price for {item['name']}")
    return {"name": item["name"], "index": index, "cents": 100 * len(item["name"])}


def waiting_item(item: int, index: int):  # type: ignore[no-untyped-def]
    yield dg.Wait(seconds=1, name=f"item-wait-{index}")
    doubled = yield dg.Step(lambda: item * 2, name="double")
    return doubled


# -- shapes --------------------------------------------------------------------------------


def s_chain(e):  # type: ignore[no-untyped-def]
    a = yield add(e["key"], 1, 2)
    b = yield add(e["key"], a, 10)
    return {"a": a, "b": b}


def s_retry_last(e):  # type: ignore[no-untyped-def]
    return (yield flaky(e["key"], 2))


def s_retry_exhausted_caught(e):  # type: ignore[no-untyped-def]
    try:
        yield flaky(e["key"], 5)
    except dg.StepFailedError as exc:
        return {"type": exc.error_type, "message": exc.error_message}
    return "unreachable"


def s_at_most_once(e):  # type: ignore[no-untyped-def]
    first = yield charge_once(e["key"], 250)
    second = yield charge_once(e["key"], 100)
    return [first, second]


def s_wait(e):  # type: ignore[no-untyped-def]
    yield dg.Wait(seconds=1, name="pause")
    return (yield add(e["key"], 2, 2))


def s_async(e):  # type: ignore[no-untyped-def]
    return (yield async_triple(e["key"], 14))


def s_map_rules(e):  # type: ignore[no-untyped-def]
    items = [{"name": "book"}, {"name": "bad", "bad": True}, {"name": "pen"}, {"name": "lamp"}]
    batch = yield dg.Map(
        price,
        items,
        name="prices",
        max_concurrency=2,
        completion=dg.Completion(tolerated_failure_count=1),
        item_namer=lambda item, index: f"price-{item['name']}",
    )
    return {
        "results": batch.results(),
        "errors": [err.error_type for err in batch.errors()],
        "reason": str(batch.completion_reason),
    }


def s_map_empty(e):  # type: ignore[no-untyped-def]
    batch = yield dg.Map(price, [], name="nothing")
    return {"results": batch.results(), "reason": str(batch.completion_reason)}


def s_map_one(e):  # type: ignore[no-untyped-def]
    batch = yield dg.Map(price, [{"name": "solo"}], name="one")
    return batch.results()


def s_map_waiting_items(e):  # type: ignore[no-untyped-def]
    batch = yield dg.Map(waiting_item, [1, 2, 3], name="waiters", max_concurrency=2)
    return batch.results()


def _b_wait():  # type: ignore[no-untyped-def]
    yield dg.Wait(seconds=1, name="slow-branch")
    return "slow"


def s_parallel_first_success(e):  # type: ignore[no-untyped-def]
    batch = yield dg.Parallel(
        [dg.Branch(_b_wait, name="slow"), dg.Branch(lambda: "fast", name="fast")],
        name="race",
        completion=dg.Completion(min_successful=1),
    )
    return {"results": batch.results(), "reason": str(batch.completion_reason)}


def s_parallel_failure_raises(e):  # type: ignore[no-untyped-def]
    key = e["key"]
    batch = yield dg.Parallel(
        [
            dg.Branch(lambda: "fine", name="fine"),
            dg.Branch(lambda: (yield refuse(key, "p")), name="no"),
        ],
        name="pair",
    )
    try:
        batch.raise_if_failed()
    except dg.BatchFailedError as exc:
        return {"caught": exc.error_type, "reason": str(batch.completion_reason)}
    return batch.results()


def _level(depth: int, key: str):  # type: ignore[no-untyped-def]
    if depth == 0:
        yield dg.Wait(seconds=1, name="bottom")
        return (yield add(key, depth, 100))
    inner = yield dg.Child(_level, (depth - 1, key), name=f"level-{depth - 1}")
    return [depth, inner]


def s_nested_children(e):  # type: ignore[no-untyped-def]
    return (yield dg.Child(_level, (3, e["key"]), name="level-3"))


def _virtual_body(key: str):  # type: ignore[no-untyped-def]
    x = yield add(key, 5, 5)
    return x * 2


def s_virtual_child(e):  # type: ignore[no-untyped-def]
    v = yield dg.Child(_virtual_body, (e["key"],), name="virt", virtual=True)
    w = yield add(e["key"], v, 1)
    return [v, w]


@dg.step
def poll(state: dict[str, int]) -> dict[str, int]:
    return {"checks": state["checks"] + 1}


def s_condition(e):  # type: ignore[no-untyped-def]
    state = yield dg.WaitForCondition(
        poll,
        initial_state={"checks": 0},
        wait_strategy=dg.WaitStrategy(until=lambda s: s["checks"] >= 3, delay=1, backoff=1),
        name="poll",
    )
    return state


def s_invoke(e):  # type: ignore[no-untyped-def]
    return (yield dg.Invoke("square", 12, name="sq"))


def s_invoke_fails(e):  # type: ignore[no-untyped-def]
    try:
        yield dg.Invoke("broken", {"x": 1}, name="broken")
    except dg.InvokeFailedError as exc:
        return {"type": exc.error_type}
    return "unreachable"


def s_saga(e):  # type: ignore[no-untyped-def]
    key = e["key"]
    try:
        yield reserve(key, "flight")
        yield reserve(key, "hotel")
        yield refuse(key, "card declined")
    except dg.StepFailedError:
        undone = yield dg.RunCompensations()
        return [[u.name, u.status, u.result] for u in undone]
    return "unreachable"


def s_patched(e):  # type: ignore[no-untyped-def]
    new = yield dg.Patched("use-new-adder")
    x = yield add(e["key"], 1, 1)
    return {"new": new, "x": x}


def s_helpers(e):  # type: ignore[no-untyped-def]
    now = yield dg.Now()
    uid = yield dg.UUID()
    rng = yield dg.Random()
    yield dg.Wait(seconds=1, name="between")
    uid2 = yield dg.UUID()
    return {"now_tz": str(now.tzinfo), "uuid_len": len(str(uid)), "differ": uid != uid2,
            "rand_ok": 0 <= rng.random() < 1}  # fmt: skip


def s_step_timeout(e):  # type: ignore[no-untyped-def]
    return (yield slow_then_fast(e["key"]))


def s_uncaught(e):  # type: ignore[no-untyped-def]
    yield add(e["key"], 0, 0)
    raise KeyError("missing thing")


def s_step_fails_uncaught(e):  # type: ignore[no-untyped-def]
    yield refuse(e["key"], "nope")
    return "unreachable"


def s_values(e):  # type: ignore[no-untyped-def]
    none = yield dg.Step(lambda: None, name="none")
    text = yield dg.Step(lambda: "żółć ✓ 🎉 \u2028", name="unicode")
    empty = yield dg.Step(lambda: {"l": [], "d": {}, "s": ""}, name="empties")
    return {"none": none, "text": text, "empty": empty}


def _big(n: int):  # type: ignore[no-untyped-def]
    chunks = []
    for i in range(n):
        chunks.append((yield dg.Step(lambda i=i: "x" * 100_000 + str(i), name=f"chunk-{i}")))
    return chunks


def s_big_child(e):  # type: ignore[no-untyped-def]
    chunks = yield dg.Child(_big, (3,), name="big")  # over 256 KiB: ReplayChildren
    yield dg.Wait(seconds=1, name="after-big")
    return [len(c) for c in chunks]


def s_parallel_of_maps(e):  # type: ignore[no-untyped-def]
    def branch(items: list[int]):  # type: ignore[no-untyped-def]
        batch = yield dg.Map(lambda x, i: x + i, items, name="inner")
        return sum(batch.results())

    batch = yield dg.Parallel(
        [dg.Branch(lambda: (yield from branch([1, 2])), name="b1"),
         dg.Branch(lambda: (yield from branch([10, 20, 30])), name="b2")],
        name="outer",
    )  # fmt: skip
    return batch.results()


def _submit(callback_id: str) -> None:
    assert callback_id


def s_callbacks(e):  # type: ignore[no-untyped-def]
    approval = yield dg.WaitForCallback(_submit, name="approve", timeout=30)
    handle = yield dg.CreateCallback(name="ship", timeout=30)
    shipped = yield handle
    return {"approval": approval, "shipped": shipped}


def s_callback_rejected(e):  # type: ignore[no-untyped-def]
    handle = yield dg.CreateCallback(name="reject", timeout=30)
    try:
        yield handle
    except dg.CallbackFailedError as exc:
        return {"type": exc.error_type, "message": exc.error_message}
    return "unreachable"


def s_callback_times_out(e):  # type: ignore[no-untyped-def]
    try:
        yield dg.WaitForCallback(_submit, name="never", timeout=1)
    except dg.CallbackTimeoutError as exc:
        return {"type": exc.error_type}
    return "unreachable"


def s_callback_heartbeats(e):  # type: ignore[no-untyped-def]
    handle = yield dg.CreateCallback(name="beating", timeout=30, heartbeat_timeout=1)
    return (yield handle)


SHAPES: dict[str, Callable[..., Any]] = {
    name.removeprefix("s_"): fn for name, fn in dict(globals()).items() if name.startswith("s_")
}

# The shapes that need the outside world (callbacks): the engine's `dg.run` cannot answer them,
# so their outcome is what the answers below make of them.
CALLBACK_SHAPES = {"callbacks", "callback_rejected", "callback_times_out", "callback_heartbeats"}


def answer_for(name: str | None) -> tuple[str, str | rt.ErrorObject] | None:
    """What the outside world answers a callback named ``name``: ("result", json),
    ("error", ErrorObject), ("heartbeat", json: heartbeats first, then this answer), or None
    (never answered)."""
    base = (name or "").removesuffix(" create callback id")
    if base in ("approve", "ship"):
        return "result", json.dumps({"ok": base})
    if base == "reject":
        return "error", rt.ErrorObject(error_type="Rejected", error_message="no stock")
    if base == "beating":
        return "heartbeat", json.dumps("still beating")
    return None


EXPECTED_CALLBACKS: dict[str, tuple[str, Any]] = {
    "callbacks": ("SUCCEEDED", {"approval": {"ok": "approve"}, "shipped": {"ok": "ship"}}),
    "callback_rejected": ("SUCCEEDED", {"type": "Rejected", "message": "no stock"}),
    "callback_times_out": ("SUCCEEDED", {"type": "Callback.Timeout"}),
    "callback_heartbeats": ("SUCCEEDED", "still beating"),
}


def invoked(function_name: str, payload: str | None) -> tuple[str, str | rt.ErrorObject]:
    """The plain functions an `Invoke` may name: ("result", json) or ("error", ErrorObject)."""
    value = json.loads(payload) if payload else None
    if function_name == "square":
        return "result", json.dumps(value * value)
    return "error", rt.ErrorObject(
        error_type="RuntimeError", error_message=f"{function_name} broke"
    )


def _square(value: int) -> int:
    return value * value


def _broken(value: Any) -> Any:
    raise RuntimeError("broken")


def engine_outcome(shape: str, key: str) -> tuple[str, Any]:
    """What `dg.run` gives: ("SUCCEEDED", result) or ("FAILED", error type)."""
    if shape in EXPECTED_CALLBACKS:
        return EXPECTED_CALLBACKS[shape]
    try:
        result = dg.run(
            SHAPES[shape], {"key": key}, skip_time=True,
            functions={"square": _square, "broken": _broken},
        )  # fmt: skip
    except dg.ExecutionFailedError as exc:
        return "FAILED", exc.error_type
    return "SUCCEEDED", json.loads(json.dumps(result))
