"""Workflows of the round-12 crash trials (importable by the processes they start).

Each step body appends ``start|end LABEL PID`` to the file ``STEP_LOG`` names (a label is
unique to one step of one execution), so a trial counts the runs of every step body across
processes. A ``WaitForCallback`` submitter writes the callback id to ``OUTBOX/TAG``, where the
trial picks it up and answers it with ``durable-gen callback``, as an outside system would.
"""

from __future__ import annotations

import functools
import os
import time
from typing import Any

import durable_gen as dg

#: checks a ``WaitForCondition`` makes before its condition holds
POLLS = 3
#: at-most-once steps run side by side in the branches of a ``Parallel``
FAN = 3


def _log(event: str, label: str) -> None:
    with open(os.environ["STEP_LOG"], "a", encoding="utf-8") as log:
        log.write(f"{event} {label} {os.getpid()}\n")


def _body(label: str) -> str:
    """A side effect that takes a moment (so kills drawn at random moments land inside some
    bodies), logged as it begins and ends."""
    _log("start", label)
    time.sleep(0.05)
    _log("end", label)
    return label.upper()


@dg.step
def work(label: str) -> str:
    return _body(label)


@dg.step(semantics=dg.AT_MOST_ONCE, retry=dg.Retry.never())
def once(label: str) -> str:
    return _body(label)


def _once(label: str, name: str):  # type: ignore[no-untyped-def]
    """An at-most-once step without retries: its result, or ``interrupted`` when a kill cut
    the one attempt it may have."""
    try:
        return (yield dg.Step(once, (label,), name=name))
    except dg.StepFailedError as exc:
        assert exc.error_type == "StepInterruptedError", exc.error_type
        return "interrupted"


@dg.step
def probe(state: dict[str, Any]) -> dict[str, Any]:
    _body(f"{state['tag']}.probe{state['k']}")
    return {"tag": state["tag"], "k": state["k"] + 1, "seen": [*state["seen"], state["k"]]}


def _post(tag: str, callback_id: str) -> None:
    """The submitter: hands the callback id over (the same id on every run)."""
    _log("start", f"{tag}.post")
    path = os.path.join(os.environ["OUTBOX"], tag)
    with open(path + ".tmp", "w", encoding="utf-8") as out:
        out.write(callback_id)
    os.replace(path + ".tmp", path)
    _log("end", f"{tag}.post")


@dg.workflow
def child(tag: str):  # type: ignore[no-untyped-def]
    first = yield work(f"{tag}.c1")
    # the stopped execution's child is still waiting when the stop comes
    yield dg.Wait(seconds=60 if tag == "s" else 1, name="pause")
    return [first, (yield from _once(f"{tag}.conce", "conce"))]


@dg.workflow
def order(tag: str):  # type: ignore[no-untyped-def]
    a = yield work(f"{tag}.a")
    b = yield from _once(f"{tag}.once1", "once1")
    invoked = yield dg.Invoke("r12-child", tag, name="child")
    fan = yield dg.Parallel(
        [
            dg.Branch(functools.partial(_once, f"{tag}.p{i}", f"pone{i}"), name=f"b{i}")
            for i in range(FAN)
        ],
        name="fan",
    )
    answer = yield dg.WaitForCallback(
        lambda callback_id: _post(tag, callback_id), name="approve", timeout=600
    )
    state = yield dg.WaitForCondition(
        probe,
        initial_state={"tag": tag, "k": 0, "seen": []},
        wait_strategy=dg.WaitStrategy(until=lambda s: s["k"] >= POLLS, delay=1),
        name="poll",
    )
    z = yield work(f"{tag}.z")
    last = yield from _once(f"{tag}.once2", "once2")
    return [a, b, invoked, fan.results(), answer, state["seen"], z, last]


#: the at-most-once steps: label suffix -> (operation name, in the child execution)
ONCE = {
    ".once1": ("once1", False),
    ".once2": ("once2", False),
    ".conce": ("conce", True),
    ".lonce": ("lonce", False),
    **{f".p{i}": (f"pone{i}", False) for i in range(FAN)},
}

REGISTER = ["--register", "r12-child=tests.soak.round12_flows:child"]


def order_result(tag: str, once: dict[str, str]) -> list[Any]:
    """What an uninterrupted run returns, given what each at-most-once step returned
    (``interrupted`` for the ones a kill cut)."""
    up = tag.upper()
    return [
        f"{up}.A",
        once.get(f"{tag}.once1", f"{up}.ONCE1"),
        [f"{up}.C1", once.get(f"{tag}.conce", f"{up}.CONCE")],
        [once.get(f"{tag}.p{i}", f"{up}.P{i}") for i in range(FAN)],
        f"ok-{tag}",
        list(range(POLLS)),
        f"{up}.Z",
        once.get(f"{tag}.once2", f"{up}.ONCE2"),
    ]


# --- a callback kept alive by heartbeats sent while the workers die --------------------------

#: Seconds: a heartbeat goes every second or so, each by a new ``durable-gen`` process, which
#: on a loaded machine takes seconds to start; twice that leaves room.
HEARTBEAT = 6


@dg.workflow
def beating(tag: str):  # type: ignore[no-untyped-def]
    try:
        answer = yield dg.WaitForCallback(
            lambda callback_id: _post(tag, callback_id),
            name="beat",
            timeout=600,
            heartbeat_timeout=HEARTBEAT,
        )
    except dg.CallbackTimeoutError as exc:
        answer = exc.error_type
    return [answer, (yield work(f"{tag}.after"))]


# --- long steps on a one-second lease: workers frozen past it and killed ---------------------

#: how long a body of ``lasting`` runs: past the shortest lease (1 s)
LONG = 1.5


def _long_body(label: str) -> str:
    _log("start", label)
    time.sleep(LONG)
    _log("end", label)
    return label.upper()


@dg.step
def slow(label: str) -> str:
    return _long_body(label)


@dg.step(semantics=dg.AT_MOST_ONCE, retry=dg.Retry.never())
def slow_once(label: str) -> str:
    return _long_body(label)


@dg.workflow
def lasting(tag: str):  # type: ignore[no-untyped-def]
    out = [(yield slow(f"{tag}.l1"))]
    try:
        out.append((yield dg.Step(slow_once, (f"{tag}.lonce",), name="lonce")))
    except dg.StepFailedError as exc:
        assert exc.error_type == "StepInterruptedError", exc.error_type
        out.append("interrupted")
    out.append((yield slow(f"{tag}.l2")))
    return out


def lasting_result(tag: str, once: str | None) -> list[str]:
    up = tag.upper()
    return [f"{up}.L1", once or f"{up}.LONCE", f"{up}.L2"]
