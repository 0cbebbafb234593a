"""One execution whose record is damaged does not stop a worker: it is set aside (logged) and
the other executions run on; nothing recorded changes.

docs/engine.md, failure modes: a damaged record is a StoreError naming the execution; a
worker sharing the database with it must still serve everything else.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

import durable_gen as dg
from durable_gen import cli
from durable_gen.local import SqliteStore, Worker


@dg.step
def double(x: int) -> int:
    return 2 * x


def flow(x: int) -> Generator[Any, Any, int]:
    return (yield double(x))


DAMAGES = {
    "execution-header": "UPDATE executions SET header = x'0102' WHERE name = 'left'",
    "execution-operation": "UPDATE operations SET body = x'00' WHERE type = 'EXECUTION' AND "
    "key = (SELECT MIN(key) FROM operations WHERE type = 'EXECUTION')",
}


def _start_two(path: Path, damage: str) -> None:
    for name, value in (("left", "1"), ("right", "2")):
        argv = ["start", f"{__name__}:flow", "--input", value, "--name", name, "--db", str(path)]
        assert cli.main(argv) == 0
    conn = sqlite3.connect(path)
    conn.execute(DAMAGES[damage])
    conn.commit()
    conn.close()


def _status(path: Path, name: str) -> str:
    conn = sqlite3.connect(path)
    (status,) = conn.execute("SELECT status FROM executions WHERE name = ?", (name,)).fetchone()
    conn.close()
    return str(status)


@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_the_command_line_worker_sets_a_damaged_execution_aside_and_runs_the_others(
    damage: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "damaged.db"
    _start_two(path, damage)
    capsys.readouterr()
    assert cli.main(["worker", "--once", "--db", str(path)]) == 0
    err = capsys.readouterr().err
    assert "damaged record" in err and "set aside" in err, err
    assert "/durable-execution/left/" in err, err
    assert _status(path, "right") == "SUCCEEDED"
    assert _status(path, "left") == "RUNNING"  # nothing recorded was changed


@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_worker_run_once_runs_the_others_and_leaves_the_damaged_one_as_it_was(
    damage: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "damaged.db"
    _start_two(path, damage)
    capsys.readouterr()
    with Worker(SqliteStore(path)) as worker:
        worker.register(flow)
        worker.run(once=True)
    assert _status(path, "right") == "SUCCEEDED"
    assert "set aside" in capsys.readouterr().err
    assert _status(path, "left") == "RUNNING"
    # Reading it still names the damage, as docs/cli.md says.
    assert cli.main(["show", "left", "--db", str(path)]) == 1
    assert "damaged record" in capsys.readouterr().err
