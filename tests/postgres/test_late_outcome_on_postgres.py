"""A worker that stalls past its lease records nothing when it comes back, on Postgres too
(the rule is the engine's; ``tests/unit/local_sqlite/test_late_outcome.py`` tells the story)."""

from __future__ import annotations

import pytest

from durable_gen.local._postgres import PostgresStore

from ..unit.local_sqlite.test_late_outcome import (
    check_the_stalled_worker_records_nothing,
    ends,
    suspends,
)


@pytest.mark.parametrize("workflow", [ends, suspends], ids=["ends", "suspends"])
def test_the_stalled_worker_records_nothing(postgres_url: str, workflow: object) -> None:
    check_the_stalled_worker_records_nothing(
        lambda: PostgresStore(postgres_url, lease_seconds=0.3), workflow
    )
