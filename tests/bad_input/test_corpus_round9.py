"""Round 9 of the bad-input corpus: mistakes written from the docs alone.

A damaged row of the scheduled work (``tasks``) of a database, a Postgres URL with an
``sslmode`` the server's driver does not know, values the in-memory store hands out that a
caller changes, a step that drives its own execution, and a command given a keyword it does
not take outside a workflow body. Each must end in a typed error whose message says what to
do, losing nothing recorded (and harming no other execution).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

import durable_gen as dg
from durable_gen.local import (
    DamagedRecordError,
    LocalService,
    SqliteStore,
    StoreUnavailableError,
    VirtualClock,
    Worker,
    register_function,
)

# --- a damaged row of scheduled work -----------------------------------------------------------


def _waits(_: object) -> Any:
    yield dg.Wait(seconds=1)
    return 5


def _two_started(store: Any) -> tuple[str, str]:
    engine = LocalService(store=store)
    register_function(engine, "waits", _waits)
    return engine.start("waits"), engine.start("waits")


DAMAGES_SQLITE = [
    ("due_ms = 'abc'", "its due_ms 'abc' is not a whole number of milliseconds"),
    ("due_ms = 1.5", "its due_ms 1.5 is not a whole number of milliseconds"),
    ("kind = 'bogus'", "its kind 'bogus' is none of call, callback-heartbeat"),
    ("op_id = X'00'", "must be text"),
]


@pytest.mark.parametrize(("damage", "fault"), DAMAGES_SQLITE)
def test_a_damaged_task_row_is_set_aside_and_the_other_executions_run(
    tmp_path: Path, damage: str, fault: str
) -> None:
    # A due_ms that is not a number made the worker exit with a TypeError (and failed an
    # innocent execution whose checkpoint looked at it); an unknown kind was dropped, its
    # execution RUNNING for ever with nothing said.
    db = tmp_path / "d.db"
    with SqliteStore(db) as store:
        bad, good = _two_started(store)
    with sqlite3.connect(db) as conn:
        conn.execute(f"UPDATE tasks SET {damage} WHERE arn = ?", (bad,))
        row = conn.execute(
            "SELECT arn, kind, op_id, due_ms FROM tasks WHERE arn = ?", (bad,)
        ).fetchone()
    lines: list[str] = []
    with Worker(str(db), functions={"waits": _waits}, log=lines.append, skip_time=True) as w:
        w.run(once=True)
    said = [line for line in lines if "damaged record" in line]
    assert len(said) == 1, lines
    assert f"a scheduled task of {bad}" in said[0] and fault in said[0], said[0]
    assert "restore the database from a backup" in said[0]
    assert "that execution is set aside, the others go on" in said[0]
    with SqliteStore(db) as store:
        engine = LocalService(store=store)
        assert engine.get_execution(good).status == "SUCCEEDED"
        assert engine.get_execution(good).result == "5"
        assert engine.get_execution(bad).status == "RUNNING"
    with sqlite3.connect(db) as conn:  # kept as it was, and handed back
        assert (
            conn.execute(
                "SELECT arn, kind, op_id, due_ms FROM tasks WHERE arn = ?", (bad,)
            ).fetchone()
            == row
        )
        assert conn.execute("SELECT lease_owner FROM tasks WHERE arn = ?", (bad,)).fetchone() == (
            None,
        )


def test_a_damaged_task_row_is_a_damaged_record_error_from_run_until_idle_once(
    tmp_path: Path,
) -> None:
    db = tmp_path / "d.db"
    with SqliteStore(db) as store:
        bad, good = _two_started(store)
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE tasks SET kind = 'bogus' WHERE arn = ?", (bad,))
    with SqliteStore(db) as store:
        engine = LocalService(store=store, clock=VirtualClock())
        register_function(engine, "waits", _waits)
        with pytest.raises(DamagedRecordError, match="a scheduled task of"):
            engine.run_until_idle()
        engine.run_until_idle()  # set aside: not met again by this store
        assert engine.get_execution(good).status == "SUCCEEDED"
        # the way out the message gives: stop the execution
        assert engine.stop(bad).status == "STOPPED"


def test_a_damaged_task_row_set_aside_by_a_dead_worker_is_met_again(tmp_path: Path) -> None:
    db = tmp_path / "d.db"
    with SqliteStore(db) as store:
        bad, _ = _two_started(store)
    with sqlite3.connect(db) as conn:
        conn.execute(
            "UPDATE tasks SET kind = 'bogus', lease_owner = 'elsewhere/1:2:3', "
            "lease_until = 1 WHERE arn = ?",
            (bad,),
        )
    lines: list[str] = []
    with Worker(str(db), functions={"waits": _waits}, log=lines.append, skip_time=True) as w:
        w.run(once=True)
    assert sum("a scheduled task of" in line for line in lines) == 1, lines


def test_a_damaged_task_kind_on_postgres_is_set_aside(postgres_url: str) -> None:
    import psycopg

    from durable_gen.local import PostgresStore

    with PostgresStore(postgres_url) as store:
        bad, good = _two_started(store)
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("UPDATE tasks SET kind = 'bogus' WHERE arn = %s", (bad,))
    lines: list[str] = []
    with Worker(postgres_url, functions={"waits": _waits}, log=lines.append, skip_time=True) as w:
        w.run(once=True)
    said = [line for line in lines if "a scheduled task of" in line]
    assert len(said) == 1 and "its kind 'bogus'" in said[0], lines
    with PostgresStore(postgres_url) as store:
        engine = LocalService(store=store)
        assert engine.get_execution(good).status == "SUCCEEDED"
        assert engine.get_execution(bad).status == "RUNNING"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        assert conn.execute(
            "SELECT kind, lease_owner FROM tasks WHERE arn = %s", (bad,)
        ).fetchone() == ("bogus", None)


# --- a Postgres URL with a parameter value libpq refuses only when it connects ----------------

BAD_PARAMETERS = [
    ("sslmode=requir", "its sslmode 'requir' is none of disable, allow, prefer, require"),
    ("sslmode=REQUIRE", "its sslmode 'REQUIRE' is none of"),
    ("gssencmode=always", "its gssencmode 'always' is none of disable, prefer, require"),
    ("channel_binding=yes", "its channel_binding 'yes' is none of"),
    ("target_session_attrs=rw", "its target_session_attrs 'rw' is none of any, read-write"),
    ("connect_timeout=5s", "its connect_timeout '5s' is not a whole number"),
    ("keepalives_idle=soon", "its keepalives_idle 'soon' is not a whole number"),
]


@pytest.mark.parametrize(("query", "fault"), BAD_PARAMETERS)
def test_a_postgres_url_with_a_bad_parameter_value_is_refused_before_connecting(
    query: str, fault: str
) -> None:
    # A wrong sslmode was found only when the pool connected: a StoreError after the whole
    # timeout (and a worker retried it for its patience).
    pytest.importorskip("psycopg")
    import time

    from durable_gen.local import open_store

    started = time.monotonic()
    with pytest.raises(dg.ValidationError) as caught:
        open_store(f"postgresql://app:s3cret@127.0.0.1:1/db?{query}", timeout=30)
    assert time.monotonic() - started < 5
    text = str(caught.value)
    assert fault in text and "is malformed" in text and "correct it" in text, text
    assert "s3cret" not in text


def test_a_postgres_url_with_good_parameter_values_still_connects(postgres_url: str) -> None:
    from durable_gen.local import PostgresStore

    sep = "&" if "?" in postgres_url else "?"
    url = f"{postgres_url}{sep}sslmode=disable&target_session_attrs=any&connect_timeout=5"
    with PostgresStore(url) as store:
        bad, good = _two_started(store)
        assert bad != good


# --- values the in-memory store hands out ----------------------------------------------------


def _crashes(_: object) -> Any:
    raise ValueError("boom")
    yield  # pragma: no cover


@dg.step(retry=dg.Retry(max_attempts=1))
def _fails(_: int) -> int:
    raise ValueError("step boom")


def _runs_a_failing_step(_: object) -> Any:
    return (yield _fails(1))


def _waits_for_a_callback(_: object) -> Any:
    handle = yield dg.CreateCallback(name="approve")
    return (yield handle)


def _memory_engine() -> LocalService:
    engine = LocalService()
    register_function(engine, "crashes", _crashes)
    register_function(engine, "steps", _runs_a_failing_step)
    register_function(engine, "callback", _waits_for_a_callback)
    return engine


def test_changing_a_returned_error_trace_changes_nothing_recorded() -> None:
    engine = _memory_engine()
    arn = engine.start("crashes")
    engine.run_until_idle()
    record = engine.get_execution(arn)
    assert record.error is not None and record.error.stack_trace
    before = list(record.error.stack_trace)
    record.error.stack_trace.append("changed by the caller")
    record.error.stack_trace[0] = "changed"
    after = engine.get_execution(arn).error
    assert after is not None and after.stack_trace == before
    assert [r.error.stack_trace for r in engine.list_executions() if r.error] == [before]


def test_changing_a_returned_operation_or_event_changes_nothing_recorded() -> None:
    engine = _memory_engine()
    arn = engine.start("steps")
    engine.run_until_idle()

    def step_trace() -> list[str]:
        (op,) = [op for op in engine.get_operations(arn) if op.step_details is not None]
        assert op.step_details is not None and op.step_details.error is not None
        assert op.step_details.error.stack_trace is not None
        return op.step_details.error.stack_trace

    before = list(step_trace())
    step_trace().append("changed by the caller")
    assert step_trace() == before
    history = engine.get_history(arn)
    shown = [msgspec_builtins(event) for event in history]
    for event in history:
        for name in event.__struct_fields__:
            details = getattr(event, name)
            if name.endswith("_details") and isinstance(details, dict):
                details["Changed"] = True
                details.pop("Error", None)
    assert [msgspec_builtins(event) for event in engine.get_history(arn)] == shown


def test_a_callers_own_trace_list_is_not_kept_by_the_record() -> None:
    from durable_gen.runtime import ErrorObject

    engine = _memory_engine()
    arn = engine.start("callback")
    engine.run_until_idle()
    (op,) = [op for op in engine.get_operations(arn) if op.callback_details is not None]
    assert op.callback_details is not None and op.callback_details.callback_id is not None
    mine = ["line 1"]
    engine.send_callback_failure(
        op.callback_details.callback_id,
        ErrorObject(error_type="Rejected", error_message="no", stack_trace=mine),
    )
    engine.run_until_idle()
    mine.append("changed by the caller afterwards")
    (op,) = [op for op in engine.get_operations(arn) if op.callback_details is not None]
    assert op.callback_details is not None and op.callback_details.error is not None
    assert op.callback_details.error.stack_trace == ["line 1"]
    record = engine.get_execution(arn)
    assert record.error is not None and record.error.stack_trace == ["line 1"]


def msgspec_builtins(value: object) -> object:
    import msgspec

    return msgspec.to_builtins(value)


# --- a command given a keyword it does not take, outside a workflow body ----------------------


@pytest.mark.parametrize(
    ("make", "keyword", "advice"),
    [
        (lambda: dg.Wait(second=5), "second", "Did you mean seconds?"),
        (lambda: dg.CreateCallback(nam="approve"), "nam", "Did you mean name?"),
        (
            lambda: dg.Map([1], lambda c, x, i, items: x, max_concurency=2),
            "max_concurency",
            "Did you mean max_concurrency?",
        ),
    ],
)
def test_a_misspelt_command_keyword_is_named_outside_a_body_and_explained_inside(
    make: Any, keyword: str, advice: str
) -> None:
    # As the guide says: outside any workflow a command keeps msgspec's TypeError (which
    # names the keyword); the same call made by a helper the body calls is the ArgumentError
    # with the closest keyword.
    with pytest.raises(TypeError, match=f"Unexpected keyword argument '{keyword}'"):
        make()

    def workflow(_: object) -> Any:
        return (yield make())

    with pytest.raises(dg.ExecutionFailedError) as caught:
        dg.run(workflow, None)
    text = str(caught.value)
    assert "ArgumentError" in text and f"unknown keyword argument '{keyword}'" in text, text
    assert advice in text, text


# --- a step that drives its own execution ------------------------------------------------------


@pytest.mark.timeout(60)  # it hung for ever
@pytest.mark.parametrize("store_kind", ["memory", "sqlite"])
def test_a_step_running_its_own_execution_is_refused_not_a_hang(
    tmp_path: Path, store_kind: str
) -> None:
    # engine.run(arn) from a step of arn waited for ever for the invocation running the step.
    engine = (
        LocalService(clock=VirtualClock())
        if store_kind == "memory"
        else LocalService(store=SqliteStore(tmp_path / "d.db"), clock=VirtualClock())
    )
    arns: dict[str, str] = {}
    seen: list[str] = []

    @dg.step(retry=dg.Retry(max_attempts=1))
    def meddle(target: str) -> str:
        try:
            return engine.run(arns[target]).status
        except dg.ValidationError as exc:
            seen.append(str(exc))
            raise

    @dg.step
    def others(_: int) -> str:  # run() of another execution from a step still works
        return engine.run(arns["other"]).status

    def own(_: object) -> Any:
        return (yield meddle("own"))

    def parent(_: object) -> Any:
        return (yield dg.Invoke("child", None))

    def child(_: object) -> Any:
        return (yield meddle("parent"))

    def simple(_: object) -> Any:
        return 1
        yield  # pragma: no cover

    def drives_other(_: object) -> Any:
        return (yield others(1))

    for name, fn in [
        ("own", own),
        ("parent", parent),
        ("child", child),
        ("simple", simple),
        ("drives", drives_other),
    ]:
        register_function(engine, name, fn)
    arns["own"] = engine.start("own")
    record = engine.run(arns["own"])
    assert record.status == "FAILED" and record.error is not None
    assert "ValidationError" in str(record.error.error_type) + str(record.error.error_message)
    assert "was called from a step of that execution: it would wait for ever" in seen[0]
    assert "Return from the step" in seen[0]
    arns["parent"] = engine.start("parent")
    record = engine.run(arns["parent"])
    assert record.status == "FAILED", record
    assert "which it invoked" in seen[1], seen[1]
    arns["other"] = engine.start("simple")
    drives = engine.start("drives")
    record = engine.run(drives)
    assert record.status == "SUCCEEDED" and record.result == '"SUCCEEDED"', record


# --- a database store used after it was closed ---------------------------------------------------


def _closed_store_calls(engine: LocalService, arn: str) -> list[tuple[str, Any]]:
    return [
        ("list_executions", engine.list_executions),
        ("get_execution", lambda: engine.get_execution(arn)),
        ("start", lambda: engine.start("waits")),
        ("run_until_idle", engine.run_until_idle),
        ("get_history", lambda: engine.get_history(arn)),
        ("stop", lambda: engine.stop(arn)),
    ]


def test_a_closed_sqlite_store_says_it_was_closed_and_what_to_do(tmp_path: Path) -> None:
    # It said "the database ... failed: Cannot operate on a closed database." and no more.
    store = SqliteStore(tmp_path / "d.db")
    engine = LocalService(store=store)
    register_function(engine, "waits", _waits)
    arn = engine.start("waits")
    store.close()
    for name, call in _closed_store_calls(engine, arn):
        with pytest.raises(dg.StoreError) as caught:
            call()
        text = str(caught.value)
        assert "was closed (close(), or the end of its with block)" in text, (name, text)
        assert "open the database again" in text, (name, text)
    with SqliteStore(tmp_path / "d.db") as again:
        assert [r.status for r in LocalService(store=again).list_executions()] == ["RUNNING"]


def test_a_closed_postgres_store_says_it_was_closed_and_what_to_do(postgres_url: str) -> None:
    from durable_gen.local import PostgresStore

    store = PostgresStore(postgres_url, timeout=2)
    engine = LocalService(store=store)
    register_function(engine, "waits", _waits)
    arn = engine.start("waits")
    store.close()
    for name, call in _closed_store_calls(engine, arn):
        with pytest.raises(dg.StoreError) as caught:
            call()
        text = str(caught.value)
        assert "was closed (close(), or the end of its with block)" in text, (name, text)
        assert not isinstance(caught.value, StoreUnavailableError), (name, text)


# --- a worker given what is not a database -------------------------------------------------------


@pytest.mark.parametrize(
    ("db", "fragment"),
    [
        (None, "got NoneType None"),
        (5, "got int 5"),
        (b"d.db", "got bytes b'd.db'"),
        ("memory", "a MemoryStore lives in one process, so no worker can share it"),
    ],
)
def test_a_worker_given_what_is_not_a_database_says_what_it_takes(db: Any, fragment: str) -> None:
    # None and a MemoryStore raised AttributeError: 'MemoryStore' object has no attribute
    # 'serve'; an int was said to be a wrong "store", a name the worker does not take.
    from durable_gen.local import MemoryStore

    with pytest.raises(dg.ValidationError) as caught:
        Worker(MemoryStore() if db == "memory" else db)
    text = str(caught.value)
    assert text.startswith("db must be a SQLite path, a database URL"), text
    assert fragment in text, text


def test_a_worker_given_an_open_store_refuses_synchronous_it_would_ignore(
    tmp_path: Path,
) -> None:
    with SqliteStore(tmp_path / "d.db") as store:
        with pytest.raises(dg.ValidationError, match=r"give it to the store \(SqliteStore"):
            Worker(store, synchronous="NORMAL")
        with Worker(store) as worker:  # without it, the open store is served
            worker.run(once=True)


def test_a_worker_given_an_open_store_refuses_a_lease_it_would_ignore(tmp_path: Path) -> None:
    # Worker(store, lease_seconds=5) ran with the store's 10 s leases, without a word.
    with SqliteStore(tmp_path / "d.db", lease_seconds=10) as store:
        with pytest.raises(dg.ValidationError) as caught:
            Worker(store, lease_seconds=5)
        text = str(caught.value)
        assert "the open store's leases last 10 s" in text, text
        assert "SqliteStore(path, lease_seconds=...)" in text, text
        with Worker(store, lease_seconds=10) as worker:  # the store's own: nothing ignored
            worker.run(once=True)


# --- an idempotent start asking for another timeout ---------------------------------------------


@pytest.mark.parametrize("store_kind", ["memory", "sqlite"])
@pytest.mark.parametrize(("first", "again"), [(None, 5), (60, None), (60, 30)])
def test_a_named_start_with_another_timeout_is_refused_not_answered_with_the_first(
    tmp_path: Path, store_kind: str, first: int | None, again: int | None
) -> None:
    # The first execution's ARN came back, and the caller believed its timeout applied.
    engine = LocalService(store=SqliteStore(tmp_path / "d.db") if store_kind == "sqlite" else None)
    register_function(engine, "waits", _waits)
    arn = engine.start("waits", "1", execution_name="order-1", execution_timeout=first)
    with pytest.raises(dg.ValidationError) as caught:
        engine.start("waits", "1", execution_name="order-1", execution_timeout=again)
    text = str(caught.value)
    assert "with another execution_timeout" in text and "pick another name" in text, text
    assert [r.arn for r in engine.list_executions()] == [arn]
    assert engine.get_execution(arn).execution_timeout == first
    # the same start again is still answered with the first execution
    assert engine.start("waits", "1", execution_name="order-1", execution_timeout=first) == arn


def test_a_named_start_with_another_timeout_is_a_usage_error_on_the_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from durable_gen.cli import main

    (tmp_path / "flows_r9.py").write_text(
        "import durable_gen as dg\n\ndef waits(_):\n    yield dg.Wait(seconds=1)\n    return 5\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv("DURABLE_GEN_DB", raising=False)

    def cli(*argv: str) -> tuple[int, str]:
        try:
            code = main(list(argv))
        except SystemExit as exit_:
            code = int(exit_.code or 0)
        out, err = capsys.readouterr()
        return code, out + err

    assert cli("start", "flows_r9:waits", "--name", "o-1", "--timeout", "60")[0] == 0
    code, text = cli("start", "flows_r9:waits", "--name", "o-1", "--timeout", "30")
    assert code == 2 and "with another --timeout (60 s; this start asks for 30 s)" in text
    assert cli("start", "flows_r9:waits", "--name", "o-1", "--timeout", "60")[0] == 0


# --- a database path that starts with ~ --------------------------------------------------------


def test_a_database_path_starting_with_a_tilde_says_only_a_shell_expands_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # "the folder ~/data does not exist: create it" sent the user to create a folder that,
    # to a shell, exists already: the ~ was never the home folder.
    from durable_gen.local import open_store

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    with pytest.raises(dg.StoreError) as caught:
        open_store("~/data/durable.db")
    text = str(caught.value)
    assert "'~' in it was not expanded (only a shell does that" in text, text
    assert str(tmp_path / "home" / "data" / "durable.db") in text, text
    assert not (tmp_path / "~").exists()
    with pytest.raises(dg.StoreError, match="the folder data does not exist") as plain:
        open_store("data/durable.db")
    assert "~" not in str(plain.value)


def test_a_worker_given_a_store_class_says_to_pass_an_instance() -> None:
    # The class has the methods, so it passed as a store and failed later, untyped.
    with pytest.raises(dg.ValidationError, match=r"pass an instance, SqliteStore\(...\), not"):
        Worker(SqliteStore)  # type: ignore[arg-type]


@pytest.mark.parametrize("path", ["d.db", Path("d.db")])
def test_an_engine_given_a_database_path_as_its_store_says_to_open_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, path: Any
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(dg.ValidationError, match=r": open it first, store=open_store\(") as caught:
        LocalService(store=path)
    assert "(or SqliteStore(path))" in str(caught.value)
    assert not (tmp_path / "d.db").exists()
