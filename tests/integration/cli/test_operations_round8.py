"""``durable-gen`` as an operator runs it: every command, on executions in every state.

Written from docs/cli.md and docs/engine.md ("Running a fleet"): what each command prints
(text and JSON), its exit status, the filters of ``list``, how an execution is named on the
command line, a database of an older schema, and two workers with the command line at once.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

Cli = Callable[..., Any]

OPS = textwrap.dedent(
    """
    import durable_gen as dg


    @dg.step
    def add(a, b):
        return a + b


    @dg.workflow
    def quick(n):
        x = yield add(n, 1)
        return {"x": x}


    @dg.workflow
    def sleepy(n):
        yield dg.Wait(3600)
        return n


    @dg.workflow
    def short_wait(n):
        x = yield add(n, 1)
        yield dg.Wait(1)
        y = yield add(x, 1)
        return y


    @dg.workflow
    def approval(n):
        answer = yield dg.WaitForCallback(lambda callback_id: None, name="approve")
        return {"n": n, "answer": answer}


    @dg.step(retry=dg.Retry.never())
    def boom():
        raise ValueError("bad thing")


    @dg.workflow
    def fails(_):
        yield boom()


    @dg.workflow
    def child(n):
        y = yield add(n, 10)
        return y


    @dg.workflow
    def parent(n):
        r = yield dg.Invoke("child-fn", n)
        return {"child": r}


    @dg.workflow
    def long_child(n):
        yield dg.Wait(3600)
        return n


    @dg.workflow
    def long_parent(n):
        return (yield dg.Invoke("long-fn", n))


    @dg.workflow
    def fleet(n):
        a = yield add(n, 1)
        yield dg.Wait(1)
        answer = yield dg.WaitForCallback(lambda callback_id: None, name="ok")
        b = yield add(a, 1)
        return {"n": n, "b": b, "answer": answer}
    """
)


@pytest.fixture
def ops(workdir: Path) -> Path:
    (workdir / "ops.py").write_text(OPS)
    return workdir


def started(cli: Cli, *args: str) -> str:
    """``durable-gen start ARGS``; returns the execution id it printed."""
    result = cli("start", *args)
    assert result.code == 0, result
    return result.out.strip()


def listing(cli: Cli, *args: str) -> list[dict[str, Any]]:
    result = cli("list", "--json", *args)
    assert result.code == 0, result
    records: list[dict[str, Any]] = json.loads(result.out)
    return records


def callback_id(cli: Cli, ref: str) -> str:
    events = json.loads(cli("history", ref, "--json").out)["Events"]
    [cid] = [
        e["CallbackStartedDetails"]["CallbackId"]
        for e in events
        if e["EventType"] == "CallbackStarted"
    ]
    return str(cid)


# --- naming an execution --------------------------------------------------------------------


def test_a_whole_name_that_prefixes_another_name_names_its_own_execution(
    cli: Cli, ops: Path
) -> None:
    first = started(cli, "ops:quick", "--input", "1", "--name", "order-1")
    tenth = started(cli, "ops:quick", "--input", "10", "--name", "order-10")
    for command in ("show", "history"):
        result = cli(command, "order-1")
        assert result.code == 0, result
    assert first in cli("show", "order-1").out and tenth not in cli("show", "order-1").out
    assert cli("stop", "order-1").out.strip() == f"execution {first}: STOPPED"
    assert cli("show", "order-10").code == 0
    # a whole execution id that prefixes nothing else works as before; a true prefix of
    # both is still ambiguous, and the message lists exactly the two, without "..."
    ambiguous = cli("show", "order")
    assert ambiguous.code == 2
    assert first in ambiguous.err and tenth in ambiguous.err
    assert "...)" not in ambiguous.err and "matches 2 executions (" in ambiguous.err
    assert "whole id or ARN" in ambiguous.err


def test_one_name_given_to_two_workflows_says_to_give_an_id(cli: Cli, ops: Path) -> None:
    assert cli("run", "ops:quick", "--input", "1", "--name", "same").code == 0
    [one] = [r["arn"].rsplit("/", 1)[-1] for r in listing(cli, "--status", "SUCCEEDED")]
    two = started(cli, "ops:sleepy", "--input", "1", "--name", "same")
    result = cli("stop", "same")
    assert result.code == 2 and "matches 2 executions" in result.err
    assert "whole id or ARN" in result.err
    assert cli("stop", two).out.strip() == f"execution {two}: STOPPED"
    assert cli("stop", one).out.strip() == f"execution {one}: SUCCEEDED"


# --- run: what it says when the execution does not succeed ----------------------------------


def test_run_of_an_execution_that_times_out_says_timed_out_in_words(cli: Cli, ops: Path) -> None:
    result = cli("run", "ops:sleepy", "--input", "1", "--timeout", "1")
    assert result.code == 1
    assert "execution timed out: Execution.Timeout" in result.err, result.err
    assert "timed_out" not in result.err


# --- show --html: a bad path is a usage error, a full disk is not ---------------------------


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_show_html_on_a_full_disk_is_output_that_cannot_be_written(cli: Cli, ops: Path) -> None:
    assert cli("run", "ops:quick", "--input", "1", "--name", "q").code == 0
    full = cli("show", "q", "--html", "/dev/full")
    assert full.code == 1 and full.out == ""
    assert "cannot write /dev/full: No space left on device" in full.err
    missing = cli("show", "q", "--html", "no/such/folder/t.html")
    assert missing.code == 2 and "No such file or directory" in missing.err


# --- list: every state, its filters, its JSON -----------------------------------------------


@pytest.fixture(params=["sqlite", "postgres"])
def db_env(request: pytest.FixtureRequest) -> dict[str, str]:
    """The default SQLite file (no variable), or a new Postgres database (DURABLE_GEN_DB)."""
    if request.param == "sqlite":
        return {}
    return {"DURABLE_GEN_DB": request.getfixturevalue("postgres_url")}


@pytest.fixture
def on_db(cli: Cli, db_env: dict[str, str]) -> Cli:
    """``cli`` on the database of ``db_env``."""
    return lambda *args: cli(*args, env=db_env)


def test_list_shows_every_state_and_filters_each(on_db: Cli, ops: Path) -> None:
    cli = on_db
    nothing = cli("list")
    if nothing.code == 2:  # list creates no file (SQLite) and no tables (Postgres); worker does
        assert "no database at durable.db" in nothing.err or (
            "no durable_gen database at postgresql://" in nothing.err
        )
        assert cli("worker", "--once").code == 0
    assert cli("list").out == "no executions\n"
    assert cli("list", "--status", "FAILED").out == "no executions with status FAILED\n"
    assert listing(cli) == []
    assert cli("run", "ops:quick", "--input", "1", "--name", "ok").code == 0
    assert cli("run", "ops:fails", "--input", "1", "--name", "bad").code == 1
    started(cli, "ops:sleepy", "--input", "1", "--name", "timer")
    started(cli, "ops:approval", "--input", "1", "--name", "asks")
    started(cli, "ops:sleepy", "--input", "1", "--name", "halted")
    started(cli, "ops:parent", "--input", "3", "--name", "calls")
    assert cli("worker", "--once", "-q", "--register", "child-fn=ops:child").code == 0
    # started after the worker's pass, so that no process runs while its timeout passes
    started(cli, "ops:sleepy", "--input", "1", "--name", "late", "--timeout", "1")
    assert cli("stop", "halted").code == 0
    time.sleep(1.2)
    # past its timeout, "late" is RUNNING until something records the timeout
    assert {r["name"]: r["status"] for r in listing(cli)}["late"] == "RUNNING"
    assert cli("worker", "--once", "-q").code == 0
    records = {r["name"]: r for r in listing(cli)}
    child = next(r for r in records.values() if r["function_name"] == "child-fn")
    assert {name: r["status"] for name, r in records.items()} == {
        "ok": "SUCCEEDED",
        "bad": "FAILED",
        "timer": "RUNNING",
        "asks": "RUNNING",
        "halted": "STOPPED",
        "late": "TIMED_OUT",
        "calls": "SUCCEEDED",
        child["name"]: "SUCCEEDED",
    }
    # the JSON fields docs/cli.md lists, with their figures
    assert set(records["ok"]) == {
        "arn",
        "name",
        "function_name",
        "status",
        "input",
        "result",
        "error",
        "start_timestamp",
        "end_timestamp",
        "parent_arn",
        "execution_timeout",
    }
    assert records["ok"]["result"] == '{"x":2}' and records["ok"]["input"] == "1"
    assert records["timer"]["end_timestamp"] is None and records["timer"]["error"] is None
    assert records["bad"]["error"]["ErrorType"] == "ValueError"
    late = records["late"]
    assert late["execution_timeout"] == 1 and late["error"]["ErrorType"] == "Execution.Timeout"
    assert late["end_timestamp"] - late["start_timestamp"] >= 1000
    assert child["parent_arn"] == records["calls"]["arn"]
    assert child["name"] == child["arn"].rsplit("/", 1)[-1]  # no name given: its id
    assert json.loads(records["calls"]["result"]) == {"child": 13}
    # start order, in the text table as in the JSON
    starts = [r["start_timestamp"] for r in listing(cli)]
    assert starts == sorted(starts)
    for status in ("RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "STOPPED"):
        want = sorted(n for n, r in records.items() if r["status"] == status)
        assert sorted(r["name"] for r in listing(cli, "--status", status)) == want
        text = cli("list", "--status", status).out.splitlines()
        assert text[0].split() == ["ID", "STATUS", "STARTED", "DURATION", "WORKFLOW", "NAME"]
        assert len(text) == 1 + len(want)
        assert all(line.split()[1] == status for line in text[1:])
    # the ARN from the JSON is what show, history and stop take
    assert cli("show", records["timer"]["arn"]).code == 0
    assert "waits on  wait " in cli("show", "timer").out
    wait_line = next(x for x in cli("show", "timer").out.splitlines() if "waits on" in x)
    # milliseconds, as the start time is printed (not microseconds of zeros)
    assert re.search(r"until \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00$", wait_line), wait_line
    bad_status = cli("list", "--status", "failed")
    assert bad_status.code == 2 and "invalid choice: 'failed'" in bad_status.err


# --- a database of an older schema, upgraded by the first command that opens it --------------


def _downgrade_sqlite(db: Path, version: int) -> None:
    from tests.unit.local_sqlite.test_sqlite_store import _to_schema_v1, _to_schema_v2

    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("BEGIN")
    (_to_schema_v1 if version == 1 else _to_schema_v2)(conn)
    conn.execute("COMMIT")
    conn.close()


def _schema_version(url: str) -> int:
    if url.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(url) as conn:
            row = conn.execute("SELECT version FROM schema_version").fetchone()
    else:
        row = sqlite3.connect(url).execute("SELECT version FROM schema_version").fetchone()
    assert row is not None
    return int(row[0])


@pytest.mark.parametrize("where", ["sqlite-v1", "sqlite-v2", "postgres-v1"])
def test_an_older_database_is_upgraded_and_every_command_goes_on(
    request: pytest.FixtureRequest, cli: Cli, ops: Path, where: str
) -> None:
    version = int(where[-1])
    if where.startswith("postgres"):
        url = request.getfixturevalue("postgres_url")
        env = {"DURABLE_GEN_DB": url}
        plain = cli
        cli = lambda *args: plain(*args, env=env)  # noqa: E731
    else:
        url = str(ops / "durable.db")
    assert cli("run", "ops:quick", "--input", "1", "--name", "ok").code == 0
    assert cli("run", "ops:fails", "--input", "1", "--name", "bad").code == 1
    started(cli, "ops:short_wait", "--input", "1", "--name", "nap")
    started(cli, "ops:approval", "--input", "7", "--name", "asks")
    started(cli, "ops:sleepy", "--input", "1", "--name", "halt")
    started(cli, "ops:parent", "--input", "5", "--name", "calls")
    assert cli("worker", "--once", "-q", "--register", "child-fn=ops:child").code == 0
    before = {r["name"]: r for r in listing(cli)}
    history = cli("history", "asks", "--json").out
    if where.startswith("postgres"):
        import psycopg
        from tests.postgres.test_postgres_store import _to_schema_v1

        with psycopg.connect(url) as conn:
            _to_schema_v1(conn)
    else:
        _downgrade_sqlite(Path(url), version)
    assert _schema_version(url) == version
    # a reading command upgrades it, and reads what the old schema held
    assert {r["name"]: r for r in listing(cli)} == before
    assert _schema_version(url) > version
    assert cli("history", "asks", "--json").out == history
    assert "waits on  callback 'approve create callback id'" in cli("show", "asks").out
    # and the executions it held go on: a callback answered, a stop, a timer, a worker
    assert cli("callback", "succeed", callback_id(cli, "asks"), '"yes"').code == 0
    assert cli("stop", "halt").out.strip().endswith(": STOPPED")
    time.sleep(1.1)
    assert cli("worker", "--once", "-q").code == 0
    after = {r["name"]: r for r in listing(cli)}
    assert after["ok"] == before["ok"] and after["bad"] == before["bad"]
    assert json.loads(after["asks"]["result"]) == {"n": 7, "answer": "yes"}
    assert after["nap"]["result"] == "3" and after["halt"]["status"] == "STOPPED"
    assert json.loads(after["calls"]["result"]) == {"child": 15}
    # each step of the timer's execution ran once, across the upgrade
    events = json.loads(cli("history", "nap", "--json").out)["Events"]
    assert [e["EventType"] for e in events].count("StepStarted") == 2


# --- two workers and the command line at once -----------------------------------------------


def test_two_workers_and_the_command_line_at_once(
    on_db: Cli, db_env: dict[str, str], ops: Path
) -> None:
    cli = on_db
    names = [f"f{i:02d}" for i in range(12)]
    for i, name in enumerate(names):
        started(cli, "ops:fleet", "--input", str(i), "--name", name)
    env = {k: v for k, v in os.environ.items() if k != "DURABLE_GEN_DB"}
    env.update(db_env)  # the database the commands use
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ops), os.environ.get("PYTHONPATH")]))
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "durable_gen.cli", "worker", "--poll", "0.1", *extra],
            cwd=ops,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for extra in ([], ["--concurrency", "3"])
    ]
    try:
        answered: set[str] = set()
        deadline = time.monotonic() + 60
        while len(answered) < len(names) and time.monotonic() < deadline:
            for r in listing(cli, "--status", "RUNNING"):
                if r["name"] in answered:
                    continue
                waits = cli("show", r["arn"]).out
                if "waits on  callback" in waits:
                    cid = waits.split("(CallbackId ")[1].split(")")[0]
                    result = cli("callback", "succeed", cid, json.dumps(r["name"]))
                    assert result.code == 0, result
                    answered.add(r["name"])
            time.sleep(0.2)
        while time.monotonic() < deadline and listing(cli, "--status", "RUNNING"):
            time.sleep(0.2)
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        outputs = [worker.communicate(timeout=30) for worker in workers]
    assert [w.returncode for w in workers] == [0, 0], outputs
    records = {r["name"]: r for r in listing(cli)}
    assert sorted(records) == names
    for i, name in enumerate(names):
        assert records[name]["status"] == "SUCCEEDED", records[name]
        assert json.loads(records[name]["result"]) == {"n": i, "b": i + 2, "answer": name}
        events = json.loads(cli("history", name, "--json").out)["Events"]
        kinds = [e["EventType"] for e in events]
        # every step recorded once: 'add' twice and the callback's submitter once
        assert kinds.count("StepStarted") == 3 == kinds.count("StepSucceeded"), kinds
    # both workers logged what they picked up and how it finished, one line each
    logs = "".join(err for _, err in outputs)
    assert "Traceback" not in logs
    assert logs.count("finished ops.fleet") == logs.count("picked up ops.fleet")


# --- where the database is, and what the messages say about it ------------------------------


def test_a_blank_durable_gen_db_is_refused_rather_than_a_file_of_blanks(
    cli: Cli, ops: Path
) -> None:
    blank = cli("start", "ops:quick", "--input", "1", env={"DURABLE_GEN_DB": "  "})
    assert blank.code == 2 and "DURABLE_GEN_DB is set but empty" in blank.err, blank
    assert not (ops / "  ").exists() and not (ops / "durable.db").exists()
    # empty (`DURABLE_GEN_DB=$DB` with DB unset) is refused as `--db ""` is: not the default file
    empty = cli("start", "ops:quick", "--input", "1", env={"DURABLE_GEN_DB": ""})
    assert empty.code == 2 and "unset it to use ./durable.db" in empty.err, empty
    assert not (ops / "durable.db").exists()


def test_a_missing_database_says_where_its_name_came_from(cli: Cli, ops: Path) -> None:
    from_env = cli("list", env={"DURABLE_GEN_DB": "typo.db"})
    assert from_env.code == 2 and "no database at typo.db (from DURABLE_GEN_DB)" in from_env.err
    from_option = cli("show", "x", "--db", "other.db", env={"DURABLE_GEN_DB": "typo.db"})
    assert from_option.code == 2 and "no database at other.db (from --db)" in from_option.err
    no_folder = cli("start", "ops:quick", "--db", "no/such/folder/x.db")
    assert no_folder.code == 1
    assert "the folder no/such/folder does not exist: create it, or correct the path" in (
        no_folder.err
    )


# --- show: the operation table stays aligned -------------------------------------------------

SHAPES = textwrap.dedent(
    """
    import durable_gen as dg


    @dg.step
    def inc(x):
        return x + 1


    def sub(n):
        return (yield inc(n))


    @dg.workflow
    def shapes(n):
        m = yield dg.Map(lambda x: 2 * x, [1, 2], name="doubles")
        c = yield dg.Child(sub, (n,), name="kid")
        d = yield dg.Step(inc, (n,), name="a step with a name longer than thirty-two characters")
        return {"m": m.get_results(), "c": c, "d": d}
    """
)


def test_show_keeps_its_columns_aligned_past_the_widest_kind_and_name(
    cli: Cli, workdir: Path
) -> None:
    (workdir / "shapes.py").write_text(SHAPES)
    assert cli("run", "shapes:shapes", "--input", "1", "--name", "s").code == 0
    shown = cli("show", "s").out.splitlines()
    rows = shown[shown.index(next(x for x in shown if x.startswith("operations ("))) + 1 :]
    assert any("RunInChildContext" in row for row in rows)
    assert any("thirty-two characters" in row for row in rows)
    # the status column starts at the same place on every row, and is set apart by a blank
    starts = {row.index(" SUCCEEDED") for row in rows}
    assert len(starts) == 1, "\n".join(shown)


# --- a damaged record does not hide the other executions from list --------------------------


def test_list_shows_the_readable_executions_beside_a_damaged_one(cli: Cli, ops: Path) -> None:
    for i in (1, 2, 3):
        assert cli("run", "ops:quick", "--input", str(i), "--name", f"q{i}").code == 0
    started(cli, "ops:sleepy", "--input", "1", "--name", "nap")
    conn = sqlite3.connect(ops / "durable.db")
    conn.execute("UPDATE executions SET header = x'00ff' WHERE name = 'q2'")
    conn.commit()
    conn.close()
    shown = cli("list")
    assert shown.code == 1, shown
    names = [line.split()[-1] for line in shown.out.splitlines()[1:]]
    assert names == ["q1", "q3", "nap"]
    [error] = shown.err.strip().splitlines()
    assert error.startswith("durable-gen: DamagedRecordError: ") and "/q2/" in error
    as_json = cli("list", "--json", "--status", "SUCCEEDED")
    assert as_json.code == 1 and "/q2/" in as_json.err
    assert [r["name"] for r in json.loads(as_json.out)] == ["q1", "q3"]
    # the others stay readable and stoppable one by one, as before
    assert cli("show", "q3").code == 0
    assert cli("stop", "nap").out.strip().endswith(": STOPPED")
    assert cli("show", "q2").code == 1


def test_run_goes_on_past_another_executions_damaged_record(cli: Cli, ops: Path) -> None:
    started(cli, "ops:quick", "--input", "2", "--name", "dmg")  # due, never run
    conn = sqlite3.connect(ops / "durable.db")
    conn.execute("UPDATE executions SET header = x'00ff' WHERE name = 'dmg'")
    conn.commit()
    conn.close()
    result = cli("run", "ops:quick", "--input", "5", "--name", "mine")
    assert result.code == 0, result
    assert json.loads(result.out) == {"x": 6}
    # run leaves other executions to the workers, so it does not even read that record
    assert "Traceback" not in result.err and "/dmg/" not in result.err
    assert cli("show", "mine").out.count("SUCCEEDED") >= 1


# --- a remembered name pointed at other code is said, not done silently ---------------------


def test_registering_a_remembered_name_with_other_code_says_so(cli: Cli, ops: Path) -> None:
    first = cli("worker", "--once", "-q", "--register", "child-fn=ops:child")
    # on a new database, only the line saying it was created
    assert first.code == 0 and "created an empty one" in first.err, first
    assert len(first.err.splitlines()) == 1
    again = cli("worker", "--once", "-q", "--register", "child-fn=ops:child")
    assert again.code == 0 and again.err == ""  # the same code: nothing to say
    moved = cli("worker", "--once", "-q", "--register", "child-fn=ops:quick")
    assert moved.code == 0
    assert "'child-fn' was ops:child in the database and is ops:quick from now on" in moved.err
    # a workflow's own name taken by other code, then given back by a start of it
    hijack = cli("worker", "--once", "-q", "--register", "ops.quick=ops:sleepy")
    assert "'ops.quick' was ops:quick" not in hijack.err  # never remembered before
    back = cli("start", "ops:quick", "--input", "1")
    assert back.code == 0
    assert "'ops.quick' was ops:sleepy in the database and is ops:quick" in back.err
