"""The command soak on Postgres: killed workers and a server restart (``python -m
tests.soak.command_crash --store postgres`` runs it longer)."""

from __future__ import annotations

import random

from ..soak.command_crash import trial
from .server import Cluster


def test_every_command_survives_killed_workers_and_a_server_restart(
    postgres_cluster: Cluster,  # skips (loudly) without a server
) -> None:
    tally = trial(
        random.Random(20_261_131),
        cluster=postgres_cluster,
        executions=2,
        workers=2,
        concurrency=1,
        kills=2,
        terms=0,
        restarts=1,
    )
    print(tally.report())
    assert tally.kills == 2 and tally.restarts == 1 and tally.answers >= 2
    assert tally.violations == [], tally.report()
