"""``durable-gen`` on day two, round 12: operations in shapes the earlier files leave out.

Written from docs/cli.md: the reading commands on a standard output that is not UTF-8 and what
their JSON and HTML read back as; the commands a suspended ``run`` prints pasted into a shell
in another folder for a database path holding a quote, a ``$``, spaces and letters past
ASCII; a worker and a ``run`` whose stderr's reader went away (their executions, their exit
status, SIGTERM); a workflow added to a module under a running worker; the commands of other
tools for retrying, resuming and deleting executions; SQLite's ``:memory:`` as the database;
a file's name given where JSON is due; and ``run`` on a ``TERM=dumb`` terminal.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from durable_gen.cli import main

Cli = Callable[..., Any]

GREETING = textwrap.dedent(
    """
    import durable_gen as dg


    @dg.step
    def greet(name):
        return f"grüße, {name} ✓"


    @dg.workflow
    def hello(name):
        text = yield greet(name)
        answer = yield dg.WaitForCallback(lambda callback_id: None, name="approve")
        return {"text": text, "answer": answer}
    """
)


@pytest.fixture
def greeting(workdir: Path) -> Path:
    (workdir / "greeting.py").write_text(GREETING, encoding="utf-8")
    return workdir


def _suspended(cli: Cli, *db: str) -> tuple[str, str]:
    """An execution of ``greeting.hello`` run up to its callback: its id and the callback's."""
    run = cli("run", "greeting:hello", "--input", '"Jürgen 😀"', *db)
    assert run.code == 3, run
    (callback_id,) = set(re.findall(r"CallbackId ([0-9a-f]{32,})", run.err))
    started = cli("list", "--json", *db)
    assert started.code == 0, started
    (record,) = json.loads(started.out)
    return record["name"], callback_id


def _raw(workdir: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[bytes]:
    """``durable-gen ARGS...`` with its output as bytes, in whatever encoding it wrote."""
    full = {k: v for k, v in os.environ.items() if k != "DURABLE_GEN_DB"}
    full["PYTHONPATH"] = os.pathsep.join(filter(None, [str(workdir), full.get("PYTHONPATH")]))
    full.update(env)
    return subprocess.run(
        [sys.executable, "-m", "durable_gen.cli", *args],
        cwd=workdir,
        env=full,
        capture_output=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("encoding", ["ascii", "latin-1"])
def test_the_reading_commands_write_on_an_output_that_is_not_utf8(
    cli: Cli, greeting: Path, encoding: str
) -> None:
    execution, _ = _suspended(cli)
    env = {"PYTHONIOENCODING": encoding}

    def run(*args: str) -> tuple[int, str, str]:
        done = _raw(greeting, *args, env=env)
        return done.returncode, done.stdout.decode(encoding), done.stderr.decode(encoding)

    # `show` prints a `→` of its own: each of them ended in a UnicodeEncodeError traceback
    reads = [("show", execution)]
    if encoding == "ascii":  # the other text commands write the same way
        reads += [("list",), ("history", execution)]
    done = {args: run(*args) for args in reads}
    for args, (code, _, err) in done.items():
        assert (code, "Traceback" in err) == (0, False), (args, err)
    shown = done["show", execution][1]
    assert "→" in shown or "\\u2192" in shown  # what the encoding has, it writes as is
    assert "Jürgen" in shown or "J\\xfcrgen" in shown
    # JSON is ASCII, and reads back as the same values, as UTF-8 (how replay_folder and jq
    # read a file): Latin-1 bytes of a `ü` would not
    listed, exported = run("list", "--json"), run("history", execution, "--json")
    for code, out, _ in (listed, exported):
        assert code == 0 and out.isascii(), out
    assert json.loads(listed[1])[0]["input"] == '"Jürgen 😀"'
    events = json.loads(exported[1])["Events"]
    succeeded = next(e for e in events if e["EventType"] == "StepSucceeded")
    result = json.loads(succeeded["StepSucceededDetails"]["Result"]["Payload"])
    assert result == "grüße, Jürgen 😀 ✓"
    if encoding != "ascii":
        return
    assert json.loads(listed[1]) == json.loads(cli("list", "--json").out)
    # the page says it is UTF-8: in ASCII, with character references, it still is
    code, page, _ = run("show", execution, "--html", "-")
    assert code == 0 and page.isascii(), page
    assert "J&#252;rgen &#128512;" in page
    code, wrote, err = run("show", execution, "--html", "zeitleiste ü.html")
    assert code == 0 and wrote.startswith("wrote zeitleiste "), (wrote, err)
    assert "Jürgen 😀" in (greeting / "zeitleiste ü.html").read_text(encoding="utf-8")


def test_the_commands_run_prints_paste_into_a_shell_for_any_database_path(
    cli: Cli, greeting: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # a folder name with a quote, a `$`, spaces and letters past ASCII, named by the variable
    folder = greeting / "Bob's $HOME ü"
    folder.mkdir()
    env = {"DURABLE_GEN_DB": "Bob's $HOME ü/a b.db"}
    waiting = cli("run", "greeting:hello", "--input", '"Ana"', env=env)
    assert waiting.code == 3, waiting
    commands = re.findall(r"`(durable-gen [^`]*)`", waiting.err)
    succeed = next(c for c in commands if " callback succeed " in c)
    resume = next(c for c in commands if c.startswith("durable-gen worker"))
    # pasted into a shell in another terminal: another folder, the variable not set
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    script = "\n".join(
        [
            f'durable-gen() {{ {shlex.quote(sys.executable)} -m durable_gen.cli "$@"; }}',
            "set -e",
            succeed.replace("'RESULT_JSON'", "'\"yes\"'"),
            f"{resume} --once -q",
        ]
    )
    pythonpath = os.pathsep.join(filter(None, [str(greeting), os.environ.get("PYTHONPATH")]))
    shell_env = {k: v for k, v in os.environ.items() if k != "DURABLE_GEN_DB"}
    pasted = subprocess.run(
        ["bash", "-c", script],
        cwd=elsewhere,
        env={**shell_env, "PYTHONPATH": pythonpath},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert pasted.returncode == 0, (script, pasted)
    done = cli("list", "--status", "SUCCEEDED", "--json", env=env)
    (record,) = json.loads(done.out)
    assert json.loads(record["result"]) == {"text": "grüße, Ana ✓", "answer": "yes"}
    assert list(elsewhere.iterdir()) == []  # no database was made where they ran


def test_a_worker_whose_stderr_reader_went_away_fails_no_execution(cli: Cli, workdir: Path) -> None:
    # `durable-gen worker 2>&1 | head`, a log collector that stopped: the worker's lines hit a
    # pipe nobody reads. Each execution it picked up was FAILED with the BrokenPipeError of
    # its "picked up" line, recorded as the workflow's error.
    started = [cli("start", "flows:total", "--input", str(n)) for n in (3, 4)]
    assert all(s.code == 0 for s in started), started
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first line
    env = {k: v for k, v in os.environ.items() if k != "DURABLE_GEN_DB"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(workdir), env.get("PYTHONPATH")]))
    try:
        worker = subprocess.run(
            [sys.executable, "-m", "durable_gen.cli", "worker", "--once"],
            cwd=workdir,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=write,
            timeout=60,
            check=False,
        )
    finally:
        os.close(write)
    assert worker.returncode == 0
    records = json.loads(cli("list", "--json").out)
    assert [(r["status"], r["error"]) for r in records] == [("SUCCEEDED", None)] * 2
    assert sorted(json.loads(r["result"])["total"] for r in records) == [3, 6]


def test_sigterm_stops_a_worker_whose_stderr_reader_went_away(cli: Cli, workdir: Path) -> None:
    # The SIGTERM line raised BrokenPipeError before the stop was set: the worker served on,
    # deaf to SIGTERM, until a service manager's SIGKILL.
    assert cli("start", "flows:total", "--input", "3").code == 0
    read, write = os.pipe()
    os.close(read)
    env = {k: v for k, v in os.environ.items() if k != "DURABLE_GEN_DB"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(workdir), env.get("PYTHONPATH")]))
    worker = subprocess.Popen(
        [sys.executable, "-m", "durable_gen.cli", "worker", "--poll", "0.1"],
        cwd=workdir,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=write,
    )
    os.close(write)
    try:
        for _ in range(300):  # until it has run the execution: it serves, idle
            if '"SUCCEEDED"' in cli("list", "--json").out:
                break
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=30) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()


def test_a_workflow_added_under_a_running_worker_says_to_restart_it(
    cli: Cli, workdir: Path
) -> None:
    # A deploy that adds a workflow to a module the worker imported: the worker goes on with
    # the module as it imported it. Its line said only that the module has no such
    # attribute, while the file plainly has it.
    shop = workdir / "shop.py"
    shop.write_text(
        "import durable_gen as dg\n\n@dg.workflow\ndef first(n):\n    return n\n    yield\n"
    )
    assert cli("start", "shop:first", "--input", "1").code == 0
    env = {k: v for k, v in os.environ.items() if k != "DURABLE_GEN_DB"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(workdir), env.get("PYTHONPATH")]))
    worker = subprocess.Popen(
        [sys.executable, "-m", "durable_gen.cli", "worker", "--poll", "0.1"],
        cwd=workdir,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert worker.stderr is not None
    try:
        assert "finished shop.first" in next(ln for ln in worker.stderr if "finished" in ln)
        with shop.open("a") as more:
            more.write("\n@dg.workflow\ndef second(n):\n    return n * 2\n    yield\n")
        # a file's modification time comes from a clock that may lag time.time() by a tick:
        # an edit a few milliseconds after the import could read as older than it
        later = time.time() + 2
        os.utime(shop, (later, later))
        assert cli("start", "shop:second", "--input", "2").code == 0
        line = next(ln for ln in worker.stderr if "not serving" in ln)
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.communicate(timeout=30)
    assert "no attribute 'second'" in line
    assert f"this process imported 'shop' before {shop} changed" in line
    assert "restart it to serve the code now in that file" in line
    # the same line from a worker started after the change does not say so
    fresh = cli("worker", "--once")
    assert "not serving" not in fresh.err and fresh.code == 0, fresh
    assert '"SUCCEEDED"' in cli("list", "--json", "--status", "SUCCEEDED").out


def test_run_whose_stderr_reader_went_away_drives_its_execution_to_the_end(
    cli: Cli, workdir: Path
) -> None:
    # `durable-gen run ... 2>&1 | head -1`: the line saying what the execution waits on
    # raised BrokenPipeError, which ended `run` with exit status 0, its execution left
    # RUNNING and undriven, and no result on stdout; a suspended run said 0 instead of 3.
    env = {k: v for k, v in os.environ.items() if k != "DURABLE_GEN_DB"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(workdir), env.get("PYTHONPATH")]))
    read, write = os.pipe()
    os.close(read)
    try:
        suspended = subprocess.run(
            [sys.executable, "-m", "durable_gen.cli", "run", "flows:approval", "--input", "1"],
            cwd=workdir,
            env=env,
            stdout=subprocess.PIPE,
            stderr=write,
            text=True,
            timeout=60,
            check=False,
        )
        assert (suspended.returncode, suspended.stdout) == (3, "")
        timed = ["flows:approval_with_timeout", "--input", "2"]
        run = subprocess.Popen(
            [sys.executable, "-m", "durable_gen.cli", "run", *timed],
            cwd=workdir,
            env=env,
            stdout=subprocess.PIPE,
            stderr=write,
            text=True,
        )
    finally:
        os.close(write)
    try:
        callback = None
        for _ in range(100):  # until the execution waits on its callback
            records = json.loads(cli("list", "--json", "--status", "RUNNING").out)
            ours = [r for r in records if r["function_name"] == "flows.approval_with_timeout"]
            if ours:
                found = re.search(r"CallbackId ([0-9a-f]{32,})", cli("show", ours[0]["arn"]).out)
                if found:
                    callback = found.group(1)
                    break
        assert callback is not None
        answered = cli("callback", "succeed", callback, '"yes"')
        assert answered.code == 0, answered
        out, _ = run.communicate(timeout=60)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    assert run.returncode == 0
    assert json.loads(out) == {"request": 2, "answer": "yes"}


@pytest.mark.parametrize(
    ("command", "says"),
    [
        ("retry", "durable-gen start MODULE:WORKFLOW --input JSON"),
        ("rerun", "its workflow and input are in `durable-gen show ID`"),
        ("resume", "resumes by itself under `durable-gen worker`"),
        ("delete", "no command deletes them"),
        ("prune", "no command deletes them"),
    ],
)
def test_retrying_resuming_or_deleting_an_execution_says_what_there_is(
    capsys: pytest.CaptureFixture[str], command: str, says: str
) -> None:
    # A day-two habit of other tools: argparse's "invalid choice: 'retry'" said nothing of
    # how an ended execution is run again, or whether executions are ever deleted.
    with pytest.raises(SystemExit) as exited:
        main([command, "abc"])
    done = capsys.readouterr()
    assert exited.value.code == 2 and done.out == "", done
    assert f"there is no {command} command" in done.err and says in done.err, done.err
    assert len(done.err.splitlines()) == 1


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["start", "flows:total", "--input", "3"], "record an execution that is gone"),
        (["worker", "--once"], "serve an empty database of its own"),
        (["list"], "find nothing"),
        (["show", "abc"], "find nothing"),
    ],
)
@pytest.mark.parametrize("given", [["--db", ":memory:"], ["--db", "sqlite:///:memory:"], []])
def test_an_in_memory_database_is_refused_where_nothing_would_be_kept(
    workdir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    says: str,
    given: list[str],
) -> None:
    # SQLite's `:memory:` ends with the process: `start` printed an id and exit status 0 for
    # an execution gone as it exited, and `worker` served an empty database of its own
    # (saying it had created one at ./:memory:, a file that never was).
    monkeypatch.chdir(workdir)
    monkeypatch.syspath_prepend(str(workdir))
    if not given:
        monkeypatch.setenv("DURABLE_GEN_DB", ":memory:")
    else:
        monkeypatch.delenv("DURABLE_GEN_DB", raising=False)
    code = main([*argv, *given])
    done = capsys.readouterr()
    assert code == 2 and done.out == "", done
    assert "is SQLite's in-memory database" in done.err and says in done.err, done.err
    assert "durable-gen run MODULE:WORKFLOW --db :memory:" in done.err
    assert sorted(p.name for p in workdir.iterdir() if p.name != "__pycache__") == ["flows.py"]


def test_run_on_an_in_memory_database_says_no_command_can_answer_it(
    cli: Cli, workdir: Path
) -> None:
    ran = cli("run", "flows:total", "--input", "3", "--db", ":memory:")
    assert (ran.code, json.loads(ran.out)) == (0, {"total": 3, "doubles": [2, 4, 6]}), ran
    waiting = cli("run", "flows:approval", "--input", "1", "--db", ":memory:")
    assert waiting.code == 3, waiting
    # the commands it printed named a file ./:memory: that is no database
    assert "`durable-gen" not in waiting.err and ":memory:/" not in waiting.err
    assert "no other command can answer or resume it" in waiting.err
    assert sorted(p.name for p in workdir.iterdir() if p.name != "__pycache__") == ["flows.py"]


@pytest.mark.parametrize(
    ("argv", "instead"),
    [
        (["start", "flows:total", "--input", "{given}"], "--input - < {given}"),
        (["run", "flows:total", "--input", "{given}"], "--input - < {given}"),
        (["callback", "succeed", "c" * 48, "{given}"], "succeed ID - < {given}"),
    ],
)
@pytest.mark.parametrize("given", ["order.json", "@order.json"])
def test_a_file_name_given_for_json_says_how_to_send_what_it_holds(
    workdir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    instead: str,
    given: str,
) -> None:
    # `--input order.json` (or curl's `@order.json`): the advice was to send the file's name
    # as a JSON string, '"order.json"', which would record the name instead of the order.
    monkeypatch.chdir(workdir)
    monkeypatch.syspath_prepend(str(workdir))
    monkeypatch.delenv("DURABLE_GEN_DB", raising=False)
    (workdir / "order.json").write_text('{"id": "o-1"}\n')
    assert main(["start", "flows:total", "--input", "1"]) == 0  # the database the callback's in
    capsys.readouterr()
    code = main([arg.format(given=given) for arg in argv])
    done = capsys.readouterr()
    assert code == 2 and done.out == "", done
    assert "is a file here" in done.err, done.err
    assert instead.format(given="order.json") in done.err
    assert "'\"order.json\"'" not in done.err and "'\"@order.json\"'" not in done.err


def _on_a_terminal(workdir: Path, argv: list[str], term: str) -> tuple[int, bytes]:
    """``durable-gen ARGV`` with a pseudo-terminal for its stdin, stdout and stderr."""
    import pty

    env = {k: v for k, v in os.environ.items() if k != "DURABLE_GEN_DB"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(workdir), env.get("PYTHONPATH")]))
    env["TERM"] = term
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "durable_gen.cli", *argv],
        cwd=workdir,
        env=env,
        stdin=follower,
        stdout=follower,
        stderr=follower,
    )
    os.close(follower)
    shown = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # EIO: the process closed its end
            break
        if not chunk:
            break
        shown += chunk
    os.close(leader)
    return proc.wait(timeout=60), shown


def test_run_draws_no_live_line_on_a_dumb_terminal(workdir: Path) -> None:
    # TERM=dumb (Emacs' shell, some CI consoles) is a terminal that knows no `\x1b[K`: each
    # redraw of the live line printed as `^[[K`, a new line of it every tenth of a second.
    (workdir / "napping.py").write_text(
        "import time\nimport durable_gen as dg\n\n\n@dg.step\ndef nap(s):\n"
        "    time.sleep(s)\n    return s\n\n\n@dg.workflow\ndef napping(s):\n"
        "    return (yield nap(s))\n"
    )
    argv = ["run", "napping:napping", "--input", "0.5"]
    code, shown = _on_a_terminal(workdir, argv, "dumb")
    assert code == 0 and shown.strip() == b"0.5", shown
    code, shown = _on_a_terminal(workdir, [*argv, "--db", "other.db"], "xterm")
    assert code == 0 and b"\x1b[K" in shown and b"running" in shown, shown


@pytest.mark.parametrize("command", ["start", "run"])
@pytest.mark.parametrize(
    "mistake",
    [["flows:total", "--input", "bad"], ["flows:nope"], ["flows:total", "--input", "[NaN]"]],
    ids=["bad-json", "no-such-workflow", "nan"],
)
def test_a_refused_start_leaves_no_empty_database_at_a_mistyped_db(
    workdir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: str,
    mistake: list[str],
) -> None:
    # A refused start created the (mistyped) database first: `list --db` on it then said
    # "no executions" rather than that no database is there.
    monkeypatch.chdir(workdir)
    monkeypatch.syspath_prepend(str(workdir))
    monkeypatch.delenv("DURABLE_GEN_DB", raising=False)
    assert main([command, *mistake, "--db", "prod-typo.db"]) == 2
    assert not list(workdir.glob("prod-typo.db*"))
    capsys.readouterr()
    assert main(["list", "--db", "prod-typo.db"]) == 2
    assert "no database at prod-typo.db" in capsys.readouterr().err
