"""Workflows of the round-11 crash trials (importable by the processes they start).

Each step appends ``start|end|die LABEL PID`` to the file ``STEP_LOG`` names, so a trial
counts runs across processes. With ``DIE_AT=k`` in its environment, a process SIGKILLs itself
inside the ``k``-th step run it begins (after its ``start`` line; with ``DIE_WHERE=end`` after
its ``end`` line, the body done), so the step's outcome is never recorded by that process.
"""

from __future__ import annotations

import functools
import os
import signal
from typing import Any

import durable_gen as dg

_RUNS: list[str] = []
_DIE_AT_END: list[str] = []


def _log(event: str, label: str) -> None:
    with open(os.environ["STEP_LOG"], "a", encoding="utf-8") as log:
        log.write(f"{event} {label} {os.getpid()}\n")


def starts_of(label: str) -> int:
    try:
        with open(os.environ["STEP_LOG"], encoding="utf-8") as log:
            return sum(1 for line in log if line.split()[:2] == ["start", label])
    except FileNotFoundError:
        return 0


def _run(label: str) -> None:
    _log("start", label)
    die_at = int(os.environ.get("DIE_AT", "0"))
    if die_at:
        _RUNS.append(label)
        if len(_RUNS) == die_at and os.environ.get("DIE_WHERE") == "end":
            _DIE_AT_END.append(label)
        elif len(_RUNS) == die_at:
            _log("die", label)
            os.kill(os.getpid(), signal.SIGKILL)


def _end(label: str) -> None:
    """Log the end of the body; with ``DIE_WHERE=end`` the ``DIE_AT``-th run dies here, its
    side effect done and its outcome unrecorded."""
    _log("end", label)
    if label in _DIE_AT_END:
        _log("dieend", label)
        os.kill(os.getpid(), signal.SIGKILL)


# --- WaitForCondition: a polling loop whose checks are killed ----------------------------------


@dg.step
def probe(state: dict[str, Any]) -> dict[str, Any]:
    """One check: sees the state the previous check recorded, returns the next one."""
    label = f"probe-{state['tag']}-{state['k']}"
    _run(label)
    _end(label)
    return {"tag": state["tag"], "k": state["k"] + 1, "seen": [*state["seen"], state["k"]]}


@dg.step(semantics=dg.AT_MOST_ONCE, retry=dg.Retry.never())
def settle(tag: str, k: int) -> str:
    label = f"settle-{tag}"
    _run(label)
    _end(label)
    return f"{tag} settled at {k}"


POLLS = 5


@dg.workflow
def poll(tag: str):  # type: ignore[no-untyped-def]
    state = yield dg.WaitForCondition(
        probe,
        initial_state={"tag": tag, "k": 0, "seen": []},
        wait_strategy=dg.WaitStrategy(
            until=lambda s: s["k"] >= POLLS, delay=1, backoff=2.0, max_delay=2
        ),
        name="poll",
    )
    try:
        settled = yield settle(tag, state["k"])
    except dg.StepFailedError as exc:
        settled = exc.error_type
    return [state, settled]


def poll_result(tag: str, settled: str | None = None) -> list[Any]:
    return [
        {"tag": tag, "k": POLLS, "seen": list(range(POLLS))},
        settled if settled is not None else f"{tag} settled at {POLLS}",
    ]


# --- Map under min_successful whose items are at-most-once -------------------------------------


@dg.step(semantics=dg.AT_MOST_ONCE, retry=dg.Retry.never())
def deliver(item: str) -> str:
    label = f"deliver-{item}"
    _run(label)
    _end(label)
    return item.upper()


ITEMS = ["a", "b", "c", "d", "e"]
NEEDED = 2


@dg.workflow
def quorum(tag: str):  # type: ignore[no-untyped-def]
    batch = yield dg.Map(
        deliver,
        [f"{tag}{item}" for item in ITEMS],
        max_concurrency=1,
        completion=dg.Completion(min_successful=NEEDED),
        name="quorum",
    )
    return {
        "all": batch.all_results(),
        "errors": [e.error_type for e in batch.errors()],
        "reason": str(batch.completion_reason),
    }


# --- Child holding a Parallel: retries with backoff, an at-most-once retried step, a nested Child


@dg.step(retry=dg.Retry(max_attempts=6, initial_delay=1, backoff=2.0, max_delay=2, jitter="none"))
def flaky(label: str) -> str:
    """Fails while fewer than two of its runs failed (kills not counted)."""
    _run(label)
    if _ends(label, "fail") < 2:
        _log("fail", label)
        raise ConnectionError(f"{label}: not yet")
    _end(label)
    return label.upper()


def _ends(label: str, event: str) -> int:
    with open(os.environ["STEP_LOG"], encoding="utf-8") as log:
        return sum(1 for line in log if line.split()[:2] == [event, label])


@dg.step(
    semantics=dg.AT_MOST_ONCE,
    retry=dg.Retry(max_attempts=4, initial_delay=1, backoff=2.0, max_delay=2, jitter="none"),
)
def charge(label: str) -> str:
    """At most once per attempt; its first run fails. Each kill costs at most one attempt (the
    one it cut, or one whose START it left committed, its body not begun): four attempts
    outlast the first failure and two kills."""
    _run(label)
    if starts_of(label) == 1:
        _log("fail", label)
        raise RuntimeError(f"{label}: declined")
    _end(label)
    return label.upper()


@dg.step
def tick(label: str) -> str:
    _run(label)
    _end(label)
    return label.upper()


def inner(tag: str):  # type: ignore[no-untyped-def]
    a = yield tick(f"{tag}.in1")
    b = yield charge(f"{tag}.charge")
    return [a, b]


def left(tag: str):  # type: ignore[no-untyped-def]
    return [(yield flaky(f"{tag}.flaky")), (yield tick(f"{tag}.left"))]


def right(tag: str):  # type: ignore[no-untyped-def]
    return (yield dg.Child(inner, (tag,), name="inner"))


def body(tag: str):  # type: ignore[no-untyped-def]
    first = yield tick(f"{tag}.pre")
    both = yield dg.Parallel(
        [
            dg.Branch(functools.partial(left, tag), name="left"),
            dg.Branch(functools.partial(right, tag), name="right"),
        ],
        name="both",
    )
    return [first, both.results(), (yield tick(f"{tag}.post"))]


@dg.workflow
def nested(tag: str):  # type: ignore[no-untyped-def]
    return (yield dg.Child(body, (tag,), name="body"))


def nested_result(tag: str) -> list[Any]:
    up = tag.upper()
    return [
        f"{up}.PRE",
        [[f"{up}.FLAKY", f"{up}.LEFT"], [f"{up}.IN1", f"{up}.CHARGE"]],
        f"{up}.POST",
    ]


# --- Invoke three deep: the middle workflow's steps are killed ---------------------------------


@dg.workflow
def leaf3(tag: str):  # type: ignore[no-untyped-def]
    return (yield tick(f"{tag}.leaf"))


@dg.workflow
def mid3(tag: str):  # type: ignore[no-untyped-def]
    first = yield tick(f"{tag}.mid1")
    inner = yield dg.Invoke("r11-leaf", tag, name="to-leaf")
    return [first, inner, (yield tick(f"{tag}.mid2")), (yield charge(f"{tag}.charge"))]


@dg.workflow
def chain3(tag: str):  # type: ignore[no-untyped-def]
    first = yield tick(f"{tag}.top1")
    middle = yield dg.Invoke("r11-mid", tag, name="to-mid")
    return [first, middle, (yield tick(f"{tag}.top2"))]


REGISTER = [
    "--register",
    "r11-mid=tests.soak.round11_flows:mid3",
    "--register",
    "r11-leaf=tests.soak.round11_flows:leaf3",
]


def chain3_result(tag: str) -> list[Any]:
    up = tag.upper()
    return [f"{up}.TOP1", [f"{up}.MID1", f"{up}.LEAF", f"{up}.MID2", f"{up}.CHARGE"], f"{up}.TOP2"]


# --- a callback answered while its submitter runs, the submitter then killed -------------------


def _answer(callback_id: str) -> None:
    """Answer ``callback_id`` from outside the workflow, the way ``ANSWER_HOW`` says."""
    import subprocess
    import sys

    how, db = os.environ["ANSWER_HOW"], os.environ["R11_DB"]
    if how == "api":
        from durable_gen.local import Worker

        with Worker(db) as worker:
            worker.service.send_callback_success(callback_id, '"yes"')
        return
    payload = '"yes"' if how == "succeed" else "no way"
    cli = [sys.executable, "-m", "durable_gen.cli", "callback", how, callback_id, payload]
    subprocess.run([*cli, "--db", db], check=True, capture_output=True, timeout=60)


@dg.step
def hand_over(callback_id: str) -> None:
    """Its first run answers the callback, then its process dies (``DIE_WHERE`` before or
    after the body's end); later runs only hand the id over."""
    _run("hand")
    if starts_of("hand") == 1:
        _answer(callback_id)
        _log("answered", "hand")
        if os.environ.get("DIE_WHERE") != "end":
            os.kill(os.getpid(), signal.SIGKILL)
    _log("end", "hand")
    if starts_of("hand") == 1:
        os.kill(os.getpid(), signal.SIGKILL)


@dg.workflow
def answered(_: str):  # type: ignore[no-untyped-def]
    try:
        answer = yield dg.WaitForCallback(hand_over, name="approve", timeout=3600)
    except dg.CallbackFailedError as exc:
        answer = f"{exc.error_type}: {exc.error_message}"
    return [answer, (yield settle("cb", 0))]
