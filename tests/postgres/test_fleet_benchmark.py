"""The fleet benchmark's own side still runs (tiny sizes; the run: python -m benchmarks.fleet)."""

from __future__ import annotations

from pathlib import Path

from benchmarks import fleet

from .server import Cluster


def test_our_rows_run_on_sqlite_and_postgres(tmp_path: Path, postgres_url: str) -> None:
    for url in (f"sqlite:///{tmp_path}/bench.db", postgres_url):
        assert fleet.ours_steps(url, 5) > 0
    assert fleet.ours_executions(f"sqlite:///{tmp_path}/e.db", 4) > 0
    assert fleet.ours_concurrent(postgres_url, 3, 4) > 0


def test_the_cost_per_step_covers_the_execution_and_its_last_thousand_steps(
    tmp_path: Path, postgres_cluster: Cluster
) -> None:
    server = fleet.cluster_cpu(postgres_cluster.data)
    runs = ((f"sqlite:///{tmp_path}/long.db", None), (postgres_cluster.create_database(), server))
    for url, probe in runs:
        cost = fleet.ours_step_cost(url, 1200, probe)
        assert min(cost.wall, cost.cpu, cost.tail_wall, cost.tail_cpu) > 0
        assert cost.tail_wall <= cost.wall * 1200 / 1000  # a part of the run, not all of it
        assert (cost.server_cpu > 0) == (probe is not None)
