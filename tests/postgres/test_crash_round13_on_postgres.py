"""Round-13 crash trials on Postgres: ``Map`` items and a child workflow waiting on callbacks
answered by the command line and the Python API while ``--concurrency`` workers die, with
``stop`` of an execution and of a child; timers coming due across kills and a blackout of
every worker; workers, ``run`` and ``start`` SIGKILLed while they create the tables and write
(see ``tests/soak/test_crash_round13.py`` for the checks)."""

from __future__ import annotations

import random
from pathlib import Path

from ..soak.test_crash_round13 import (
    SEEDS,
    Trial,
    callbacks_trial,
    commands_trial,
    racing_answers_trial,
    timers_trial,
)


def test_map_items_and_a_child_wait_on_callbacks_while_workers_die_on_postgres(
    tmp_path: Path, postgres_url: str
) -> None:
    callbacks_trial(Trial(tmp_path, SEEDS[-1], postgres_url))


def test_timers_come_due_across_kills_and_a_blackout_on_postgres(
    tmp_path: Path, postgres_url: str
) -> None:
    timers_trial(Trial(tmp_path, SEEDS[-1], postgres_url))


def test_workers_run_and_start_killed_while_they_create_the_tables_on_postgres(
    tmp_path: Path, postgres_url: str
) -> None:
    commands_trial(Trial(tmp_path, SEEDS[-1], postgres_url), random.Random(SEEDS[-1]))


def test_one_callback_answered_by_four_processes_at_once_on_postgres(
    tmp_path: Path, postgres_url: str
) -> None:
    racing_answers_trial(Trial(tmp_path, SEEDS[-1], postgres_url), random.Random(SEEDS[-1]))
