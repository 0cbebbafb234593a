"""Workflows of the round-13 crash trials (importable by the processes they start).

Each step body appends ``start|end LABEL PID`` to the file ``STEP_LOG`` names (a label is
unique to one step of one execution), so a trial counts the runs of every step body across
processes. A callback's id is handed over by a step that writes it to ``OUTBOX/KEY``, where
the trial picks it up and answers it from another process (the command line or the Python
API), as an outside system would.
"""

from __future__ import annotations

import functools
import os
import time
from typing import Any

import durable_gen as dg


def _log(event: str, label: str) -> None:
    with open(os.environ["STEP_LOG"], "a", encoding="utf-8") as log:
        log.write(f"{event} {label} {os.getpid()}\n")


def _body(label: str) -> str:
    """A side effect that takes a moment, so kills at drawn moments land inside some bodies."""
    _log("start", label)
    time.sleep(0.05)
    _log("end", label)
    return label.upper()


@dg.step
def work(label: str) -> str:
    return _body(label)


def _work(label: str) -> dg.Step[str]:
    """An at-least-once step named by its label."""
    return dg.Step(work, (label,), name=label)


@dg.step(semantics=dg.AT_MOST_ONCE, retry=dg.Retry.never())
def once(label: str) -> str:
    return _body(label)


def _once(label: str):  # type: ignore[no-untyped-def]
    """An at-most-once step without retries, named by its label: its result, or
    ``interrupted``."""
    try:
        return (yield dg.Step(once, (label,), name=label))
    except dg.StepFailedError as exc:
        assert exc.error_type == "StepInterruptedError", exc.error_type
        return "interrupted"


@dg.step
def post(key: str, callback_id: str) -> None:
    """Hands a callback id over (the same id on every run)."""
    _log("start", f"{key}.post")
    path = os.path.join(os.environ["OUTBOX"], key)
    with open(path + ".tmp", "w", encoding="utf-8") as out:
        out.write(callback_id)
    os.replace(path + ".tmp", path)
    _log("end", f"{key}.post")


def _answer(handle: Any):  # type: ignore[no-untyped-def]
    """The callback's answer: the result sent, or ``failed:TYPE`` for a failure sent."""
    try:
        return (yield handle)
    except dg.CallbackFailedError as exc:
        return f"failed:{exc.error_type}"


# --- a Map whose items wait on callbacks answered from other processes ---------------------------

ITEMS = 4
#: the waits of the items: their timers fall due while workers die
ITEM_WAIT = 1


def item(tag: str, index: int):  # type: ignore[no-untyped-def]
    key = f"{tag}.i{index}"
    first = yield _work(f"{key}.w")
    handle = yield dg.CreateCallback(name="answer", timeout=600)
    yield dg.Step(post, (key, handle.callback_id), name=f"{key}.post")
    yield dg.Wait(seconds=ITEM_WAIT, name="pause")
    answer = yield from _answer(handle)
    last = yield from _once(f"{key}.once")
    return [first, answer, last]


@dg.workflow
def child(tag: str):  # type: ignore[no-untyped-def]
    key = f"{tag}.child"
    first = yield _work(f"{key}.w")
    handle = yield dg.CreateCallback(name="child-answer", timeout=600)
    yield dg.Step(post, (key, handle.callback_id), name=f"{key}.post")
    answer = yield from _answer(handle)
    return [first, answer, (yield from _once(f"{key}.once"))]


@dg.workflow
def fan(tag: str):  # type: ignore[no-untyped-def]
    a = yield _work(f"{tag}.a")
    try:
        invoked: Any = yield dg.Invoke("r13-child", tag, name="child")
    except dg.InvokeFailedError as exc:
        invoked = f"invoke:{exc.error_type}"
    batch = yield dg.Map(
        functools.partial(item, tag),
        list(range(ITEMS)),
        max_concurrency=2,
        name="items",
    )
    z = yield _work(f"{tag}.z")
    return [a, invoked, batch.results(), z]


REGISTER = ["--register", "r13-child=tests.soak.round13_flows:child"]


def fan_result(tag: str, once: dict[str, str], answers: dict[str, Any], invoked: Any) -> list[Any]:
    """What an uninterrupted run returns, given each at-most-once step's outcome (label ->
    result or ``interrupted``), the answer each callback got (key -> answer) and the child's."""
    up = tag.upper()
    items = [
        [
            f"{up}.I{i}.W",
            answers[f"{tag}.i{i}"],
            once.get(f"{tag}.i{i}.once", f"{up}.I{i}.ONCE"),
        ]
        for i in range(ITEMS)
    ]
    return [f"{up}.A", invoked, items, f"{up}.Z"]


def child_result(tag: str, once: dict[str, str], answer: Any) -> list[Any]:
    up = tag.upper()
    return [f"{up}.CHILD.W", answer, once.get(f"{tag}.child.once", f"{up}.CHILD.ONCE")]


# --- timers of several lengths coming due across restarts ---------------------------------------

#: the waits of ``timers``' branches, in seconds
WAITS = (1, 2, 3)


def _timed(tag: str, k: int, seconds: int):  # type: ignore[no-untyped-def]
    before = yield _work(f"{tag}.t{k}.before")
    yield dg.Wait(seconds=seconds, name=f"wait{k}")
    return [before, (yield from _once(f"{tag}.t{k}.once"))]


@dg.workflow
def timers(tag: str):  # type: ignore[no-untyped-def]
    branches = yield dg.Parallel(
        [
            dg.Branch(functools.partial(_timed, tag, k, seconds), name=f"b{k}")
            for k, seconds in enumerate(WAITS)
        ],
        name="timers",
    )
    yield dg.Wait(seconds=1, name="tail")
    return [branches.results(), (yield _work(f"{tag}.end"))]


def timers_result(tag: str, once: dict[str, str]) -> list[Any]:
    up = tag.upper()
    return [
        [
            [f"{up}.T{k}.BEFORE", once.get(f"{tag}.t{k}.once", f"{up}.T{k}.ONCE")]
            for k in range(len(WAITS))
        ],
        f"{up}.END",
    ]


# --- a short workflow for the commands killed while they write ---------------------------------


@dg.workflow
def short(tag: str):  # type: ignore[no-untyped-def]
    return [(yield _work(f"{tag}.s1")), (yield from _once(f"{tag}.sonce"))]


# --- a plain function invoked, its worker killed while it runs ---------------------------------


def plain(payload: str) -> str:
    """A plain ``Invoke`` target (``--register r13-plain=...``) that takes a moment."""
    label = f"{payload}.plain"
    _log("start", label)
    time.sleep(1.0)
    _log("end", label)
    return label.upper()


@dg.workflow
def calls_plain(tag: str):  # type: ignore[no-untyped-def]
    return [(yield dg.Invoke("r13-plain", tag, name="plain")), (yield _work(f"{tag}.after"))]


PLAIN = ["--register", "r13-plain=tests.soak.round13_flows:plain"]
