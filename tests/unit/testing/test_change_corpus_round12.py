"""A twelfth corpus of code changes made between deployments, judged by every route of
``test_change_corpus_round8.py`` (the engine in memory and on SQLite, a new process on the
SQLite file, the Lambda handler, the interpreter, ``replay`` of the export and of its events,
the pytest plugin's ``durable_replayer``, ``durable-gen history --json`` replayed by
``replay_folder``, the test runner in each checkpointing mode and in AWS's payload format).
Each must give the verdict docs/versioning.md gives and, when it accepts, the same result; a
change caught as non-determinism must be reported with one message by every route.

Its emphasis: a `Wait` swapped for a `WaitForCondition` and back; retry policies and step
bodies changed while a retry is pending (the new body runs the next attempt); code after a
caught failure; changes in branches an execution never took; Map item counts that come from a
recorded result; completion policies set while items wait; callbacks awaited in another order,
made `WaitForCallback` or back; `serdes=` of contexts and batches once they completed; contexts
wrapped or unwrapped (nesting depth); functions replaced behind a kept name; Parallel branches
swapped by kind; steps appended to branches that ended; `Patched` and `Deprecated` misused or
used to guard each kind of unsafe change; `Now`, `UUID` and `Random` added; steps of one name
given other arguments or counts, against steps of other names moved; finished items of a batch
an execution waits in that the new code cannot read.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

import pytest

import durable_gen as dg
from durable_gen.testing.pytest_plugin import Replayer
from tests.unit.testing.test_change_corpus_options import (
    FAILED,
    OK,
    Change,
    Gen,
    Lenient,
    N,
    Tagged,
    gate,
)
from tests.unit.testing.test_change_corpus_round8 import _named, judge
from tests.unit.testing.test_change_corpus_round10 import _messages

# --- steps ----------------------------------------------------------------------------------------


@dg.step
def fetch(x: int) -> int:
    return x + 1


@dg.step(name="fetch")
def fetch_other(x: int) -> int:
    return x + 100


@dg.step
def load(x: int) -> int:
    return x + 2


@dg.step
def rare(x: int) -> int:
    return x * 1000


@dg.step
def rare_other(x: int) -> int:
    return x * 2000


def _failing(**options: Any) -> Any:
    @dg.step(name="flaky", **options)
    def flaky(x: int) -> int:
        raise PermissionError(f"no access to {x}")

    return flaky


RETRY = dg.Retry(max_attempts=3, initial_delay=5, jitter="none")
flaky = _failing(retry=RETRY)
flaky_two = _failing(retry=dg.Retry(max_attempts=2, initial_delay=5, jitter="none"))
flaky_jitter = _failing(retry=dg.Retry(max_attempts=3, initial_delay=5, jitter="full"))
flaky_backoff = _failing(
    retry=dg.Retry(max_attempts=3, initial_delay=5, backoff=3.0, max_delay=60, jitter="none")
)
flaky_refusing = _failing(
    retry=dg.Retry(max_attempts=3, initial_delay=5, jitter="none", retry_if=lambda e: False)
)
flaky_on_all = _failing(
    retry=dg.Retry(max_attempts=3, initial_delay=5, jitter="none", retry_on=(Exception,))
)
flaky_at_most_once = _failing(retry=RETRY, semantics=dg.AT_MOST_ONCE)
flaky_timed = _failing(retry=RETRY, timeout=30)


@dg.step(name="flaky", retry=RETRY)
def flaky_fixed(x: int) -> int:
    return x + 7


@dg.step(name="flaky", retry=RETRY)
async def flaky_fixed_async(x: int) -> int:
    return x + 7


@dg.step(name="flaky_renamed", retry=RETRY)
def flaky_renamed(x: int) -> int:
    raise PermissionError(f"no access to {x}")


flaky_never = _failing(retry=dg.Retry.never())


# --- A. waits and conditions swapped --------------------------------------------------------------


def _count_up(state: int) -> int:
    return state + 1


def _at_two(state: int) -> bool:
    return state >= 2


def _pause(kind: str, *, waiting: bool = False, guard: bool = False) -> Any:
    """A pause (a ``Wait`` or a ``WaitForCondition``, both named ``pause``), then the gate;
    ``waiting``: the execution waits in the pause (a long one) rather than at the gate."""
    seconds = 10_000 if waiting else 10

    def pause(k: str) -> Gen:
        if k == "wait":
            yield dg.Wait(seconds=seconds, name="pause")
            return 0
        if k == "condition":
            strategy = dg.WaitStrategy(until=_at_two, delay=seconds, max_delay=seconds)
            return (yield dg.WaitForCondition(_count_up, 0, strategy, name="pause"))
        if k == "uuid-wait":
            yield dg.UUID()
            yield dg.Wait(seconds=seconds, name="pause")
            return 0
        raise AssertionError(k)

    def workflow(x: int) -> Gen:
        if guard:
            if (yield dg.Patched("pause-as-condition")):
                r = yield from pause(kind)
            else:
                r = yield from pause("wait")
        else:
            r = yield from pause(kind)
        answer = yield from gate()
        return [r, answer["by"]]

    return _named(workflow, f"pause[{kind},{waiting},{guard}]")


WAITS = [
    Change("a passed Wait made a WaitForCondition of its name", _pause("wait"),
           _pause("condition"), N, N),
    Change("a Wait waited on made a WaitForCondition of its name", _pause("wait", waiting=True),
           _pause("condition", waiting=True), N, None),
    Change("a passed WaitForCondition made a Wait of its name", _pause("condition"),
           _pause("wait"), N, N),
    Change("a WaitForCondition polling made a Wait of its name",
           _pause("condition", waiting=True), _pause("wait", waiting=True), N, None),
    Change("a Wait waited on given a UUID before it", _pause("wait", waiting=True),
           _pause("uuid-wait", waiting=True), OK, None, result=[0, 1]),
    Change("a passed Wait made a WaitForCondition behind Patched", _pause("wait"),
           _pause("condition", guard=True), OK, OK, result=[0, 1]),
]  # fmt: skip


# --- B. a retry pending: its policy and its body changed ------------------------------------------


def _retrying(step: Any, where: str = "root") -> Any:
    """``step`` (which fails, retried) caught; then the gate. The execution first suspends
    while the step waits out its first retry delay."""

    def body(x: int) -> Gen:
        try:
            return (yield step(x))
        except dg.StepFailedError as e:
            return e.error_type

    def workflow(x: int) -> Gen:
        if where == "map":
            r = (yield dg.Map(body, [x, x + 1], name="m")).results()
        elif where == "parallel":
            p = yield dg.Parallel([dg.Branch(functools.partial(body, x), name="b")], name="p")
            r = p.results()
        else:
            r = yield from body(x)
        answer = yield from gate()
        return [r, answer["by"]]

    return _named(workflow, f"retrying[{id(step)},{where}]")


RETRIES = [
    Change("retry pending: max_attempts 3 to 2", _retrying(flaky), _retrying(flaky_two),
           OK, OK, result=["PermissionError", 1]),
    Change("retry pending: jitter made full", _retrying(flaky), _retrying(flaky_jitter),
           OK, OK, result=["PermissionError", 1]),
    Change("retry pending: backoff 2 to 3", _retrying(flaky), _retrying(flaky_backoff),
           OK, OK, result=["PermissionError", 1]),
    Change("retry pending: retry_if refusing every error", _retrying(flaky),
           _retrying(flaky_refusing), OK, OK, result=["PermissionError", 1]),
    Change("retry pending: retry_on broadened", _retrying(flaky), _retrying(flaky_on_all),
           OK, OK, result=["PermissionError", 1]),
    Change("retry pending: the step made at-most-once", _retrying(flaky),
           _retrying(flaky_at_most_once), OK, OK, result=["PermissionError", 1]),
    Change("retry pending: the step given a timeout", _retrying(flaky), _retrying(flaky_timed),
           OK, OK, result=["PermissionError", 1]),
    Change("retry pending: the step's body fixed under its name", _retrying(flaky),
           _retrying(flaky_fixed), OK, OK, result=[8, 1],
           completed_result=["PermissionError", 1]),
    Change("retry pending: the step's body fixed and made async", _retrying(flaky),
           _retrying(flaky_fixed_async), OK, OK, result=[8, 1],
           completed_result=["PermissionError", 1]),
    Change("retry pending: the step renamed", _retrying(flaky), _retrying(flaky_renamed),
           N, N),
    Change("retry pending in Map items: the step's body fixed", _retrying(flaky, "map"),
           _retrying(flaky_fixed, "map"), OK, OK, result=[[8, 9], 1],
           completed_result=[["PermissionError", "PermissionError"], 1]),
    Change("retry pending in Map items: max_attempts 3 to 2", _retrying(flaky, "map"),
           _retrying(flaky_two, "map"), OK, OK,
           result=[["PermissionError", "PermissionError"], 1]),
    Change("retry pending in a Parallel branch: the step's body fixed",
           _retrying(flaky, "parallel"), _retrying(flaky_fixed, "parallel"), OK, OK,
           result=[[8], 1], completed_result=[["PermissionError"], 1]),
    Change("retry pending in a Parallel branch: jitter made full",
           _retrying(flaky, "parallel"), _retrying(flaky_jitter, "parallel"), OK, OK,
           result=[["PermissionError"], 1]),
    Change("a step that failed for good: its body fixed under its name", _retrying(flaky_never),
           _retrying(flaky_fixed), OK, OK,
           result=["PermissionError", 1]),
    Change("a step that failed for good: given more attempts", _retrying(flaky_never),
           _retrying(flaky), OK, OK, result=["PermissionError", 1]),
]  # fmt: skip


# --- C. code after a caught failure ---------------------------------------------------------------


def _after_failure(variant: str) -> Any:
    """A step that fails for good, caught; then what ``variant`` says; then the gate."""

    def workflow(x: int) -> Gen:
        try:
            yield flaky_never(x)
            first = "ok"
        except dg.StepFailedError as e:
            first = e.error_type
        after = None
        if variant == "load":
            after = yield load(x)
        elif variant == "fetch":
            after = yield fetch(x)
        elif variant == "load-fetch":
            after = yield load(x)
            after += yield fetch(x)
        elif variant == "guarded":
            after = yield load(x)
            if (yield dg.Patched("add-fetch")):
                after += yield fetch(x)
        elif variant == "child":
            after = yield dg.Child(_loaded, (x,), name="after")
        elif variant == "child-renamed":
            after = yield dg.Child(_loaded, (x,), name="later")
        answer = yield from gate()
        return [first, after, answer["by"]]

    return _named(workflow, f"after_failure[{variant}]")


def _loaded(x: int) -> Gen:
    return (yield load(x))


AFTER_FAILURE = [
    Change("after a caught failure: the next step renamed", _after_failure("load"),
           _after_failure("fetch"), N, N),
    Change("after a caught failure: a step added before the gate", _after_failure("load"),
           _after_failure("load-fetch"), N, N),
    Change("after a caught failure: a step added behind Patched", _after_failure("load"),
           _after_failure("guarded"), OK, OK, result=["PermissionError", 3, 1]),
    Change("after a caught failure: a step added where there was none", _after_failure("none"),
           _after_failure("load"), N, N),
    Change("after a caught failure: the Child after it renamed", _after_failure("child"),
           _after_failure("child-renamed"), N, N),
    Change("after a caught failure: a step made a Child of it", _after_failure("load"),
           _after_failure("child"), N, N),
]  # fmt: skip


# --- D. branches an execution never took ----------------------------------------------------------


def _rarely(variant: str) -> Any:
    """``rare`` runs only for big inputs, or big recorded results; the execution never takes
    that path (input 1), then waits at the gate."""

    def workflow(x: int) -> Gen:
        a = yield fetch(x)
        extra = None
        if variant == "input" and x > 100:
            extra = yield rare(x)
        elif variant == "input-other" and x > 100:
            extra = yield rare_other(x)
        elif variant == "input-wait" and x > 100:
            yield dg.Wait(seconds=5, name="rare-wait")
        elif variant == "result" and a > 100:
            extra = yield rare(a)
        elif variant == "result-child" and a > 100:
            extra = yield dg.Child(_loaded, (a,), name="rare")
        elif variant == "taken" and x < 100:
            extra = yield rare(x)
        elif variant == "taken-other" and x < 100:
            extra = yield rare_other(x)
        answer = yield from gate()
        return [a, extra, answer["by"]]

    return _named(workflow, f"rarely[{variant}]")


def _rarely_in_items(variant: str) -> Any:
    """Map items 1, 2, 3: item 3 alone takes the rare path; each then waits at its gate."""

    def item(x: int) -> Gen:
        a = yield fetch(x)
        if x == 3:
            a = yield (rare(x) if variant == "rare" else rare_other(x))
        answer = yield from gate(f"gate-{x}")
        return a + answer["by"]

    def workflow(x: int) -> Gen:
        r = yield dg.Map(item, [1, 2, 3], name="m")
        return r.results()

    return _named(workflow, f"rarely_in_items[{variant}]")


RARE = [
    Change("a path never taken: its step replaced", _rarely("input"), _rarely("input-other"),
           OK, OK, result=[2, None, 1]),
    Change("a path never taken: its step made a wait", _rarely("input"), _rarely("input-wait"),
           OK, OK, result=[2, None, 1]),
    Change("a path on a recorded result never taken: its step made a Child",
           _rarely("result"), _rarely("result-child"), OK, OK, result=[2, None, 1]),
    Change("a path never taken made one that is taken", _rarely("input"), _rarely("taken"),
           N, N),
    Change("a path taken: its step replaced", _rarely("taken"), _rarely("taken-other"), N, N),
    Change("Map items: the step only the third item runs replaced, items waiting",
           _rarely_in_items("rare"), _rarely_in_items("other"), N, OK,
           completed_result=[3, 4, 3001]),
]  # fmt: skip


# --- E. Maps: counts from recorded results, completion policies while items wait ------------------


@dg.step
def how_many(x: int) -> list[int]:
    return [x, x + 1]


@dg.step(name="how_many")
def how_many_more(x: int) -> list[int]:
    return [x, x + 1, x + 2, x + 3]


def _counted(step: Any, *, items_wait: bool = False, completion: Any = None) -> Any:
    """A Map over the items a step returned (its result recorded), then the gate."""

    def item(x: int) -> Gen:
        a = yield fetch(x)
        if items_wait:
            answer = yield from gate(f"gate-{x}")
            a += answer["by"]
        return a

    def workflow(x: int) -> Gen:
        xs = yield step(x)
        r = yield dg.Map(item, xs, name="m", completion=completion)
        if not items_wait:
            yield from gate()
        return [r.completion_reason, [[i.status, i.result] for i in r.items]]

    return _named(workflow, f"counted[{id(step)},{items_wait},{completion}]")


def _empty_map(count: int, *, removed: bool = False) -> Any:
    def workflow(x: int) -> Gen:
        r = None
        if not removed:
            r = (yield dg.Map(fetch, list(range(count)), name="m")).results()
        yield from gate()
        return r

    return _named(workflow, f"empty_map[{count},{removed}]")


ONE = dg.Completion(min_successful=1)
MAPS = [
    Change("Map over a recorded list: the list's step returns more items",
           _counted(how_many), _counted(how_many_more), OK, OK,
           result=["ALL_COMPLETED", [["SUCCEEDED", 2], ["SUCCEEDED", 3]]]),
    Change("Map over a recorded list, items waiting: the list's step returns more items",
           _counted(how_many, items_wait=True), _counted(how_many_more, items_wait=True),
           OK, OK, result=["ALL_COMPLETED", [["SUCCEEDED", 3], ["SUCCEEDED", 4]]]),
    Change("Map over a recorded list, completed: min_successful=1 set",
           _counted(how_many), _counted(how_many, completion=ONE), OK, OK,
           result=["ALL_COMPLETED", [["SUCCEEDED", 2], ["SUCCEEDED", 3]]]),
    Change("Map items waiting: tolerated_failure_count=0 set",
           _counted(how_many, items_wait=True),
           _counted(how_many, items_wait=True, completion=dg.Completion(tolerated_failure_count=0)),
           OK, OK, result=["ALL_COMPLETED", [["SUCCEEDED", 3], ["SUCCEEDED", 4]]]),
    Change("Map items waiting: min_successful=1 set",
           _counted(how_many, items_wait=True),
           _counted(how_many, items_wait=True, completion=ONE), OK, OK,
           result=["MIN_SUCCESSFUL_REACHED", [["SUCCEEDED", 3], ["STARTED", None]]],
           completed_result=["ALL_COMPLETED", [["SUCCEEDED", 3], ["SUCCEEDED", 4]]]),
    Change("Map items waiting: tolerated_failure_percentage=0 set",
           _counted(how_many, items_wait=True),
           _counted(how_many, items_wait=True,
                    completion=dg.Completion(tolerated_failure_percentage=0)), OK, OK,
           result=["ALL_COMPLETED", [["SUCCEEDED", 3], ["SUCCEEDED", 4]]]),
    Change("Map of no items given one", _empty_map(0), _empty_map(1), N, N),
    Change("Map of no items removed", _empty_map(0), _empty_map(0, removed=True), N, N),
    Change("Map of one item made a Map of none", _empty_map(1), _empty_map(0), N, N),
]  # fmt: skip


# --- F. callbacks: the order handles are awaited in, their shapes ---------------------------------


def _two_callbacks(order: str) -> Any:
    """Two callbacks created, then awaited in ``order``; the execution waits on the first."""

    def workflow(x: int) -> Gen:
        a = yield dg.CreateCallback(name="a")
        b = yield dg.CreateCallback(name="b")
        handles = {"a": a, "b": b}
        out = []
        for k in order:
            answer = yield handles[k]
            out.append([k, answer["by"]])
        return out

    return _named(workflow, f"two_callbacks[{order}]")


def submit(callback_id: str) -> None:
    """The test answers the callback itself."""


def submit_other(callback_id: str) -> None:
    """Another submitter: it is not named in the history."""


def _callback_shape(shape: str, *, passed: bool = False) -> Any:
    """A callback ``approval`` in one of its shapes, waited on (or passed, then the gate)."""

    def workflow(x: int) -> Gen:
        if shape == "create":
            handle = yield dg.CreateCallback(name="approval")
            answer = yield handle
        elif shape == "create-dict":
            handle = yield dg.CreateCallback(name="approval", result_type=dict)
            answer = yield handle
        elif shape == "create-lenient":
            handle = yield dg.CreateCallback(name="approval", serdes=Lenient())
            answer = yield handle
        elif shape == "create-renamed":
            handle = yield dg.CreateCallback(name="approved")
            answer = yield handle
        elif shape == "wfc":
            answer = yield dg.WaitForCallback(submit, name="approval")
        elif shape == "wfc-other":
            answer = yield dg.WaitForCallback(submit_other, name="approval")
        elif shape == "wfc-retried":
            answer = yield dg.WaitForCallback(
                submit, name="approval", retry=dg.Retry(max_attempts=2, initial_delay=5)
            )
        else:
            raise AssertionError(shape)
        if passed:
            yield from gate()
        return answer["by"]

    return _named(workflow, f"callback_shape[{shape},{passed}]")


CALLBACKS = [
    Change("two callbacks awaited in the other order", _two_callbacks("ab"),
           _two_callbacks("ba"), OK, OK, result=[["b", 1], ["a", 1]],
           completed_result=[["b", 1], ["a", 1]]),
    Change("the second of two callbacks no longer awaited", _two_callbacks("ab"),
           _two_callbacks("a"), OK, OK, result=[["a", 1]]),
    Change("a callback waited on: result_type=dict given", _callback_shape("create"),
           _callback_shape("create-dict"), OK, OK, result=1),
    Change("a callback waited on: a serdes that reads JSON given", _callback_shape("create"),
           _callback_shape("create-lenient"), OK, OK, result=1),
    Change("a passed callback renamed", _callback_shape("create", passed=True),
           _callback_shape("create-renamed", passed=True), N, N),
    Change("a callback waited on made a WaitForCallback of its name", _callback_shape("create"),
           _callback_shape("wfc"), N, N),
    Change("a WaitForCallback waited on made a callback of its name", _callback_shape("wfc"),
           _callback_shape("create"), N, N),
    Change("a WaitForCallback waited on: another submitter", _callback_shape("wfc"),
           _callback_shape("wfc-other"), OK, OK, result=1),
    Change("a WaitForCallback waited on: its submitter given a retry policy",
           _callback_shape("wfc"), _callback_shape("wfc-retried"), OK, OK, result=1),
    Change("a passed WaitForCallback: another submitter", _callback_shape("wfc", passed=True),
           _callback_shape("wfc-other", passed=True), OK, OK, result=1),
]  # fmt: skip


# --- G. serdes of contexts and batches that completed ---------------------------------------------


def _serdes_of(kind: str, serdes: Any = None, item_serdes: Any = None) -> Any:
    """A completed ``kind`` (a Child, a Map, a Parallel) given ``serdes=``, then the gate."""

    def workflow(x: int) -> Gen:
        if kind == "child":
            r = yield dg.Child(_loaded, (x,), name="c", serdes=serdes)
        elif kind == "map":
            r = (yield dg.Map(fetch, [1, 2], name="m", serdes=serdes,
                              item_serdes=item_serdes)).results()  # fmt: skip
        else:
            branches = [dg.Branch(_one_fetch, name="a"), dg.Branch(_one_load, name="b")]
            p = yield dg.Parallel(branches, name="p", serdes=serdes, item_serdes=item_serdes)
            r = p.results()
        yield from gate()
        return r

    label = f"{kind},{type(serdes).__name__},{type(item_serdes).__name__}"
    return _named(workflow, f"serdes_of[{label}]")


def _one_fetch() -> Gen:
    return (yield fetch(1))


def _one_load() -> Gen:
    return (yield load(1))


@dg.step(name="fetch", serdes=Tagged())
def fetch_tagged(x: int) -> int:
    return x + 1


def _count_up_text(state: str) -> str:
    return str(int(state) + 1)


def _condition_serdes(serdes: Any, check: Any = _count_up) -> Any:
    """A condition polled every 30 s until its state reaches 2: the execution first suspends
    between the first check and the second, its state recorded."""

    def workflow(x: int) -> Gen:
        strategy = dg.WaitStrategy(until=lambda s: int(s) >= 2, delay=30)
        return (yield dg.WaitForCondition(check, 0, strategy, name="poll", serdes=serdes))

    return _named(workflow, f"condition_serdes[{type(serdes).__name__},{check.__name__}]")


def _stepped(step: Any) -> Any:
    def workflow(x: int) -> Gen:
        a = yield step(x)
        yield from gate()
        return a

    return _named(workflow, f"stepped[{id(step)}]")


def _one_waiting(x: int) -> Gen:
    """Item 1 ends at once; item 2 waits at its gate."""
    a = yield fetch(x)
    if x == 2:
        yield from gate("gate-2")
    return a


def _one_waiting_text(x: int) -> Generator[Any, Any, str]:
    """``_one_waiting`` declaring a str result."""
    a = yield fetch(x)
    if x == 2:
        yield from gate("gate-2")
    return str(a)


_one_waiting_text.__name__ = _one_waiting_text.__qualname__ = "_one_waiting"


def _item_typed(fn: Any) -> Any:
    def workflow(x: int) -> Gen:
        r = yield dg.Map(fn, [1, 2], name="m")
        return [[i.status, i.result] for i in r.items]

    return _named(workflow, f"item_typed[{id(fn)}]")


def _item_serdes(kind: str, item_serdes: Any = None) -> Any:
    """A Map or Parallel of two items, one finished, one waiting, given ``item_serdes=``."""

    def workflow(x: int) -> Gen:
        if kind == "map":
            r = yield dg.Map(_one_waiting, [1, 2], name="m", item_serdes=item_serdes)
        else:
            units = [functools.partial(_one_waiting, 1), functools.partial(_one_waiting, 2)]
            r = yield dg.Parallel(units, name="p", item_serdes=item_serdes)
        return [[i.status, i.result] for i in r.items]

    return _named(workflow, f"item_serdes[{kind},{type(item_serdes).__name__}]")


SERDES = [
    Change("a completed Child given a serdes that cannot read its result", _serdes_of("child"),
           _serdes_of("child", Tagged()), FAILED, FAILED),
    Change("a completed Child given a serdes that reads its result", _serdes_of("child"),
           _serdes_of("child", Lenient()), OK, OK, result=3),
    Change("a completed Map given a serdes that cannot read its result", _serdes_of("map"),
           _serdes_of("map", Tagged()), FAILED, FAILED),
    Change("a completed Map given an item_serdes only", _serdes_of("map"),
           _serdes_of("map", None, Tagged()), OK, OK, result=[2, 3]),
    Change("a completed Parallel given a serdes that cannot read its result",
           _serdes_of("parallel"), _serdes_of("parallel", Tagged()), FAILED, FAILED),
    Change("a completed Parallel given an item_serdes only", _serdes_of("parallel"),
           _serdes_of("parallel", None, Tagged()), OK, OK, result=[2, 3]),
    Change("a completed Child given JsonSerdes", _serdes_of("child"),
           _serdes_of("child", dg.JsonSerdes()), OK, OK, result=3),
    Change("a condition polling given a serdes that cannot read its state",
           _condition_serdes(None), _condition_serdes(Tagged()), FAILED, FAILED),
    Change("a condition polling given a serdes that reads its state",
           _condition_serdes(None), _condition_serdes(Lenient()), OK, OK, result=2),
    Change("a condition polling: its check's state declared str, recorded an int",
           _condition_serdes(None), _condition_serdes(None, _count_up_text), FAILED, FAILED),
    Change("Map, an item finished, one waiting: item_serdes that cannot read the finished one",
           _item_serdes("map"), _item_serdes("map", Tagged()), FAILED, OK,
           completed_result=[["SUCCEEDED", 2], ["SUCCEEDED", 3]]),
    Change("Map, an item finished, one waiting: item_serdes that reads the finished one",
           _item_serdes("map"), _item_serdes("map", Lenient()), OK, OK,
           result=[["SUCCEEDED", 2], ["SUCCEEDED", 3]]),
    Change("Parallel, a branch finished, one waiting: item_serdes that cannot read it",
           _item_serdes("parallel"), _item_serdes("parallel", Tagged()), FAILED, OK,
           completed_result=[["SUCCEEDED", 2], ["SUCCEEDED", 3]]),
    Change("Map, an item finished, one waiting: the item function's result declared str",
           _item_typed(_one_waiting), _item_typed(_one_waiting_text), FAILED, FAILED),
    Change("a recorded step given a serdes that cannot read it", _stepped(fetch),
           _stepped(fetch_tagged), FAILED, FAILED),
]  # fmt: skip


# --- H. nesting depth -----------------------------------------------------------------------------


def _nested(shape: str) -> Any:
    """A step and a gate at some depth: the execution waits at the gate."""

    def inner(x: int) -> Gen:
        a = yield fetch(x)
        answer = yield from gate()
        return a + answer["by"]

    def around(x: int) -> Gen:
        return (yield dg.Child(inner, (x,), name="inner"))

    def workflow(x: int) -> Gen:
        if shape == "flat":
            return (yield from inner(x))
        if shape == "one":
            return (yield dg.Child(inner, (x,), name="inner"))
        if shape == "two":
            return (yield dg.Child(around, (x,), name="outer"))
        if shape == "two-inlined":
            return (yield dg.Child(inner, (x,), name="outer"))
        if shape == "map":
            return (yield dg.Map(inner, [x], name="m")).results()
        if shape == "map-child":
            return (yield dg.Map(around, [x], name="m")).results()
        if shape == "parallel":
            return (yield dg.Parallel([dg.Branch(functools_partial(inner, x), name="b")],
                                      name="p")).results()  # fmt: skip
        if shape == "parallel-child":
            return (yield dg.Parallel([dg.Branch(functools_partial(around, x), name="b")],
                                      name="p")).results()  # fmt: skip
        raise AssertionError(shape)

    return _named(workflow, f"nested[{shape}]")


def functools_partial(fn: Callable[[int], Gen], x: int) -> Callable[[], Gen]:
    def branch() -> Gen:
        return (yield from fn(x))

    return branch


def _map_moved(into_child: bool) -> Any:
    def batch(x: int) -> Gen:
        return (yield dg.Map(fetch, [x, x + 1], name="m")).results()

    def workflow(x: int) -> Gen:
        if into_child:
            r = yield dg.Child(batch, (x,), name="m")
        else:
            r = yield from batch(x)
        yield from gate()
        return r

    return _named(workflow, f"map_moved[{into_child}]")


NESTING = [
    Change("waiting at depth 1: a Child put around its Child", _nested("one"), _nested("two"),
           N, N),
    Change("waiting at depth 2: the inner Child inlined into the outer",
           _nested("two"), _nested("two-inlined"), N, OK, completed_result=3),
    Change("waiting at depth 1: its Child removed", _nested("one"), _nested("flat"), N, N),
    Change("waiting at the root: put in a Child", _nested("flat"), _nested("one"), N, N),
    Change("waiting in Map items: a Child put around the item's body", _nested("map"),
           _nested("map-child"), N, OK, completed_result=[3]),
    Change("waiting in a Parallel branch: a Child put around the branch's body",
           _nested("parallel"), _nested("parallel-child"), N, OK, completed_result=[3]),
    Change("waiting in a Child in a Parallel branch: the Child removed",
           _nested("parallel-child"), _nested("parallel"), N, OK, completed_result=[3]),
    Change("a completed Map moved into a Child of its name", _map_moved(False),
           _map_moved(True), N, N),
]  # fmt: skip


# --- I. another function behind a kept name -------------------------------------------------------


def _sub(x: int) -> Gen:
    return (yield fetch(x))


def _sub_other(x: int) -> Gen:
    a = yield fetch(x)
    b = yield load(x)
    return a + b


_sub_other.__name__ = _sub_other.__qualname__ = "_sub"


def _plain_fetch(x: int) -> int:
    return x + 1


def _plain_other(x: int) -> int:
    return x + 100


_plain_other.__name__ = _plain_other.__qualname__ = "_plain_fetch"


def _behind_name(variant: str, *, waiting_inside: bool = False) -> Any:
    def workflow(x: int) -> Gen:
        if variant == "child":
            r = yield dg.Child(_sub, (x,))
        elif variant == "child-other":
            r = yield dg.Child(_sub_other, (x,))
        elif variant == "map-plain":
            r = (yield dg.Map(_plain_fetch, [1, 2], name="m")).results()
        elif variant == "map-plain-other":
            r = (yield dg.Map(_plain_other, [1, 2], name="m")).results()
        elif variant == "map-step":
            r = (yield dg.Map(fetch, [1, 2], name="m")).results()
        elif variant == "step-named":
            r = yield dg.Step(_plain_fetch, (x,), name="fetch")
        elif variant == "step-fetch":
            r = yield fetch(x)
        elif variant == "step-named-other":
            r = yield dg.Step(_plain_other, (x,), name="fetch")
        else:
            raise AssertionError(variant)
        yield from gate()
        return r

    return _named(workflow, f"behind_name[{variant}]")


IDENTITY = [
    Change("a completed Child's generator replaced by another of its name",
           _behind_name("child"), _behind_name("child-other"), OK, OK, result=2),
    Change("a completed Map's plain function replaced by another of its name",
           _behind_name("map-plain"), _behind_name("map-plain-other"), OK, OK, result=[2, 3]),
    Change("a completed Map's plain function made the @step of its result's name",
           _behind_name("map-plain"), _behind_name("map-step"), N, N),
    Change("a step of a plain function replaced by another under its name=",
           _behind_name("step-named"), _behind_name("step-named-other"), OK, OK, result=2),
    Change("a step of a plain function under name= made the @step of that name",
           _behind_name("step-named"), _behind_name("step-fetch"),
           OK, OK, result=2),
]  # fmt: skip


# --- J. Parallel branches swapped, by kind --------------------------------------------------------


@dg.step
def left() -> int:
    return 10


@dg.step
def right() -> int:
    return 20


def _gen_left() -> Gen:
    return (yield left())


def _gen_right() -> Gen:
    return (yield right())


def _gen_waiting() -> Gen:
    answer = yield from gate("gate-w")
    return answer["by"]


def _swapped(kind: str, order: str, *, nesting: str = "nested") -> Any:
    def workflow(x: int) -> Gen:
        pool = {
            "step": {"l": left, "r": right, "w": _gen_waiting},
            "gen": {"l": _gen_left, "r": _gen_right, "w": _gen_waiting},
        }[kind]
        p = yield dg.Parallel([pool[k] for k in order], name="p", nesting=nesting)
        r = p.results()
        if "w" not in order:
            yield from gate()
        return r

    return _named(workflow, f"swapped[{kind},{order},{nesting}]")


BRANCHES = [
    Change("Parallel of @step branches swapped, completed", _swapped("step", "lr"),
           _swapped("step", "rl"), N, N),
    Change("Parallel of unnamed generator branches swapped, completed",
           _swapped("gen", "lr"), _swapped("gen", "rl"), OK, OK, result=[10, 20]),
    Change("Parallel of unnamed generator branches: one waiting swapped with one done",
           _swapped("gen", "lw"), _swapped("gen", "wl"), N, None),
    Change("flat Parallel: a waiting branch swapped with one done",
           _swapped("gen", "lw", nesting="flat"), _swapped("gen", "wl", nesting="flat"),
           N, None),
    Change("flat Parallel of @step branches swapped, completed",
           _swapped("step", "lr", nesting="flat"), _swapped("step", "rl", nesting="flat"),
           N, N),
]  # fmt: skip


# --- K. steps appended to a branch or an item that ended ------------------------------------------


def _appended(where: str, extra: bool, *, nesting: str = "nested") -> Any:
    """A branch (or item) that ends at once, beside one that waits; ``extra`` appends a step
    to the one that ended."""

    def done(x: int) -> Gen:
        a = yield fetch(x)
        if extra:
            a += yield load(x)
        return a

    def waiting(x: int) -> Gen:
        answer = yield from gate(f"gate-{x}")
        return answer["by"]

    def item(x: int) -> Gen:
        return (yield from (done(x) if x == 1 else waiting(x)))

    def workflow(x: int) -> Gen:
        if where == "parallel":
            branches = [dg.Branch(functools.partial(done, 1), name="done"),
                        dg.Branch(functools.partial(waiting, 2), name="waiting")]  # fmt: skip
            r = yield dg.Parallel(branches, name="p", nesting=nesting)
        else:
            r = yield dg.Map(item, [1, 2], name="m", nesting=nesting)
        return r.results()

    return _named(workflow, f"appended[{where},{extra},{nesting}]")


def _child_failed(extra: bool) -> Any:
    def sub(x: int) -> Gen:
        yield flaky_never(x)
        if extra:
            yield load(x)

    def workflow(x: int) -> Gen:
        try:
            yield dg.Child(sub, (x,), name="c")
            r = "ok"
        except dg.ChildFailedError as e:
            r = type(e).__name__
        yield from gate()
        return r

    return _named(workflow, f"child_failed[{extra}]")


APPENDED = [
    Change("Parallel: a step appended to the branch that ended, the other waiting",
           _appended("parallel", False), _appended("parallel", True), OK, OK, result=[2, 1]),
    Change("Map: a step appended to the item that ended, the other waiting",
           _appended("map", False), _appended("map", True), OK, OK, result=[2, 1],
           completed_result=[2, 1]),
    # a flat item records no context: nothing says the finished one had ended, and the step
    # appended to it runs (docs/versioning.md, Patched in flat batches)
    Change("flat Parallel: a step appended to the branch that ended, the other waiting",
           _appended("parallel", False, nesting="flat"),
           _appended("parallel", True, nesting="flat"), OK, OK, result=[5, 1],
           completed_result=[2, 1]),
    Change("flat Map: a step appended to the item that ended, the other waiting",
           _appended("map", False, nesting="flat"), _appended("map", True, nesting="flat"),
           OK, OK, result=[5, 1], completed_result=[2, 1]),
    Change("a Child that failed: a step appended after the failing one",
           _child_failed(False), _child_failed(True), OK, OK, result="ChildFailedError"),
]  # fmt: skip


# --- L. versioning used and misused ---------------------------------------------------------------


def _versioned(variant: str) -> Any:
    """A step, then what ``variant`` says, then the gate the execution waits at."""

    def sub(x: int) -> Gen:
        if variant == "deprecated-in-child":
            yield dg.Deprecated("in-child")
            yield load(x)
        elif variant == "patched-in-child" and (yield dg.Patched("in-child")):
            yield load(x)
        return (yield fetch(x))

    def workflow(x: int) -> Gen:
        a = yield fetch(x)
        out: list[Any] = [a]
        if variant == "wait":
            yield dg.Wait(seconds=5, name="old")
        elif variant == "wait-renamed-guarded":
            if (yield dg.Patched("rename-wait")):
                yield dg.Wait(seconds=5, name="new")
            else:
                yield dg.Wait(seconds=5, name="old")
        elif variant == "map2":
            out.append((yield dg.Map(fetch, [1, 2], name="m")).results())
        elif variant == "map3-guarded":
            n = 3 if (yield dg.Patched("three")) else 2
            out.append((yield dg.Map(fetch, list(range(1, n + 1)), name="m")).results())
        elif variant == "parallel":
            out.append((yield dg.Parallel([left, right], name="p")).results())
        elif variant == "parallel-swapped-guarded":
            branches = [right, left] if (yield dg.Patched("swap")) else [left, right]
            out.append((yield dg.Parallel(branches, name="p")).results())
        elif variant == "twice-guarded":
            if (yield dg.Patched("twice")):
                out.append((yield load(x)))
            if (yield dg.Patched("twice")):
                out.append((yield rare(x)))
        elif variant == "twice-once":
            if (yield dg.Patched("twice")):
                out.append((yield load(x)))
        elif variant in ("child", "deprecated-in-child", "patched-in-child"):
            out.append((yield dg.Child(sub, (x,), name="c")))
        elif variant == "load":
            out.append((yield load(x)))
        elif variant == "deprecated-load":
            yield dg.Deprecated("add-load")
            out.append((yield load(x)))
        elif variant == "patched-load":
            if (yield dg.Patched("add-load")):
                out.append((yield load(x)))
        elif variant == "not-patched-removed":
            if not (yield dg.Patched("drop-load")):
                out.append((yield load(x)))
        elif variant == "patched-now" and (yield dg.Patched("add-now")):
            yield dg.Now()
        answer = yield from gate()
        return [*out, answer["by"]]

    return _named(workflow, f"versioned[{variant}]")


VERSIONING = [
    Change("a passed wait renamed behind Patched", _versioned("wait"),
           _versioned("wait-renamed-guarded"), OK, OK, result=[2, 1]),
    Change("a completed Map given an item more behind Patched", _versioned("map2"),
           _versioned("map3-guarded"), OK, OK, result=[2, [2, 3], 1]),
    Change("a completed Parallel's step branches swapped behind Patched",
           _versioned("parallel"), _versioned("parallel-swapped-guarded"), OK, OK,
           result=[2, [10, 20], 1]),
    Change("one change id guarding two insertions, executions past both on the old path",
           _versioned("none"), _versioned("twice-guarded"), OK, OK, result=[2, 1]),
    Change("one change id guarding two insertions, executions on the new path of one",
           _versioned("twice-once"), _versioned("twice-guarded"), N, N),
    Change("Deprecated first in a completed Child, executions on the old path",
           _versioned("child"), _versioned("deprecated-in-child"), OK, OK, result=[2, 2, 1]),
    Change("Patched step first in a completed Child, executions on the old path",
           _versioned("child"), _versioned("patched-in-child"), OK, OK, result=[2, 2, 1]),
    Change("Deprecated removed, executions recorded its marker", _versioned("deprecated-load"),
           _versioned("load"), OK, OK, result=[2, 3, 1]),
    Change("Patched made Deprecated, executions on the new path", _versioned("patched-load"),
           _versioned("deprecated-load"), OK, OK, result=[2, 3, 1]),
    Change("Patched made Deprecated, executions on the old path", _versioned("none"),
           _versioned("deprecated-load"), N, N),
    Change("a step removed under if not Patched, executions that ran it",
           _versioned("load"), _versioned("not-patched-removed"), OK, OK, result=[2, 3, 1]),
    Change("a step removed unguarded, executions that ran it", _versioned("load"),
           _versioned("none"), N, N),
    Change("a Now added behind Patched, executions past it", _versioned("none"),
           _versioned("patched-now"), OK, OK, result=[2, 1]),
]  # fmt: skip


# --- M. deterministic helpers added ---------------------------------------------------------------


def _helpers(variant: str) -> Any:
    def workflow(x: int) -> Gen:
        if variant == "now":
            yield dg.Now()
        elif variant == "uuid":
            yield dg.UUID()
        elif variant == "random":
            rng = yield dg.Random()
            rng.random()
        elif variant == "now-named":
            yield dg.Now(name="stamp")
        a = yield fetch(x)
        yield from gate()
        return a

    return _named(workflow, f"helpers[{variant}]")


HELPERS = [
    Change("a Now added before a recorded step", _helpers("none"), _helpers("now"), N, N),
    Change("a UUID added before a recorded step", _helpers("none"), _helpers("uuid"), OK, OK,
           result=2),
    Change("a Random added before a recorded step", _helpers("none"), _helpers("random"),
           OK, OK, result=2),
    Change("a recorded Now renamed", _helpers("now"), _helpers("now-named"), N, N),
    Change("a recorded Now made a UUID", _helpers("now"), _helpers("uuid"), N, N),
]  # fmt: skip


# --- N. names against positions -------------------------------------------------------------------


def _positions(variant: str) -> Any:
    """Steps named alike or not, then the gate."""

    def workflow(x: int) -> Gen:
        if variant == "fetch12":
            out = [(yield fetch(1)), (yield fetch(2))]
        elif variant == "fetch21":
            out = [(yield fetch(2)), (yield fetch(1))]
        elif variant == "fetch-load":
            out = [(yield fetch(1)), (yield load(2))]
        elif variant == "load-fetch":
            out = [(yield load(1)), (yield fetch(2))]
        elif variant == "fetch-only":
            out = [(yield fetch(1))]
        elif variant in ("loop2", "loop3"):
            out = []
            for i in range(int(variant[-1])):
                out.append((yield fetch(i)))
        else:
            raise AssertionError(variant)
        yield from gate()
        return out

    return _named(workflow, f"positions[{variant}]")


POSITIONS = [
    Change("two steps of one name: their arguments swapped", _positions("fetch12"),
           _positions("fetch21"), OK, OK, result=[2, 3]),
    Change("two steps of other names swapped", _positions("fetch-load"),
           _positions("load-fetch"), N, N),
    Change("the second of two steps removed", _positions("fetch-load"),
           _positions("fetch-only"), N, N),
    Change("a loop of steps of one name runs once fewer", _positions("loop3"),
           _positions("loop2"), N, N),
    Change("a loop of steps of one name runs once more", _positions("loop2"),
           _positions("loop3"), N, N),
]  # fmt: skip


CHANGES = (
    WAITS
    + RETRIES
    + AFTER_FAILURE
    + RARE
    + MAPS
    + CALLBACKS
    + SERDES
    + NESTING
    + IDENTITY
    + BRANCHES
    + APPENDED
    + VERSIONING
    + HELPERS
    + POSITIONS
)


@pytest.mark.parametrize("state", ["suspended", "completed"])
@pytest.mark.parametrize("change", CHANGES, ids=[c.name for c in CHANGES])
def test_every_route_judges_a_change_alike(
    change: Change, state: str, tmp_path: Path, durable_replayer: Replayer
) -> None:
    judge(change, state, tmp_path, durable_replayer)


def test_the_corpus_is_large_and_its_names_unique() -> None:
    assert len(CHANGES) >= 80
    assert len({c.name for c in CHANGES}) == len(CHANGES)


DIVERGING = [(c, s) for c in CHANGES for s in ("suspended", "completed") if getattr(c, s) == N]


@pytest.mark.parametrize(
    ("change", "state"), DIVERGING, ids=[f"{c.name}-{s}" for c, s in DIVERGING]
)
def test_every_route_reports_a_divergence_with_one_message(
    change: Change, state: str, tmp_path: Path
) -> None:
    messages = _messages(change, state == "completed", tmp_path)
    assert len(set(messages.values())) == 1, messages
    (message,) = set(messages.values())
    assert message is not None and "recorded" in message, message
    json.dumps(message)


# --- a condition waiting between checks whose recorded state the new code cannot read -------------


@pytest.mark.parametrize(
    ("serdes", "check"), [(Tagged(), _count_up), (None, _count_up_text)], ids=["serdes", "type"]
)
def test_a_condition_waiting_between_checks_reads_its_state_on_replay_as_on_resume(
    serdes: Any, check: Any
) -> None:
    """The state is read when the execution resumes, before the next check: ``replay`` of the
    history reports that ``SerializationError`` (it said ok, the condition still waiting),
    and so does a host's interpreter given the operations, before any wait is over."""
    from durable_gen import runtime as rt
    from durable_gen.testing import TestRunner, load_history, replay

    v1, v2 = _condition_serdes(None), _condition_serdes(serdes, check)
    run = TestRunner(skip_time=False).run(v1, 1)
    assert run.status == "RUNNING"
    (poll,) = run.operations(type="STEP")
    assert poll.status == "PENDING"
    report = replay(v2, run.export())
    assert report.status == "failed", report.message
    assert "SerializationError" in report.message, report.message
    history = load_history(run.export())
    interp = rt.Interpreter(v2, history.operations, execution_arn=history.execution_arn or "arn")
    action = interp.next_action()
    while isinstance(action, rt.Flush):
        interp.observe([])
        action = interp.next_action()
    assert isinstance(action, rt.Done), action
    assert isinstance(action.outcome, rt.Failed)
    assert action.outcome.error.error_type == "SerializationError"


# --- a finished item whose recorded result the new code cannot read -----------------------------


@pytest.mark.parametrize(
    ("kind", "item"), [("map", "map-item-0"), ("parallel", "parallel-branch-0")]
)
def test_a_finished_item_that_no_longer_reads_fails_the_execution_not_the_item(
    kind: str, item: str
) -> None:
    """The item recorded its success: an ``item_serdes=`` given since that cannot read it
    fails the execution with ``SerializationError`` naming the item, by the engine and by
    ``replay`` alike. It was reported to the workflow as a failed item, which decided the batch
    and abandoned the item still waiting, while ``replay`` said ok."""
    from durable_gen.testing import TestRunner, replay
    from tests.unit.testing.test_change_corpus_options import _drive

    v1, v2 = _item_serdes(kind), _item_serdes(kind, Tagged())
    runner = TestRunner(skip_time=False)
    run = runner.run(v1, 1)
    assert run.status == "RUNNING"
    report = replay(v2, run.export())
    runner.deploy(v1, v2)
    _drive(runner, run)
    assert run.status == "FAILED"
    assert run.error is not None and run.error.error_type == "SerializationError"
    assert f"the result of {item!r}" in run.error.error_message, run.error.error_message
    assert report.status == "failed", report.message
    assert run.error.error_message in report.message, report.message


# --- each version alone ---------------------------------------------------------------------------


VERSIONS = list(dict.fromkeys(w for c in CHANGES for w in (c.v1, c.v2)))


@pytest.mark.parametrize("workflow", VERSIONS, ids=[w.__qualname__ for w in VERSIONS])
def test_every_version_is_deterministic_on_its_own(workflow: Callable[..., Gen]) -> None:
    """The versions are correct workflows (``assert_deterministic`` finds them so, crashes
    and replays included): what the corpus sees is the change alone."""
    from durable_gen.testing import DurableRun, assert_deterministic
    from tests.unit.testing.test_change_corpus_options import ANSWER, FUNCTIONS

    def answer(run: DurableRun) -> None:
        for op in run.operations(type="CALLBACK"):
            if op.status == "STARTED" and op.callback_id is not None:
                run.runner.send_callback_success(op.callback_id, ANSWER)

    assert_deterministic(workflow, 1, functions=FUNCTIONS, on_idle=answer, random_runs=1)
