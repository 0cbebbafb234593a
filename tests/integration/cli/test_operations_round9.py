"""``durable-gen`` as an operator runs it, round 9: shapes the round-8 file did not take.

Written from docs/cli.md and docs/engine.md: a callback answered with a result too long for
a command line (standard input), ``run`` on a database other executions share (on the wall
clock), database URLs written without their ``//`` or with ``?parameters``, ``--db`` beside
``DURABLE_GEN_DB``, ``stop`` of a ``run`` in progress, and ``history``/``show`` of what those
leave; on SQLite files and on a throwaway Postgres.
"""

from __future__ import annotations

import json
import os
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
    import time

    import durable_gen as dg


    @dg.step
    def add(a, b):
        return a + b


    @dg.workflow
    def quick(n):
        x = yield add(n, 1)
        return {"x": x}


    @dg.workflow
    def nap(n):
        yield dg.Wait(1)
        return n


    @dg.step
    def slow(seconds):
        time.sleep(seconds)
        return seconds


    @dg.workflow
    def slowpoke(seconds):
        return (yield slow(seconds))


    @dg.workflow
    def approval(n):
        answer = yield dg.WaitForCallback(lambda callback_id: None, name="approve")
        return {"n": n, "answer": answer}


    @dg.workflow
    def approval_t(n):
        answer = yield dg.WaitForCallback(lambda callback_id: None, name="approve", timeout=600)
        return {"n": n, "answer": answer}


    @dg.workflow
    def boss(n):
        return (yield dg.Invoke("approver", n, name="ask approver"))


    @dg.workflow
    def kid(n):
        yield dg.Wait(3600)
        return n


    @dg.workflow
    def parent(n):
        return (yield dg.Invoke("kid-fn", n, name="call kid"))
    """
)


@pytest.fixture
def ops(workdir: Path) -> Path:
    (workdir / "ops.py").write_text(OPS)
    return workdir


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


def started(cli: Cli, *args: str) -> str:
    result = cli("start", *args)
    assert result.code == 0, result
    return str(result.out.strip())


def records(cli: Cli) -> dict[str, dict[str, Any]]:
    result = cli("list", "--json")
    assert result.code == 0, result
    return {r["name"]: r for r in json.loads(result.out)}


def callback_id(cli: Cli, ref: str) -> str:
    events = json.loads(cli("history", ref, "--json").out)["Events"]
    [cid] = [
        e["CallbackStartedDetails"]["CallbackId"]
        for e in events
        if e["EventType"] == "CallbackStarted"
    ]
    return str(cid)


def command(ops: Path, env: dict[str, str], *args: str, stdin: str | bytes) -> Any:
    """``durable-gen ARGS`` with ``stdin`` as its standard input (the ``cli`` fixture has none)."""
    full = {k: v for k, v in os.environ.items() if k != "DURABLE_GEN_DB"}
    full.update(env)
    full["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ops), os.environ.get("PYTHONPATH")]))
    proc = subprocess.run(
        [sys.executable, "-m", "durable_gen.cli", *args],
        cwd=ops,
        env=full,
        input=stdin.encode() if isinstance(stdin, str) else stdin,
        capture_output=True,
        timeout=60,
    )
    return subprocess.CompletedProcess(
        proc.args, proc.returncode, proc.stdout.decode(), proc.stderr.decode()
    )


# --- a callback answered from standard input -------------------------------------------------


def test_a_result_too_long_for_a_command_line_is_read_from_standard_input(
    on_db: Cli, db_env: dict[str, str], ops: Path
) -> None:
    cli = on_db
    started(cli, "ops:approval", "--input", "1", "--name", "big")
    assert cli("worker", "--once", "-q").code == 0
    cid = callback_id(cli, "big")
    value = {"blob": "é" * 200_000}  # 400 KB of UTF-8: over the 128 KiB one argument may hold
    text = json.dumps(value, ensure_ascii=False) + "\n"
    sent = command(ops, db_env, "callback", "succeed", cid, "-", stdin=text)
    assert sent.returncode == 0, sent
    assert sent.stdout == f"callback {cid}: succeed sent\n"
    assert cli("worker", "--once", "-q").code == 0
    record = records(cli)["big"]
    assert record["status"] == "SUCCEEDED"
    assert json.loads(record["result"]) == {"n": 1, "answer": value}


def test_a_failure_message_from_a_pipe_and_what_standard_input_cannot_be(
    cli: Cli, ops: Path
) -> None:
    started(cli, "ops:approval", "--input", "1", "--name", "asks")
    assert cli("worker", "--once", "-q").code == 0
    cid = callback_id(cli, "asks")
    # nothing on standard input: a usage error, and the callback stays open
    empty = command(ops, {}, "callback", "succeed", cid, "-", stdin="")
    assert empty.returncode == 2 and "standard input is empty" in empty.stderr, empty
    bad = command(ops, {}, "callback", "fail", cid, "-", stdin=b"caf\xe9")  # Latin-1
    assert bad.returncode == 2 and "not UTF-8" in bad.stderr, bad
    heartbeat = command(ops, {}, "callback", "heartbeat", cid, "-", stdin="x")
    assert heartbeat.returncode == 2 and "takes no PAYLOAD" in heartbeat.stderr
    assert "waits on  callback" in cli("show", "asks").out
    # a message from a pipe: one line break at its end is dropped, the others kept
    failed = command(ops, {}, "callback", "fail", cid, "-", stdin="out of stock\nitem 7\n")
    assert failed.returncode == 0, failed
    assert cli("worker", "--once", "-q").code == 0
    error = records(cli)["asks"]["error"]
    assert error["ErrorType"] == "CallbackFailed"
    assert error["ErrorMessage"] == "out of stock\nitem 7"


def test_a_result_over_one_mebibyte_says_what_to_do_and_leaves_the_callback_open(
    cli: Cli, ops: Path
) -> None:
    started(cli, "ops:approval", "--input", "1", "--name", "huge")
    assert cli("worker", "--once", "-q").code == 0
    cid = callback_id(cli, "huge")
    huge = json.dumps("x" * (1024 * 1024 + 10))
    refused = command(ops, {}, "callback", "succeed", cid, "-", stdin=huge)
    assert refused.returncode == 1, refused
    assert "1 MiB" in refused.stderr and "send where it is" in refused.stderr
    assert "the callback stays open" in refused.stderr
    assert "waits on  callback" in cli("show", "huge").out


# --- run on a database that other executions share -------------------------------------------


def test_run_runs_its_own_execution_and_leaves_the_others_to_workers(on_db: Cli, ops: Path) -> None:
    cli = on_db
    started(cli, "ops:quick", "--input", "1", "--name", "queued")
    started(cli, "ops:slowpoke", "--input", "5", "--name", "long")
    began = time.monotonic()
    result = cli("run", "ops:nap", "--input", "7", "--name", "mine")
    took = time.monotonic() - began
    assert result.code == 0 and json.loads(result.out) == 7, result
    assert took < 5, f"run took {took:.1f}s: it ran another execution's 5 s step"
    now = records(cli)
    assert now["mine"]["status"] == "SUCCEEDED"
    # the others were not touched: nothing of theirs is recorded beyond their start
    for name in ("queued", "long"):
        assert now[name]["status"] == "RUNNING"
        kinds = [e["EventType"] for e in json.loads(cli("history", name, "--json").out)["Events"]]
        assert kinds == ["ExecutionStarted"], (name, kinds)
    # a worker runs them
    assert cli("worker", "--once", "-q").code == 0
    after = records(cli)
    assert after["queued"]["status"] == after["long"]["status"] == "SUCCEEDED"


def test_run_still_runs_the_executions_its_own_invokes(cli: Cli, ops: Path) -> None:
    started(cli, "ops:quick", "--input", "1", "--name", "other")
    run = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "durable_gen.cli",
            "run",
            "ops:parent",
            "--input",
            "3",
            "--name",
            "p",
            "--register",
            "kid-fn=ops:kid",
        ],
        cwd=ops,
        env={
            **{k: v for k, v in os.environ.items() if k != "DURABLE_GEN_DB"},
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ops), os.environ.get("PYTHONPATH")])),
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            kids = [r for r in records(cli).values() if r["function_name"] == "kid-fn"]
            if kids and "waits on  wait" in cli("show", kids[0]["arn"]).out:
                break
            time.sleep(0.2)
        else:
            pytest.fail("run did not run the execution its Invoke started")
        # stop of the parent while run drives it: run reports it, exit status 1
        assert cli("stop", "p").out.strip().endswith(": STOPPED")
        out, err = run.communicate(timeout=30)
    finally:
        if run.poll() is None:
            run.kill()
            run.communicate()
    assert run.returncode == 1, (out, err)
    assert "stopped" in err and "Traceback" not in err
    now = records(cli)
    assert now["other"]["status"] == "RUNNING"  # not run's
    [kid] = [r for r in now.values() if r["function_name"] == "kid-fn"]
    assert kid["status"] == "STOPPED" and kid["parent_arn"] == now["p"]["arn"]


# --- database URLs that are not what they look like ------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:app.db",
        "sqlite3:app.db",
        "postgres:app",
        "postgresql:/app",
        "file:app.db",
        "sqlite:///app.db?mode=ro",
    ],
)
@pytest.mark.parametrize("how", ["--db", "DURABLE_GEN_DB"])
def test_a_url_written_without_its_slashes_is_a_usage_error_not_a_new_file(
    cli: Cli, ops: Path, url: str, how: str
) -> None:
    before = set(os.listdir(ops))
    for args in (["run", "ops:quick", "--input", "1"], ["start", "ops:quick"], ["list"]):
        if how == "--db":
            result = cli(*args, "--db", url)
        else:
            result = cli(*args, env={"DURABLE_GEN_DB": url})
        assert result.code == 2, (args, result)
        assert "write sqlite:///" in result.err or "give the file alone" in result.err, result
        assert "no database at" not in result.err
    assert set(os.listdir(ops)) == before  # no file of that name was created


def test_a_file_really_named_like_a_url_is_given_as_a_path(cli: Cli, ops: Path) -> None:
    assert cli("run", "ops:quick", "--input", "1", "--db", "./sqlite:app.db").code == 0
    assert (ops / "sqlite:app.db").exists()
    assert cli("list", "--db", "./sqlite:app.db").out.count("SUCCEEDED") == 1


def test_db_wins_over_the_environment_and_the_hints_name_it(
    cli: Cli, ops: Path, postgres_url: str
) -> None:
    env = {"DURABLE_GEN_DB": postgres_url}
    suspended = cli(
        "run", "ops:approval", "--input", "1", "--name", "a", "--db", "local.db", env=env
    )
    assert suspended.code == 3, suspended
    assert f"--db {ops / 'local.db'}" in suspended.err and "postgresql" not in suspended.err
    # the execution went to --db, not to the database of the environment (which holds no
    # durable_gen tables, so a reading command refuses it rather than listing nothing)
    untouched = cli("list", "--json", env=env)
    assert untouched.code == 2 and "no durable_gen database at" in untouched.err, untouched
    assert [r["name"] for r in json.loads(cli("list", "--json", "--db", "local.db").out)] == ["a"]
    # and the commands the hint gave work as printed, with the environment still set
    cid = callback_id(lambda *a: cli(*a, "--db", "local.db", env=env), "a")
    assert cli("callback", "succeed", "--db", "local.db", cid, '"ok"', env=env).code == 0
    assert cli("worker", "--once", "-q", "--db", "local.db", env=env).code == 0
    done = json.loads(cli("list", "--json", "--db", "local.db").out)
    assert json.loads(done[0]["result"]) == {"n": 1, "answer": "ok"}


def test_the_commands_run_suggests_work_where_durable_gen_db_is_not_set(
    cli: Cli, ops: Path
) -> None:
    import re
    import shlex

    # `DURABLE_GEN_DB=approvals.db durable-gen run ...` (a script, a one-off): another terminal
    # does not have the variable, so the printed commands must name the database
    env = {"DURABLE_GEN_DB": "approvals.db"}
    suspended = cli("run", "ops:approval", "--input", "4", "--name", "a", env=env)
    assert suspended.code == 3, suspended
    commands = re.findall(r"`(durable-gen [^`]*)`", suspended.err)
    succeed = next(c for c in commands if " callback succeed " in c)
    resume = next(c for c in commands if c.startswith("durable-gen worker"))
    full = ops / "approvals.db"  # made absolute: another terminal opens in another folder
    assert f"--db {full}" in succeed and resume == f"durable-gen worker --db {full}"
    # run verbatim without the variable (RESULT_JSON filled in), they answer and resume it
    answer = [a if a != "RESULT_JSON" else '"yes"' for a in shlex.split(succeed)[1:]]
    assert cli(*answer).code == 0
    assert cli(*shlex.split(resume)[1:], "--once", "-q").code == 0
    assert not (ops / "durable.db").exists()  # nothing went to the default database
    done = json.loads(cli("list", "--json", env=env).out)
    assert json.loads(done[0]["result"]) == {"n": 4, "answer": "yes"}


# --- an ARN whose $LATEST a shell ate ---------------------------------------------------------


def test_an_arn_whose_latest_the_shell_replaced_says_so(on_db: Cli, ops: Path) -> None:
    cli = on_db
    arn = started(cli, "ops:nap", "--input", "1", "--name", "n", "--arn")
    assert ":$LATEST/durable-execution/" in arn
    eaten = arn.replace("$LATEST", "")  # `durable-gen show "arn:...:$LATEST/..."` in bash
    execution_id = arn.rsplit("/", 1)[-1]
    for command in ("show", "history", "stop"):
        result = cli(command, eaten)
        assert result.code == 2, result
        assert "$LATEST" in result.err and "single quotes" in result.err, result
        assert f"give its execution id ({execution_id})" in result.err
    assert cli("show", arn).code == 0  # quoted as it should be, it names the execution
    assert cli("stop", execution_id).out.strip().endswith(": STOPPED")


# --- run leaves an invoked execution it cannot import to a worker that can --------------------

KIDMOD = textwrap.dedent(
    """
    import durable_gen as dg


    @dg.step
    def inc(n):
        return n + 1


    @dg.workflow
    def kid_wait(n):
        yield dg.Wait(1)
        return (yield inc(n))
    """
)

PARENT2 = textwrap.dedent(
    """
    import durable_gen as dg


    @dg.workflow
    def parent2(n):
        return (yield dg.Invoke("kidw-fn", n, name="call kid"))
    """
)


@pytest.mark.parametrize("skip_time", [False, True])
def test_run_leaves_an_invoked_workflow_it_cannot_import_waiting_not_failed(
    cli: Cli, ops: Path, skip_time: bool
) -> None:
    (ops / "parents.py").write_text(PARENT2)
    (ops / "extra").mkdir()
    (ops / "extra" / "kidmod.py").write_text(KIDMOD)
    with_kid = {"PYTHONPATH": os.pathsep.join([str(ops), str(ops / "extra")])}
    started(cli, "parents:parent2", "--input", "3", "--name", "p")
    # a worker that can import the child's module starts it (it waits 1 s)
    first = cli("worker", "--once", "-q", "--register", "kidw-fn=kidmod:kid_wait", env=with_kid)
    assert first.code == 0, first
    # `run` of the parent, in a process that cannot import kidmod, must not run the child
    env = {k: v for k, v in os.environ.items() if k != "DURABLE_GEN_DB"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ops), os.environ.get("PYTHONPATH")]))
    run = subprocess.Popen(
        [sys.executable, "-m", "durable_gen.cli", "run", "parents:parent2", "--input", "3"]
        + ["--name", "p"]
        + (["--skip-time"] if skip_time else []),
        cwd=ops,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # past the child's wait, only a process that can import kidmod can go on: run says so
        # and exits 3 (it waited for ever before), as for a callback no one answered yet
        out, err = run.communicate(timeout=60)
    finally:
        if run.poll() is None:
            run.kill()
            run.communicate()
    assert run.returncode == 3, (out, err)
    now = records(cli)
    assert {r["status"] for r in now.values()} == {"RUNNING"}, now
    assert "its next invocation" in out + err and "durable-gen worker" in out + err, (out, err)
    assert "not serving 'kidw-fn'" in err and "FunctionNotRegisteredError" not in err
    # said by run, in its own name
    assert "durable-gen run: not serving 'kidw-fn'" in err and "durable-gen worker:" not in err
    # the worker that can import it finishes both (once the child's wait, which run
    # --skip-time skipped on its own clock, is due on the wall clock too)
    if skip_time:
        time.sleep(1.5)
    assert cli("worker", "--once", "-q", env=with_kid).code == 0
    done = records(cli)
    assert {r["status"] for r in done.values()} == {"SUCCEEDED"}, done
    assert done["p"]["result"] == "4"


# --- Ctrl-C to run ------------------------------------------------------------------------------


def test_ctrl_c_to_run_says_the_execution_is_left_and_how_to_resume_it(
    on_db: Cli, db_env: dict[str, str], ops: Path
) -> None:
    import signal

    cli = on_db
    env = {k: v for k, v in os.environ.items() if k != "DURABLE_GEN_DB"}
    env.update(db_env)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ops), os.environ.get("PYTHONPATH")]))
    db = db_env.get("DURABLE_GEN_DB", "durable.db")
    args = ["run", "ops:slowpoke", "--input", "2", "--name", "slow", "--db", db]
    run = subprocess.Popen(
        [sys.executable, "-m", "durable_gen.cli", *args],
        cwd=ops,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # until its step has started
        listed = cli("list", "--json")
        if listed.code == 0 and listed.out.strip() not in ("", "[]"):
            events = json.loads(cli("history", "slow", "--json").out)["Events"]
            if any(e["EventType"] == "StepStarted" for e in events):
                break
        time.sleep(0.1)
    run.send_signal(signal.SIGINT)
    out, err = run.communicate(timeout=30)
    assert run.returncode == 130, (out, err)
    assert out == "" and "Traceback" not in err
    assert "left RUNNING" in err and "to resume it" in err, err
    [resume] = [line for line in err.split("`") if line.startswith("durable-gen worker")]
    assert resume.startswith("durable-gen worker --db ")
    assert records(cli)["slow"]["status"] == "RUNNING"
    # released at once: the next worker takes it without waiting for the lease
    began = time.monotonic()
    assert cli("worker", "--once", "-q").code == 0
    assert time.monotonic() - began < 20
    assert records(cli)["slow"]["result"] == "2"


# --- a callback of an invoked execution --------------------------------------------------------


def test_run_gives_the_commands_that_answer_a_callback_of_an_invoked_execution(
    cli: Cli, ops: Path
) -> None:
    import re
    import shlex

    suspended = cli(
        "run", "ops:boss", "--input", "2", "--name", "b", "--register", "approver=ops:approval"
    )
    assert suspended.code == 3, suspended
    commands = re.findall(r"`(durable-gen callback succeed [^`]*)`", suspended.err)
    assert len(commands) == 1, suspended.err
    answer = [a if a != "RESULT_JSON" else '"fine"' for a in shlex.split(commands[0])[1:]]
    assert cli(*answer).code == 0
    assert cli("worker", "--once", "-q").code == 0
    assert json.loads(records(cli)["b"]["result"]) == {"n": 2, "answer": "fine"}


def test_run_announces_a_timed_callback_of_an_invoked_execution_and_goes_on(
    cli: Cli, ops: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DURABLE_GEN_DB"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ops), os.environ.get("PYTHONPATH")]))
    args = ["run", "ops:boss", "--input", "5", "--register", "approver=ops:approval_t"]
    run = subprocess.Popen(
        [sys.executable, "-m", "durable_gen.cli", *args],
        cwd=ops,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        import select

        assert run.stderr is not None
        ready, _, _ = select.select([run.stderr], [], [], 20)
        assert ready, "run announced no callback to answer"
        line = run.stderr.readline()  # the announcement, while run goes on
        assert "waits on callback" in line and "callback succeed" in line, line
        callback = line.split("(CallbackId ")[1].split(")")[0]
        assert cli("callback", "succeed", callback, '"later"').code == 0
        out, err = run.communicate(timeout=30)
    finally:
        if run.poll() is None:
            run.kill()
            run.communicate()
    assert run.returncode == 0, (out, err)
    assert json.loads(out) == {"n": 5, "answer": "later"}


# --- a callback answered with the wrong id, or on the wrong database ----------------------------


def test_a_callback_answer_with_an_execution_id_or_on_another_database_says_what_to_give(
    cli: Cli, ops: Path
) -> None:
    started(cli, "ops:approval", "--input", "1", "--name", "ask")
    assert cli("worker", "--once", "-q").code == 0
    cid = callback_id(cli, "ask")
    # the execution's name (or id) instead of its callback's id
    by_name = cli("callback", "succeed", "ask", '"yes"')
    assert by_name.code == 1, by_name
    assert "names an execution" in by_name.err and cid in by_name.err
    # the right id on another database (the default one here, the execution in another)
    assert cli("run", "ops:quick", "--input", "1", "--db", "other.db").code == 0
    elsewhere = cli("callback", "succeed", cid, '"yes"', "--db", "other.db")
    assert elsewhere.code == 1, elsewhere
    assert "in other.db (from --db)" in elsewhere.err
    assert "the database the execution is in" in elsewhere.err
    # nothing was answered: the callback still waits, and answers on its own database
    assert "waits on  callback" in cli("show", "ask").out
    assert cli("callback", "succeed", cid, '"yes"').code == 0


# --- a path a shell would have expanded, given where no shell expands it ------------------------


@pytest.mark.parametrize("db", ["~/app.db", "$HOME/app.db", "${HOME}/data/app.db"])
def test_a_tilde_or_variable_left_in_the_database_path_says_to_give_the_full_path(
    cli: Cli, ops: Path, db: str
) -> None:
    # `DURABLE_GEN_DB=~/app.db` in a systemd or compose environment file: not expanded
    home = os.path.expanduser("~")
    for args in (["run", "ops:quick", "--input", "1"], ["list"], ["worker", "--once"]):
        result = cli(*args, env={"DURABLE_GEN_DB": db})
        assert result.code in (1, 2), (args, result)
        assert "was not expanded" in result.err and "give the full path" in result.err, result
        assert f"e.g. {home}/" in result.err, result
        assert "create it" not in result.err  # not: make a folder named '~'
    assert not any(name.startswith(("~", "$")) for name in os.listdir(ops))
