"""Typed values crossing the boundaries between a workflow and the outside, run on every engine
path: tests/typing/round13b.py (checked by mypy and pyright) returns the values that did not
come back equal to what was sent, or of another type than the checkers gave them: an Invoke's
input and result, callback answers sent through the engine, the test runner and the command
line, a WaitForCondition state, Map and Parallel results. The case below is a command-line
input that the workflow's declared parameter type does not read, which was recorded as an
execution that then failed; it is refused before anything is recorded.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import durable_gen as dg
from durable_gen import runtime as rt
from durable_gen.local import LocalService, SqliteStore, VirtualClock, register_function
from durable_gen.testing import TestRunner, replay

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "typing"))

import round13b  # noqa: E402  (tests/typing is not a package)

ANSWERS = round13b.ANSWERS


@pytest.mark.parametrize("payload_format", ["json", "aws"])
def test_round13b_on_the_test_runner_and_replayed(payload_format: Any) -> None:
    runner = TestRunner(functions=round13b.FUNCTIONS, payload_format=payload_format)
    run = runner.run(round13b.round13b, 1)
    for name, answer in ANSWERS.items():
        runner.run_until_idle()
        assert run.status == "RUNNING", run.error
        run.send_callback_success(name, answer)
    runner.run_until_idle()
    assert run.status == "SUCCEEDED", run.error
    assert run.result() == []
    report = replay(round13b.round13b, run.export())
    assert report.ok and report.outcome == "succeeded", report.message
    assert report.result == []


@pytest.mark.parametrize("invoked_format", ["json", "aws"])
@pytest.mark.parametrize("payload_format", ["json", "aws"])
def test_round13b_on_sqlite_with_a_fresh_engine_for_every_invocation(
    tmp_path: Path, payload_format: Any, invoked_format: Any
) -> None:
    db = str(tmp_path / "round13b.db")

    def engine() -> LocalService:
        service = LocalService(store=SqliteStore(db), clock=VirtualClock())
        handler = rt.make_handler(round13b.round13b, service, payload_format=payload_format)
        service.register("round13b", handler)
        for name, fn in round13b.FUNCTIONS.items():
            register_function(service, name, fn, payload_format=invoked_format)
        return service

    arn = engine().start("round13b", "1")
    answered: set[str] = set()
    for _ in range(60):
        service = engine()
        record = service.run(arn)
        if record.status != "RUNNING":
            break
        for op in service.get_operations(arn):
            details = op.callback_details
            if op.type != "CALLBACK" or op.status != "STARTED" or details is None:
                continue
            name = next(n for n in ANSWERS if (op.name or "").startswith(n))
            if name not in answered:
                answered.add(name)
                service.send_callback_success(details.callback_id, json.dumps(ANSWERS[name]))
    record = engine().get_execution(arn)
    assert record.status == "SUCCEEDED", record.error
    assert answered == set(ANSWERS)
    assert json.loads(record.result or "null") == []


def cli_in(tmp_path: Path) -> Any:
    paths = [str(ROOT / "src"), str(ROOT / "tests" / "typing"), str(ROOT)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    env.pop("DURABLE_GEN_DB", None)

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "durable_gen.cli", *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=300,
        )

    return cli


def test_round13b_answered_from_the_command_line_in_fresh_processes(tmp_path: Path) -> None:
    db = str(tmp_path / "cli.db")
    cli = cli_in(tmp_path)

    def ok(*args: str) -> str:
        done = cli(*args, "--db", db)
        assert done.returncode == 0, done.stderr
        return str(done.stdout)

    arn = ok("start", "round13b:round13b", "--input", "1", "--arn").strip()
    registered = [f"--register={n}=round13b:{fn.__name__}" for n, fn in round13b.FUNCTIONS.items()]
    answered: list[str] = []
    for _ in range(len(ANSWERS) + 4):
        ok("worker", "--once", "-q", "--skip-time", *registered)
        (execution,) = [e for e in json.loads(ok("list", "--json")) if e["arn"] == arn]
        if execution["status"] != "RUNNING":
            break
        events = json.loads(ok("history", arn, "--json"))["Events"]
        done = {e["Id"] for e in events if e["EventType"] == "CallbackSucceeded"}
        for event in events:
            if event["EventType"] != "CallbackStarted" or event["Id"] in done:
                continue
            name = next(n for n in ANSWERS if event["Name"].startswith(n))
            callback_id = event["CallbackStartedDetails"]["CallbackId"]
            ok("callback", "succeed", callback_id, json.dumps(ANSWERS[name]))
            answered.append(name)
    assert execution["status"] == "SUCCEEDED", execution["error"]
    assert sorted(answered) == sorted(ANSWERS)
    assert json.loads(execution["result"]) == []


@pytest.mark.parametrize("command", ["run", "start"])
@pytest.mark.parametrize(
    ("workflow", "given"),
    [
        ("round13b:doubled", '{"id": 1, "placed": "2024-02-30", "amount": "1"}'),
        ("round13b:doubled", None),
        ("round13b:round13b", '"one"'),
    ],
)
def test_an_input_the_workflow_cannot_read_is_refused_before_anything_is_recorded(
    tmp_path: Path, command: str, workflow: str, given: str | None
) -> None:
    db = tmp_path / "refused.db"
    cli = cli_in(tmp_path)
    args = [command, workflow, "--db", str(db), *(["--input", given] if given else [])]
    done = cli(*args)
    assert done.returncode == 2, done.stderr
    assert "--input: the workflow input: the payload does not fit the declared type" in (
        done.stderr
    )
    assert "nothing was recorded" in done.stderr
    assert not db.exists()  # no execution, not even an empty database


# --- a Decimal where a float is declared, in both payload formats -------------------------------


@dataclass
class Priced:
    amount: float


@dg.step
def price() -> float:
    return Decimal("1.10")  # type: ignore[return-value]  (the mistake under test)


@dg.step
def prices() -> list[float]:
    return [Decimal("1.10")]  # type: ignore[list-item]


@dg.step
def priced() -> Priced:
    return Priced(amount=Decimal("1.10"))  # type: ignore[arg-type]


@dg.step
def exact() -> dict[str, Decimal | None]:
    return {"a": Decimal("1.10"), "b": None}


@dg.workflow
def pricing(n: int) -> dg.Workflow[list[str]]:
    seen: list[str] = []
    for step in (price, prices, priced):
        try:
            value = yield from step()
        except dg.StepFailedError as exc:
            seen.append(str(exc).split(";")[0])
        else:
            seen.append(f"{step.__name__} gave {value!r}")
    kept = yield from exact()
    seen.append(repr(kept))
    return seen


def test_a_decimal_where_a_float_is_declared_is_refused_in_both_formats() -> None:
    # the "json" format writes the Decimal as its text, which a float does not read; AWS's
    # envelope keeps it a Decimal, which was turned into a float (1.1, no longer exact)
    seen = {}
    for payload_format in ("json", "aws"):
        run = TestRunner(payload_format=payload_format).run(pricing, 1)
        assert run.status == "SUCCEEDED", run.error
        seen[payload_format] = run.result()
        report = replay(pricing, run.export())
        assert report.ok and report.result == run.result(), report.message
    assert seen["aws"] == seen["json"]
    assert seen["json"] == [
        "the result of step 'price': the payload does not fit the declared type float "
        "(Expected `float`, got `str`)",
        "the result of step 'prices': the payload does not fit the declared type list[float] "
        "(Expected `float`, got `str` - at `$[0]`)",
        "the result of step 'priced': the payload does not fit the declared type Priced "
        "(Expected `float`, got `str` - at `$.amount`)",
        "{'a': Decimal('1.10'), 'b': None}",
    ]


def test_an_aws_written_decimal_read_as_a_float_is_refused_as_the_json_form_is() -> None:
    from durable_gen._codec import decode

    for payload in ('{"t": "d", "v": "1.10"}', '"1.10"'):
        with pytest.raises(dg.SerializationError, match="Expected `float`, got `str`"):
            decode(payload, float, what="a recorded payload")
    assert decode('{"t": "d", "v": "1.10"}', Decimal, what="x") == Decimal("1.10")
    assert decode('{"t": "d", "v": "1.10"}', Decimal | None, what="x") == Decimal("1.10")
    assert decode('{"t": "l", "v": [{"t": "d", "v": "2"}]}', list[int | Decimal], what="x") == [
        Decimal("2")
    ]
