"""The README's Quick start: its first block's command runs the example workflow to its end."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _quick_start_blocks() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^```bash\n(.*?)^```", section, re.S | re.M)


def test_the_first_block_runs_the_example_on_the_embedded_engine(tmp_path: Path) -> None:
    first = _quick_start_blocks()[0]
    (command,) = [line for line in first.splitlines() if line.startswith("durable-gen ")]
    argv = shlex.split(command)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "durable_gen.cli", *argv[1:], "--db", str(tmp_path / "d.db")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["receipt"] == "receipt-o-1-42"
    assert result["labels"] == ["label:book", "label:pen"]
    assert result["tax"] == 8.4


def test_the_second_block_is_what_ci_runs() -> None:
    second = _quick_start_blocks()[1]
    ci = (ROOT / ".ci" / "run").read_text()
    for line in second.strip().splitlines():
        assert line in ci, line


def test_the_first_block_runs_as_the_installed_command(tmp_path: Path) -> None:
    """The console script, run from the repository as the README says (no PYTHONPATH): the
    working directory is importable, so ``examples.order`` is found."""
    script = Path(sys.executable).parent / "durable-gen"
    if not script.exists():
        pytest.skip("durable-gen is not installed beside this Python (pip install -e .)")
    first = _quick_start_blocks()[0]
    (command,) = [line for line in first.splitlines() if line.startswith("durable-gen ")]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "DURABLE_GEN_DB")}
    done = subprocess.run(
        [str(script), *shlex.split(command)[1:], "--db", str(tmp_path / "d.db")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["receipt"] == "receipt-o-1-42"
