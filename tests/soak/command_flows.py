"""The command soak's workflow: one of every command, each step logging its runs to a file.

``every_command(k)`` runs sequential steps, an at-most-once step without retries and one with
retries, a step that fails twice before it succeeds (retry delays), a wait, a Map with a
tolerated failure, a Parallel of a step and a child workflow that waits, a child context, an
``Invoke`` of a plain function and of a workflow (served with ``--register``), a
``WaitForCallback`` answered from another process, a saga rolled back, a
``WaitForCondition`` and a ``UUID()`` handed to a step. Steps log as in ``flows``: ``start
LABEL PID`` and ``end LABEL PID`` (``fail LABEL PID`` for a failed attempt, ``cb ID PID``
for the callback to answer), and each returns ``LABEL=value``. Labels start with ``x{k}.``.
"""

from __future__ import annotations

import functools
import os
from typing import Any

import durable_gen as dg

from . import flows


def _count(event: str, label: str) -> int:
    try:
        with open(os.environ[flows.LOG_ENV], encoding="utf-8") as log:
            return sum(1 for line in log if line.split()[:2] == [event, label])
    except FileNotFoundError:
        return 0


@dg.step(retry=dg.Retry.never())
def work(label: str, value: int) -> str:
    return flows._work(label, value)


@dg.step(semantics=dg.AT_MOST_ONCE, retry=dg.Retry.never())
def once(label: str) -> str:
    return flows._work(label, 0)


@dg.step(semantics=dg.AT_MOST_ONCE, retry=dg.Retry(max_attempts=3, initial_delay=1))
def once_retried(label: str) -> str:
    return flows._work(label, 1)


@dg.step(retry=dg.Retry(max_attempts=6, initial_delay=1, backoff=1.0, jitter="none"))
def flaky(label: str) -> str:
    """Fails until two of its failures are in the log: a retry state kept outside."""
    flows._log("start", label)
    if _count("fail", label) < 2:
        flows._log("fail", label)
        raise ConnectionError(f"{label}: not yet")
    flows._log("end", label)
    return f"{label}=ok"


@dg.step(retry=dg.Retry.never())
def map_item(item: str) -> str:
    if item.endswith("bad"):
        flows._log("fail", item)
        raise ValueError(f"{item} is bad")
    return flows._work(item, 2)


@dg.workflow
def waiting_branch(label: str):  # type: ignore[no-untyped-def]
    a = yield work(f"{label}.a", 1)
    yield dg.Wait(seconds=1, name="branch-wait")
    return [a, (yield work(f"{label}.b", 2))]


@dg.workflow
def child(label: str):  # type: ignore[no-untyped-def]
    return [(yield work(f"{label}.1", 10)), (yield work(f"{label}.2", 20))]


def tax(payload: dict[str, Any]) -> dict[str, int]:
    """A plain ``Invoke`` target: a side effect, logged, but not a step."""
    flows._log("call", payload["label"])
    return {"tax": payload["amount"] * 2}


@dg.workflow
def invoked(payload: dict[str, Any]):  # type: ignore[no-untyped-def]
    """A durable ``Invoke`` target: its own execution."""
    return {"inner": (yield work(payload["label"], payload["n"]))}


@dg.step(retry=dg.Retry(max_attempts=3, initial_delay=1))
def hand_over(callback_id: str) -> None:
    flows._log("cb", callback_id)


def undo(result: str) -> str:
    return flows._work(result.split("=")[0] + ".undo", 0)


@dg.step(compensate=undo, retry=dg.Retry.never())
def book(label: str) -> str:
    return flows._work(label, 3)


@dg.step(retry=dg.Retry.never())
def decline(label: str) -> str:
    flows._log("fail", label)
    raise RuntimeError(f"{label}: declined")


@dg.step
def poll(state: dict[str, Any]) -> dict[str, Any]:
    flows._work(f"{state['label']}.poll{state['n']}", 0)
    return {**state, "n": state["n"] + 1}


@dg.workflow
def every_command(k: int):  # type: ignore[no-untyped-def]
    p = f"x{k}"
    out: dict[str, Any] = {"seq": []}
    for i in range(2):
        out["seq"].append((yield work(f"{p}.seq{i}", k + i)))
    try:
        out["once"] = yield once(f"{p}.once")
    except dg.StepFailedError:  # interrupted by a kill: never run again
        out["once"] = "interrupted"
    try:
        out["once_retried"] = yield once_retried(f"{p}.onceR")
    except dg.StepFailedError:
        out["once_retried"] = "failed"
    out["flaky"] = yield flaky(f"{p}.flaky")
    yield dg.Wait(seconds=1, name="pause")
    batch = yield dg.Map(
        map_item,
        [f"{p}.m0", f"{p}.m1", f"{p}.m2", f"{p}.mbad"],
        name="fan",
        max_concurrency=2,
        completion=dg.Completion(tolerated_failure_count=1),
    )
    out["map"] = [batch.all_results(), batch.completion_reason]
    both = yield dg.Parallel(
        [
            dg.Branch(functools.partial(flows._work, f"{p}.pa", 0), name="pa"),
            dg.Branch(functools.partial(waiting_branch, f"{p}.pb"), name="pb"),
        ],
        name="par",
    )
    out["par"] = both.results()
    out["child"] = yield dg.Child(child, (f"{p}.child",), name="child")
    out["tax"] = yield dg.Invoke("tax", {"label": f"{p}.tax", "amount": k}, name="tax")
    out["invoked"] = yield dg.Invoke("invoked", {"label": f"{p}.inv", "n": k}, name="invoked")
    out["callback"] = yield dg.WaitForCallback(hand_over, name="approval")
    try:
        yield book(f"{p}.book")
        yield decline(f"{p}.decline")
    except dg.StepFailedError:
        out["saga"] = [u.status for u in (yield dg.RunCompensations())]
    out["condition"] = yield dg.WaitForCondition(
        poll,
        initial_state={"label": p, "n": 0},
        wait_strategy=dg.WaitStrategy(until=lambda s: s["n"] >= 2, delay=1),
        name="condition",
    )
    token = yield dg.UUID()
    out["token"] = [str(token), (yield work(f"{p}.token", token.int % 1000))]
    return out


def answer(k: int) -> str:
    """What the soak answers the callback of ``every_command(k)`` with."""
    return f"approved-{k}"


def _done(label: str, value: int) -> str:
    """What ``flows._work(label, value)`` returns."""
    return f"{label}={value * 3 + 1}"


def problems(k: int, out: dict[str, Any]) -> list[str]:
    """How ``out`` differs from the result of an uninterrupted ``every_command(k)``."""
    p = f"x{k}"
    want: dict[str, Any] = {
        "seq": [_done(f"{p}.seq0", k), _done(f"{p}.seq1", k + 1)],
        "flaky": f"{p}.flaky=ok",
        "map": [[_done(f"{p}.m{i}", 2) for i in range(3)] + [None], "ALL_COMPLETED"],
        "par": [_done(f"{p}.pa", 0), [_done(f"{p}.pb.a", 1), _done(f"{p}.pb.b", 2)]],
        "child": [_done(f"{p}.child.1", 10), _done(f"{p}.child.2", 20)],
        "tax": {"tax": 2 * k},
        "invoked": {"inner": _done(f"{p}.inv", k)},
        "callback": answer(k),
        "saga": ["SUCCEEDED"],
        "condition": {"label": p, "n": 2},
    }
    found = [
        f"{key}: {out.get(key)!r} != {value!r}"
        for key, value in want.items()
        if out.get(key) != value
    ]
    if out.get("once") not in (_done(f"{p}.once", 0), "interrupted"):
        found.append(f"once: {out.get('once')!r}")
    if out.get("once_retried") not in (_done(f"{p}.onceR", 1), "failed"):
        found.append(f"once_retried: {out.get('once_retried')!r}")
    token = out.get("token")
    if not token or token[1] != _done(f"{p}.token", int(token[0].replace("-", ""), 16) % 1000):
        found.append(f"token: the step got another UUID than the workflow: {token!r}")
    return found
