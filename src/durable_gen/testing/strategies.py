"""Hypothesis strategies: random workflow programs with their expected results, and crash schedules.

A *program* is data (a list of nodes): steps that succeed, fail, or fail then succeed; waits;
callbacks answered with a value, failed, or left to time out; maps; parallels; child contexts.
``program_workflow`` runs any program as a workflow, ``expected_result`` says what it must
return, and ``answer_callbacks`` answers its callbacks the way the program says, so::

    @check_settings()
    @given(programs(), crash_schedules())
    def test_programs_survive_crashes(program, schedule):
        check = DeterminismCheck(program_workflow, program_input(program), on_idle=answer_callbacks)
        assert check.check(schedule).result == json.dumps(expected_result(program))

Everything a check does follows from the drawn data: each ``DeterminismCheck`` runs the
workflow twice without crashes and once under the drawn schedule, with ``random`` seeded per
run, so a failing example fails again when hypothesis replays it. ``check_settings`` turns off
what would make a report flaky (the per-example deadline) and makes the search reproducible.

Needs ``hypothesis`` (the ``test`` extra).
"""

from __future__ import annotations

import json
from collections.abc import Generator, Sequence
from typing import Any, Literal

import msgspec

try:
    from hypothesis import HealthCheck, settings
    from hypothesis import strategies as st
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "durable_gen.testing.strategies needs hypothesis: pip install 'durable-gen[test]' "
        "(or pip install hypothesis)"
    ) from exc

import durable_gen as dg

from .._context import current_step
from .._errors import ValidationError, shown
from .._wire import MAX_WAIT_SECONDS
from ._harness import CrashSchedule
from ._runner import DurableRun

__all__ = [
    "CallbackNode",
    "ChildNode",
    "MapNode",
    "Node",
    "ParallelNode",
    "Program",
    "StepNode",
    "WaitNode",
    "answer_callbacks",
    "check_settings",
    "crash_schedules",
    "expected_result",
    "program_input",
    "program_workflow",
    "programs",
]


class StepNode(msgspec.Struct, frozen=True, tag="step"):
    """A step returning ``value``; ``fail`` raises (no retry), ``flaky`` fails ``failures``
    attempts then succeeds. A failure is caught by the program: its result is ``"failed"``."""

    value: int
    outcome: Literal["ok", "fail", "flaky"] = "ok"
    failures: int = 0

    def __post_init__(self) -> None:
        _whole(self, "value", self.value)
        _one_of(self, "outcome", self.outcome, ("ok", "fail", "flaky"))
        _whole(self, "failures", self.failures, minimum=0)


class WaitNode(msgspec.Struct, frozen=True, tag="wait"):
    """A durable wait; its result is ``"waited"``."""

    seconds: int

    def __post_init__(self) -> None:
        _whole(self, "seconds", self.seconds, minimum=1, maximum=MAX_WAIT_SECONDS)


class CallbackNode(msgspec.Struct, frozen=True, tag="callback"):
    """A ``WaitForCallback``: answered with ``value`` (``success``), failed (result
    ``"callback-failed"``), or never answered (``timeout``: result ``"timeout"``)."""

    value: int
    answer: Literal["success", "failure", "timeout"] = "success"

    def __post_init__(self) -> None:
        _whole(self, "value", self.value)
        _one_of(self, "answer", self.answer, ("success", "failure", "timeout"))


class MapNode(msgspec.Struct, frozen=True, tag="map"):
    """A ``Map`` doubling each item; a negative item fails (its result is ``"failed"``)."""

    items: list[int]

    def __post_init__(self) -> None:
        if not isinstance(self.items, list):
            _refuse(self, "items", self.items, "a list of whole numbers")
        for item in self.items:
            _whole(self, "items", item)


class ParallelNode(msgspec.Struct, frozen=True, tag="parallel"):
    """A ``Parallel`` running each branch program; its result is the list of their results."""

    branches: list[list[Node]]

    def __post_init__(self) -> None:
        if not isinstance(self.branches, list):
            _refuse(self, "branches", self.branches, "a list of programs (lists of nodes)")
        for body in self.branches:
            _program(self, "branches", body)


class ChildNode(msgspec.Struct, frozen=True, tag="child"):
    """A ``Child`` context running ``body``; its result is the body's result. ``virtual``:
    a virtual child context (``Child(..., virtual=True)``), which records nothing itself."""

    body: list[Node]
    virtual: bool = False

    def __post_init__(self) -> None:
        _program(self, "body", self.body)
        if type(self.virtual) is not bool:
            _refuse(self, "virtual", self.virtual, "True or False")


Node = StepNode | WaitNode | CallbackNode | MapNode | ParallelNode | ChildNode
Program = list[Node]

_NODES = (StepNode, WaitNode, CallbackNode, MapNode, ParallelNode, ChildNode)


# A node built by hand with a value the program workflow cannot run would make
# ``expected_result`` promise what the run never gives: refuse it where it is built.


def _refuse(node: object, field: str, value: object, wanted: str) -> None:
    raise ValidationError(
        f"{type(node).__name__} {field} must be {wanted}, got {value!r} (see the node table in "
        "docs/testing.md, 'Hypothesis strategies')"
    )


def _whole(
    node: object,
    field: str,
    value: object,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or (minimum is not None and value < minimum)
        or (maximum is not None and value > maximum)
    ):
        bounds = (
            ""
            if minimum is None
            else f" from {minimum}" + ("" if maximum is None else f" to {maximum}")
        )
        _refuse(node, field, value, f"a whole number{bounds}")


def _one_of(node: object, field: str, value: object, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        _refuse(node, field, value, f"one of {', '.join(map(repr, allowed))}")


def _program(node: object, field: str, body: object) -> None:
    if not isinstance(body, list) or not all(isinstance(n, _NODES) for n in body):
        _refuse(node, field, body, "a program: a list of nodes (StepNode, WaitNode, ...)")


# --- the workflow that runs programs -----------------------------------------------------------


@dg.step(retry=dg.Retry.never())
def _value(value: int) -> int:
    return value


@dg.step(retry=dg.Retry.never())
def _fail(value: int) -> int:
    raise ValueError(f"planned failure of {value}")


def _flaky(value: int, failures: int) -> int:
    # the driver's attempt, in any host (``current_attempt()`` is None outside TestRunner)
    attempt = current_step()
    if attempt is None or attempt.attempt <= failures:
        raise TimeoutError(f"planned failure, attempt {attempt.attempt if attempt else '?'}")
    return value


@dg.step(retry=dg.Retry.never())
def _double(item: int) -> int:
    if item < 0:
        raise ValueError(f"planned failure of item {item}")
    return item * 2


def _submit(callback_id: str) -> None:
    """Nothing to send: ``answer_callbacks`` answers from outside."""


def program_input(program: Sequence[Node]) -> Any:
    """The workflow input that runs ``program`` (its JSON form)."""
    _check_program(program, "program_input")
    return msgspec.to_builtins(list(program))


@dg.workflow
def program_workflow(program: Any) -> Generator[Any, Any, list[Any]]:
    """Run a program (given as ``program_input(program)``); returns its results, one a node."""
    nodes = msgspec.convert(program, list[Node])
    return (yield from _run(nodes, "p"))


def _run(nodes: Sequence[Node], path: str, start: int = 0) -> Generator[Any, Any, list[Any]]:
    """Run ``nodes``, the first named as the ``start``-th node of ``path``."""
    out: list[Any] = []
    for i, node in enumerate(nodes, start):
        name = f"{path}.{i}"
        if isinstance(node, StepNode):
            try:
                if node.outcome == "ok":
                    out.append((yield dg.Step(_value.fn, (node.value,), name=name)))
                elif node.outcome == "fail":
                    out.append(
                        (yield dg.Step(_fail.fn, (node.value,), name=name, retry=dg.Retry.never()))
                    )
                else:
                    retry = dg.Retry(max_attempts=node.failures + 1, initial_delay=1, jitter="none")
                    out.append(
                        (yield dg.Step(_flaky, (node.value, node.failures), name=name, retry=retry))
                    )
            except dg.StepFailedError:
                out.append("failed")
        elif isinstance(node, WaitNode):
            yield dg.Wait(seconds=node.seconds, name=name)
            out.append("waited")
        elif isinstance(node, CallbackNode):
            timeout = 60 if node.answer == "timeout" else 86_400
            try:
                out.append(
                    (yield dg.WaitForCallback(
                        _submit, name=f"{name}:{node.answer}:{node.value}", timeout=timeout
                    ))
                )  # fmt: skip
            except dg.CallbackTimeoutError:
                out.append("timeout")
            except dg.CallbackFailedError:
                out.append("callback-failed")
        elif isinstance(node, MapNode):
            batch = yield dg.Map(
                _double, node.items, name=name, completion=dg.Completion.all_completed()
            )
            out.append([i.result if i.succeeded else "failed" for i in batch.items])
        elif isinstance(node, ParallelNode):
            branches = [
                dg.Branch(_branch(body, f"{name}.{j}"), name=f"{name}.{j}")
                for j, body in enumerate(node.branches)
            ]
            batch = yield dg.Parallel(branches, name=name, completion=dg.Completion.all_completed())
            out.append([i.result if i.succeeded else "failed" for i in batch.items])
        else:
            out.append((yield dg.Child(_child, (node.body, name), name=name, virtual=node.virtual)))
    return out


def _branch(body: Sequence[Node], path: str) -> Any:
    def branch() -> Generator[Any, Any, list[Any]]:
        return (yield from _run(body, path))

    return branch


def _child(body: Sequence[Node], path: str) -> Generator[Any, Any, list[Any]]:
    return (yield from _run(body, path))


def _check_program(program: object, what: str) -> None:
    if isinstance(program, str | bytes) or not isinstance(program, Sequence):
        raise ValidationError(
            f"{what} needs a program, a list of nodes, got {type(program).__name__}"
        )
    if not all(isinstance(node, _NODES) for node in program):
        raise ValidationError(
            f"{what} needs a program, a list of nodes (StepNode, WaitNode, ...), got "
            f"{list(program)!r}"
        )


def expected_result(program: Sequence[Node]) -> list[Any]:
    """What ``program_workflow`` returns for ``program``, computed without running it."""
    _check_program(program, "expected_result")
    out: list[Any] = []
    for node in program:
        if isinstance(node, StepNode):
            out.append("failed" if node.outcome == "fail" else node.value)
        elif isinstance(node, WaitNode):
            out.append("waited")
        elif isinstance(node, CallbackNode):
            answers = {"success": node.value, "failure": "callback-failed", "timeout": "timeout"}
            out.append(answers[node.answer])
        elif isinstance(node, MapNode):
            out.append(["failed" if item < 0 else item * 2 for item in node.items])
        elif isinstance(node, ParallelNode):
            out.append([expected_result(body) for body in node.branches])
        else:
            out.append(expected_result(node.body))
    return out


def answer_callbacks(run: DurableRun) -> None:
    """Answer the open callbacks of a program run as their nodes say (timeouts are left)."""
    ops = run.runner.service.get_operations(run.arn)
    names = {op.id: op.name for op in ops if op.type == "CONTEXT"}
    for op in ops:
        if op.type != "CALLBACK" or op.status != "STARTED" or op.callback_details is None:
            continue
        callback_id = op.callback_details.callback_id
        label = names.get(op.parent_id or "") or ""
        _, _, spec = label.partition(":")
        answer, _, value = spec.partition(":")
        if callback_id is None:
            continue
        if answer == "success":
            run.runner.send_callback_success(callback_id, int(value))
        elif answer == "failure":
            run.runner.send_callback_failure(callback_id, "Planned", "planned callback failure")


# --- strategies ----------------------------------------------------------------------------------

_values = st.integers(min_value=0, max_value=1000)
_KINDS = ("step", "wait", "callback", "map", "parallel", "child")


def programs(
    *,
    kinds: Sequence[str] = _KINDS,
    max_nodes: int = 5,
    max_leaves: int = 10,
) -> st.SearchStrategy[Program]:
    """Random programs built from ``kinds`` (``step``, ``wait``, ``callback``, ``map``,
    ``parallel``, ``child``).

    Args:
        kinds: The node kinds to use; ``parallel`` and ``child`` nest the others.
        max_nodes: Nodes at the top level (and in each nested body).
        max_leaves: Leaves (steps, waits, callbacks, maps) in all, nested ones included.
    """
    _at_least(max_nodes, "programs max_nodes", 1)
    _at_least(max_leaves, "programs max_leaves", 1)
    if isinstance(kinds, str):
        raise ValidationError(
            f"kinds is a sequence of kind names, not one string: kinds=({kinds!r},), or several "
            f"of {_KINDS}"
        )
    try:
        unknown = set(kinds) - set(_KINDS)
    except TypeError:  # not iterable, or holding lists
        raise ValidationError(
            f"kinds is a sequence of kind names, some of {_KINDS}; got {shown(kinds)}"
        ) from None
    if unknown or not set(kinds) & {"step", "wait", "callback", "map"}:
        raise ValidationError(
            f"kinds must include a leaf kind (step, wait, callback, map) and only {_KINDS}; got "
            f"{shown(list(kinds))}"
        )
    leaves: list[st.SearchStrategy[Node]] = []
    if "step" in kinds:
        leaves.append(
            st.one_of(
                st.builds(StepNode, value=_values),
                st.builds(StepNode, value=_values, outcome=st.just("fail")),
                st.builds(
                    StepNode,
                    value=_values,
                    outcome=st.just("flaky"),
                    failures=st.integers(min_value=1, max_value=2),
                ),
            )
        )
    if "wait" in kinds:
        leaves.append(st.builds(WaitNode, seconds=st.integers(min_value=1, max_value=3 * 86_400)))
    if "callback" in kinds:
        leaves.append(
            st.builds(
                CallbackNode,
                value=_values,
                answer=st.sampled_from(["success", "success", "failure", "timeout"]),
            )
        )
    if "map" in kinds:
        leaves.append(
            st.builds(
                MapNode,
                items=st.lists(st.integers(min_value=-2, max_value=50), min_size=0, max_size=4),
            )
        )
    leaf: st.SearchStrategy[Node] = st.one_of(*leaves)
    nest = [k for k in ("parallel", "child") if k in kinds]
    if not nest:
        return st.lists(leaf, min_size=1, max_size=min(max_nodes, max_leaves))

    def extend(inner: st.SearchStrategy[Node]) -> st.SearchStrategy[Node]:
        body = st.lists(inner, min_size=1, max_size=min(3, max_nodes))
        options: list[st.SearchStrategy[Node]] = []
        if "parallel" in nest:
            options.append(st.builds(ParallelNode, branches=st.lists(body, min_size=1, max_size=3)))
        if "child" in nest:
            options.append(st.builds(ChildNode, body=body, virtual=st.booleans()))
        return st.one_of(*options)

    # One recursive strategy per leaf budget: the program's nodes share ``max_leaves``, so each
    # node is drawn with what the nodes before it left (a node has at least one leaf).
    nodes = [st.recursive(leaf, extend, max_leaves=n) for n in range(1, max_leaves + 1)]

    @st.composite
    def program(draw: st.DrawFn) -> Program:
        count = draw(st.integers(min_value=1, max_value=max_nodes))
        out: Program = []
        left = max_leaves
        while len(out) < count and left > 0:
            drawn = draw(nodes[left - 1])
            out.append(drawn)
            left -= _leaves(drawn)
        return out

    return program()


def _leaves(node: Node) -> int:
    if isinstance(node, ParallelNode):
        return sum(_leaves(n) for branch in node.branches for n in branch)
    if isinstance(node, ChildNode):
        return sum(_leaves(n) for n in node.body)
    return 1


def crash_schedules(
    *, max_point: int = 30, max_points: int = 4
) -> st.SearchStrategy[CrashSchedule]:
    """Random crash schedules: a few crash points after checkpoints and around step attempts,
    sometimes a crash after every checkpoint, sometimes none."""
    _at_least(max_point, "crash_schedules max_point", 1)
    _at_least(max_points, "crash_schedules max_points", 0)
    points = st.frozensets(st.integers(min_value=1, max_value=max_point), max_size=max_points)
    return st.builds(
        CrashSchedule,
        after_checkpoints=points,
        before_attempts=points,
        after_attempts=points,
        every_checkpoint=st.sampled_from([False, False, False, True]),
    )


def _at_least(value: object, what: str, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValidationError(f"{what} must be a whole number >= {minimum}, got {shown(value)}")


def check_settings(**overrides: Any) -> settings:
    """Hypothesis settings for tests that run workflows: reproducible, and never flaky.

    No deadline (a run's time depends on the machine, and an example that is slow once and
    fast when replayed is what hypothesis reports as flaky), a search derived from the test
    itself (``derandomize``: the same examples on every run, so a failure in CI fails the same
    way on a laptop), no example database, and the health checks about slow data generation
    off. Keyword arguments override any of these (``max_examples=...``).
    """
    options: dict[str, Any] = {
        "deadline": None,
        "derandomize": True,
        "database": None,
        "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
    }
    options.update(overrides)
    return settings(**options)


def result_json(program: Sequence[Node]) -> str:
    """``expected_result(program)`` as the JSON payload the execution records."""
    return json.dumps(expected_result(program), separators=(",", ":"))
