"""The round-8 crash trial on Postgres: ``--concurrency`` workers in every checkpointing mode
SIGKILLed mid-step, an execution stopped while its worker dies, and a server restart (``tests/soak/round8_crash.py``)."""

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
    tally = trial(
        random.Random(f"pg-{mode}"),
        url=url,
        checkpointing=mode,
        executions=6,
        kills=6,
        stops=1,
        cluster=postgres_cluster,
        restarts=1,
    )
    print(tally.report())
    assert tally.kills == 6 and tally.stops == 1 and tally.restarts == 1
    assert tally.violations == [], tally.report()
