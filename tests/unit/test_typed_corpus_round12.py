"""Typed programs written from the guide's "Typing workflows" and "Values and types", run on
every engine path: tests/typing/round12.py (checked by mypy and pyright) returns the values that
did not come back equal to what was sent, or of another type than the checkers gave them; the
callbacks are answered with the JSON an outside sender writes (the command line's `callback
succeed` too). The cases below are declared types the checkers accept that the codec refused
(``Never`` or ``NoReturn`` for a function that always raises, ``LiteralString``) or read as no
type (a ParamSpec decorator's wrapper returning ``R | None``, ``list[R]`` or
``dg.Workflow[R]``), an ``async def`` wrapper around a plain function, and what a worker says
of a workflow whose decorator's wrapper is made without ``functools.wraps``.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from collections.abc import Callable, Coroutine
from decimal import Decimal
from pathlib import Path
from typing import Any, LiteralString, Never, NoReturn, ParamSpec, TypeVar

import pytest

import durable_gen as dg
from durable_gen import InvalidInputError
from durable_gen import runtime as rt
from durable_gen.local import LocalService, SqliteStore, VirtualClock, Worker, register_function
from durable_gen.testing import TestRunner, replay

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "typing"))

import round12  # noqa: E402  (tests/typing is not a package)

ANSWERS = round12.ANSWERS


# --- tests/typing/round12.py on every engine path --------------------------------------------


@pytest.mark.parametrize("payload_format", ["json", "aws"])
def test_round12_on_the_test_runner_and_replayed(payload_format: Any) -> None:
    runner = TestRunner(functions=round12.FUNCTIONS, payload_format=payload_format)
    run = runner.run(round12.round12, 7)
    for name, answer in ANSWERS.items():
        assert run.status == "RUNNING", run.error
        run.send_callback_success(name, answer)
        runner.run_until_idle()
    assert run.status == "SUCCEEDED", run.error
    assert run.result() == []
    report = replay(round12.round12, run.export())
    assert report.ok and report.outcome == "succeeded", report.message
    assert report.result == []


def answer_callbacks(service: LocalService, arn: str, answered: set[str]) -> None:
    for op in service.get_operations(arn):
        details = op.callback_details
        if op.type != "CALLBACK" or op.status != "STARTED" or details is None:
            continue
        assert details.callback_id
        for name, answer in ANSWERS.items():
            if (op.name or "").startswith(name) and name not in answered:
                answered.add(name)
                service.send_callback_success(details.callback_id, json.dumps(answer))


@pytest.mark.parametrize("invoked_format", ["json", "aws"])
@pytest.mark.parametrize("payload_format", ["json", "aws"])
def test_round12_on_sqlite_with_a_fresh_engine_for_every_invocation(
    tmp_path: Path, payload_format: Any, invoked_format: Any
) -> None:
    # every value the workflow receives after the first invocation is read from the database;
    # the invoked workflow records in its own format, which the caller reads either way
    db = str(tmp_path / "round12.db")

    def engine() -> LocalService:
        service = LocalService(store=SqliteStore(db), clock=VirtualClock())
        service.register(
            "round12", rt.make_handler(round12.round12, service, payload_format=payload_format)
        )
        for name, fn in round12.FUNCTIONS.items():
            register_function(service, name, fn, payload_format=invoked_format)
        return service

    arn = engine().start("round12", "7")
    answered: set[str] = set()
    for _ in range(60):
        service = engine()
        record = service.run(arn)
        if record.status != "RUNNING":
            break
        answer_callbacks(service, arn, answered)
    record = engine().get_execution(arn)
    assert record.status == "SUCCEEDED", record.error
    assert answered == set(ANSWERS)
    assert json.loads(record.result or "null") == []


def test_round12_on_a_sqlite_worker(tmp_path: Path) -> None:
    with Worker(
        str(tmp_path / "worker.db"),
        functions=round12.FUNCTIONS,
        skip_time=True,
        log=lambda line: None,
    ) as worker:
        name = worker.register(round12.round12)
        arn = worker.service.start(name, "7")
        answered: set[str] = set()
        for _ in range(30):
            worker.drive(arn)
            record = worker.service.get_execution(arn)
            if record.status != "RUNNING":
                break
            answer_callbacks(worker.service, arn, answered)
        assert record.status == "SUCCEEDED", record.error
        assert json.loads(record.result or "null") == []


def test_round12_answered_from_the_command_line_in_fresh_processes(tmp_path: Path) -> None:
    # the Struct, the tagged union and the text reach the workflow from `callback succeed`,
    # each invocation in a new process that reads everything back from the database
    db = str(tmp_path / "cli.db")
    paths = [str(ROOT / "src"), str(ROOT / "tests" / "typing"), str(ROOT)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    env.pop("DURABLE_GEN_DB", None)

    def cli(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "durable_gen.cli", *args, "--db", db],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    arn = cli("start", "round12:round12", "--input", "7", "--arn").strip()
    worker = ("worker", "--once", "-q", "--skip-time", "--register", "quoting=round12:quoting")
    answered: list[str] = []
    for _ in range(len(ANSWERS) + 2):
        cli(*worker)
        listed = json.loads(cli("list", "--json"))  # the invoked execution too
        (execution,) = [e for e in listed if arn in (e.get("arn"), e.get("id"))]
        if execution["status"] != "RUNNING":
            break
        history = json.loads(cli("history", arn, "--json"))
        done = {
            e["Id"] for e in history["Events"] if e["EventType"].startswith("CallbackSucceeded")
        }
        for event in history["Events"]:
            if event["EventType"] != "CallbackStarted" or event["Id"] in done:
                continue
            name = next(n for n in ANSWERS if event["Name"].startswith(n))
            callback_id = event["CallbackStartedDetails"]["CallbackId"]
            cli("callback", "succeed", callback_id, json.dumps(ANSWERS[name]))
            answered.append(name)
    assert execution["status"] == "SUCCEEDED", execution["error"]
    assert sorted(answered) == sorted(ANSWERS)
    assert json.loads(execution["result"]) == []


def test_round12s_typed_calls_run() -> None:
    assert dg.run(round12.echo, 5) == 5
    quotes = dg.run(round12.quoting, round12.make_order(1))
    assert set(quotes) == {round12.Region.EU, round12.Region.US}
    assert all(type(one) is round12.Quote for one in quotes.values())


# --- a function declared never to return -----------------------------------------------------

CALLS: list[str] = []


def refuse(reason: str) -> Never:
    CALLS.append(reason)
    raise ValueError(reason)


def give_up(reason: str) -> NoReturn:
    CALLS.append(reason)
    raise LookupError(reason)


async def refuse_later(reason: str) -> Never:
    CALLS.append(reason)
    raise ValueError(reason)


def returns_after_all(reason: str) -> Never:
    CALLS.append(reason)
    return None  # type: ignore[return-value]  # the annotation lies


def refusing_child(reason: str) -> dg.Workflow[Never]:
    yield from dg.Wait(seconds=1)
    raise ValueError(reason)


@pytest.mark.parametrize("payload_format", ["json", "aws"])
@pytest.mark.parametrize("fn", [refuse, give_up, refuse_later], ids=["never", "noreturn", "async"])
def test_a_step_declared_never_to_return_runs_and_raises_its_own_error(
    payload_format: Any, fn: Any
) -> None:
    # such a step was not run: "values cannot be decoded into the declared type Never"
    CALLS.clear()

    @dg.workflow
    def wf(_: None) -> dg.Workflow[list[str]]:
        try:
            yield from dg.Step(fn, ("no stock",), name="refuse", retry=dg.Retry.never())
        except dg.StepFailedError as exc:
            return [exc.error_type or "", exc.error_message or ""]
        return []

    runner = TestRunner(payload_format=payload_format)
    run = runner.run(wf)
    assert run.status == "SUCCEEDED", run.error
    error_type = "LookupError" if fn is give_up else "ValueError"
    assert run.result() == [error_type, "no stock"]
    assert CALLS == ["no stock"]
    report = replay(wf, run.export())
    assert report.ok and report.result == [error_type, "no stock"], report.message


@pytest.mark.parametrize("payload_format", ["json", "aws"])
def test_map_items_and_a_child_declared_never_to_return_run_and_fail(payload_format: Any) -> None:
    CALLS.clear()

    @dg.workflow
    def wf(_: None) -> dg.Workflow[list[object]]:
        batch = yield from dg.Map(
            refuse, ["a", "b"], name="refusing", completion=dg.Completion.all_completed()
        )
        said: list[object] = [
            (item.status, item.error.error_message if item.error else None) for item in batch.items
        ]
        try:
            yield from dg.Child(refusing_child, ("c",), name="child")
        except dg.ChildFailedError as exc:
            said.append(str(exc))
        return said

    runner = TestRunner(payload_format=payload_format)
    run = runner.run(wf)
    runner.run_until_idle()
    assert run.status == "SUCCEEDED", run.error
    assert run.result() == [["FAILED", "a"], ["FAILED", "b"], "c"]
    assert sorted(set(CALLS)) == ["a", "b"]  # each item ran (and was retried)
    report = replay(wf, run.export())
    assert report.ok, report.message


@pytest.mark.parametrize("payload_format", ["json", "aws"])
def test_a_step_declared_never_that_returns_is_told_so(payload_format: Any) -> None:
    CALLS.clear()

    @dg.workflow
    def wf(_: None) -> dg.Workflow[str]:
        try:
            yield from dg.Step(returns_after_all, ("x",), name="liar", retry=dg.Retry.never())
        except dg.StepFailedError as exc:
            return exc.error_message or ""
        return "returned"

    said = dg.run(wf, payload_format=payload_format)
    assert CALLS == ["x"]
    assert "does not fit the declared type Never" in said, said
    assert "declared never to return (-> Never, -> NoReturn) returned" in said, said


# --- LiteralString is a str --------------------------------------------------------------------


def shout(word: LiteralString) -> LiteralString:
    return "HELLO" if word == "hello" else "?"


def shouts(word: LiteralString) -> dict[LiteralString, list[LiteralString]]:
    return {"a": ["HELLO", "!"]}


@pytest.mark.parametrize("payload_format", ["json", "aws"])
def test_literal_string_is_read_as_str(payload_format: Any) -> None:
    # a step declared -> LiteralString was not run: its type was refused as one no value fits
    @dg.workflow
    def wf(word: LiteralString) -> dg.Workflow[list[object]]:
        one = yield from dg.Step(shout, (word,), name="shout", retry=dg.Retry.never())
        many = yield from dg.Step(shouts, (word,), name="shouts", retry=dg.Retry.never())
        echoed = yield from dg.Invoke("shout", word, name="invoke", result_type=LiteralString)
        return [one, many, echoed]

    runner = TestRunner(functions={"shout": shout}, payload_format=payload_format)
    run = runner.run(wf, "hello")
    assert run.status == "SUCCEEDED", run.error
    assert run.result() == ["HELLO", {"a": ["HELLO", "!"]}, "HELLO"]
    report = replay(wf, run.export())
    assert report.ok and report.result == ["HELLO", {"a": ["HELLO", "!"]}, "HELLO"]


# --- decorators of one's own around a step's function ---------------------------------------

P = ParamSpec("P")
R = TypeVar("R")


def or_none(fn: Callable[P, R]) -> Callable[P, R | None]:
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R | None:
        try:
            return fn(*args, **kwargs)
        except LookupError:
            return None

    return wrapper


def listed(fn: Callable[P, R]) -> Callable[P, list[R]]:
    class Listed:
        def __call__(self, *args: P.args, **kwargs: P.kwargs) -> list[R]:
            return [fn(*args, **kwargs)]

    return Listed()


@or_none
def find(code: str, *, qty: int = 1) -> round12.Sku:
    if not code:
        raise LookupError(code)
    return round12.Sku(code=code, qty=qty)


@listed
def find_all(code: str) -> round12.Sku:
    return round12.Sku(code=code)


@pytest.mark.parametrize("payload_format", ["json", "aws"])
def test_a_decorator_whose_wrapper_changes_the_result_declares_the_wrapped_type_in_it(
    payload_format: Any,
) -> None:
    # a wrapper typed `-> R | None` (or `-> list[R]`) gave plain JSON, a dict where the
    # checkers say `Sku | None`: its R was read as no type, rather than the wrapped function's
    expected: list[object] = [
        round12.Sku(code="a", qty=2),
        None,
        [round12.Sku(code="b"), None],
        [round12.Sku(code="c")],
    ]

    @dg.workflow
    def wf(_: None) -> dg.Workflow[list[str]]:
        one = yield from dg.Step(find, ("a",), kwargs={"qty": 2}, name="find")
        none = yield from dg.Step(find, ("",), name="missing")
        many = yield from dg.Map(find, ["b", ""], name="map")
        in_list = yield from dg.Step(find_all, ("c",), name="listed")
        got = [one, none, many.results(), in_list]
        return [
            f"{name}: {value!r}"
            for name, value, want in zip(
                ["one", "none", "many", "listed"], got, expected, strict=True
            )
            if value != want or repr(value) != repr(want)  # a dict's repr is not a Sku's
        ]

    run = TestRunner(payload_format=payload_format).run(wf)
    assert run.status == "SUCCEEDED", run.error
    assert run.result() == []
    report = replay(wf, run.export())
    assert report.ok and report.result == [], report.message


def awaited(fn: Callable[P, R]) -> Callable[P, Coroutine[Any, Any, R]]:
    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        return fn(*args, **kwargs)

    return wrapper


@dg.step
@awaited
def quote_later(code: str, *, qty: int = 4) -> round12.Quote:
    return round12.Quote(Decimal(qty), round12.Tier.GOLD)


@pytest.mark.parametrize("payload_format", ["json", "aws"])
def test_an_async_wrapper_around_a_plain_function_is_awaited(payload_format: Any) -> None:
    # the step unwrapped it to the plain def, called it as one, and failed with "the function
    # returned a coroutine ... it is a plain def that called an async def without awaiting it"
    @dg.workflow
    def wf(_: None) -> dg.Workflow[round12.Quote]:
        return (yield from quote_later("q", qty=5))

    got = dg.run(wf, payload_format=payload_format)
    assert got == round12.Quote(Decimal(5), round12.Tier.GOLD)
    assert type(got) is round12.Quote


# --- a generic workflow run itself -------------------------------------------------------------


@pytest.mark.parametrize("payload_format", ["json", "aws"])
def test_a_generic_workflow_run_itself_gets_and_gives_plain_json(payload_format: Any) -> None:
    # documented: a TypeVar names no type to decode into, though the checkers type the result
    # by the input (`Order` here)
    order = round12.make_order(1)
    got: object = dg.run(round12.echo, order, payload_format=payload_format)
    assert type(got) is dict
    assert got["lines"] == {  # type: ignore[index]
        "eu": {"amount": "-0.00", "currency": "EUR"},
        "us": {"amount": "1", "currency": "USD"},
    }


def traced(fn: Callable[P, dg.Workflow[R]]) -> Callable[P, dg.Workflow[R]]:
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> dg.Workflow[R]:
        return (yield from fn(*args, **kwargs))

    return wrapper


@traced
def traced_sku(code: str) -> dg.Workflow[round12.Sku]:
    yield from dg.Wait(seconds=1)
    return round12.Sku(code=code)


@traced
def traced_order(order: round12.Order) -> dg.Workflow[list[str]]:
    got = yield from dg.Child(traced_sku, ("x",), name="sku")
    return [type(order).__name__, type(order.total).__name__, type(got).__name__]


@pytest.mark.parametrize("payload_format", ["json", "aws"])
def test_a_workflow_wrapped_by_a_param_spec_decorator_gets_and_gives_its_types(
    payload_format: Any,
) -> None:
    # the wrapper's `-> dg.Workflow[R]` was read as no type: the input came as a dict, and
    # so did the child's result
    got = dg.run(traced_order, round12.make_order(1), payload_format=payload_format)
    assert got == ["Order", "Money", "Sku"]


def test_a_worker_says_why_a_workflow_wrapped_without_functools_wraps_cannot_be_imported(
    tmp_path: Path,
) -> None:
    # it said only "define it at the top level of a module", which it is
    with Worker(str(tmp_path / "w.db"), skip_time=True, log=lambda line: None) as worker:
        with pytest.raises(InvalidInputError) as caught:
            worker.register(traced_order)
        said = str(caught.value)
        assert "named after the decorator's wrapper (traced.<locals>.wrapper)" in said, said
        assert "functools.wraps(fn)" in said, said
        # registered by its import path instead, it runs with its types
        name = worker.register(f"{__name__}:traced_order")
        arn = worker.service.start(name, json.dumps({"id": 1, "total": {"amount": "1"}}))
        for _ in range(5):
            worker.drive(arn)
        record = worker.service.get_execution(arn)
        assert record.status == "SUCCEEDED", record.error
        assert json.loads(record.result or "null") == ["Order", "Money", "Sku"]
