"""docs/engine.md's "Running a fleet" blocks, run against a real Postgres server.

The page marks them skipped for the docs runner (they need the reader's server); here the
reader's URL is the test cluster's, ``place_order`` an importable workflow, and the block
that serves "until worker.stop()" is stopped once the execution it serves has ended.
"""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path
from typing import Any

from durable_gen.local import Worker

from . import docs_flows

ROOT = Path(__file__).resolve().parents[2]
READERS_URL = "postgresql://app@db.internal:5432/durable"


def _fleet_blocks() -> tuple[str, str]:
    text = (ROOT / "docs" / "engine.md").read_text()
    section = text.split("## Running a fleet", 1)[1]
    blocks = re.findall(r"^```python\n(.*?)^```", section, re.S | re.M)
    serve = next(b for b in blocks if "worker.run()" in b)
    client = next(b for b in blocks if "client.service.start" in b)
    return serve, client


def test_the_fleet_blocks_start_and_serve_an_execution(postgres_url: str) -> None:
    serve, client = _fleet_blocks()
    assert READERS_URL in serve and READERS_URL in client
    order = {"id": "o-1", "amount": 30}
    started: dict[str, Any] = {"place_order": docs_flows.place_order, "order": order}
    exec(compile(client.replace(READERS_URL, postgres_url), "engine.md", "exec"), started)
    arn = started["arn"]
    assert started["name"] == "tests.postgres.docs_flows.place_order"

    workers: list[Worker] = []

    class ServingWorker(Worker):
        def __enter__(self) -> ServingWorker:
            workers.append(self)
            super().__enter__()
            return self

    serving: dict[str, Any] = {"place_order": docs_flows.place_order}
    code = compile(serve.replace(READERS_URL, postgres_url), "engine.md", "exec")
    runner = threading.Thread(
        target=exec, args=(code, {**serving, "__builtins__": __builtins__}), daemon=True
    )
    import durable_gen.local

    original = durable_gen.local.Worker
    durable_gen.local.Worker = ServingWorker  # type: ignore[misc]
    try:
        runner.start()
        with Worker(postgres_url) as watcher:
            deadline = time.monotonic() + 60
            while watcher.service.get_execution(arn).status == "RUNNING":
                assert time.monotonic() < deadline, "the fleet block did not run the execution"
                time.sleep(0.1)
            record = watcher.service.get_execution(arn)
    finally:
        for worker in workers:
            worker.stop()
        runner.join(timeout=30)
        durable_gen.local.Worker = original  # type: ignore[misc]
    assert not runner.is_alive()
    assert record.status == "SUCCEEDED" and record.result == '"receipt-o-1-30"'
