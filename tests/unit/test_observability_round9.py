"""Observability and testing tools, checked claim by claim against docs/observability.md,
docs/testing.md and the guide's retry/logging sections (round 9): failed-attempt lines of
batch items, the durable logger's extra fields, hook order in shapes earlier rounds did not
cover, and DurableRun inspection."""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterator
from typing import Any

import pytest

import durable_gen as dg
from durable_gen.testing import TestRunner


class _Keep(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def step_lines() -> Iterator[_Keep]:
    """The records of ``durable_gen.steps`` (failed attempts), kept while the test runs."""
    keep = _Keep()
    log = logging.getLogger("durable_gen.steps")
    log.addHandler(keep)
    try:
        yield keep
    finally:
        log.removeHandler(keep)


# --- a failed attempt of a Map item or a Parallel branch names the item --------------------


@dg.step(retry=dg.Retry(max_attempts=2, initial_delay=1, jitter="none"))
def _pack(item: int) -> int:
    if item == 1:
        raise ValueError(f"bad {item}")
    return item


def _packing(items: list[int]) -> Any:
    result = yield dg.Map(_pack, items, name="packing")
    return [i.status for i in result.items]


def _packing_flat(items: list[int]) -> Any:
    yield dg.Map(_pack, items, name="packing", nesting="flat")
    return "done"


def _both(_: Any) -> Any:
    yield dg.Parallel(
        [functools.partial(_pack, 0), dg.Branch(functools.partial(_pack, 1), name="second")],
        name="both",
    )
    return "done"


def _nested_item(item: int) -> Any:
    return (yield dg.Child(functools.partial(_pack, item), name="inner"))


def _packing_nested(items: list[int]) -> Any:
    yield dg.Map(_nested_item, items, name="packing")
    return "done"


@pytest.mark.parametrize("checkpointing", ["step", "eager", "batch"])
@pytest.mark.parametrize(
    ("workflow", "where"),
    [
        (_packing, "(item 'map-item-1' of Map 'packing')"),
        (_packing_nested, "(item 'map-item-1' of Map 'packing')"),
        (_both, "(branch 'second' of Parallel 'both')"),
        (_packing_flat, "(in Map 'packing')"),
    ],
)
def test_a_failed_attempt_in_a_batch_names_the_item_it_failed_in(
    step_lines: _Keep, checkpointing: str, workflow: Any, where: str
) -> None:
    TestRunner(checkpointing=checkpointing).run(workflow, [0, 1, 2])  # type: ignore[arg-type]
    lines = [r.getMessage() for r in step_lines.records]
    assert lines == [
        f"step '_pack' {where} attempt 1 failed: ValueError: bad 1; retrying in 1 s",
        f"step '_pack' {where} attempt 2 failed: ValueError: bad 1; not retried",
    ]
    assert {getattr(r, "batchItem") for r in step_lines.records} == {where[1:-1]}


def test_a_failed_attempt_outside_any_batch_has_no_item(step_lines: _Keep) -> None:
    def wf(_: Any) -> Any:
        try:
            yield _pack(1)
        except dg.StepFailedError:
            pass
        return (yield dg.Child(functools.partial(_pack, 0), name="ctx"))

    TestRunner().run(wf, None)
    assert [r.getMessage() for r in step_lines.records] == [
        "step '_pack' attempt 1 failed: ValueError: bad 1; retrying in 1 s",
        "step '_pack' attempt 2 failed: ValueError: bad 1; not retried",
    ]
    assert not any(hasattr(r, "batchItem") for r in step_lines.records)
