"""tests/typing/kinds.py (checked by mypy and pyright) runs here: keyword-only, positional-only
and ``*args`` steps, a generic Struct, a NewType input, Map over a range, a WaitStrategy built
apart, callbacks of an enum and of nested containers, a timed-out WaitForCallback, a TypedDict
child result. Its workflow returns the values that did not have the type the checkers gave
them, on the test runner in both payload formats, through the replayer, and on SQLite with a
fresh engine (so every value is read back from the database) for every invocation.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from durable_gen import runtime as rt
from durable_gen.local import LocalService, SqliteStore, VirtualClock, register_function
from durable_gen.testing import TestRunner, replay

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "typing"))

import kinds  # noqa: E402  (tests/typing is not a package)

ANSWERS = {"decide": kinds.DECIDED, "days": kinds.DAYS}


@pytest.mark.parametrize("payload_format", ["json", "aws"])
def test_on_the_test_runner_and_replayed(payload_format: Any) -> None:
    runner = TestRunner(functions=kinds.FUNCTIONS, payload_format=payload_format)
    run = runner.run(kinds.kinds, kinds.OrderId("o-1"))
    for name, answer in ANSWERS.items():
        run.send_callback_success(name, answer)
        runner.run_until_idle()
    runner.run_until_idle(include_callback_timeouts=True)  # "late" times out
    assert run.result() == []
    late = run.operation("late")
    assert late is not None and late.error is not None
    report = replay(kinds.kinds, run.export())
    assert report.ok and report.outcome == "succeeded", report.message
    assert report.result == []


@pytest.mark.parametrize("payload_format", ["json", "aws"])
def test_on_sqlite_with_a_fresh_engine_for_every_invocation(
    tmp_path: Path, payload_format: Any
) -> None:
    db = str(tmp_path / "kinds.db")

    def engine() -> LocalService:
        service = LocalService(store=SqliteStore(db), clock=VirtualClock())
        service.register(
            "kinds", rt.make_handler(kinds.kinds, service, payload_format=payload_format)
        )
        for name, fn in kinds.FUNCTIONS.items():
            register_function(service, name, fn, payload_format=payload_format)
        return service

    arn = engine().start("kinds", json.dumps("o-1"))
    answered: set[str] = set()
    for _ in range(30):
        service = engine()
        record = service.run(arn)
        if record.status != "RUNNING":
            break
        for op in service.get_operations(arn):
            details = op.callback_details
            if op.type != "CALLBACK" or op.status != "STARTED" or details is None:
                continue
            assert details.callback_id
            for name, answer in ANSWERS.items():
                if (op.name or "").startswith(name) and name not in answered:
                    answered.add(name)
                    service.send_callback_success(details.callback_id, json.dumps(answer))
        if answered == set(ANSWERS):
            service.run_until_idle()  # the callback of "late" times out
    record = engine().get_execution(arn)
    assert record.status == "SUCCEEDED", record.error
    assert json.loads(record.result or "null") == []
