"""Round-12 crash trials on Postgres: workers of three ``--concurrency`` and checkpointing
kinds, a ``run``, ``callback`` and ``stop`` commands SIGKILLed on one database; named starts
raced and killed while they create the tables of a new database; heartbeats sent while the
workers die; workers frozen past a one-second lease; ``run --name`` killed and run
again (see ``tests/soak/test_crash_round12.py`` for the checks)."""

from __future__ import annotations

import random
from pathlib import Path

from ..soak.test_crash_round12 import (
    SEEDS,
    Trial,
    frozen_trial,
    heartbeat_trial,
    mixed_trial,
    racing_starts,
    rerun_trial,
)


def test_mixed_workers_run_callback_and_stop_commands_killed_on_postgres(
    tmp_path: Path, postgres_url: str
) -> None:
    mixed_trial(Trial(tmp_path, SEEDS[-1], postgres_url))


def test_named_starts_raced_and_killed_while_they_create_the_tables_on_postgres(
    tmp_path: Path, postgres_url: str
) -> None:
    racing_starts(Trial(tmp_path, SEEDS[0], postgres_url), random.Random(SEEDS[0]))


def test_heartbeats_sent_while_workers_die_keep_a_callback_alive_on_postgres(
    tmp_path: Path, postgres_url: str
) -> None:
    heartbeat_trial(Trial(tmp_path, SEEDS[0], postgres_url), random.Random(SEEDS[0]))


def test_workers_frozen_past_a_one_second_lease_and_killed_on_postgres(
    tmp_path: Path, postgres_url: str
) -> None:
    frozen_trial(Trial(tmp_path, SEEDS[-1], postgres_url))


def test_run_killed_and_run_again_under_its_name_on_postgres(
    tmp_path: Path, postgres_url: str
) -> None:
    rerun_trial(Trial(tmp_path, SEEDS[-1], postgres_url), random.Random(SEEDS[-1]))
