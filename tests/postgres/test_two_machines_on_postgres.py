"""Workers of two machines that share a host name, on one Postgres database (see
``tests/soak/machines.py``): a live worker keeps its execution, a dead one's is taken over
once its lease expires."""

from __future__ import annotations

from pathlib import Path

import pytest

from ..soak import machines
from ..soak.test_two_machines import check_killed, check_live

pytestmark = pytest.mark.skipif(
    not machines.available(), reason="needs unshare and the right to make a pid namespace"
)


def test_a_live_worker_on_another_machine_keeps_its_execution(
    postgres_url: str, tmp_path: Path
) -> None:
    check_live(machines.trial(postgres_url, tmp_path))


def test_a_dead_worker_on_another_machine_is_taken_over_once_its_lease_expires(
    postgres_url: str, tmp_path: Path
) -> None:
    check_killed(machines.trial(postgres_url, tmp_path, kill=True, lease=3), 3)
