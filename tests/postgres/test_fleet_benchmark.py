"""The fleet benchmark's own side still runs (tiny sizes; the run: python -m benchmarks.fleet)."""

from __future__ import annotations

from pathlib import Path

from benchmarks import fleet


def test_our_rows_run_on_sqlite_and_postgres(tmp_path: Path, postgres_url: str) -> None:
    for url in (f"sqlite:///{tmp_path}/bench.db", postgres_url):
        assert fleet.ours_steps(url, 5) > 0
    assert fleet.ours_executions(f"sqlite:///{tmp_path}/e.db", 4) > 0
    assert fleet.ours_concurrent(postgres_url, 3, 4) > 0
