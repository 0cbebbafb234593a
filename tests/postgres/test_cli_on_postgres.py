"""Every operating command answers the same on Postgres as on SQLite (``--db`` either way).

The same session (start, a worker, show, history, callbacks sent right, twice and wrong, stop
of a running and of a finished execution, list and its filters) runs against a SQLite file and
a Postgres database; once ids, times and the database's name are masked, the outputs and exit
statuses must be equal, so an operator moving to Postgres sees nothing new.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from durable_gen import cli

_MASKS = (
    (re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"), "UUID"),
    (re.compile(r"[0-9a-f]{48}"), "CALLBACK"),
    (re.compile(r"\d{4}-\d\d-\d\dT[\d:.]+\+00:00"), "TIME"),
    (re.compile(r"\d+(\.\d+)? (ms|s)\b"), "DURATION"),
    (re.compile(r"\"(\w*Timestamp|start_timestamp|end_timestamp)\": ?\d+"), r'"\1":0'),
    (re.compile(r" +"), " "),
)


def _session(db: str, capsys: pytest.CaptureFixture[str]) -> list[str]:
    lines: list[str] = []

    def run(*argv: str) -> str:
        status = cli.main([*argv, "--db", db])
        out, err = capsys.readouterr()
        text = f"$ {' '.join(argv)} -> {status}\n{out}{err}".replace(db, "DB")
        text = re.sub(r"postgresql://\S+?/\w+|\S+\.db\b", "DB", text)
        for pattern, mask in _MASKS:
            text = pattern.sub(mask, text)
        lines.append(text)
        return out

    flow = "tests.postgres.flows:approval"
    run("start", flow, "--input", "5", "--name", "a-1")
    run("start", flow, "--input", "5", "--name", "a-1")  # idempotent: the same id
    run("start", flow, "--input", "7", "--name", "a-2")
    worker = ["worker", "--once", "-q", "--register", "cli-tax=tests.postgres.flows:tax"]
    for _ in range(3):  # the invoke's call, then the parent's resumption
        run(*worker)
    shown = run("show", "a-1")
    callback = re.search(r"CallbackId ([0-9a-f]{48})", shown)
    assert callback is not None, shown
    run("callback", "heartbeat", callback.group(1))
    run("callback", "succeed", callback.group(1), '"yes"')
    run("callback", "succeed", callback.group(1), '"again"')  # refused: already answered
    real = callback.group(1)
    typo = real[:-2] + ("11" if real.endswith("00") else "00")  # never the real id
    run("callback", "fail", typo, "typo")  # no such callback
    run(*worker)
    run("callback", "succeed", callback.group(1), '"late"')  # the execution has ended
    run("stop", "a-1")  # finished: says so, changes nothing
    run("stop", "a-2")
    run("stop", "a-2")
    run("list")
    for status in ("RUNNING", "SUCCEEDED", "STOPPED"):
        run("list", "--status", status)
    run("list", "--status", "SUCCEEDED", "--json")
    for name in ("a-1", "a-2"):
        run("show", name)
        run("history", name)
        history = json.loads(run("history", name, "--json"))
        assert history["Events"][0]["EventType"] == "ExecutionStarted"
    run("show", "zzz")
    run("show", "a-")  # ambiguous
    return lines


def test_each_command_answers_the_same_on_postgres_as_on_sqlite(
    postgres_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    on_sqlite = _session(str(tmp_path / "ops.db"), capsys)
    on_postgres = _session(postgres_url, capsys)
    assert on_postgres == on_sqlite
    text = "".join(on_postgres)
    assert '"doubled":10' in text and '"ok":"yes"' in text  # the session did run
    assert "$ stop a-1 -> 0\nexecution UUID: SUCCEEDED" in text
