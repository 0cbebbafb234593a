"""``LocalService.run`` on a SQLite file sees what other processes commit while it waits.

Another process is played by a second ``SqliteStore`` on the same file (its own connection,
its own engine): what it commits reaches the first engine only through the database.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import durable_gen as dg
from durable_gen.local import ExecutionRecord, LocalService, SqliteStore
from durable_gen.runtime import make_handler

ids: list[str] = []


@dg.step
def hand_over(callback_id: str) -> None:
    ids.append(callback_id)


@dg.workflow
def approval(_: Any) -> Any:
    answer = yield dg.WaitForCallback(hand_over, name="approval", timeout=600)
    return {"answer": answer}


def test_run_sees_a_callback_answered_by_another_process(tmp_path: Path) -> None:
    ids.clear()
    db = str(tmp_path / "durable.db")
    with SqliteStore(db) as store:
        service = LocalService(store=store)
        service.register("approval", make_handler(approval, service))
        arn = service.start("approval", "null")
        records: list[ExecutionRecord] = []
        runner = threading.Thread(target=lambda: records.append(service.run(arn)), daemon=True)
        runner.start()
        deadline = time.monotonic() + 10
        while not ids and time.monotonic() < deadline:
            time.sleep(0.01)
        assert ids, "the submitter never ran"
        with SqliteStore(db) as other:  # another process's engine on the same file
            LocalService(store=other).send_callback_success(ids[0], '"yes"')
        runner.join(timeout=5)  # the callback's timeout (600 s) is the only timer
        assert not runner.is_alive(), "run() did not see the answer committed by another engine"
        assert records[0].status == "SUCCEEDED"
        assert records[0].result == '{"answer":"yes"}'


@dg.workflow
def other_program(x: int) -> Any:
    yield dg.Wait(seconds=1, name="nap")
    return x


@dg.workflow
def mine(x: int) -> Any:
    yield dg.Wait(seconds=1, name="nap")
    return x + 1


def test_a_service_leaves_the_executions_of_functions_it_does_not_know_alone(
    tmp_path: Path,
) -> None:
    from durable_gen.local import Worker

    db = str(tmp_path / "durable.db")
    with Worker(db) as client:  # another program (a worker fleet) starts its execution
        theirs = client.service.start(client.register(other_program), "1")
    with SqliteStore(db) as store:
        service = LocalService(store=store)
        service.register("mine", make_handler(mine, service))
        arn = service.start("mine", "5")
        assert service.run(arn).result == "6"
        service.run_until_idle()
        record = service.get_execution(theirs)
        # Not FAILED with FunctionNotRegisteredError: a worker that serves it runs it.
        assert record.status == "RUNNING", record.error
    with Worker(db) as worker:
        worker.register(other_program)
        assert worker.drive(theirs).result == "1"
