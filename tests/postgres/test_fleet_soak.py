"""A small fleet soak on Postgres (the longer one: ``python -m tests.postgres.fleet_soak``)."""

from __future__ import annotations

from .fleet_soak import run_trials
from .server import find_bindir


def test_a_fleet_loses_nothing_and_redoes_nothing_recorded_through_kills_and_a_restart(
    postgres_cluster: object,  # skips (loudly) without a server
) -> None:
    assert find_bindir() is not None
    tally = run_trials(
        1, seed=20_261_129, executions=6, workers=3, kills=3, restarts=1, concurrency=2
    )
    print(tally.report())
    assert tally.kills == 3 and tally.restarts == 1 and tally.snapshots > 0
    assert tally.lost == 0 and tally.recorded_reruns == 0 and tally.at_most_once_twice == 0
    assert tally.violations == [], tally.report()


def test_eight_workers_lose_nothing_when_their_connections_are_cut_mid_transaction(
    postgres_cluster: object,  # skips (loudly) without a server
) -> None:
    tally = run_trials(
        1, seed=20_261_201, executions=8, workers=8, kills=0, restarts=0, cuts=4, concurrency=2
    )
    print(tally.report())
    assert tally.cuts == 4 and tally.snapshots > 0
    assert tally.lost == 0 and tally.recorded_reruns == 0 and tally.at_most_once_twice == 0
    assert tally.violations == [], tally.report()


def test_workers_sharing_a_sqlite_file_with_group_commit_lose_nothing_through_kills() -> None:
    tally = run_trials(
        1, seed=20_261_130, store="sqlite", executions=6, workers=2, kills=3, concurrency=3
    )
    print(tally.report())
    assert tally.kills == 3 and tally.snapshots > 0
    assert tally.lost == 0 and tally.recorded_reruns == 0 and tally.at_most_once_twice == 0
    assert tally.violations == [], tally.report()
