"""Several worker processes on one database: every execution runs on one worker at a time."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

from durable_gen.local import Worker

from . import flows
from .crash import _env, _err, _lines, _stop, _worker

EXECUTIONS = 12


def test_three_workers_share_a_database_without_running_anything_twice(tmp_path: Path) -> None:
    db, log = tmp_path / "shared.db", tmp_path / "steps.log"
    with Worker(db) as starter:
        name = starter.register(flows.tagged)
        arns = [starter.service.start(name, str(n)) for n in range(EXECUTIONS)]
    env = _env(log)
    workers = [_worker(db, env) for _ in range(3)]
    try:
        deadline = time.monotonic() + 60
        with Worker(db) as reader:
            while time.monotonic() < deadline:
                records = [reader.service.get_execution(arn) for arn in arns]
                if all(r.is_terminal for r in records):
                    break
                time.sleep(0.05)
    finally:
        for proc in workers:
            _stop(proc, db)
    assert [r.status for r in records] == ["SUCCEEDED"] * EXECUTIONS, _err(db)
    starts = Counter(label for event, label, _ in _lines(log) if event == "start")
    expected = Counter({f"e{n}-s{i}": 1 for n in range(EXECUTIONS) for i in range(3)})
    expected.update(["e0-meet", "e1-meet"])
    assert starts == expected
    pids = {pid for _, _, pid in _lines(log)}
    assert len(pids) >= 2, "the work should spread over the workers"
