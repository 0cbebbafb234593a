"""Round 8 of the bad-input corpus: mistakes written from the docs alone.

The command line (repeated options, options before the command, an empty or padded
``DURABLE_GEN_DB``), malformed Postgres URLs, and things a workflow body yields that are not
commands. Each mistake must end in a typed error (a usage error, exit status 2, on the
command line) whose message says what to do, before anything is recorded.
"""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path
from typing import Any

import pytest

import durable_gen as dg
from durable_gen.cli import main

FLOWS = """
import durable_gen as dg

@dg.step
def double(x: int) -> int:
    return 2 * x

def total(inp):
    return (yield double(inp["n"]))
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory with a workflow module, ``flows_r8:total``, and no database."""
    (tmp_path / "flows_r8.py").write_text(FLOWS)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv("DURABLE_GEN_DB", raising=False)
    return tmp_path


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """``durable-gen ARGV...`` in process: (exit status, stdout, stderr)."""
    try:
        code = main(list(argv))
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def executions(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT count(*) FROM executions").fetchone()[0])


# --- the command line: an option given twice --------------------------------------------------

TWICE: list[tuple[str, list[str], str]] = [
    ("input", ["run", "flows_r8:total", "--input", '{"n": 1}', "--input", '{"n": 2}'], "--input"),
    ("input-equals", ["run", "flows_r8:total", '--input={"n": 1}', '--input={"n": 2}'], "--input"),
    (
        "name",
        ["start", "flows_r8:total", "--input", '{"n": 1}', "--name", "a", "--name", "b"],
        "--name",
    ),
    ("timeout", ["start", "flows_r8:total", "--timeout", "5", "--timeout", "10"], "--timeout"),
    (
        "db",
        ["run", "flows_r8:total", "--input", '{"n": 1}', "--db", "a.db", "--db", "b.db"],
        "--db",
    ),
    (
        "checkpointing",
        ["run", "flows_r8:total", "--checkpointing", "step", "--checkpointing", "batch"],
        "--checkpointing",
    ),
    ("lock-timeout", ["list", "--lock-timeout", "1", "--lock-timeout", "2"], "--lock-timeout"),
    ("status", ["list", "--status", "RUNNING", "--status", "FAILED"], "--status"),
    ("poll", ["worker", "--once", "--poll", "1", "--poll", "2"], "--poll"),
    ("lease", ["worker", "--once", "--lease", "10", "--lease", "20"], "--lease"),
    (
        "concurrency",
        ["worker", "--once", "--concurrency", "2", "--concurrency", "4"],
        "--concurrency",
    ),
    ("html", ["show", "x", "--html", "a.html", "--html", "b.html"], "--html"),
]


@pytest.mark.parametrize(("argv", "option"), [c[1:] for c in TWICE], ids=[c[0] for c in TWICE])
def test_an_option_given_twice_is_a_usage_error_not_the_last_one_winning(
    project: Path, capsys: pytest.CaptureFixture[str], argv: list[str], option: str
) -> None:
    # `--input A ... --input B` ran with B alone, and `--db a.db --db b.db` used b.db:
    # the first value was dropped without a word.
    code, out, err = cli(capsys, *argv)
    assert code == 2, err
    assert f"argument {option}: given twice" in err and "give it once" in err, err
    assert out == ""
    assert len(err.strip().splitlines()) == 1
    assert not any(project.glob("*.db")), "nothing may be recorded"


def test_repeatable_options_still_repeat(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(
        capsys,
        "run",
        "flows_r8:total",
        "--input",
        '{"n": 2}',
        "--plugin",
        "durable_gen:Plugin",
        "--plugin",
        "durable_gen:Plugin",
        "--db",
        "r.db",
    )
    assert (code, out.strip()) == (0, "4"), err


# --- the command line: an option before the command ------------------------------------------


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["--version"], "unknown option --version: no command takes it"),
        (["-V"], "unknown option -V: no command takes it"),
        (["--db", "x.db", "list"], "durable-gen list --db ..."),
        (["--lock-timeout=3", "show", "abc"], "durable-gen show --lock-timeout=3 ..."),
        (["--skip-time", "run", "flows_r8:total"], "(--skip-time is an option of run, worker)"),
        (["--json"], "durable-gen COMMAND --json ... (--json is an option of list, history)"),
    ],
)
def test_an_option_before_the_command_names_the_commands_that_take_it(
    project: Path, capsys: pytest.CaptureFixture[str], argv: list[str], fragment: str
) -> None:
    # `durable-gen --version` was told "options go after the command: durable-gen COMMAND
    # --version ...", which no command takes either.
    code, _, err = cli(capsys, *argv)
    assert code == 2
    assert fragment in err, err
    assert not any(project.glob("*.db"))


# --- the command line: DURABLE_GEN_DB -----------------------------------------------------------


@pytest.mark.parametrize("value", ["", "   ", "\t"])
def test_an_empty_durable_gen_db_is_a_usage_error_not_the_default_database(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    # `DURABLE_GEN_DB=$DB` with DB unset (a compose or unit file): an empty value used
    # ./durable.db, and a blank one created a database file named by the blanks.
    monkeypatch.setenv("DURABLE_GEN_DB", value)
    code, out, err = cli(capsys, "start", "flows_r8:total", "--input", '{"n": 1}')
    assert code == 2, (out, err)
    assert "DURABLE_GEN_DB is set but empty" in err and "unset it" in err, err
    assert sorted(p.name for p in project.iterdir()) == ["flows_r8.py"]  # no database


@pytest.mark.parametrize(
    ("env", "option", "source"),
    [
        (" runs.db", None, "DURABLE_GEN_DB"),
        ("runs.db\n", None, "DURABLE_GEN_DB"),
        (None, "runs.db ", "--db"),
    ],
)
def test_a_database_name_with_spaces_around_it_is_refused_not_another_file(
    project: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    env: str | None,
    option: str | None,
    source: str,
) -> None:
    (project / "runs.db").touch()
    if env is not None:
        monkeypatch.setenv("DURABLE_GEN_DB", env)
    extra = ["--db", option] if option is not None else []
    code, _, err = cli(capsys, "start", "flows_r8:total", "--input", '{"n": 1}', *extra)
    assert code == 2, err
    assert f"{source} has spaces around it" in err and "remove them" in err and "'runs.db'" in err
    assert sorted(p.name for p in project.iterdir() if p.suffix or " " in p.name) == [
        "flows_r8.py",
        "runs.db",
    ]


def test_a_good_durable_gen_db_is_still_used(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DURABLE_GEN_DB", "env.db")
    code, out, err = cli(capsys, "run", "flows_r8:total", "--input", '{"n": 3}')
    assert (code, out.strip()) == (0, "6"), err
    assert executions(project / "env.db") == 1


# --- Postgres URLs ---------------------------------------------------------------------------

MALFORMED_URLS: list[tuple[str, str, str]] = [
    ("ipv6-unclosed", "postgresql://me:s3cret@[::1/orders", 'matching "]"'),
    ("port-too-big", "postgresql://me:s3cret@127.0.0.1:99999/orders", "the port '99999'"),
    ("port-text", "postgresql://me@127.0.0.1:pg/orders", "the port 'pg'"),
    ("port-of-second-host", "postgresql://me@h1:5432,h2:x/orders", "the port 'x'"),
    ("port-in-query", "postgresql://me@127.0.0.1/orders?port=abc", "the port 'abc'"),
    ("unknown-parameter", "postgresql://me@127.0.0.1/orders?sslmod=require", '"sslmod"'),
    ("bad-percent-escape", "postgres://me%zz@127.0.0.1/orders", '"me%zz"'),
    ("bad-escape-in-password", "postgresql://me:s3cret%zz@127.0.0.1/orders", "percent-encoded"),
]


@pytest.mark.parametrize(
    ("url", "fragment"), [c[1:] for c in MALFORMED_URLS], ids=[c[0] for c in MALFORMED_URLS]
)
def test_a_malformed_postgres_url_is_a_validation_error_at_once_without_its_password(
    url: str, fragment: str
) -> None:
    # These waited the whole timeout for a connection, then were a StoreError ("the server
    # refused", though no server was asked); the unclosed "[" was even a
    # StoreUnavailableError, which a worker retried for its patience, quoting the password.
    pytest.importorskip("psycopg")
    from durable_gen.local import PostgresStore, Worker, open_store

    for build in (
        lambda: PostgresStore(url, timeout=30),
        lambda: open_store(url, timeout=30),
        lambda: Worker(url, patience=300),
    ):
        with pytest.raises(dg.ValidationError) as caught:
            build()
        text = str(caught.value)
        assert "is malformed" in text and fragment in text, text
        assert "postgresql://USER@HOST:PORT/DBNAME" in text
        assert "s3cret" not in text


def test_a_malformed_postgres_url_is_a_usage_error_on_the_command_line(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("psycopg")
    url = "postgresql://me:s3cret@[::1/orders"
    for argv in (
        ["list", "--db", url],
        ["worker", "--db", url],
        ["run", "flows_r8:total", "--db", url],
    ):
        code, _, err = cli(capsys, *argv)
        assert code == 2, err
        assert "is malformed" in err and "s3cret" not in err and "retrying" not in err, err


# --- a workflow body that yields what is not a command -----------------------------------------


@dg.step
def _one() -> int:
    return 1


async def _fetch(url: str) -> str:
    return url


def _yields(value_of: Any) -> Any:
    def body(_: object) -> Any:
        result = yield value_of()
        return result

    return body


NOT_COMMANDS: list[tuple[str, Any, list[str]]] = [
    (
        "a-list-of-steps",
        lambda: [_one() for _ in range(1000)],
        ["yielded a list [_one(...), _one(...), _one(...), ... (1000 items)]", "dg.Parallel(["],
    ),
    ("a-tuple-of-steps", lambda: (_one(), dg.Wait(1)), ["a tuple [_one(...), Wait]", "dg.Map(fn"]),
    ("a-coroutine", lambda: _fetch("u"), ["coroutine", "does not await", "dg.Step(fetch"]),
    ("a-step-function", lambda: _one, ["yielded <step '_one'>", "`yield _one(...)`"]),
    ("a-command-class", lambda: dg.Wait, ["build the command and yield it: `yield Wait(...)`"]),
    ("none", lambda: None, ["yielded None", "a bare `yield`"]),
    ("a-number", lambda: 5, ["yielded 5, which is not a durable_gen command", "yield Step"]),
    ("a-long-text", lambda: "x" * 10_000, ["... (str)", "yield Step"]),
]


@pytest.mark.parametrize(
    ("make", "fragments"), [c[1:] for c in NOT_COMMANDS], ids=[c[0] for c in NOT_COMMANDS]
)
def test_a_yielded_non_command_says_what_to_write_instead(make: Any, fragments: list[str]) -> None:
    # A list of steps (`yield [a(), b()]`, as with asyncio.gather) was printed whole, each
    # Step with all its fields, and said nothing of Parallel or Map; a coroutine said nothing
    # of steps and was left to warn "never awaited" when collected.
    import gc
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(dg.ExecutionFailedError) as caught:
            dg.run(_yields(make), None)
        gc.collect()  # a coroutine left unclosed would warn here
    assert caught.value.error_type == "WorkflowDefinitionError"
    message = caught.value.error_message or ""
    for fragment in fragments:
        assert fragment in message, message
    assert len(message) < 600, message


def test_a_yielded_non_command_can_still_be_caught_by_the_body() -> None:
    def body(_: object) -> Any:
        with contextlib.suppress(dg.WorkflowDefinitionError):
            yield _fetch("u")  # the coroutine is closed: no "never awaited" later
        return (yield dg.Parallel([_one.fn, _one.fn])).results()

    assert dg.run(body, None) == [1, 1]


# --- serdes mistakes -------------------------------------------------------------------------


class _AsyncRead:
    def serialize(self, value: Any) -> str:
        return "1"

    async def deserialize(self, text: str) -> Any:
        return 1


class _AsyncWrite:
    async def serialize(self, value: Any) -> str:
        return "1"

    def deserialize(self, text: str) -> Any:
        return 1


class _WriteOnly:
    def serialize(self, value: Any) -> str:
        return "1"


@pytest.mark.parametrize("checkpointing", ["step", "eager", "batch"])
def test_an_async_deserialize_fails_the_execution_instead_of_handing_it_a_coroutine(
    checkpointing: Any,
) -> None:
    # The step's `yield` returned the coroutine itself: a workflow that did not look at it
    # went on with a coroutine for a result, and Python warned "never awaited" later.
    import gc
    import warnings

    def body(_: object) -> Any:
        value = yield dg.Step(lambda: 1, name="read", serdes=_AsyncRead())
        return {"type": type(value).__name__}

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(dg.ExecutionFailedError) as caught:
            dg.run(body, None, checkpointing=checkpointing)
        gc.collect()
    assert caught.value.error_type == "SerializationError"
    message = caught.value.error_message or ""
    assert "step 'read'" in message and "deserialize is an async def" in message, message
    assert "make deserialize a plain def" in message


def test_an_async_serialize_says_so_and_does_not_warn_later() -> None:
    import gc
    import warnings

    def body(_: object) -> Any:
        return (yield dg.Step(lambda: 1, name="write", serdes=_AsyncWrite()))

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(dg.ExecutionFailedError) as caught:
            dg.run(body, None)
        gc.collect()
    assert "serialize is an async def" in (caught.value.error_message or "")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(dg.SerializationError, match="make serialize a plain def"):
            dg.run(body, None, serdes=_AsyncWrite())
        gc.collect()


@pytest.mark.parametrize(
    ("serdes", "fragment"),
    [
        (_WriteOnly(), "it has no deserialize method (a serdes needs both)"),
        (lambda value: "1", "a function is not a serdes"),
        (dg.JsonSerdes, "pass an instance, JsonSerdes(...), not the class"),
    ],
)
def test_what_is_not_a_serdes_is_told_why(serdes: Any, fragment: str) -> None:
    with pytest.raises(dg.ValidationError, match=r"serdes must be a Serdes") as caught:
        dg.Step(lambda: 1, serdes=serdes)
    assert fragment in str(caught.value)
    with pytest.raises(dg.ValidationError) as caught:
        dg.run(_yields(lambda: dg.Wait(1)), None, serdes=serdes)
    assert fragment in str(caught.value)


# --- Retry(retry_on=...) as one writes an `except` clause -------------------------------------


@pytest.mark.parametrize(
    ("retry_on", "advice"),
    [
        (ValueError, "got the class ValueError alone: write retry_on=(ValueError,)"),
        (ValueError("x"), "got the exception ValueError('x'): pass its class"),
        ([ValueError, KeyError], "got a list: write retry_on=(ValueError, KeyError)"),
        ({TimeoutError}, "got a set: write retry_on=(TimeoutError,)"),
        ((ValueError, "KeyError"), "got 'KeyError' among them: give classes"),
        ("ValueError", "e.g. retry_on=(ConnectionError, TimeoutError)"),
    ],
)
def test_a_retry_on_of_the_wrong_shape_says_how_to_write_it(retry_on: Any, advice: str) -> None:
    # "retry_on must be a tuple of exception types" said neither what was given nor how to
    # write it; `retry_on=ValueError` is what an `except ValueError:` habit writes.
    with pytest.raises(dg.ValidationError, match="retry_on must be a tuple") as caught:
        dg.Retry(retry_on=retry_on)
    assert advice in str(caught.value)
    with pytest.raises(dg.ValidationError) as caught:
        dg.step(retry=dg.Retry(retry_on=retry_on))
    assert advice in str(caught.value)


# --- a damaged callback row --------------------------------------------------------------------


def _waits_for_approval(_: object) -> Any:
    handle = yield dg.CreateCallback(name="approve")
    return (yield handle)


@pytest.mark.parametrize("heartbeat", ["'abc'", "-5", "2.5", "X'00'"])
@pytest.mark.parametrize("answer", ["heartbeat", "succeed", "fail"])
def test_a_damaged_callback_row_is_a_damaged_record_error_and_the_callback_stays_open(
    tmp_path: Path, heartbeat: str, answer: str
) -> None:
    # A heartbeat_seconds that is not a number (written by another program, or by a failing
    # disk) raised a TypeError from deep in the engine: a traceback on the command line.
    from durable_gen.local import (
        DamagedRecordError,
        LocalService,
        SqliteStore,
        register_function,
    )
    from durable_gen.runtime import ErrorObject

    db = tmp_path / "d.db"
    with SqliteStore(db) as store:
        engine = LocalService(store=store)
        register_function(engine, "waits", _waits_for_approval)
        arn = engine.start("waits")
        engine.run_until_idle()
    with sqlite3.connect(db) as conn:
        (callback_id,) = conn.execute("SELECT callback_id FROM callbacks").fetchone()
        conn.execute(f"UPDATE callbacks SET heartbeat_seconds = {heartbeat}")
        operations = conn.execute("SELECT * FROM operations ORDER BY 1").fetchall()
    with SqliteStore(db) as store:
        engine = LocalService(store=store)
        register_function(engine, "waits", _waits_for_approval)
        with pytest.raises(DamagedRecordError) as caught:
            if answer == "heartbeat":
                engine.send_callback_heartbeat(callback_id)
            elif answer == "succeed":
                engine.send_callback_success(callback_id, '"yes"')
            else:
                engine.send_callback_failure(callback_id, ErrorObject("Rejected", "no"))
        text = str(caught.value)
        assert f"the callback {callback_id!r}" in text and "heartbeat_seconds" in text, text
        assert "restore the database from a backup" in text
        assert engine.get_execution(arn).status == "RUNNING"
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT * FROM operations ORDER BY 1").fetchall() == operations


# --- a workflow named by its file, or with spaces ----------------------------------------------


@pytest.mark.parametrize(
    ("spec", "advice"),
    [
        ("flows_r8.py:total", "names a file: give the module's dotted path"),
        ("./flows_r8.py:total", "without .py: flows_r8:total"),
        ("./flows_r8:total", "without .py: flows_r8:total"),
        ("app/flows_r8.py:total", "without .py: app.flows_r8:total"),
        ("flows_r8:total ", "has spaces in it: write flows_r8:total"),
        (" flows_r8: total", "has spaces in it: write flows_r8:total"),
    ],
)
@pytest.mark.parametrize("command", ["run", "start", "register"])
def test_a_workflow_named_by_its_file_or_with_spaces_says_the_spec_to_write(
    project: Path, capsys: pytest.CaptureFixture[str], spec: str, advice: str, command: str
) -> None:
    # `flows.py:wf` (a shell's tab completion) said "No module named 'flows.py'; 'flows' is
    # not a package", and `flows:wf ` "module 'flows' has no attribute 'wf '".
    argv = (
        ["worker", "--once", "--register", f"t={spec}", "--db", "w.db"]
        if command == "register"
        else [command, spec, "--input", '{"n": 1}', "--db", "w.db"]
    )
    code, out, err = cli(capsys, *argv)
    assert code == 2, (out, err)
    assert advice in err, err
    assert not (project / "w.db").exists() or executions(project / "w.db") == 0
