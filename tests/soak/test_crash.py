"""A few trials of the crash soak (the full run: ``python -m tests.soak.crash --trials 1000``)."""

from __future__ import annotations

from .crash import run_trials


def test_killed_workers_lose_nothing_and_redo_nothing_recorded() -> None:
    tally = run_trials(2, jobs=2, seed=20_251_124)
    assert tally.trials == 2 and tally.kills >= 1
    assert tally.violations == [], tally.report()
