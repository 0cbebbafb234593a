"""``stop`` of an execution that invoked others, while a worker serves the database.

``stop`` stops the executions an execution invoked first, so that its invoke operations
record STOPPED. It used to commit each on its own: a worker woken by a child's stop ran the
parent's next invocation in between, so the parent's code caught the failed invoke and went
on (a step ran after the stop; some parents even SUCCEEDED and ``stop`` reported that). Now
the parent and what it invoked stop in one transaction, and no code of theirs runs after.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import durable_gen as dg
from durable_gen.local import LocalService, SqliteStore, Worker

AFTER = "DURABLE_GEN_TEST_AFTER_STOP"


@dg.workflow
def kid(x: Any) -> Any:
    yield dg.Wait(seconds=3600, name="nap")
    return x


@dg.step
def after_child_stopped(x: int) -> int:
    with open(os.environ[AFTER], "a") as out:
        out.write(f"{x}\n")
    return x


@dg.workflow
def parent(x: int) -> Any:
    try:
        return (yield dg.Invoke("kid", x))
    except dg.InvokeFailedError:
        yield after_child_stopped(x)
        return "went on"


class PausingStore(SqliteStore):
    """A store that pauses after each transaction while ``pausing``: what a busy machine may
    do between two transactions, made long enough for the worker to act in between."""

    pausing = False

    def _after_release(self) -> None:
        super()._after_release()
        if self.pausing:
            time.sleep(0.2)


def test_stopping_a_parent_runs_none_of_its_code_after(tmp_path: Path, monkeypatch: Any) -> None:
    log = tmp_path / "after.log"
    monkeypatch.setenv(AFTER, str(log))
    db = tmp_path / "durable.db"
    with Worker(db, functions={"kid": kid}, poll=0.01) as worker:
        name = worker.register(parent)
        arns = [worker.service.start(name, str(i)) for i in range(6)]
        runner = threading.Thread(target=worker.run, daemon=True)
        runner.start()
        try:
            with PausingStore(db) as store:
                service = LocalService(store=store)
                deadline = time.monotonic() + 30
                while len(service.list_executions("RUNNING")) < 12:  # parents and kids
                    assert time.monotonic() < deadline
                    time.sleep(0.05)
                time.sleep(0.3)  # every parent waits on its kid
                store.pausing = True
                stopped = [service.stop(arn).status for arn in arns]
                store.pausing = False
                time.sleep(0.5)  # what the worker would run after
                statuses = {r.function_name: set() for r in service.list_executions()}
                for record in service.list_executions():
                    statuses[record.function_name].add(record.status)
                history = [e.event_type for e in service.get_history(arns[0])]
        finally:
            worker.stop()
            runner.join(timeout=30)
    assert stopped == ["STOPPED"] * 6
    assert statuses == {name: {"STOPPED"}, "kid": {"STOPPED"}}
    assert not log.exists(), log.read_text()
    # The invoke recorded the kid's stop; nothing of the parent ran after it.
    after = history[history.index("ChainedInvokeStopped") :]
    assert "ExecutionStopped" in after and "StepStarted" not in after, history
