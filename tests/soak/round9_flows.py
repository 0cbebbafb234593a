"""Workflows of the round-9 crash trials that kill command-line processes (importable by the
processes they start). Each step appends its name to the file ``STEP_LOG`` names, so a trial
counts runs across processes."""

from __future__ import annotations

import os

import durable_gen as dg


def _ran(name: str) -> None:
    with open(os.environ["STEP_LOG"], "a", encoding="utf-8") as log:
        log.write(name + "\n")


@dg.step
def ask(callback_id: str) -> None:
    _ran("ask")


@dg.step(semantics=dg.AT_MOST_ONCE, retry=dg.Retry.never())
def book(answer: str) -> str:
    _ran("book")
    return f"booked {answer}"


@dg.workflow
def approval(_: None):  # type: ignore[no-untyped-def]
    answer = yield dg.WaitForCallback(ask, name="approve")
    return (yield book(answer))


def _count_and_maybe_die(label: str) -> None:
    """Log ``label``; the ``DIE_AT``-th step this process runs then kills the process, its
    success unrecorded."""
    _ran(label)
    die_at = int(os.environ.get("DIE_AT", "0"))
    if die_at:
        _RUNS.append(label)
        if len(_RUNS) == die_at:
            import signal

            os.kill(os.getpid(), signal.SIGKILL)


_RUNS: list[str] = []


@dg.step
def first(key: str) -> str:
    _count_and_maybe_die(f"{key}:first")
    return key.upper()


@dg.step
def second(value: str) -> str:
    _count_and_maybe_die(f"{value.lower()}:second")
    return value + "!"


@dg.workflow
def short(key: str):  # type: ignore[no-untyped-def]
    return (yield second((yield first(key))))


@dg.step(retry=dg.Retry.never())
def label(item: str) -> str:
    _count_and_maybe_die(f"label-{item}")
    if item.startswith("bad"):
        raise ValueError(f"no label for {item}")
    return item.upper()


@dg.step(name="refund", semantics=dg.AT_MOST_ONCE, retry=dg.Retry.never())
def refund(charge: str) -> None:
    _count_and_maybe_die(f"refund-{charge}")


@dg.step(compensate=refund)
def take(part: str) -> str:
    _count_and_maybe_die(f"take-{part}")
    return part


@dg.step(retry=dg.Retry.never())
def decline(_: None) -> None:
    _count_and_maybe_die("decline")
    raise RuntimeError("card declined")


def booking(parts: list[str]):  # type: ignore[no-untyped-def]
    try:
        for part in parts:
            yield take(part)
        yield decline(None)
    except dg.StepFailedError:
        undone = yield dg.RunCompensations()
        return [[u.name, u.status, u.error_type] for u in undone]
    return []


@dg.workflow
def fanout(_: None):  # type: ignore[no-untyped-def]
    labels = yield dg.Map(
        label,
        ["a", "b", "bad", "c", "d"],
        max_concurrency=2,
        completion=dg.Completion(tolerated_failure_count=1),
    )
    undone = yield dg.Child(booking, (["x", "y", "z"],), name="booking")
    return [labels.results(), labels.failure_count, undone]
