"""Workflows of the shape soak: wide fan-outs, nesting, invoke chains, callbacks, long runs.

Every step appends ``start LABEL PID`` before its work and ``end LABEL PID`` after it to the
file named by ``flows.LOG_ENV`` (``fail LABEL PID`` for a step that fails by design, ``cb ID
PID`` for a callback to answer), so that real runs are counted outside the engine's records.
Labels start with ``e{k}.``; a step returns ``LABEL=value`` (``value * 3 + 1``). Labels of
at-most-once steps end with ``.o`` (``is_at_most_once``).

- ``fan(k)``: a Map of 24 items, each a child workflow of an at-least-once step and an
  at-most-once step (an interruption is caught and noted); a Map with failing items under
  ``tolerated_failure_count``; a Map of at-most-once steps under
  ``tolerated_failure_percentage``; a Parallel with a failing branch tolerated.
- ``nest(k)``: Child contexts three deep (a Map and a virtual Child at the bottom) and an
  at-most-once step between them.
- ``chain(k)``: ``Invoke`` of the workflow ``mid``, which invokes the workflow ``leaf``.
- ``callbacks(k)``: a ``WaitForCallback`` and a ``CreateCallback``, answered from outside.
- ``long(k)``: sequential steps of up to 0.2 s each, to stop or SIGTERM mid-way.
"""

from __future__ import annotations

import functools
import itertools
import os
import random
import re
import time
from typing import Any

import durable_gen as dg

from . import flows

MAP_ITEMS = 24
TOLERANT_ITEMS = 9  # items 2 and 6 fail
AMO_ITEMS = 6
LONG_STEPS = 20


def _log(event: str, label: str) -> None:
    """One line, one ``write`` on a file opened for appending: processes never mix lines."""
    fd = os.open(os.environ[flows.LOG_ENV], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{event} {label} {os.getpid()}\n".encode())
    finally:
        os.close(fd)


def _work(label: str, value: int, longest: float = 0.01) -> str:
    _log("start", label)
    time.sleep(random.uniform(0, longest))
    _log("end", label)
    return done(label, value)


def done(label: str, value: int) -> str:
    """What a step labelled ``label`` returns for ``value``."""
    return f"{label}={value * 3 + 1}"


def is_at_most_once(label: str) -> bool:
    return label.endswith(".o")


@dg.step(retry=dg.Retry.never())
def work(label: str, value: int) -> str:
    return _work(label, value)


@dg.step(retry=dg.Retry.never())
def slow(label: str, value: int) -> str:
    return _work(label, value, 0.2)


@dg.step(semantics=dg.AT_MOST_ONCE, retry=dg.Retry.never())
def once(label: str) -> str:
    return _work(label, 7)


@dg.step(retry=dg.Retry.never())
def maybe_bad(label: str) -> str:
    if label.endswith("bad"):
        _log("fail", label)
        raise ValueError(f"{label} is bad")
    return _work(label, 3)


INTERRUPTED = "interrupted"


def item(label: str):  # type: ignore[no-untyped-def]
    a = yield work(f"{label}.a", 1)
    try:
        b = yield once(f"{label}.o")
    except dg.StepFailedError as exc:  # a kill interrupted it: it is not run again
        if exc.error_type != "StepInterruptedError":
            raise
        b = INTERRUPTED
    return [a, b]


def branch(label: str):  # type: ignore[no-untyped-def]
    return [(yield work(f"{label}.1", 1)), (yield work(f"{label}.2", 2))]


def bad_branch(label: str):  # type: ignore[no-untyped-def]
    yield work(f"{label}.1", 1)
    yield maybe_bad(f"{label}.bad")
    return "never"


def _tolerant_label(p: str, i: int) -> str:
    return f"{p}.t{i}" + ("bad" if i in (2, 6) else "")


@dg.workflow
def fan(k: int):  # type: ignore[no-untyped-def]
    p = f"e{k}"
    first = yield work(f"{p}.first", 1)
    many = yield dg.Map(item, [f"{p}.m{i}" for i in range(MAP_ITEMS)], max_concurrency=12,
                        name="many")  # fmt: skip
    tolerant = yield dg.Map(
        maybe_bad,
        [_tolerant_label(p, i) for i in range(TOLERANT_ITEMS)],
        max_concurrency=4,
        completion=dg.Completion(tolerated_failure_count=2),
        name="tolerant",
    )
    amo = yield dg.Map(
        once,
        [f"{p}.a{i}.o" for i in range(AMO_ITEMS)],
        completion=dg.Completion(tolerated_failure_percentage=100),
        name="amo",
    )
    par = yield dg.Parallel(
        [
            dg.Branch(functools.partial(branch, f"{p}.pa"), name="pa"),
            dg.Branch(functools.partial(branch, f"{p}.pb"), name="pb"),
            dg.Branch(functools.partial(bad_branch, f"{p}.pc"), name="pc"),
        ],
        completion=dg.Completion(tolerated_failure_count=1),
        name="par",
    )
    last = yield work(f"{p}.last", 2)
    return {
        "first": first,
        "many": [many.all_results(), many.completion_reason],
        "tolerant": [tolerant.all_results(), tolerant.completion_reason, tolerant.failure_count],
        "amo": [[i.status, i.result, i.error and i.error.error_type] for i in amo.items],
        "par": [par.all_results(), par.completion_reason],
        "last": last,
    }


def bottom(label: str):  # type: ignore[no-untyped-def]
    x = yield work(f"{label}.x", 1)
    ys = yield dg.Map(work_item, [f"{label}.y{i}" for i in range(3)], max_concurrency=2)
    return [x, ys.get_results()]


def work_item(label: str) -> str:
    return _work(label, 1)


def middle(label: str):  # type: ignore[no-untyped-def]
    w = yield work(f"{label}.w", 2)
    recorded = yield dg.Child(bottom, (f"{label}.c3",), name="c3")
    virtual = yield dg.Child(bottom, (f"{label}.v3",), name="v3", virtual=True)
    return [w, recorded, virtual]


def top(label: str):  # type: ignore[no-untyped-def]
    u = yield work(f"{label}.u", 3)
    return [u, (yield dg.Child(middle, (f"{label}.c2",), name="c2"))]


@dg.workflow
def nest(k: int):  # type: ignore[no-untyped-def]
    p = f"e{k}"
    first = yield dg.Child(top, (f"{p}.c1",), name="c1")
    try:
        between = yield once(f"{p}.once.o")
    except dg.StepFailedError as exc:
        if exc.error_type != "StepInterruptedError":
            raise
        between = INTERRUPTED
    return [first, between, (yield dg.Child(top, (f"{p}.d1",), name="d1"))]


@dg.workflow
def leaf(payload: dict[str, Any]):  # type: ignore[no-untyped-def]
    a = yield work(f"{payload['label']}.leaf1", payload["n"])
    return {"leaf": [a, (yield slow(f"{payload['label']}.leaf2", payload["n"]))]}


@dg.workflow
def mid(payload: dict[str, Any]):  # type: ignore[no-untyped-def]
    a = yield work(f"{payload['label']}.mid1", payload["n"])
    inner = yield dg.Invoke("leaf", {"label": payload["label"], "n": payload["n"] + 1},
                            name="to-leaf")  # fmt: skip
    return {"mid": [a, (yield work(f"{payload['label']}.mid2", payload["n"]))], "inner": inner}


@dg.workflow
def chain(k: int):  # type: ignore[no-untyped-def]
    p = f"e{k}"
    a = yield work(f"{p}.top1", 0)
    inner = yield dg.Invoke("mid", {"label": p, "n": 5}, name="to-mid")
    return {"top": [a, (yield work(f"{p}.top2", 0))], "inner": inner}


@dg.step(retry=dg.Retry(max_attempts=3, initial_delay=1))
def hand_over(callback_id: str) -> None:
    _log("cb", callback_id)


@dg.workflow
def callbacks(k: int):  # type: ignore[no-untyped-def]
    p = f"e{k}"
    a = yield work(f"{p}.cb0", 0)
    first = yield dg.WaitForCallback(hand_over, name="approve")
    b = yield work(f"{p}.cb1", 1)
    handle = yield dg.CreateCallback(name="second")
    yield hand_over(handle.callback_id)
    second = yield handle
    return [a, first, b, second, (yield work(f"{p}.cb2", 2))]


def answer(callback_id: str) -> str:
    """What the soak answers a callback with (its result names the id)."""
    return f"ok-{callback_id}"


@dg.workflow
def long(k: int):  # type: ignore[no-untyped-def]
    out = []
    for i in range(LONG_STEPS):
        out.append((yield slow(f"e{k}.s{i}", i)))
    return out


#: Each workflow, by the name ``kind_of`` gives it.
WORKFLOWS = {"fan": fan, "nest": nest, "chain": chain, "callbacks": callbacks, "long": long}


def _nest_want(p: str, between: Any) -> list[Any]:
    def bottom_want(label: str) -> list[Any]:
        return [done(f"{label}.x", 1), [done(f"{label}.y{i}", 1) for i in range(3)]]

    def top_want(label: str) -> list[Any]:
        m = f"{label}.c2"
        return [
            done(f"{label}.u", 3),
            [done(f"{m}.w", 2), bottom_want(f"{m}.c3"), bottom_want(f"{m}.v3")],
        ]

    return [top_want(f"{p}.c1"), between, top_want(f"{p}.d1")]


def problems(kind: str, k: int, out: Any) -> list[str]:
    """How ``out`` differs from what an uninterrupted run of ``kind`` with input ``k`` returns
    (an at-most-once step cut short by a kill may say ``interrupted``)."""
    p = f"e{k}"
    found: list[str] = []
    if kind == "fan":
        want_many = [[done(f"{p}.m{i}.a", 1), done(f"{p}.m{i}.o", 7)] for i in range(MAP_ITEMS)]
        got_many, reason = out["many"]
        for i, (got, want) in enumerate(zip(got_many, want_many, strict=True)):
            if got != want and got != [want[0], INTERRUPTED]:
                found.append(f"many[{i}]: {got!r}")
        want_tolerant = [
            None if "bad" in label else done(label, 3)
            for label in (_tolerant_label(p, i) for i in range(TOLERANT_ITEMS))
        ]
        checks = [
            ("first", out["first"], done(f"{p}.first", 1)),
            ("last", out["last"], done(f"{p}.last", 2)),
            ("many reason", reason, "ALL_COMPLETED"),
            ("tolerant", out["tolerant"], [want_tolerant, "ALL_COMPLETED", 2]),
            (
                "par",
                out["par"],
                [
                    [
                        [done(f"{p}.pa.1", 1), done(f"{p}.pa.2", 2)],
                        [done(f"{p}.pb.1", 1), done(f"{p}.pb.2", 2)],
                        None,
                    ],
                    "ALL_COMPLETED",
                ],
            ),
        ]
        found += [f"{name}: {got!r} != {want!r}" for name, got, want in checks if got != want]
        for i, got in enumerate(out["amo"]):
            ok = ["SUCCEEDED", done(f"{p}.a{i}.o", 7), None]
            if got not in (ok, ["FAILED", None, "StepInterruptedError"]):
                found.append(f"amo[{i}]: {got!r}")
    elif kind == "nest":
        if out not in (_nest_want(p, done(f"{p}.once.o", 7)), _nest_want(p, INTERRUPTED)):
            found.append(f"nest: {out!r}")
    elif kind == "chain":
        want = {
            "top": [done(f"{p}.top1", 0), done(f"{p}.top2", 0)],
            "inner": {
                "mid": [done(f"{p}.mid1", 5), done(f"{p}.mid2", 5)],
                "inner": {"leaf": [done(f"{p}.leaf1", 6), done(f"{p}.leaf2", 6)]},
            },
        }
        if out != want:
            found.append(f"chain: {out!r} != {want!r}")
    elif kind == "callbacks":
        steps = [out[0], out[2], out[4]]
        if steps != [done(f"{p}.cb{i}", i) for i in range(3)]:
            found.append(f"callbacks: steps {steps!r}")
        if not all(isinstance(x, str) and x.startswith("ok-") for x in (out[1], out[3])):
            found.append(f"callbacks: answers {out[1]!r}, {out[3]!r}")
    elif kind == "long" and out != [done(f"{p}.s{i}", i) for i in range(LONG_STEPS)]:
        found.append(f"long: {out!r}")
    return found


def order(kind: str, k: int) -> list[tuple[str, str]]:
    """Pairs of label patterns (regular expressions): no step matching the first may start
    once a step matching the second has started. A step runs again only when its success was
    not recorded, and the workflow goes past a step only once it is recorded: a step started
    after its successor is a recorded step run again, or a record lost after it was used."""
    p = re.escape(f"e{k}")
    if kind == "fan":
        pairs = [(rf"{p}\.m{i}\.a", rf"{p}\.m{i}\.o") for i in range(MAP_ITEMS)]
        stages = [r"first", r"m\d+\.[ao]", r"t\d+(bad)?", r"a\d+\.o", r"p[abc]\.\w+", r"last"]
        return pairs + [(rf"{p}\.{a}", rf"{p}\.{b}") for a, b in itertools.pairwise(stages)]
    if kind == "nest":
        seq = [r"c1\.u", r"c1\.c2\.w", r"c1\.c2\.c3\.x", r"c1\.c2\.c3\.y\d", r"c1\.c2\.v3\.x",
               r"c1\.c2\.v3\.y\d", r"once\.o", r"d1\.u", r"d1\.c2\.w"]  # fmt: skip
    elif kind == "chain":
        seq = ["top1", "mid1", "leaf1", "leaf2", "mid2", "top2"]
    elif kind == "callbacks":
        seq = ["cb0", "cb1", "cb2"]
    else:
        seq = [rf"s{i}" for i in range(LONG_STEPS)]
    return [(rf"{p}\.{a}", rf"{p}\.{b}") for a, b in itertools.pairwise(seq)]
