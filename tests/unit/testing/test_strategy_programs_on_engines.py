"""``program_workflow`` gives ``expected_result(program)`` on every engine, not only under
``TestRunner``: with ``dg.run``, on SQLite and through the Lambda handler.

A ``flaky`` step fails its first attempts by the attempt number the driver runs, which every
host has (``current_attempt()`` answers under ``TestRunner`` only).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

import durable_gen as dg
import durable_gen.runtime as rt
from durable_gen.aws import lambda_handler
from durable_gen.local import LocalService, SqliteStore, VirtualClock
from durable_gen.testing.strategies import (
    ChildNode,
    MapNode,
    ParallelNode,
    StepNode,
    WaitNode,
    expected_result,
    program_input,
    program_workflow,
)

PROGRAMS: list[list[Any]] = [
    [StepNode(3, outcome="flaky", failures=1)],
    [StepNode(5, outcome="flaky", failures=2), StepNode(1, outcome="fail"), WaitNode(60)],
    [MapNode([1, -2, 3]), ChildNode([StepNode(4, outcome="flaky", failures=1)], virtual=True)],
    [ParallelNode([[StepNode(2, outcome="flaky", failures=2)], [MapNode([])]])],
]


@pytest.fixture(autouse=True)
def _quiet() -> Iterator[None]:
    logging.disable(logging.WARNING)
    yield
    logging.disable(logging.NOTSET)


def _on(engine: LocalService, handler: Any, program: list[Any]) -> Any:
    engine.register("program", handler)
    record = engine.run(engine.start("program", json.dumps(program_input(program))))
    assert record.status == "SUCCEEDED", record.error
    assert record.result is not None
    return json.loads(record.result)


@pytest.mark.parametrize("program", PROGRAMS)
def test_dg_run(program: list[Any]) -> None:
    assert dg.run(program_workflow, program_input(program), skip_time=True) == expected_result(
        program
    )


@pytest.mark.parametrize("program", PROGRAMS)
def test_sqlite(program: list[Any], tmp_path: Path) -> None:
    engine = LocalService(store=SqliteStore(str(tmp_path / "p.db")), clock=VirtualClock())
    result = _on(engine, rt.make_handler(program_workflow, engine), program)
    assert result == expected_result(program)


@pytest.mark.parametrize("program", PROGRAMS)
def test_lambda_handler(program: list[Any]) -> None:
    engine = LocalService(clock=VirtualClock())
    handler = lambda_handler(program_workflow, service=engine)

    def durable(event: rt.InvocationInput) -> rt.InvocationOutput:
        return msgspec.convert(handler(msgspec.to_builtins(event), None), rt.InvocationOutput)

    assert _on(engine, durable, program) == expected_result(program)
