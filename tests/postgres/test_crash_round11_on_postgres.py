"""Round-11 crash trials on Postgres: two ``--concurrency`` workers sharing one database,
SIGKILLed at random moments while they run a ``WaitForCondition`` loop, a ``Map`` of
at-most-once items under ``min_successful``, a ``Child`` holding a retrying ``Parallel`` and an
``Invoke`` chain three deep (see ``tests/soak/test_crash_round11.py`` for the checks)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ..soak.test_crash_round11 import SEEDS, Trial, concurrent_trial


@pytest.mark.parametrize("mode", ["step", "batch"])
def test_two_concurrent_workers_killed_at_random_moments_on_postgres(
    tmp_path: Path, postgres_url: str, mode: str
) -> None:
    concurrent_trial(Trial(tmp_path, SEEDS[-1], postgres_url), mode)
