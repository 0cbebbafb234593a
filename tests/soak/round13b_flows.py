"""Workflows of the round-13b crash trials, and the user's script that runs them.

Each step body appends ``start|end LABEL PID`` to the file ``STEP_LOG`` names and returns
``LABEL.upper()`` (a label is unique to one step body, undos included), so a trial counts the
runs of every body across processes and tells from the store which bodies have a recorded
success. ``KILL_AT=start:LABEL`` (or ``end:LABEL``) makes the process SIGKILL itself right
after it logs that line: as the body begins, or once it is done but before its outcome is
returned to the engine.

``python -m tests.soak.round13b_flows DB`` is the user's script: it opens a ``Worker`` on the
SQLite file, starts the execution under a fixed name (idempotent) and drives it to its end,
printing the record as JSON; run again after a kill, it resumes.
"""

from __future__ import annotations

import functools
import json
import os
import signal
import sys
from typing import Any

import durable_gen as dg


def _log(event: str, label: str) -> None:
    with open(os.environ["STEP_LOG"], "a", encoding="utf-8") as log:
        log.write(f"{event} {label} {os.getpid()}\n")
    if os.environ.get("KILL_AT") == f"{event}:{label}":
        os.kill(os.getpid(), signal.SIGKILL)


def _body(label: str) -> str:
    _log("start", label)
    _log("end", label)
    return label.upper()


def _starts(label: str) -> int:
    with open(os.environ["STEP_LOG"], encoding="utf-8") as log:
        return sum(1 for line in log if line.split()[:2] == ["start", label])


# --- undos -------------------------------------------------------------------------------------


@dg.step(name="undo")
def undo(result: str) -> str:
    return _body(f"undo-{result.lower()}")


@dg.step(name="undo-once", semantics=dg.AT_MOST_ONCE, retry=dg.Retry.never())
def undo_once(result: str) -> str:
    return _body(f"undo-{result.lower()}")


# --- steps ---------------------------------------------------------------------------------------


@dg.step
def book(label: str) -> str:
    return _body(label)


@dg.step(semantics=dg.AT_MOST_ONCE, retry=dg.Retry.never())
def book_once(label: str) -> str:
    return _body(label)


@dg.step(retry=dg.Retry(max_attempts=4, initial_delay=1, backoff=2, jitter="none"))
def flaky(label: str) -> str:
    _log("start", label)
    if _starts(label) < 3:  # fails its first two runs, whatever the kills
        raise RuntimeError("not yet")
    _log("end", label)
    return label.upper()


@dg.step(retry=dg.Retry.never())
def charge(label: str) -> str:
    _log("start", label)
    raise RuntimeError("card declined")


@dg.step
def check(state: dict[str, Any]) -> dict[str, Any]:
    n = state["checks"] + 1
    _body(f"check{n}")
    return {"checks": n}


def _compensated(label: str) -> dg.Step[str]:
    return dg.Step(book, (label,), name=label, compensate=undo)


def _outcome(undone: list[Any]) -> list[list[Any]]:
    return [[u.name, u.status, u.result, u.error_type] for u in undone]


def car_saga(_: None):  # type: ignore[no-untyped-def]
    """A ``Child`` context: its undos stay with it and its own rollback runs them."""
    yield _compensated("car")
    yield _compensated("seat")
    try:
        yield dg.Step(charge, ("car-fee",), name="car-fee")
    except dg.StepFailedError:
        return _outcome((yield dg.RunCompensations()))
    return "no rollback"


def item(label: str, index: int):  # type: ignore[no-untyped-def]
    """A ``Map`` item: item 1 rolls back and fails; the others keep their booking."""
    yield _compensated(f"{label}-a")
    if index == 1:
        yield _compensated(f"{label}-b")
        undone = yield dg.RunCompensations()
        raise RuntimeError(f"item rolled back: {_outcome(undone)}")
    return (yield _compensated(f"{label}-b"))


def _once(label: str, *, compensate: Any = None):  # type: ignore[no-untyped-def]
    try:
        return (yield dg.Step(book_once, (label,), name=label, compensate=compensate))
    except dg.StepFailedError as exc:
        assert exc.error_type == "StepInterruptedError", exc.error_type
        return "interrupted"


@dg.workflow
def trip(_: None):  # type: ignore[no-untyped-def]
    out: dict[str, Any] = {}
    out["flight"] = yield _compensated("flight")
    out["hotel"] = yield from _once("hotel", compensate=undo_once)
    out["car"] = yield dg.Child(car_saga, (None,), name="car-saga")
    items = yield dg.Map(
        functools.partial(item),
        ["i0", "i1", "i2"],
        max_concurrency=2,
        completion=dg.Completion(tolerated_failure_count=1),
    )
    out["items"] = items.results()
    out["item-errors"] = [e.error_message if e else None for e in items.errors()]
    yield dg.Wait(seconds=2, name="pause")
    out["poll"] = yield dg.WaitForCondition(
        check,
        initial_state={"checks": 0},
        wait_strategy=dg.WaitStrategy(until=lambda s: s["checks"] >= 2, delay=1),
        name="poll",
    )
    out["flaky"] = yield dg.Step(flaky, ("flaky",), name="flaky")
    out["ticket"] = yield from _once("ticket")
    try:
        yield dg.Step(charge, ("charge",), name="charge")
    except dg.StepFailedError:
        out["rollback"] = _outcome((yield dg.RunCompensations()))
    return out


def main(db: str) -> int:
    from durable_gen.local import LocalService, SqliteStore, VirtualClock, Worker
    from durable_gen.runtime import make_handler

    if os.environ.get("SCRIPT") == "service":
        # engine.md's first example on a SQLite file: a LocalService with a VirtualClock
        # (which starts at 2025-01-01 in every process) and make_handler.
        with SqliteStore(db) as store:
            service = LocalService(store=store, clock=VirtualClock())
            name = "trip"
            mode: Any = os.environ.get("CHECKPOINTING", "step")
            service.register(name, make_handler(trip, service, checkpointing=mode))
            arn = service.start(name, "null", execution_name="trip")
            record = service.run(arn)
            print(json.dumps({"arn": arn, "status": record.status, "result": record.result}))
        return 0

    mode: Any = os.environ.get("CHECKPOINTING", "step")
    with Worker(db, skip_time=True, checkpointing=mode) as worker:
        name = worker.register(trip)
        arn = worker.service.start(name, "null", execution_name="trip")
        record = worker.drive(arn)
        print(json.dumps({"arn": arn, "status": record.status, "result": record.result}))
    return 0


if __name__ == "__main__":
    # The workflow is registered from the module, not ``__main__`` (engine.md: a workflow
    # defined in the script run is remembered as ``__main__:...``).
    from tests.soak import round13b_flows

    run = (
        round13b_flows.main_clocked if os.environ.get("SCRIPT", "").startswith("clocked") else None
    )
    sys.exit((run or round13b_flows.main)(sys.argv[1]))


# --- time across a kill ----------------------------------------------------------------------


@dg.step
def mark(label: str) -> str:
    return _body(label)


@dg.workflow
def clocked(_: None):  # type: ignore[no-untyped-def]
    """Reads ``Now()`` on each side of a day's wait; the step after the wait is a kill point."""
    before = yield dg.Now()
    yield dg.Wait(seconds=86400, name="day")
    yield dg.Step(mark, ("after-day",), name="after-day")
    after = yield dg.Now()
    return (after - before).total_seconds()


def main_clocked(db: str) -> int:
    from durable_gen.local import LocalService, SqliteStore, VirtualClock, Worker
    from durable_gen.runtime import make_handler

    if os.environ.get("SCRIPT") == "clocked-service":
        with SqliteStore(db) as store:
            service = LocalService(store=store, clock=VirtualClock())
            service.register("clocked", make_handler(clocked, service))
            arn = service.start("clocked", "null", execution_name="clocked")
            record = service.run(arn)
            print(json.dumps({"arn": arn, "status": record.status, "result": record.result}))
        return 0

    with Worker(db, skip_time=True) as worker:
        name = worker.register(clocked)
        arn = worker.service.start(name, "null", execution_name="clocked")
        record = worker.drive(arn)
        print(json.dumps({"arn": arn, "status": record.status, "result": record.result}))
    return 0
