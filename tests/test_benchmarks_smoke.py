"""The benchmark suite runs end to end at its smallest sizes and writes well-formed rows.

No timing is asserted: this only keeps ``python -m benchmarks`` working. AWS's SDK is measured
too when it is installed (the ``bench`` extra); otherwise its columns are null.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KEYS = {"workload", "ours_s", "theirs_s", "ratio", "cpu_ratio", "ours_spread", "theirs_spread"}


def test_quick_run_writes_rows(tmp_path: Path) -> None:
    out = tmp_path / "rows.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks",
            "--quick",
            "--repeat",
            "1",
            "--warmup",
            "0",
            "--json",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr

    rows = json.loads(out.read_text())
    assert rows, "no rows written"
    for row in rows:
        assert row.keys() >= KEYS, row
        assert isinstance(row["workload"], str) and row["workload"]
        for key in ("ours_s", "theirs_s", "ratio", "cpu_ratio", "ours_spread", "theirs_spread"):
            assert row[key] is None or isinstance(row[key], (int, float)), row
    names = [row["workload"] for row in rows]
    assert len(names) == len(set(names)), "workload names repeat"
    assert all(
        row["ours_s"] is not None for row in rows if "lambda_overhead" not in row["workload"]
    )
    assert (
        "| workload | ours (median ± IQR) | theirs (median ± IQR) | wall ratio | CPU ratio |"
        in proc.stdout
    )


def test_the_target_rows_run_and_their_table_reads_them(tmp_path: Path) -> None:
    def run(*args: str) -> str:
        proc = subprocess.run(
            [sys.executable, "-m", "benchmarks.targets", *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    line = run("floor", "parallel10")
    rows = json.loads(line)
    assert set(rows) == {"floor", "parallel10"}
    assert all(cpu > 0 and wall > 0 for cpu, wall in rows.values())
    saved = tmp_path / "runs.txt"
    saved.write_text(f"old {line}new {line}")
    table = run("--table", str(saved))
    assert "Parallel, 10 branches" in table and table.count("|") > 10


def test_the_floor_comparison_runs_and_sets_each_run_beside_both_floors(tmp_path: Path) -> None:
    from benchmarks.sqlite_throughput import against_floor, sqlite_floors

    fresh, steady = sqlite_floors(tmp_path, 20)
    assert fresh > 0 and steady > 0
    table = against_floor({"here": str(ROOT)}, rounds=1, n_steps=30)
    header, _, row = table.splitlines()[-3:]
    assert "share of the steady floor" in header
    assert row.startswith("| here |") and row.count("%") == 6
    cpu = against_floor({"here": str(ROOT)}, rounds=1, n_steps=30, synchronous="NORMAL")
    assert cpu.splitlines()[-1].startswith("| here |") and "%" not in cpu.splitlines()[-1]
