"""A fifth bad-input corpus, written from README.md and docs/*.md alone.

New kinds of mistakes: databases whose bookkeeping is not durable_gen's, and the mistakes
each case names. Every one gets a typed durable_gen error whose message says what to do, and
loses nothing already recorded.
"""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

import msgspec
import pytest

import durable_gen as dg
from durable_gen import cli
from durable_gen import runtime as rt
from durable_gen.aws import lambda_handler
from durable_gen.local import SqliteStore, Worker, open_store
from durable_gen.testing import TestRunner, replay, replay_folder

# --- a schema_version table that holds no durable_gen version --------------------------------

#: (case, SQL that builds the file): each a database with a ``schema_version`` table that
#: durable_gen did not write, or whose version was damaged.
FOREIGN_VERSIONS: list[tuple[str, str]] = [
    ("text", "CREATE TABLE schema_version (version); INSERT INTO schema_version VALUES ('abc')"),
    ("null", "CREATE TABLE schema_version (version); INSERT INTO schema_version VALUES (NULL)"),
    ("blob", "CREATE TABLE schema_version (version); INSERT INTO schema_version VALUES (x'00')"),
    ("float", "CREATE TABLE schema_version (version); INSERT INTO schema_version VALUES (2.5)"),
    ("negative", "CREATE TABLE schema_version (version); INSERT INTO schema_version VALUES (-1)"),
    (
        "two-rows",
        "CREATE TABLE schema_version (version); INSERT INTO schema_version VALUES (1), (3)",
    ),
    (
        "other-columns",
        "CREATE TABLE schema_version (v TEXT); INSERT INTO schema_version VALUES (1)",
    ),
]


def _build(path: Path, sql: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(path)
    conn.executescript(sql)
    conn.commit()
    rows = conn.execute("SELECT * FROM schema_version").fetchall()
    conn.close()
    return rows


@pytest.mark.parametrize(
    "sql", [c[1] for c in FOREIGN_VERSIONS], ids=[c[0] for c in FOREIGN_VERSIONS]
)
def test_a_schema_version_that_is_not_ours_is_a_store_error_and_is_kept(
    sql: str, tmp_path: Path
) -> None:
    path = tmp_path / "foreign.db"
    before = _build(path, sql)
    for opener in (lambda: SqliteStore(path), lambda: open_store(str(path)), lambda: Worker(path)):
        with pytest.raises(dg.StoreError, match="of its own") as caught:
            opener()
        assert not isinstance(caught.value, dg.InvalidInputError)
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT * FROM schema_version").fetchall() == before
    assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'executions'").fetchall() == []
    conn.close()


def test_the_command_line_says_so_in_one_line_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "foreign.db"
    _build(path, FOREIGN_VERSIONS[0][1])
    for argv in (["list"], ["worker", "--once", "-q"], ["callback", "heartbeat", "cb-1"]):
        assert cli.main([*argv, "--db", str(path)]) == 1
        err = capsys.readouterr().err
        assert "StoreError" in err and "of its own" in err
        assert len(err.strip().splitlines()) == 1, err


def test_an_empty_schema_version_table_of_our_shape_is_still_a_new_database(
    tmp_path: Path,
) -> None:
    path = tmp_path / "new.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    conn.commit()
    conn.close()
    with SqliteStore(path) as store:
        assert store.schema_version >= 1


# --- a truncated history: an operation whose context is missing ------------------------------

ARN = "arn:aws:lambda:us-west-2:123456789012:function:orders:$LATEST/durable-execution/e1/i1"


def _in_a_child(_: Any) -> Generator[Any, Any, Any]:
    return (yield dg.Child(_child, (1,), name="inner"))


def _child(x: int) -> Generator[Any, Any, Any]:
    value = yield dg.Step(lambda: x + 1, name="add")
    yield dg.Wait(seconds=60, name="pause")
    return value


def _recorded() -> list[rt.Operation]:
    """The operations of ``_in_a_child`` suspended in its wait, as the engine records them."""
    runner = TestRunner(skip_time=False)
    run = runner.run(_in_a_child, None)
    assert run.status == "RUNNING"
    return runner.service.get_operations(run.arn)


class _Service:
    """A ``DurableService`` that serves one page and records every checkpoint."""

    def __init__(self) -> None:
        self.checkpoints: list[list[rt.OperationUpdate]] = []

    def checkpoint(
        self, execution_arn: str, checkpoint_token: str, updates: list[rt.OperationUpdate]
    ) -> rt.CheckpointResponse:
        self.checkpoints.append(list(updates))
        return rt.CheckpointResponse(checkpoint_token=checkpoint_token + "'")

    def get_state(
        self, execution_arn: str, checkpoint_token: str, marker: str
    ) -> rt.ExecutionState:
        return rt.ExecutionState()


def _event(operations: list[rt.Operation]) -> dict[str, Any]:
    return {
        "DurableExecutionArn": ARN,
        "CheckpointToken": "dG9rZW4x",
        "InitialExecutionState": {"Operations": [msgspec.to_builtins(op) for op in operations]},
    }


def _without_context(operations: list[rt.Operation]) -> list[rt.Operation]:
    return [op for op in operations if op.type != "CONTEXT"]


def _parent_is_a_step(operations: list[rt.Operation]) -> list[rt.Operation]:
    step = next(op for op in operations if op.type == "STEP")
    return [
        msgspec.structs.replace(op, parent_id=step.id) if op.type == "WAIT" else op
        for op in operations
    ]


@pytest.mark.parametrize(
    ("cut", "fragment"),
    [
        pytest.param(_without_context, "does not hold: the history is truncated", id="no-context"),
        pytest.param(_parent_is_a_step, "a STEP, which holds no operations", id="parent-a-step"),
    ],
)
def test_an_operation_whose_context_is_missing_is_a_corrupt_history_not_a_changed_workflow(
    cut: Callable[[list[rt.Operation]], list[rt.Operation]], fragment: str
) -> None:
    operations = _recorded()
    assert {op.type for op in operations} >= {"EXECUTION", "CONTEXT", "STEP", "WAIT"}
    broken = cut(operations)
    # Through the Lambda handler: FAILED with InvalidInputError, nothing checkpointed.
    service = _Service()
    out = lambda_handler(_in_a_child, service=service)(_event(broken), None)
    assert out["Status"] == "FAILED", out
    assert out["Error"]["ErrorType"] == "InvalidInputError", out
    assert fragment in out["Error"]["ErrorMessage"]
    assert service.checkpoints == []
    # Through the interpreter of durable_gen.runtime: the first action says so.
    action = rt.Interpreter(_in_a_child, broken, execution_arn=ARN).next_action()
    assert isinstance(action, rt.Done) and isinstance(action.outcome, rt.Failed)
    assert action.outcome.error.error_type == "InvalidInputError"
    assert fragment in (action.outcome.error.error_message or "")
    # The whole history still replays.
    whole = lambda_handler(_in_a_child, service=_Service())(_event(operations), None)
    assert whole == {"Status": "PENDING"}


# --- DurableRun.export() to a path it cannot write ---------------------------------------------


def _waits(x: int) -> Generator[Any, Any, int]:
    yield dg.Wait(seconds=5, name="w")
    return x


@pytest.mark.parametrize("where", ["folder", "under-a-file"])
def test_export_to_a_path_it_cannot_write_is_a_validation_error(where: str, tmp_path: Path) -> None:
    run = TestRunner().run(_waits, 1)
    (tmp_path / "a-file").write_text("kept")
    path = tmp_path if where == "folder" else tmp_path / "a-file" / "history.json"
    with pytest.raises(dg.ValidationError, match="export\\(\\)") as caught:
        run.export(path)
    assert str(tmp_path) in str(caught.value)
    assert (tmp_path / "a-file").read_text() == "kept"
    # The run is still there to export to a good path.
    assert run.export(tmp_path / "sub" / "history.json")["DurableExecutionArn"] == run.arn
    assert replay(_waits, tmp_path / "sub" / "history.json").status == "ok"


# --- a callback answered with more than a callback records ------------------------------------


def _awaits_approval(_: Any) -> Generator[Any, Any, int]:
    handle = yield dg.CreateCallback(name="approval", timeout=60)
    return len((yield handle))


@pytest.mark.parametrize(
    "size", [1024 * 1024 + 10, 7 * 1024 * 1024], ids=["over-1mib", "over-6mib"]
)
def test_a_callback_result_over_1_mib_is_payload_too_large_and_the_callback_stays_open(
    size: int,
) -> None:
    runner = TestRunner()
    run = runner.run(_awaits_approval, None)
    with pytest.raises(dg.PayloadTooLargeError, match="1 MiB"):
        run.send_callback_success("approval", "x" * size)
    with pytest.raises(dg.PayloadTooLargeError, match="1 MiB"):
        runner.send_callback_success(run.callback_id("approval"), "x" * size)
    assert run.status == "RUNNING"
    run.send_callback_success("approval", "x" * 1000)
    runner.run_until_idle()
    assert run.result() == 1000


# --- a record of the database damaged (another writer, a bad disk) ----------------------------


def _approval(_: Any) -> Generator[Any, Any, Any]:
    handle = yield dg.CreateCallback(name="approval")
    return (yield handle)


def _two_waiting(path: Path, capsys: pytest.CaptureFixture[str]) -> list[str]:
    """Two executions waiting on a callback in the database at ``path``; their names."""
    for name in ("left", "right"):
        assert cli.main(["start", f"{__name__}:_approval", "--name", name, "--db", str(path)]) == 0
    assert cli.main(["worker", "--once", "-q", "--db", str(path)]) == 0
    capsys.readouterr()
    return ["left", "right"]


DAMAGES: list[tuple[str, str, list[list[str]]]] = [
    (
        "execution-header",
        "UPDATE executions SET header = x'0102' WHERE name = 'left'",
        [["list"], ["show", "left"], ["stop", "left"], ["history", "left", "--json"]],
    ),
    (
        "operation",
        "UPDATE operations SET body = x'00' WHERE type = 'CALLBACK' AND key = "
        "(SELECT MIN(key) FROM operations WHERE type = 'CALLBACK')",
        [["show", "left"], ["show", "left", "--html", "-"]],
    ),
    (
        "event",
        "UPDATE events SET body = x'7b' WHERE key = (SELECT MIN(key) FROM events)",
        [["history", "left"], ["history", "left", "--json"]],
    ),
]


@pytest.mark.parametrize(("sql", "commands"), [d[1:] for d in DAMAGES], ids=[d[0] for d in DAMAGES])
def test_a_damaged_record_is_a_store_error_naming_it_not_a_decode_traceback(
    sql: str, commands: list[list[str]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "damaged.db"
    _two_waiting(path, capsys)
    conn = sqlite3.connect(path)
    conn.execute(sql)
    conn.commit()
    conn.close()
    for argv in commands:
        assert cli.main([*argv, "--db", str(path)]) == 1, argv
        err = capsys.readouterr().err
        assert "DamagedRecordError" in err and "damaged record" in err and "backup" in err, err
        assert "/durable-execution/left/" in err, err
        assert len(err.strip().splitlines()) == 1, err
    # The other execution is still readable.
    assert cli.main(["show", "right", "--db", str(path)]) == 0
    assert "waits on" in capsys.readouterr().out
    # Through the Python API: the same StoreError.
    conn = sqlite3.connect(path)
    (arn,) = conn.execute("SELECT arn FROM executions WHERE name = 'left'").fetchone()
    conn.close()
    read = {
        "executions": lambda store: list(store.executions()),
        "operations": lambda store: store.operations(arn),
        "events": lambda store: store.events(arn),
    }["executions" if "header" in sql else "operations" if "CALLBACK" in sql else "events"]
    with SqliteStore(path) as store, pytest.raises(dg.StoreError, match="damaged record"):
        read(store)


# --- an Invoke target (or served workflow) that cannot take its payload ----------------------


def _no_input() -> Generator[Any, Any, int]:
    yield dg.Wait(seconds=1)
    return 1


def _two_inputs(a: int, b: int) -> int:
    return a + b


def _invokes_t(_: Any) -> Generator[Any, Any, Any]:
    return (yield dg.Invoke("t", 1))


def _keyword_only(*, x: int) -> int:
    return x


TARGETS = [
    pytest.param(_no_input, "too many positional arguments", id="workflow-without-input"),
    pytest.param(lambda: 1, "too many positional arguments", id="lambda-without-input"),
    pytest.param(_two_inputs, "missing a required argument: 'b'", id="two-inputs"),
    pytest.param(_keyword_only, "too many positional arguments", id="keyword-only"),
]


@pytest.mark.parametrize(("target", "problem"), TARGETS)
def test_a_target_that_cannot_take_its_input_is_refused_where_it_is_registered(
    target: Any, problem: str
) -> None:
    registers: list[Callable[[], object]] = [
        lambda: dg.run(_invokes_t, None, functions={"t": target}),
        lambda: TestRunner(functions={"t": target}),
        lambda: TestRunner().register("t", target),
    ]
    if target.__name__ != "<lambda>":  # a worker serves only what it can import
        registers += [
            lambda: Worker(":memory:", functions={"t": target}),
            lambda: Worker(":memory:").register(target, name="t"),
        ]
    for register in registers:
        with pytest.raises(dg.ValidationError, match="one positional argument") as caught:
            register()
        assert problem in str(caught.value)


def test_good_targets_are_still_served() -> None:
    def one(x: int) -> int:
        return x + 1

    def defaulted(x: int, factor: int = 10) -> int:
        return x * factor

    for target, expected in [(one, 2), (defaulted, 10), (lambda _: "ok", "ok")]:
        assert dg.run(_invokes_t, None, functions={"t": target}) == expected


def test_the_command_line_refuses_it_and_a_worker_skips_one_a_deploy_broke(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    module = tmp_path / "round5_target.py"
    module.write_text("def t(x):\n    return x\n")
    db = str(tmp_path / "d.db")
    assert cli.main(["worker", "--once", "-q", "--register", "t=round5_target:t", "--db", db]) == 0
    # A deploy makes the remembered function take nothing: the worker says so and goes on.
    module.write_text("def t():\n    return 1\n")
    sys.modules.pop("round5_target", None)
    capsys.readouterr()
    assert cli.main(["worker", "--once", "--db", db]) == 0
    err = capsys.readouterr().err
    assert "not serving 't'" in err and "one positional argument" in err, err
    assert "Traceback" not in err
    # Registering it now is a usage error.
    assert cli.main(["worker", "--once", "--register", "t2=round5_target:t", "--db", db]) == 2
    assert "one positional argument" in capsys.readouterr().err


# --- output the command line cannot write -------------------------------------------------------


_MAIN = "import sys; from durable_gen.cli import main; sys.exit(main())"


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
@pytest.mark.parametrize(
    "argv",
    [["list"], ["list", "--json"], ["history", "left"], ["show", "left"], ["stop", "right"]],
    ids=lambda argv: "-".join(argv),
)
def test_output_to_a_full_disk_is_one_error_line_not_a_traceback(
    argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "d.db"
    _two_waiting(path, capsys)
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [sys.executable, "-c", _MAIN, *argv, "--db", str(path)],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr
    assert done.stderr.startswith("durable-gen: error: cannot write the output: ")
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


# --- an empty --db (`--db "$DB"` with DB unset) ------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["start", f"{__name__}:_approval"],
        ["run", f"{__name__}:_waits", "--input", "1", "--skip-time"],
        ["worker", "--once"],
        ["list"],
        ["callback", "succeed", "cb-1", "1"],
        ["stop", "x"],
    ],
    ids=lambda argv: argv[0],
)
@pytest.mark.parametrize("empty", ["", "  "], ids=["empty", "blank"])
def test_an_empty_db_option_is_a_usage_error_not_the_default_database(
    argv: list[str],
    empty: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DURABLE_GEN_DB", str(tmp_path / "from-env.db"))
    assert cli.main([*argv, "--db", empty]) == 2
    err = capsys.readouterr().err
    assert err.startswith("durable-gen: error: --db is empty"), err
    assert list(tmp_path.iterdir()) == []  # neither ./durable.db nor $DURABLE_GEN_DB's


# --- replay_folder given something else than workflows -----------------------------------------


@pytest.mark.parametrize(
    ("workflows", "fragment"),
    [
        pytest.param({5: _approval}, "got the key 5", id="key-not-a-name"),
        pytest.param({"": _approval}, "got the key ''", id="empty-name"),
        pytest.param({"flow": "app.flows:flow"}, "got str 'app.flows:flow'", id="import-path"),
        pytest.param({"flow": None}, "got NoneType", id="none"),
        pytest.param(["app.flows:flow"], "got list", id="a-list"),
        pytest.param("app.flows:flow", "got str", id="a-path"),
    ],
)
def test_replay_folder_refuses_workflows_of_the_wrong_kind(
    workflows: Any, fragment: str, tmp_path: Path
) -> None:
    run = TestRunner().run(_approval, None)
    run.export(tmp_path / "_approval.json")
    with pytest.raises(dg.ValidationError, match="replay_folder") as caught:
        replay_folder(workflows, tmp_path)
    assert fragment in str(caught.value)
    (report,) = replay_folder({"_approval": _approval}, tmp_path)
    assert report.status == "ok", report


# --- a callback failure (or stop error) whose fields are not text -----------------------------


def _catches_failure(_: Any) -> Generator[Any, Any, Any]:
    handle = yield dg.CreateCallback(name="approval", timeout=60)
    try:
        return (yield handle)
    except dg.CallbackFailedError as exc:
        return [exc.error_type, exc.error_message]


NOT_TEXT: list[Any] = [
    pytest.param({"error_type": 5}, "error_type is int 5", id="type-int"),
    pytest.param({"error_message": b"no"}, "error_message is bytes", id="message-bytes"),
    pytest.param({"error_data": {"why": "no"}}, "json.dumps", id="data-dict"),
    pytest.param({"stack_trace": "line 1"}, "stack_trace is str", id="trace-str"),
    pytest.param({"stack_trace": [1, 2]}, "stack_trace is list", id="trace-ints"),
]


@pytest.mark.parametrize(("fields", "fragment"), NOT_TEXT)
def test_a_failure_whose_fields_are_not_text_is_refused_and_the_callback_stays_open(
    fields: dict[str, Any], fragment: str
) -> None:
    error = rt.ErrorObject(**fields)
    runner = TestRunner()
    run = runner.run(_catches_failure, None)
    callback_id = run.callback_id("approval")
    # The embedded engine, directly and through the test runner.
    with pytest.raises(dg.InvalidInputError, match="cannot be recorded") as caught:
        runner.service.send_callback_failure(callback_id, error)
    assert fragment in str(caught.value)
    if "stack_trace" not in fields:
        with pytest.raises(dg.InvalidInputError, match=re.escape(fragment)):
            run.send_callback_failure(
                "approval",
                fields.get("error_type", "T"),
                fields.get("error_message"),
                fields.get("error_data"),
            )
    with pytest.raises(dg.InvalidInputError, match=re.escape(fragment)):
        runner.service.stop(run.arn, error)
    assert run.status == "RUNNING"
    # The reference store of durable_gen.runtime.
    store = {op.id: op for op in runner.service.get_operations(run.arn)}
    before = dict(store)
    with pytest.raises(dg.ValidationError, match=re.escape(fragment)):
        rt.complete_callback(store, callback_id, now_ms=0, error=error)
    assert store == before
    # A failure of text still reaches the workflow.
    run.send_callback_failure("approval", "Denied", "no")
    runner.run_until_idle()
    assert run.result() == ["Denied", "no"]


# --- DurableRun.operation(s) asked with a name or index of the wrong kind ----------------------


def _two_steps(_: Any) -> Generator[Any, Any, int]:
    yield dg.Step(lambda: 1, name="s")
    return (yield dg.Step(lambda: 2, name="s"))


def test_operations_asked_with_a_name_or_index_of_the_wrong_kind_say_so() -> None:
    run = TestRunner().run(_two_steps, None)
    with pytest.raises(dg.ValidationError, match="name must be an operation's name"):
        run.operations(name=5)  # type: ignore[arg-type]
    with pytest.raises(dg.ValidationError, match="takes the operation's name"):
        run.operation(5)  # type: ignore[arg-type]
    for index in ("0", 1.0, True, None):
        with pytest.raises(dg.ValidationError, match="index must be a whole number"):
            run.operation("s", index=index)  # type: ignore[arg-type]
    # An index past either end is the documented KeyError, also on no match at all.
    for name, index in (("s", 2), ("s", -3)):
        with pytest.raises(KeyError, match=r"there are 2 \(index 0 to 1, or -1 to -2"):
            run.operation(name, index=index)
    with pytest.raises(KeyError, match="recorded names"):
        run.operation("nope", index=-1)
    assert [run.operation("s", index=i).result for i in (0, 1, -1, -2)] == [1, 2, 2, 1]
    assert len(run.operations("s")) == 2


# --- a database path that is a folder, through the Python API ----------------------------------


def test_a_database_path_that_is_a_folder_says_to_give_a_file(tmp_path: Path) -> None:
    (tmp_path / "kept.txt").write_text("kept")
    openers: list[Callable[[], object]] = [
        lambda: SqliteStore(tmp_path),
        lambda: open_store(str(tmp_path)),
        lambda: open_store(f"sqlite:///{tmp_path}"),
        lambda: Worker(tmp_path),
    ]
    for opener in openers:
        with pytest.raises(dg.StoreError, match="is a folder") as caught:
            opener()
        assert str(tmp_path / "durable.db") in str(caught.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept.txt"]
