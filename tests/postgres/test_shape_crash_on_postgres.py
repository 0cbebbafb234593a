"""The shape soak on Postgres: concurrent workers killed, stopped and SIGTERMed, and a server
restart (``python -m tests.soak.shape_crash --store postgres`` runs it longer)."""

from __future__ import annotations

import random

from ..soak.shape_crash import trial
from .server import Cluster


def test_wide_nested_chained_and_called_back_executions_survive_a_server_restart(
    postgres_cluster: Cluster,  # skips (loudly) without a server
) -> None:
    tally = trial(
        random.Random(20_261_132),
        cluster=postgres_cluster,
        executions=6,
        workers=2,
        concurrency=4,
        kills=3,
        restarts=1,
    )
    print(tally.report())
    assert tally.kills >= 3 and tally.restarts == 1 and tally.stops == 1 and tally.terms == 1
    assert tally.answers >= 2
    assert tally.violations == [], tally.report()
