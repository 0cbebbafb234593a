"""Shell blocks of the docs that run on a test machine do what the page shows.

``bash`` blocks that run this project's commands (not a deployment, a cloud call or a
database server) run as written; ``console`` transcripts of errors print the lines shown.
"""

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


def _blocks(page: str, lang: str) -> list[str]:
    text = (ROOT / page).read_text()
    return re.findall(rf"^```{lang}\n(.*?)^```", text, re.S | re.M)


def _cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("DURABLE_GEN_DB", None)
    return subprocess.run(
        [sys.executable, "-m", "durable_gen.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_guide_s_command_line_block_runs_the_example(tmp_path: Path) -> None:
    (block,) = [b for b in _blocks("docs/guide.md", "bash") if "durable-gen run" in b]
    argv = shlex.split(block.strip())
    assert argv[0] == "durable-gen"
    done = _cli([*argv[1:], "--db", str(tmp_path / "d.db")], cwd=ROOT)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["receipt"] == "receipt-o-1-42" and result["labels"] == ["label:a"]


def test_the_embedding_example_prints_what_the_page_shows() -> None:
    (block,) = [b for b in _blocks("docs/embedding.md", "bash") if "examples/embedding.py" in b]
    command, shown = block.strip().splitlines()
    done = subprocess.run(
        shlex.split(command.replace("python", sys.executable, 1)),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == shown.removeprefix("# ").strip()


def _error_transcript() -> list[tuple[str, str]]:
    """cli.md's "every error is one line" transcript: (command, the line it prints)."""
    (block,) = [b for b in _blocks("docs/cli.md", "console") if "$ durable-gen show 9z" in b]
    lines = block.strip().splitlines()
    return [(lines[i][2:], lines[i + 1]) for i in range(0, len(lines), 2)]


@pytest.mark.parametrize(("command", "line"), _error_transcript())
def test_cli_md_error_lines_are_printed_as_shown(command: str, line: str, tmp_path: Path) -> None:
    from durable_gen.local import SqliteStore

    with SqliteStore(tmp_path / "durable.db"):  # an empty database for `show` to search
        pass
    done = _cli(shlex.split(command)[1:], cwd=tmp_path)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.strip() == line
