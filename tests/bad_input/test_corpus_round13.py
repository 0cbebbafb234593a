"""Round 13 of the bad-input corpus: mistakes written from the docs alone.

Paths and URLs holding a NUL character; falsy values given for options whose default is
None; an execution id that is not valid Unicode (a ``surrogateescape`` decode); history text
read with its byte order mark or naming a lone surrogate; plus yields of the wrong shape,
callback answers that are not the JSON the workflow reads, command-line numbers in odd forms
and SQLite rows edited by hand. Each must end in a typed error whose message says what to do,
raised early, losing nothing recorded.
"""

from __future__ import annotations

import contextlib
import enum
import io
import json
import shutil
import sqlite3
import sys
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

import durable_gen as dg
from durable_gen import runtime as rt
from durable_gen.cli import main
from durable_gen.local import (
    LocalService,
    PostgresStore,
    SqliteStore,
    VirtualClock,
    Worker,
    open_store,
    register_function,
)
from durable_gen.testing import TestRunner, load_history, replay


def _one() -> int:
    return 1


def _draws(_: object) -> Generator[Any, Any, str]:
    u = yield dg.UUID()
    r = yield dg.Random()
    return f"{u}:{r.random()}"


def _drive(interp: rt.Interpreter) -> rt.Outcome:
    action = interp.next_action()
    for _ in range(50):
        if isinstance(action, rt.Done):
            return action.outcome
        assert isinstance(action, rt.Flush), action
        interp.observe([])
        action = interp.next_action()
    raise AssertionError("the interpreter did not finish")


# --- a NUL character in a path or URL ---------------------------------------------------------

#: (case, call taking the folder to write in)
NUL_PATHS: list[tuple[str, Callable[[Path], object]]] = [
    ("open-store-path", lambda d: open_store(str(d / "a\x00b.db"))),
    ("open-store-sqlite-url", lambda d: open_store(f"sqlite:///{d}/a\x00b.db")),
    ("sqlite-store-str", lambda d: SqliteStore(str(d / "a\x00b.db"))),
    ("sqlite-store-path", lambda d: SqliteStore(d / "a\x00b.db")),
    ("worker", lambda d: Worker(str(d / "a\x00b.db"))),
    ("open-store-postgres", lambda d: open_store("postgresql://u:s3cret@127.0.0.1:1/d\x00b")),
    ("postgres-store", lambda d: PostgresStore("postgresql://u:s3cret@127.0.0.1:1/d\x00b")),
]


@pytest.mark.parametrize("call", [c[1] for c in NUL_PATHS], ids=[c[0] for c in NUL_PATHS])
def test_a_path_or_url_holding_a_nul_is_a_validation_error_before_anything_opens(
    tmp_path: Path, call: Callable[[Path], object]
) -> None:
    # A bare ValueError("embedded null byte") came out of sqlite3 and the file system; a
    # Postgres URL so went on to connect, showing the NUL as a space.
    with pytest.raises(dg.ValidationError, match=r"NUL character \('\\x00'\) at character") as e:
        call(tmp_path)
    assert "s3cret" not in str(e.value)  # a password in the URL is never shown
    assert list(tmp_path.iterdir()) == []


PADDED: list[tuple[str, Callable[[Path], object]]] = [
    ("open-store-leading", lambda d: open_store(f" {d}/app.db")),
    ("open-store-newline", lambda d: open_store(f"{d}/app.db\n")),
    ("sqlite-url", lambda d: open_store(f"sqlite:///{d}/app.db ")),
    ("sqlite-store-path", lambda d: SqliteStore(Path(f"{d}/app.db "))),
    ("worker", lambda d: Worker(f"{d}/app.db\t")),
    ("postgres", lambda d: open_store(" postgresql://u:s3cret@127.0.0.1:1/db")),
]


@pytest.mark.parametrize("call", [c[1] for c in PADDED], ids=[c[0] for c in PADDED])
def test_a_database_with_spaces_around_it_is_refused_by_the_api_as_by_the_cli(
    tmp_path: Path, call: Callable[[Path], object]
) -> None:
    # The command line refuses `--db ' app.db'`; open_store(" app.db") created a new
    # database in a file named " app.db" next to the real one.
    with pytest.raises(dg.ValidationError, match=r"spaces .* before or after it") as e:
        call(tmp_path)
    assert "s3cret" not in str(e.value)
    assert list(tmp_path.iterdir()) == []


def test_a_history_path_holding_a_nul_is_an_invalid_report_not_a_value_error() -> None:
    with pytest.raises(dg.InvalidInputError, match="cannot read history file"):
        load_history("histories/a\x00b.json")
    report = replay(_draws, Path("histories/a\x00b.json"))
    assert report.status == "invalid"
    assert "cannot read history file" in report.message


# --- a falsy value where the default is None --------------------------------------------------


@pytest.mark.parametrize("value", ["", False, 0, {}], ids=["empty", "false", "zero", "dict"])
@pytest.mark.parametrize("opener", ["open_store", "Worker"])
def test_a_falsy_synchronous_is_refused_not_taken_for_the_default(
    tmp_path: Path, opener: str, value: object
) -> None:
    # `synchronous or "FULL"`: an empty string (an unset variable's value) or False opened the
    # database with FULL in silence, where SqliteStore(synchronous="") is refused.
    db = tmp_path / "app.db"
    call: Callable[..., object] = open_store if opener == "open_store" else Worker
    with pytest.raises(dg.ValidationError, match="synchronous must be 'FULL' or 'NORMAL'"):
        call(str(db), synchronous=value)
    assert not db.exists()


@pytest.mark.parametrize("value", [None, "FULL", "NORMAL"])
def test_a_synchronous_that_is_one_still_opens(tmp_path: Path, value: Any) -> None:
    store = open_store(str(tmp_path / "app.db"), synchronous=value)
    try:
        assert isinstance(store, SqliteStore)
        assert store.synchronous == (value or "FULL")
    finally:
        store.close()


# --- an execution id that is not valid Unicode ------------------------------------------------


@pytest.mark.parametrize("arn", ["\udc80", "arn:aws:lambda:x/\udcff/y", "caf\udce9"])
def test_an_execution_arn_that_is_not_unicode_is_refused_where_the_interpreter_is_built(
    arn: str,
) -> None:
    # Accepted, then the execution FAILED for good at its first UUID() / Random() (their seed
    # is the ARN as UTF-8) with "UnicodeEncodeError: ... surrogates not allowed".
    with pytest.raises(dg.ValidationError, match="execution_arn is not valid Unicode text"):
        rt.Interpreter(_draws, [], execution_arn=arn, input=None)


@pytest.mark.parametrize("arn", ["café-execution", "arn\x00with-nul", " ", "x" * 10_000])
def test_an_execution_arn_of_valid_text_still_seeds_the_helpers(arn: str) -> None:
    first = _drive(rt.Interpreter(_draws, [], execution_arn=arn, input=None))
    again = _drive(rt.Interpreter(_draws, [], execution_arn=arn, input=None))
    assert isinstance(first, rt.Succeeded)
    assert first == again


def _exported() -> dict[str, Any]:
    runner = TestRunner()
    run = runner.run(_steps)
    assert run.status == "SUCCEEDED"
    return run.export()


def _steps(_: object) -> Generator[Any, Any, int]:
    a = yield dg.Step(_one, name="a")
    b = yield dg.Step(_one, name="b")
    return a + b


def test_a_history_naming_an_arn_that_is_not_unicode_is_reported_invalid() -> None:
    # Python's json module reads "\udc80" as a lone surrogate: replay raised the interpreter's
    # error (or, before it, failed the replay with a UnicodeEncodeError).
    text = json.dumps(_exported())
    arn = json.loads(text)["DurableExecutionArn"]
    bad = text.replace(arn, arn + "\\udc80")
    with pytest.raises(dg.InvalidInputError, match="DurableExecutionArn is not valid Unicode"):
        load_history(bad)
    report = replay(_steps, bad)
    assert report.status == "invalid"
    assert "DurableExecutionArn is not valid Unicode" in report.message


# --- history text read with its byte order mark -----------------------------------------------


def test_history_text_starting_with_a_byte_order_mark_replays(tmp_path: Path) -> None:
    # A file saved with a BOM and read with read_text(encoding="utf-8") starts with U+FEFF:
    # the text was taken for a path, and the report said "cannot read history file" printing
    # the whole history as its name.
    path = tmp_path / "h.json"
    path.write_text(json.dumps(_exported()), encoding="utf-8-sig")
    text = path.read_text(encoding="utf-8")
    assert text.startswith("\ufeff")
    report = replay(_steps, text)
    assert report.ok, report.message
    assert report.result == 2
    assert replay(_steps, path).ok  # the file itself, and its bytes, as before
    assert replay(_steps, path.read_bytes()).ok


def test_a_path_that_is_no_file_is_named_short() -> None:
    report = replay(_steps, "no-such-file-" + "x" * 5000)
    assert report.status == "invalid"
    assert len(report.message) < 1000


# --- yields of the wrong shape ----------------------------------------------------------------


def _yield_list(_: object) -> Generator[Any, Any, None]:
    yield [dg.Step(_one), dg.Step(_one)]


def _yield_class(_: object) -> Generator[Any, Any, None]:
    yield dg.Step


def _yield_genexp(_: object) -> Generator[Any, Any, None]:
    yield (dg.Step(_one) for _ in range(2))


def _yield_partial(_: object) -> Generator[Any, Any, None]:
    import functools

    yield functools.partial(dg.Step, _one)


def _yield_base_command(_: object) -> Generator[Any, Any, None]:
    yield dg.Command()


def _yield_from_dict(_: object) -> Generator[Any, Any, None]:
    yield from {"a": 1}  # a dict's keys


def _yield_batch_result(_: object) -> Generator[Any, Any, None]:
    result = yield dg.Map(lambda item: item, [1, 2])
    yield result


def _return_generator(_: object) -> Generator[Any, Any, Any]:
    def sub(_: object) -> Generator[Any, Any, int]:
        yield dg.Step(_one, name="s")
        return 3

    return sub(None)
    yield  # a generator function


def _stop_iteration(_: object) -> Generator[Any, Any, None]:
    yield dg.Step(_one, name="a")
    raise StopIteration


#: (case, workflow, error_type, fragment of the message)
YIELDS: list[tuple[str, Callable[[Any], Any], str, str]] = [
    ("list", _yield_list, "WorkflowDefinitionError", "yield `dg.Parallel([...])`"),
    ("class", _yield_class, "WorkflowDefinitionError", "build the command and yield it"),
    ("generator-expression", _yield_genexp, "WorkflowDefinitionError", "not a durable_gen"),
    ("partial", _yield_partial, "WorkflowDefinitionError", "not a durable_gen command"),
    ("base-command", _yield_base_command, "WorkflowDefinitionError", "not a durable_gen"),
    ("yield-from-dict", _yield_from_dict, "WorkflowDefinitionError", "yielded 'a'"),
    ("batch-result", _yield_batch_result, "WorkflowDefinitionError", "yielded BatchResult"),
    ("return-generator", _return_generator, "SerializationError", "generator"),
    ("stop-iteration", _stop_iteration, "RuntimeError", "generator raised StopIteration"),
]


@pytest.mark.parametrize(
    ("workflow", "error_type", "fragment"),
    [c[1:] for c in YIELDS],
    ids=[c[0] for c in YIELDS],
)
def test_a_yield_of_the_wrong_shape_fails_the_execution_with_what_to_write(
    workflow: Callable[[Any], Any], error_type: str, fragment: str
) -> None:
    with pytest.raises(dg.ExecutionFailedError) as caught:
        dg.run(workflow)
    assert caught.value.error_type == error_type
    assert fragment in (caught.value.error_message or "")


def test_a_yield_in_finally_after_a_failed_step_runs_and_the_failure_stays() -> None:
    cleaned: list[int] = []

    def boom() -> int:
        raise KeyError("k")

    def cleanup() -> int:
        cleaned.append(1)
        return 1

    def flow(_: object) -> Generator[Any, Any, None]:
        try:
            yield dg.Step(boom, name="boom", retry=dg.Retry.never())
        finally:
            yield dg.Step(cleanup, name="cleanup")

    runner = TestRunner()
    run = runner.run(flow)
    assert run.status == "FAILED"
    assert run.error is not None and run.error.error_type == "KeyError"
    assert cleaned == [1]
    assert [op.name for op in run.operations()] == ["boom", "cleanup"]


# --- callback answers that are not the JSON the workflow reads --------------------------------


def _awaits_int(_: object) -> Generator[Any, Any, int]:
    handle = yield dg.CreateCallback(name="cb", result_type=int)
    return (yield handle)


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        ("not json", "not valid JSON"),
        ("[1,2", "does not fit the declared type int"),
        ("\ufeff1", "not valid JSON"),
        ("1 2", "not valid JSON"),
        ('"\\ud800"', "half of a surrogate pair"),
        ("true", "does not fit the declared type int"),
        ("", "sent no result"),
    ],
    ids=["text", "truncated", "bom", "two-values", "surrogate-escape", "bool", "empty"],
)
def test_a_callback_answer_the_workflow_cannot_read_fails_it_with_a_serialization_error(
    payload: str, fragment: str
) -> None:
    runner = TestRunner()
    run = runner.start(_awaits_int)
    runner.run_until_idle()
    run.send_callback_success("cb", payload=payload)
    runner.run_until_idle()
    assert run.status == "FAILED"
    assert run.error is not None and run.error.error_type == "SerializationError"
    assert fragment in (run.error.error_message or "")
    (callback,) = run.operations(type="CALLBACK")
    assert callback.status == "SUCCEEDED"  # the answer is kept as it was sent


# --- command-line numbers in odd forms --------------------------------------------------------


@contextlib.contextmanager
def _in(folder: Path) -> Iterator[None]:
    sys.path.insert(0, str(folder))
    try:
        yield
    finally:
        sys.path.remove(str(folder))


def _cli(*args: str) -> tuple[int | str | None, str]:
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        try:
            code: int | str | None = main(list(args))
        except SystemExit as exc:
            code = exc.code
    return code, err.getvalue()


@pytest.mark.parametrize(
    ("option", "value", "fragment"),
    [
        ("--poll", "nan", "must be positive and finite"),
        ("--poll", "-0.0", "must be positive and finite"),
        ("--lease", "1e400", "must be positive and finite"),
        ("--lease", "1e-300", "must be at least 1 second"),
        ("--concurrency", "0x10", "not a whole number"),
        ("--concurrency", "1e3", "not a whole number"),
        ("--concurrency", "-0", "must be 1 or more"),
        ("--lock-timeout", "infinity", "must be positive and finite"),
    ],
)
def test_a_worker_number_in_an_odd_form_is_a_usage_error(
    tmp_path: Path, option: str, value: str, fragment: str
) -> None:
    db = tmp_path / "w.db"
    code, err = _cli("worker", "--once", option, value, "--db", str(db))
    assert code == 2
    assert fragment in err and "Traceback" not in err
    assert not db.exists()


# --- SQLite rows edited by hand ---------------------------------------------------------------

FLOW = """
import durable_gen as dg

def work(x):
    return x + 1

@dg.workflow
def waits(n):
    a = yield dg.Step(work, (n,), name="work")
    r = yield dg.CreateCallback(name="approve")
    return [a, (yield r)]
"""


@pytest.fixture(scope="module")
def waiting_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    folder = tmp_path_factory.mktemp("round13")
    (folder / "flows_r13.py").write_text(FLOW)
    db = folder / "base.db"
    with _in(folder):
        code, err = _cli(
            "start", "flows_r13:waits", "--input", "1", "--name", "e1", "--db", str(db)
        )
        assert code in (0, None), err
        code, err = _cli("worker", "--once", "-q", "--db", str(db))
        assert code in (0, None), err
    with sqlite3.connect(db) as conn:
        (callback_id,) = conn.execute("SELECT callback_id FROM callbacks").fetchone()
    conn.close()
    yield db, callback_id


@pytest.mark.parametrize(
    ("edit", "commands"),
    [
        ("UPDATE executions SET header = '{\"a\":'", ["list", "show", "history", "stop"]),
        ("UPDATE executions SET header = x'00ff'", ["list", "show", "history", "stop"]),
        ("UPDATE operations SET body = '{\"a\":' WHERE type = 'CALLBACK'", ["show", "callback"]),
        ("UPDATE operations SET body = '[]' WHERE type = 'CALLBACK'", ["show", "callback"]),
        ("UPDATE events SET body = 'garbage'", ["history"]),
        ("UPDATE callbacks SET heartbeat_seconds = 'x'", ["callback"]),
        ("UPDATE callbacks SET op_id = x'00ff'", ["callback"]),
    ],
    ids=[
        "header-truncated",
        "header-bytes",
        "callback-body-truncated",
        "callback-body-list",
        "event-garbage",
        "heartbeat-text",
        "callback-op-bytes",
    ],
)
def test_a_row_edited_by_hand_is_one_line_and_exit_1_keeping_the_rest(
    waiting_db: tuple[Path, str], tmp_path: Path, edit: str, commands: list[str]
) -> None:
    base, callback_id = waiting_db
    db = tmp_path / "c.db"
    shutil.copy(base, db)
    with sqlite3.connect(db) as conn:
        conn.execute(edit)
    conn.close()
    with sqlite3.connect(db) as conn:
        before = conn.execute("SELECT key, body FROM operations ORDER BY key").fetchall()
    conn.close()
    args = {
        "list": ["list", "--json"],
        "show": ["show", "e1"],
        "history": ["history", "e1", "--json"],
        "stop": ["stop", "e1"],
        "callback": ["callback", "succeed", callback_id, "5"],
    }
    for command in commands:
        code, err = _cli(*args[command], "--db", str(db))
        assert code == 1, (command, err)
        assert "Traceback" not in err
        assert err.startswith(("durable-gen: DamagedRecordError", "durable-gen: StoreError")), err
        assert len(err.strip().splitlines()) == 1, err
    with sqlite3.connect(db) as conn:
        after = conn.execute("SELECT key, body FROM operations ORDER BY key").fetchall()
    conn.close()
    assert after == before  # nothing recorded was changed or dropped


# --- names, ids and text given as a subclass of str -------------------------------------------


class OrderId(str):
    """What an application may type its ids as."""


class Stage(str, enum.Enum):  # noqa: UP042 (its str() is "Stage.SHIP", not its text)
    SHIP = "ship"


def _with_text(kind: str, text: str) -> Callable[[Any], Generator[Any, Any, int]]:
    def flow(_: object) -> Generator[Any, Any, int]:
        if kind == "step":
            yield dg.Step(_any, name=text)
        elif kind == "step-function":
            yield dg.step(name=text, sub_type=text)(_any)()
        elif kind == "wait":
            yield dg.Wait(seconds=1, name=text)
        elif kind == "callback":
            yield dg.CreateCallback(name=text, sub_type=text, timeout=5)
        elif kind == "patched":
            yield dg.Patched(text)
        elif kind == "now":
            yield dg.Now(name=text)
        elif kind == "child":
            yield dg.Child(_inner, name=text, sub_type=text)
        elif kind == "sub-type":
            yield dg.Step(_any, name="s", sub_type=text)
        elif kind == "invoke":
            yield dg.Invoke(text, 1, name=text, tenant_id=text)
        elif kind == "map":
            yield dg.Map(_any, [1], name=text, item_namer=lambda item, index: text)
        elif kind == "parallel":
            yield dg.Parallel([dg.Branch(_any, name=text)], name=text)
        return 1

    return flow


def _any(*_: object) -> int:
    return 1


def _inner(_: object = None) -> Generator[Any, Any, int]:
    return (yield dg.Step(_any, name="in"))


TEXT_KINDS = [
    "step",
    "step-function",
    "wait",
    "callback",
    "patched",
    "now",
    "child",
    "sub-type",
    "invoke",
    "map",
    "parallel",
]


@pytest.mark.parametrize("text", [OrderId("ship"), Stage.SHIP], ids=["str-subclass", "str-enum"])
@pytest.mark.parametrize("kind", TEXT_KINDS)
def test_a_name_given_as_a_str_subclass_is_recorded_as_its_text(
    tmp_path: Path, kind: str, text: str
) -> None:
    # A str subclass was kept in the operation as itself: the SQLite store failed the
    # execution with a bare "TypeError: Encoding objects of type OrderId is unsupported" and
    # lost the step's record, and the test runner's export() raised it.
    runner = TestRunner(functions={"ship": _any}, skip_time=True)
    run = runner.run(_with_text(kind, text))
    assert run.status == "SUCCEEDED", run.error
    exported = run.export()
    texts = {op.get(key) for op in exported["Operations"] for key in ("Name", "SubType")}
    assert "ship" in texts
    for op in run.operations():
        assert op.name is None or type(op.name) is str
        assert op.sub_type is None or type(op.sub_type) is str

    engine = LocalService(store=SqliteStore(tmp_path / "a.db"), clock=VirtualClock())
    register_function(engine, "flow", _with_text(kind, text))
    engine.register("ship", lambda payload: "1", durable=False)
    record = engine.run(engine.start("flow", "null"))
    assert record.status == run.status, record.error
    recorded = engine.get_operations(record.arn)
    assert "ship" in {op.name for op in recorded} | {op.sub_type for op in recorded}
    engine.store.close()


def test_engine_inputs_given_as_str_subclasses_are_written_as_their_text(tmp_path: Path) -> None:
    engine = LocalService(store=SqliteStore(tmp_path / "a.db"), clock=VirtualClock())
    register_function(engine, "flow", _awaits_int)
    arn = engine.start(OrderId("flow"), OrderId("null"), execution_name=OrderId("e1"))
    engine.run_until_idle()
    (callback,) = [op for op in engine.get_operations(arn) if op.type == "CALLBACK"]
    assert callback.callback_details is not None
    callback_id = callback.callback_details.callback_id
    assert callback_id is not None
    engine.send_callback_success(OrderId(callback_id), OrderId("5"))
    record = engine.run(arn)
    assert record.status == "SUCCEEDED" and record.result == "5"

    other = engine.start("flow", "null", execution_name="e2")
    engine.run_until_idle()
    (callback,) = [op for op in engine.get_operations(other) if op.type == "CALLBACK"]
    assert callback.callback_details is not None and callback.callback_details.callback_id
    engine.send_callback_failure(
        callback.callback_details.callback_id,
        rt.ErrorObject(error_type=OrderId("Denied"), error_message=OrderId("no")),
    )
    record = engine.run(other)
    assert record.status == "FAILED" and record.error is not None
    assert "Denied" in f"{record.error.error_type} {record.error.error_message}"
    engine.store.close()


# --- seconds given as a subclass of int -------------------------------------------------------


class Delay(enum.IntEnum):
    SHORT = 2


class Seconds(int):
    """What an application may type its durations as."""


def _waits_for(kind: str, seconds: int) -> Callable[[Any], Generator[Any, Any, str]]:
    def flow(_: object) -> Generator[Any, Any, str]:
        if kind == "wait":
            yield dg.Wait(seconds)
        elif kind == "callback":
            try:
                yield (yield dg.CreateCallback(timeout=seconds, heartbeat_timeout=seconds))
            except dg.CallbackTimeoutError as exc:
                return exc.error_type or ""
        elif kind == "wait-for-callback":
            try:
                yield dg.WaitForCallback(_any, name="w", timeout=seconds)
            except dg.CallbackError as exc:
                return exc.error_type or ""
        elif kind == "wait-decision":
            yield dg.WaitForCondition(
                lambda state: state + 1,
                initial_state=0,
                wait_strategy=lambda state, attempt: (
                    dg.WaitDecision.done() if state >= 2 else dg.WaitDecision.again(seconds)
                ),
            )
        elif kind == "wait-strategy":
            yield dg.WaitForCondition(
                lambda state: state + 1,
                initial_state=0,
                wait_strategy=dg.WaitStrategy(
                    until=lambda state: state >= 2, delay=seconds, max_delay=seconds
                ),
            )
        return "done"

    return flow


@pytest.mark.parametrize("seconds", [Delay.SHORT, Seconds(2)], ids=["int-enum", "int-subclass"])
@pytest.mark.parametrize(
    "kind", ["wait", "callback", "wait-for-callback", "wait-decision", "wait-strategy"]
)
def test_seconds_given_as_an_int_subclass_are_recorded_as_whole_seconds(
    tmp_path: Path, kind: str, seconds: int
) -> None:
    # Accepted where the command was built (it is an int), then the checkpoint was refused:
    # "WAIT START needs WaitOptions.WaitSeconds in 1..31622400, got <Delay.SHORT: 2>", and the
    # execution FAILED with InvalidCheckpointError, on every engine.
    expected = "Callback.Timeout" if "callback" in kind else "done"
    runner = TestRunner(skip_time=True)
    run = runner.run(_waits_for(kind, seconds))
    runner.run_until_idle(include_callback_timeouts=True)
    assert run.status == "SUCCEEDED", run.error
    assert run.result() == expected
    run.export()

    engine = LocalService(store=SqliteStore(tmp_path / "a.db"), clock=VirtualClock())
    register_function(engine, "flow", _waits_for(kind, seconds))
    record = engine.run(engine.start("flow", "null"))
    assert record.status == "SUCCEEDED", record.error
    assert record.result == json.dumps(expected)
    engine.store.close()


# --- a callback id copied with what was around it ---------------------------------------------


@pytest.mark.parametrize("pad", [" {} ", "{}\t", "'{}'", '"{}"'], ids=["spaces", "tab", "'", '"'])
def test_a_callback_id_with_spaces_or_quotes_around_it_says_the_id_to_give(
    waiting_db: tuple[Path, str], tmp_path: Path, pad: str
) -> None:
    # The answer was refused as "no callback has the id ' 1064...'", which reads as the right
    # id: the message did not say what was wrong with it.
    base, callback_id = waiting_db
    db = tmp_path / "c.db"
    shutil.copy(base, db)
    code, err = _cli("callback", "succeed", pad.format(callback_id), "5", "--db", str(db))
    assert code == 1
    assert f"spaces or quotes around it: the id is '{callback_id}'" in err
    code, err = _cli("callback", "succeed", callback_id, "5", "--db", str(db))
    assert code in (0, None), err  # the callback stayed open


def test_the_engine_says_so_of_a_padded_callback_id_and_keeps_the_callback_open() -> None:
    runner = TestRunner()
    run = runner.start(_awaits_int)
    runner.run_until_idle()
    callback_id = run.callback_id("cb")
    with pytest.raises(dg.UnknownCallbackError, match="spaces or quotes around it"):
        runner.send_callback_success(f" {callback_id}\n", 5)
    runner.send_callback_success(callback_id, 5)
    runner.run_until_idle()
    assert run.result() == 5


def test_an_id_that_is_only_short_gets_no_padding_hint(
    waiting_db: tuple[Path, str], tmp_path: Path
) -> None:
    base, callback_id = waiting_db
    db = tmp_path / "c.db"
    shutil.copy(base, db)
    code, err = _cli("callback", "succeed", callback_id[:20], "5", "--db", str(db))
    assert code == 1 and "UnknownCallbackError" in err
    assert "around it" not in err


@pytest.mark.parametrize("command", ["show", "history", "stop"])
def test_an_execution_id_with_spaces_around_it_says_the_id_to_give(
    waiting_db: tuple[Path, str], tmp_path: Path, command: str
) -> None:
    base, _ = waiting_db
    db = tmp_path / "c.db"
    shutil.copy(base, db)
    code, err = _cli(command, " e1 ", "--db", str(db))
    assert code == 2
    assert "spaces or quotes around it: the id is 'e1'" in err
    code, err = _cli("list", "--status", "RUNNING", "--json", "--db", str(db))
    assert code in (0, None), err  # nothing was stopped
