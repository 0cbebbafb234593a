"""An execution kept in a file in AWS's wire format, a fresh process for every invocation.

See ``embedding_wire_process``: the Map suspends with items half done (two at a time, each
waiting in its middle), the Parallel with a callback, a wait, an invoke and retries in flight;
every suspension ends the process, and in the harshest run every process dies right after its
first checkpoint reaches the disk. The result and the records equal those of the same workflow
run in one process on the embedded engine, and the file holds the operations under the member
names of the Lambda API's ``Operation`` shape (boto3's service model).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from durable_gen import runtime as rt
from tests.unit import embedding_wire_process as wire
from tests.unit.embedding_runtimes import engine_records, records

ROOT = Path(__file__).resolve().parents[2]


def _drive(path: Path, mode: str, exit_after: int | None) -> tuple[int, int]:
    """Invoke in fresh processes until the execution ends: (processes, crashed ones)."""
    processes = crashed = 0
    while True:
        saved, _ = wire.load(path)
        if saved.outcome is not None:
            outcome = json.loads(saved.outcome)
            if outcome.get("result") is not None or outcome.get("error") is not None:
                return processes, crashed
            saved.outcome = None
            wire.save(path, saved)
            if not wire.answer_callbacks(path, '"yes"'):
                assert wire.step_time(path), f"stuck: {outcome}"
        args = [sys.executable, "-m", "tests.unit.embedding_wire_process", str(path), mode]
        if exit_after is not None:
            args.append(str(exit_after))
        done = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=60)
        processes += 1
        if done.returncode == 17:
            crashed += 1
        else:
            assert done.returncode == 0, done.stderr
        assert processes < 200, "too many invocations"


@pytest.fixture(scope="module")
def on_engine() -> list[tuple[Any, ...]]:
    result, recorded = engine_records(
        wire.workflow, [1, 2, 3, 4], functions=wire.FUNCTIONS, answer="yes"
    )
    assert result == wire.EXPECTED
    return recorded


def _check(path: Path, on_engine: list[tuple[Any, ...]]) -> None:
    saved, store = wire.load(path)
    assert saved.outcome is not None
    outcome = json.loads(saved.outcome)
    assert json.loads(outcome["result"]) == wire.EXPECTED, outcome
    assert store["execution"].status == "SUCCEEDED"
    assert records(store.values()) == on_engine


@pytest.mark.parametrize("mode", ["step", "eager", "batch"])
def test_a_fresh_process_at_every_suspension(
    tmp_path: Path, mode: str, on_engine: list[tuple[Any, ...]]
) -> None:
    path = tmp_path / "execution.json"
    wire.new_execution(path, "[1, 2, 3, 4]")
    processes, crashed = _drive(path, mode, None)
    assert crashed == 0
    assert processes >= 5  # the Map items' waits, the Parallel's wait and retries
    _check(path, on_engine)


def test_every_process_dies_after_its_first_checkpoint(
    tmp_path: Path, on_engine: list[tuple[Any, ...]]
) -> None:
    path = tmp_path / "execution.json"
    wire.new_execution(path, "[1, 2, 3, 4]")
    processes, crashed = _drive(path, "step", 1)
    assert crashed >= 10 and processes > crashed
    _check(path, on_engine)


def test_the_file_holds_operations_under_the_lambda_api_member_names(tmp_path: Path) -> None:
    botocore_session = pytest.importorskip("botocore.session")
    model = botocore_session.get_session().get_service_model("lambda")
    path = tmp_path / "execution.json"
    wire.new_execution(path, "[1, 2, 3, 4]")
    _drive(path, "step", None)
    operations = json.loads(path.read_text())["operations"]
    kinds: set[str] = set()

    def check(value: Any, shape: Any, where: str) -> None:
        if shape.type_name == "structure":
            assert isinstance(value, dict), where
            unknown = set(value) - set(shape.members)
            assert not unknown, f"{where}: {sorted(unknown)} not in {shape.name}"
            for key, member in value.items():
                check(member, shape.members[key], f"{where}.{key}")
        elif shape.type_name == "list":
            for i, member in enumerate(value):
                check(member, shape.member, f"{where}[{i}]")
        elif shape.type_name == "string":
            assert isinstance(value, str), where
            if shape.enum:
                assert value in shape.enum, f"{where}: {value!r} not in {shape.enum}"
        elif shape.type_name in ("integer", "long"):
            assert isinstance(value, int), where

    for i, op in enumerate(operations):
        check(op, model.shape_for("Operation"), f"operations[{i}]")
        kinds.add(op["Type"])
    assert kinds == {"EXECUTION", "CONTEXT", "STEP", "WAIT", "CALLBACK", "CHAINED_INVOKE"}
    assert all(isinstance(t["due_ms"], int) for t in json.loads(path.read_text())["timers"])
    # and the file reads back as the documented models
    assert all(isinstance(op, rt.Operation) for op in wire.load(path)[1].values())
