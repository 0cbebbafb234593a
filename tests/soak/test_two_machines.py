"""Workers of two machines that share a host name, on one SQLite file (see ``machines``):
a live worker's execution is never taken from it, a dead one's only once its lease expires.

The same on Postgres: ``tests/postgres/test_two_machines_on_postgres.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from . import machines

pytestmark = pytest.mark.skipif(
    not machines.available(), reason="needs unshare and the right to make a pid namespace"
)


def check_live(out: dict[str, object]) -> None:
    assert out["status"] == "SUCCEEDED", out
    assert out["result"] == ["m-a=16", "m-once=done", "m-c=16"], out
    assert out["starts"] == {"m-a": 1, "m-once": 1, "m-c": 1}, out
    assert set(out["pids"].values()) == {out["first_pid"]}, out  # type: ignore[union-attr]


def check_killed(out: dict[str, object], lease: float) -> None:
    # The at-most-once step (Retry.never()) was running when its worker died: the second
    # machine reports it interrupted, once the lease has expired (renewed every third of it).
    assert out["status"] == "FAILED" and out["error_type"] == "StepInterruptedError", out
    assert out["starts"] == {"m-a": 1, "m-once": 1}, out
    ended = out["ended_after_kill"]
    assert isinstance(ended, float) and ended >= lease * 0.6, out


def test_a_live_worker_on_another_machine_with_the_same_host_name_keeps_its_execution(
    tmp_path: Path,
) -> None:
    check_live(machines.trial(str(tmp_path / "shared.db"), tmp_path))


def test_a_dead_worker_on_another_machine_is_taken_over_once_its_lease_expires(
    tmp_path: Path,
) -> None:
    check_killed(machines.trial(str(tmp_path / "shared.db"), tmp_path, kill=True, lease=3), 3)
