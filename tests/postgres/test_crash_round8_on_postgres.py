"""The round-8 crash trial on Postgres: ``--concurrency`` workers in every checkpointing mode
SIGKILLed mid-step, then a server restart (``tests/soak/round8_crash.py``)."""

from __future__ import annotations

import random

import pytest

from ..soak.round8_crash import trial
from .server import Cluster


@pytest.mark.parametrize("mode", ["step", "batch"])
def test_workers_killed_mid_step_on_postgres_lose_and_rerun_nothing_recorded(
    postgres_cluster: Cluster,  # skips (loudly) without a server
    mode: str,
) -> None:
    url = postgres_cluster.create_database()
    tally = trial(random.Random(f"pg-{mode}"), url=url, checkpointing=mode, executions=6, kills=5)
    print(tally.report())
    assert tally.kills == 5 and tally.snapshots > 10
    assert tally.violations == [], tally.report()
