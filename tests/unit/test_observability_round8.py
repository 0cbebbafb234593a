"""Observability, testing tools and timeouts, checked claim by claim against
docs/observability.md, docs/testing.md and the guide's timeout sections (round 8): the HTML
timeline's notes, hooks and spans across suspensions, the durable logger, the telemetry record,
TestRunner's virtual clock and DurableRun's inspection API."""

from __future__ import annotations

import logging
import re
from collections.abc import Generator
from typing import Any

import pytest

import durable_gen as dg
from durable_gen.local._html import render_timeline
from durable_gen.testing import DurableRun, TestRunner, current_attempt


def _timeline_text(runner: TestRunner, run: DurableRun[Any]) -> str:
    """The timeline page of a run, as the text a reader sees (tags dropped)."""
    service = runner.service
    page = render_timeline(
        run.record,
        service.get_operations(run.arn),
        now_ms=service.clock.now_ms(),
        events=service.get_history(run.arn),
    )
    body = page[page.find("<body") :]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body))


# --- the timeline: a retry that never ran is not written as one ---------------------------


@dg.step(retry=dg.Retry(max_attempts=2, initial_delay=2, jitter="none"))
def _work(i: int) -> int:
    if i in (3, 8):
        raise ValueError(f"bad item {i}")
    return i


def _quick_fail(i: int) -> int:
    if i == 0:
        raise ValueError("first")
    return i


@dg.step(retry=dg.Retry(max_attempts=3, initial_delay=5, jitter="none"))
def _slow_retry(i: int) -> int:
    raise ValueError(f"slow {i}")


def _item(i: int) -> Generator[Any, Any, int]:
    if i == 0:  # fails for good after a second, while the other items are in a retry delay
        yield dg.Wait(seconds=1, name="pause")
        return (yield dg.Step(_quick_fail, (i,), name="quick", retry=dg.Retry.never()))
    return (yield _slow_retry(i))


@dg.workflow
def _batch_then_wait(n: int) -> dg.Workflow[int]:
    batch = yield dg.Map(_item, [0, 1], name="fan")
    later = yield dg.CreateCallback(name="later", timeout=3600)
    yield later
    return batch.failure_count


def test_a_step_left_in_its_retry_delay_by_a_decided_batch_is_not_noted_as_retried() -> None:
    """The first failure decides the Map; the other item's step is in its retry delay, and the
    execution goes on without it: the timeline must not say it will be retried."""
    runner = TestRunner()
    run = runner.run(_batch_then_wait, 2)
    assert run.status == "RUNNING"
    assert run.operation("_slow_retry").status in ("PENDING", "READY")
    text = _timeline_text(runner, run)
    assert "attempt 1 failed: ValueError: slow 1" in text
    assert "retried after" not in text
    assert "not retried" in text


@dg.step(retry=dg.Retry(max_attempts=2, initial_delay=2, jitter="none"))
def _once_flaky() -> str:
    info = current_attempt()
    if info is not None and info.attempt == 1:
        raise ConnectionError("down once")
    return "up"


@dg.workflow
def _batch_then_fail(n: int) -> dg.Workflow[None]:
    yield _once_flaky()
    batch = yield dg.Map(_item, list(range(n)), name="fan")
    batch.raise_if_failed()


@pytest.mark.parametrize("items", [2, 12])  # 12: the batch is folded on the page
def test_an_execution_that_ended_in_a_retry_delay_notes_no_retry_for_it(items: int) -> None:
    runner = TestRunner()
    run = runner.run(_batch_then_fail, items)
    assert run.status == "FAILED"
    text = _timeline_text(runner, run)
    # the first step really was retried, after its 2 s delay
    assert "attempt 1 failed: ConnectionError: down once · retried after 2.0 s" in text
    # the steps whose delay the execution ended in were not
    assert "ValueError: slow 1 · not retried" in text
    assert text.count("retried after") == 1
