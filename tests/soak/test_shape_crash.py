"""A short run of the shape soak (the long one: ``python -m tests.soak.shape_crash``), and the
same workflows under the documented crash checker, its counts held against the step log."""

from __future__ import annotations

import contextlib
import json
import random
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from durable_gen import DurableGenError
from durable_gen.testing import CrashSchedule, DeterminismCheck

from . import flows, shape_flows
from .crash import _lines
from .shape_crash import trial


def test_wide_nested_chained_and_called_back_executions_survive_kills_stops_and_sigterm() -> None:
    tally = trial(random.Random(20_261_130), executions=6, workers=2, concurrency=16, kills=4)
    print(tally.report())
    assert tally.kills >= 4 and tally.terms == 1 and tally.stops == 1 and tally.snapshots > 0
    assert tally.answers >= 2  # both callbacks of the callbacks execution, from the CLI
    assert tally.violations == [], tally.report()


def _answer(run: Any) -> None:
    for name in ("approve", "second"):
        with contextlib.suppress(DurableGenError, KeyError):  # not there yet, or answered
            run.send_callback_success(name, shape_flows.answer(run.callback_id(name)))


SCHEDULES = [
    CrashSchedule(after_checkpoints=[3, 9]),
    CrashSchedule(before_attempts=[2], after_attempts=[7, 20]),
    CrashSchedule(after_attempts=[4], after_checkpoints=[12, 30]),
]


@pytest.mark.parametrize("kind", ["fan", "nest", "chain", "callbacks"])
def test_the_crash_checker_counts_the_runs_the_step_log_counts(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "steps.log"
    monkeypatch.setenv(flows.LOG_ENV, str(log))
    workflow = shape_flows.WORKFLOWS[kind]
    functions = {"mid": shape_flows.mid, "leaf": shape_flows.leaf}
    check = DeterminismCheck(workflow, 1, functions=functions, on_idle=_answer)
    assert check.reference.status == "SUCCEEDED"  # its two uninterrupted runs, done once
    for schedule in SCHEDULES:
        log.write_text("")
        summary = check.check(schedule)  # raises on a difference with the uninterrupted run
        lines = _lines(log)
        attempts = sum(1 for event, _, _ in lines if event in ("start", "fail", "cb"))
        assert attempts == sum(summary.runs.values()), (schedule, summary.runs)
        starts = Counter(label for event, label, _ in lines if event == "start")
        at_most_once = {
            label: n for label, n in starts.items() if shape_flows.is_at_most_once(label)
        }
        assert all(n == 1 for n in at_most_once.values()), at_most_once
        assert shape_flows.problems(kind, 1, json.loads(summary.result or "null")) == []
