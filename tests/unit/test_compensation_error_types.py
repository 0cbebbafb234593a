"""A failed undo's ``CompensationResult.error_type`` is the type recorded on its step (the
undo's exception's name: module-qualified under ``payload_format="aws"``, as a step's own
failure is recorded there), on the first run and on every replay. Under ``"aws"`` the undo's
Compensation context is recorded under AWS's ``...exceptions.StepError``, which is what
``error_type`` read: why the undo failed was lost.
"""

from __future__ import annotations

from typing import Any

import pytest

import durable_gen as dg
from durable_gen.testing import TestRunner, replay


class CannotUndo(Exception):
    pass


@dg.step(retry=dg.Retry.never())
def release_step(booking: str) -> None:
    raise CannotUndo(f"{booking} is gone")


def release_plain(booking: str) -> None:
    raise CannotUndo(f"{booking} is gone")


@dg.step(compensate=release_step)
def book_with_step_undo() -> str:
    return "b-1"


@dg.step(compensate=release_plain)
def book_with_plain_undo() -> str:
    return "b-2"


@pytest.mark.parametrize("payload_format", ["json", "aws"])
@pytest.mark.parametrize("wait_before", [True, False])
def test_a_failed_undo_says_why_on_every_run(payload_format: Any, wait_before: bool) -> None:
    seen: list[list[tuple[str | None, str | None, str | None]]] = []

    def trip(_: None) -> dg.Workflow[int]:
        yield from book_with_step_undo()
        yield from book_with_plain_undo()
        if wait_before:
            yield from dg.Wait(seconds=1, name="rollback-in-a-later-invocation")
        undone = yield from dg.RunCompensations(retry=dg.Retry.never())
        seen.append([(u.status, u.error_type, u.error_message) for u in undone])
        yield from dg.Wait(seconds=1, name="replay-after-this")
        return len(undone)

    runner = TestRunner(payload_format=payload_format)
    run = runner.run(trip, None)
    assert run.result() == 2
    assert replay(trip, run.export()).ok
    qualified = payload_format == "aws"
    name = f"{__name__}.CannotUndo" if qualified else "CannotUndo"
    assert len(seen) >= 3  # the first run, the replay after the wait, the replayer's
    for got in seen:
        assert got == [("FAILED", name, "b-2 is gone"), ("FAILED", name, "b-1 is gone")]
