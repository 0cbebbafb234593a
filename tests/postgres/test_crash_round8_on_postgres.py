"""Round-8 crash trials on Postgres (``tests/soak/round8_crash.py``): ``--concurrency`` workers
SIGKILLed mid-step, an execution stopped while its worker dies and a server restart, in two
checkpointing modes; a worker frozen past its lease."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from ..soak.round8_crash import trial
from ..soak.test_crash_round8 import frozen_trial
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


@pytest.mark.parametrize("quiet", [True, False])
def test_a_worker_frozen_past_its_lease_on_postgres_logs_each_lost_invocation_once(
    postgres_cluster: Cluster, tmp_path: Path, quiet: bool
) -> None:
    frozen_trial(postgres_cluster.create_database(), tmp_path, "step", quiet=quiet)
