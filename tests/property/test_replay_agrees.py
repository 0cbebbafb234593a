"""``testing.replay`` and a resume on the engine agree on every code change: for random
programs, recorded on the engine up to a random point (suspended at waits and callbacks), and a
random edit of the program (a step added, removed or renamed, a Map's item count, nesting or
function changed, Parallel branches swapped, renamed or removed, a child's body changed, a child
made virtual or recorded; children may be virtual, Maps and Parallels flat), ``replay`` of
the edited code says ``diverged`` exactly when resuming the execution with the edited code
fails with ``NonDeterminismError``."""

from __future__ import annotations

import copy
from collections.abc import Generator
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

import durable_gen as dg
from durable_gen.testing import DurableRun, TestRunner, replay
from durable_gen.testing import strategies as s

#: Nodes are plain dicts (``msgspec.to_builtins`` of the strategies' nodes), so that an edit can
#: also give a node an explicit name, a Map its nesting, a Parallel its branch names.
Tree = list[dict[str, Any]]

SENTINEL = "sentinel:success:0"  # answered only after the new code is deployed


@dg.step(retry=dg.Retry.never())
def value_of(value: int) -> int:
    return value


@dg.step(retry=dg.Retry.never())
def failing(value: int) -> int:
    raise ValueError(f"planned failure of {value}")


@dg.step(retry=dg.Retry.never())
def double(item: int) -> int:
    if item < 0:
        raise ValueError(f"planned failure of item {item}")
    return item * 2


@dg.step(retry=dg.Retry.never())
def triple(item: int) -> int:
    """What an edit puts in place of ``double``."""
    if item < 0:
        raise ValueError(f"planned failure of item {item}")
    return item * 3


def submit(callback_id: str) -> None:
    """Nothing to send: the test answers from outside."""


def workflow_of(tree: Tree, sentinel: bool) -> Any:
    def program(_: Any) -> Generator[Any, Any, Any]:
        out = yield from run_nodes(tree, "p")
        if sentinel:
            yield dg.WaitForCallback(submit, name=SENTINEL)
        return out

    return program


def run_nodes(nodes: Tree, path: str) -> Generator[Any, Any, list[Any]]:
    out: list[Any] = []
    for i, node in enumerate(nodes):
        here = f"{path}.{i}"
        name = node.get("name", here)
        kind = node["type"]
        if kind == "step":
            fn = failing if node["outcome"] == "fail" else value_of
            try:
                out.append(
                    (yield dg.Step(fn.fn, (node["value"],), name=name, retry=dg.Retry.never()))
                )
            except dg.StepFailedError:
                out.append("failed")
        elif kind == "wait":
            yield dg.Wait(seconds=node["seconds"], name=name)
            out.append("waited")
        elif kind == "callback":
            timeout = 60 if node["answer"] == "timeout" else 86_400
            try:
                out.append(
                    (yield dg.WaitForCallback(
                        submit, name=f"{name}:{node['answer']}:{node['value']}", timeout=timeout
                    ))
                )  # fmt: skip
            except dg.CallbackTimeoutError:
                out.append("timeout")
            except dg.CallbackFailedError:
                out.append("callback-failed")
        elif kind == "map":
            fn = triple if node.get("fn") == "triple" else double
            batch = yield dg.Map(
                waiting_item(node["wait"], fn) if node.get("wait") else fn,
                node["items"],
                name=name,
                nesting=node.get("nesting", "nested"),
                completion=dg.Completion.all_completed(),
            )
            out.append([x.result if x.succeeded else "failed" for x in batch.items])
        elif kind == "parallel":
            names = node.get("names") or [f"{here}.{j}" for j in range(len(node["branches"]))]
            branches = [
                dg.Branch(branch_of(body, f"{here}.{j}"), name=names[j])
                for j, body in enumerate(node["branches"])
            ]
            batch = yield dg.Parallel(
                branches,
                name=name,
                nesting=node.get("nesting", "nested"),
                completion=dg.Completion.all_completed(),
            )
            out.append([x.result if x.succeeded else "failed" for x in batch.items])
        else:
            virtual = node.get("virtual", False)
            out.append((yield dg.Child(child, (node["body"], here), name=name, virtual=virtual)))
    return out


def waiting_item(seconds: int, fn: Any) -> Any:
    """A Map item that waits before its step (so an execution can wait inside a Map)."""

    def item(x: int, i: int) -> Generator[Any, Any, Any]:
        yield dg.Wait(seconds=seconds + i, name="item-wait")
        try:
            return (yield fn(x))
        except dg.StepFailedError:
            return "failed"

    return item


def branch_of(body: Tree, path: str) -> Any:
    def branch() -> Generator[Any, Any, list[Any]]:
        return (yield from run_nodes(body, path))

    return branch


def child(body: Tree, path: str) -> Generator[Any, Any, list[Any]]:
    return (yield from run_nodes(body, path))


# --- edits ---------------------------------------------------------------------------------------


def bodies(tree: Tree) -> list[Tree]:
    """Every list of nodes in the tree: the root, child bodies, Parallel branches."""
    out = [tree]
    for node in tree:
        if node["type"] == "child":
            out += bodies(node["body"])
        elif node["type"] == "parallel":
            for body in node["branches"]:
                out += bodies(body)
    return out


def nodes_of(tree: Tree, kind: str) -> list[dict[str, Any]]:
    return [node for body in bodies(tree) for node in body if node["type"] == kind]


def applicable(tree: Tree) -> list[str]:
    """The edits that change ``tree``, then ``none`` (the batch edits first: hypothesis draws
    the first ones more often)."""
    out = []
    if nodes_of(tree, "map"):
        out += ["map-items", "map-nesting", "map-function"]
    if any(len(node["branches"]) > 1 for node in nodes_of(tree, "parallel")):
        out.append("swap-branches")
    if nodes_of(tree, "parallel"):
        out.append("rename-branch")
    if nodes_of(tree, "step"):
        out.append("rename-step")
    if nodes_of(tree, "child"):
        out.append("toggle-virtual")
    if any(len(node["branches"]) > 1 for node in nodes_of(tree, "parallel")):
        out.append("remove-branch")
    out.append("remove-node")  # every body has a node
    return [*out, "add-step", "change-kind", "none"]


@st.composite
def edited(draw: st.DrawFn, tree: Tree) -> tuple[str, Tree]:
    """An edit of ``tree`` and the edited copy."""
    kind = draw(st.sampled_from(applicable(tree)))
    new = copy.deepcopy(tree)

    def pick(seq: list[Any]) -> Any:
        return seq[draw(st.integers(min_value=0, max_value=len(seq) - 1))]

    if kind == "add-step":
        body = pick(bodies(new))
        body.insert(draw(st.integers(0, len(body))), {"type": "step", "value": 7, "outcome": "ok"})
    elif kind == "remove-node":
        body = pick(bodies(new))
        del body[draw(st.integers(0, len(body) - 1))]
    elif kind == "rename-step":
        pick(nodes_of(new, "step"))["name"] = "renamed"
    elif kind == "map-items":
        node = pick(nodes_of(new, "map"))
        if node["items"] and draw(st.booleans()):
            node["items"].pop()
        else:
            node["items"].append(1)
    elif kind == "map-nesting":
        node = pick(nodes_of(new, "map"))
        node["nesting"] = "nested" if node.get("nesting") == "flat" else "flat"
    elif kind == "map-function":
        pick(nodes_of(new, "map"))["fn"] = "triple"
    elif kind == "swap-branches":
        node = pick([node for node in nodes_of(new, "parallel") if len(node["branches"]) > 1])
        node["branches"].reverse()
        node["names"].reverse()
    elif kind == "rename-branch":
        pick(nodes_of(new, "parallel"))["names"][-1] = "renamed"
    elif kind == "remove-branch":
        node = pick([node for node in nodes_of(new, "parallel") if len(node["branches"]) > 1])
        j = draw(st.integers(0, len(node["branches"]) - 1))
        del node["branches"][j]
        del node["names"][j]
    elif kind == "toggle-virtual":
        node = pick(nodes_of(new, "child"))
        node["virtual"] = not node.get("virtual", False)
    elif kind == "change-kind":
        body = pick(bodies(new))
        i = draw(st.integers(0, len(body) - 1))
        body[i] = {"type": "wait", "seconds": 5} if body[i]["type"] != "wait" else {
            "type": "step", "value": 1, "outcome": "ok"
        }  # fmt: skip
    return kind, new


# --- driving the engine --------------------------------------------------------------------------


def answer(run: DurableRun, *, sentinel: bool) -> None:
    """Answer the open callbacks as the program says (the sentinel only when asked)."""
    ops = run.runner.service.get_operations(run.arn)
    names = {op.id: op.name for op in ops if op.type == "CONTEXT"}
    for op in ops:
        if op.type != "CALLBACK" or op.status != "STARTED" or op.callback_details is None:
            continue
        label = names.get(op.parent_id or "") or ""
        callback_id = op.callback_details.callback_id
        if callback_id is None or (label == SENTINEL and not sentinel):
            continue
        _, _, spec = label.partition(":")
        how, _, value = spec.partition(":")
        if how == "success":
            run.runner.send_callback_success(callback_id, int(value))
        elif how == "failure":
            run.runner.send_callback_failure(callback_id, "Planned", "planned callback failure")


def drive(runner: TestRunner, run: DurableRun, rounds: int, *, sentinel: bool) -> None:
    """Up to ``rounds`` rounds of answering callbacks and moving to the next timer."""
    runner.run_until_idle()
    for _ in range(rounds):
        if run.done:
            return
        before = len(run.history())
        answer(run, sentinel=sentinel)
        runner.run_until_idle()
        if len(run.history()) == before and not runner.advance_to_next_timer():
            return


SETTINGS = s.check_settings(max_examples=150)
PROGRAMS = s.programs(max_nodes=3, max_leaves=5)


@SETTINGS
@given(st.data(), PROGRAMS, st.integers(min_value=0, max_value=4))
def test_replay_diverges_exactly_when_the_engine_resume_fails(
    data: st.DataObject, program: s.Program, rounds: int
) -> None:
    check_agreement(data, program, rounds)


def check_agreement(data: st.DataObject, program: s.Program, rounds: int) -> None:
    """Record ``program`` for ``rounds`` rounds, edit it, and compare both routes."""
    tree: Tree = msgspec.to_builtins(list(program))
    for node in nodes_of(tree, "parallel"):  # named branches, so that an edit can rename one
        node["names"] = [f"b{j}" for j in range(len(node["branches"]))]
        node["nesting"] = data.draw(st.sampled_from(["nested", "flat"]), label="nesting")
    for node in nodes_of(tree, "map"):  # items that wait, so that it can wait inside a Map
        node["wait"] = data.draw(st.sampled_from([10, 0]), label="map items wait")
        node["nesting"] = data.draw(st.sampled_from(["nested", "flat"]), label="map nesting")
    kind, new_tree = data.draw(edited(tree), label="edit")
    # With the sentinel, the workflow returns in an invocation after the last one the old code
    # ran; without it, maybe in the same one (then what completed in it is still expanded).
    sentinel = data.draw(st.booleans(), label="sentinel")
    compare(tree, new_tree, rounds, sentinel, kind)


def compare(tree: Tree, new_tree: Tree, rounds: int, sentinel: bool, kind: str) -> bool | None:
    """Both routes agree on ``new_tree`` for an execution of ``tree`` run ``rounds`` rounds."""
    old, new = workflow_of(tree, sentinel), workflow_of(new_tree, sentinel)
    runner = TestRunner(skip_time=False)
    run = runner.start(old, None)
    drive(runner, run, rounds, sentinel=False)
    if run.done:  # nothing left to resume (possible only without the sentinel)
        assert not sentinel and run.status == "SUCCEEDED", run.error
        return None
    history = run.history()

    report = replay(new, history)
    runner.deploy(old, new)
    drive(runner, run, 50, sentinel=True)
    assert run.done, f"the resumed execution did not end ({kind})"
    failed = run.error is not None and run.error.error_type == "NonDeterminismError"

    assert (report.status == "diverged") == failed, (kind, report, run.error)
    if kind == "none":
        assert report.status in ("ok", "incomplete") and run.status == "SUCCEEDED", report
    assert report.status != "failed" or run.status == "FAILED", (report, run.error)
    return failed


# --- a corpus of changes, each on both routes ---------------------------------------------------


def step(value: int = 1) -> dict[str, Any]:
    return {"type": "step", "value": value, "outcome": "ok"}


def wait(seconds: int = 5) -> dict[str, Any]:
    return {"type": "wait", "seconds": seconds}


def mapping(items: list[int], **extra: Any) -> dict[str, Any]:
    return {"type": "map", "items": items, **extra}


def parallel(
    *branches: Tree, names: list[str] | None = None, nesting: str = "nested"
) -> dict[str, Any]:
    return {
        "type": "parallel",
        "branches": list(branches),
        "names": names or ["a", "b", "c"],
        "nesting": nesting,
    }


def child_node(*body: dict[str, Any], virtual: bool = False) -> dict[str, Any]:
    return {"type": "child", "body": list(body), "virtual": virtual}


def callback(value: int = 3) -> dict[str, Any]:
    return {"type": "callback", "value": value, "answer": "success"}


#: change: (old program, new program, whether it diverges when recorded until the first wait)
CORPUS: dict[str, tuple[Tree, Tree, bool]] = {
    "map items reduced while waiting inside": (
        [mapping([1, 2, 3], wait=10)],
        [mapping([1, 2], wait=10)],
        True,
    ),
    "map items added while waiting inside": (
        [mapping([1, 2], wait=10)],
        [mapping([1, 2, 3], wait=10)],
        False,
    ),
    "map nesting changed while waiting inside": (
        [mapping([1, 2], wait=10)],
        [mapping([1, 2], wait=10, nesting="flat")],
        True,
    ),
    "map items reduced after it completed": (
        [mapping([1, 2, 3]), wait()],
        [mapping([1, 2]), wait()],
        True,
    ),
    "branches swapped while waiting in one": (
        [parallel([step(), wait()], [step(2)], names=["a", "b"])],
        [parallel([step(2)], [step(), wait()], names=["b", "a"])],
        True,
    ),
    "branch renamed while waiting in it": (
        [parallel([wait()], [step()], names=["a", "b"])],
        [parallel([wait()], [step()], names=["a", "c"])],
        True,
    ),
    "branch added after the batch completed": (
        [parallel([step()], names=["a"]), wait()],
        [parallel([step()], [step(2)], names=["a", "b"]), wait()],
        True,
    ),
    "wait removed from a child waiting in it": (
        [child_node(step(), wait())],
        [child_node(step())],
        True,
    ),
    "step renamed in a child before its wait": (
        [child_node(step(), wait())],
        [child_node({**step(), "name": "renamed"}, wait())],
        True,
    ),
    "callback removed while waiting on it": (
        [step(), callback()],
        [step()],
        True,
    ),
    "callback moved into a child": (
        [callback()],
        [child_node(callback())],
        True,
    ),
    "callback removed from a branch waiting on it": (
        [parallel([step(), callback()], [step(2)], names=["a", "b"])],
        [parallel([step()], [step(2)], names=["a", "b"])],
        True,
    ),
    "map items reduced in a child while waiting inside": (
        [child_node(step(), mapping([1, 2, 3], wait=10))],
        [child_node(step(), mapping([1, 2], wait=10))],
        True,
    ),
    # the branch completed: it replays from its record, the Map in it is not re-entered
    "map items reduced in a completed branch while another waits on a callback": (
        [parallel([mapping([1, 2, 3])], [callback()], names=["a", "b"])],
        [parallel([mapping([1, 2])], [callback()], names=["a", "b"])],
        False,
    ),
    "map function replaced after it completed": (
        [mapping([1, 2, 3]), wait()],
        [mapping([1, 2, 3], fn="triple"), wait()],
        True,
    ),
    # the items wait before their step: none recorded it, the new function runs
    "map items' step replaced while they wait before it": (
        [mapping([1, 2], wait=10)],
        [mapping([1, 2], wait=10, fn="triple")],
        False,
    ),
    "map function replaced in a completed branch while another waits on a callback": (
        [parallel([mapping([1, 2])], [callback()], names=["a", "b"])],
        [parallel([mapping([1, 2], fn="triple")], [callback()], names=["a", "b"])],
        False,
    ),
    "map function replaced in a branch waiting on a callback": (
        [parallel([mapping([1, 2]), callback()], [step()], names=["a", "b"])],
        [parallel([mapping([1, 2], fn="triple"), callback()], [step()], names=["a", "b"])],
        True,
    ),
    "step added at the end of a branch waiting on a callback": (
        [parallel([callback()], [step()], names=["a", "b"])],
        [parallel([callback(), step(9)], [step()], names=["a", "b"])],
        False,
    ),
    "step removed at the end of a virtual child before a callback": (
        [child_node(step(), step(2), virtual=True), callback()],
        [child_node(step(), virtual=True), callback()],
        True,
    ),
    "step removed at the end of a flat branch while another waits": (
        [parallel([callback()], [step(), step(2)], names=["a", "b"], nesting="flat")],
        [parallel([callback()], [step()], names=["a", "b"], nesting="flat")],
        True,
    ),
    "child made virtual after it completed": (
        [child_node(step()), callback()],
        [child_node(step(), virtual=True), callback()],
        True,
    ),
    "step added at the end of a virtual child waiting on a callback": (
        [child_node(step(), callback(), virtual=True)],
        [child_node(step(), callback(), step(9), virtual=True)],
        False,
    ),
    "unchanged": (
        [parallel([mapping([1, 2], wait=10)], [child_node(wait(), callback())], names=["a", "b"])],
        [parallel([mapping([1, 2], wait=10)], [child_node(wait(), callback())], names=["a", "b"])],
        False,
    ),
}


@pytest.mark.parametrize("sentinel", [False, True], ids=["returns-at-once", "returns-later"])
@pytest.mark.parametrize("rounds", [0, 1])
@pytest.mark.parametrize("change", list(CORPUS))
def test_replay_and_resume_agree_on_each_change(change: str, rounds: int, sentinel: bool) -> None:
    old, new, diverges = CORPUS[change]
    failed = compare(copy.deepcopy(old), copy.deepcopy(new), rounds, sentinel, change)
    if rounds == 0:
        assert failed is diverges, change
