"""``durable-gen`` as a new user runs it, round 11: the pages followed literally.

Written from README.md and docs/cli.md: the session transcript run as shown (its module, its
commands, the lines they print), the commands ``run`` prints for a database named by a
relative path carried out from another folder, a Postgres URL whose password holds
characters a URL reserves (or is given as a ``password=`` parameter) in every error line,
the options each ``--help`` gives against the page's list, and what a user tries next: an
answer to a callback that has ended, a ``stop`` given twice, a command of another tool's name
(``export``, ``timeline``), a worker on a mistyped ``--db``, the Quick start's command from
another folder, and JSON the shell took the quotes of.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

Cli = Callable[..., Any]

ROOT = Path(__file__).resolve().parents[3]

APPROVAL = textwrap.dedent(
    """
    import durable_gen as dg


    @dg.workflow
    def approval(n):
        answer = yield dg.WaitForCallback(lambda callback_id: None, name="approve")
        return {"n": n, "answer": answer}
    """
)


def _session() -> tuple[str, list[str]]:
    """cli.md's "A session": the module it runs and its console transcript's lines."""
    page = (ROOT / "docs" / "cli.md").read_text()
    section = page.split("## A session", 1)[1].split("\n## ", 1)[0]
    (module,) = re.findall(r"^```python\n(.*?)^```", section, re.S | re.M)
    (console,) = re.findall(r"^```console\n(.*?)^```", section, re.S | re.M)
    return module, console.strip().splitlines()


def _pattern(line: str) -> str:
    """A transcript line as a regex: ids, clock times and durations stand for any."""
    text = re.escape(line)
    text = text.replace(re.escape("5f0c2b1e-8d7a-4c55-9a51-0f5e3c1d2a77"), "[0-9a-f-]{36}")
    text = text.replace(re.escape("9b1f..."), "[0-9a-f]{32,}")
    text = re.sub(r"\d\d:\d\d:\d\d", r"\\d\\d:\\d\\d:\\d\\d", text)
    text = re.sub(r"in\\ \d+\\ ms", r"in\\ \\d+\\ ms", text)
    return text


def _matches(expected: list[str], printed: list[str]) -> bool:
    """Whether ``printed`` is ``expected`` line for line, a ``...`` line standing for any."""
    pattern = "".join(
        "(?:[^\n]*\n)*?" if line.strip() == "..." else _pattern(line) + "\n" for line in expected
    )
    return re.fullmatch(pattern, "".join(f"{line}\n" for line in printed)) is not None


def test_the_session_of_cli_md_prints_what_the_page_shows(tmp_path: Path) -> None:
    module, lines = _session()
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "flows.py").write_text(module)
    env = {k: v for k, v in os.environ.items() if k != "DURABLE_GEN_DB"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(tmp_path), env.get("PYTHONPATH")]))
    steps: list[tuple[str, list[str]]] = []
    for line in lines:
        if line.startswith("$ "):
            steps.append((line[2:], []))
        else:
            steps[-1][1].append(line)
    execution = callback = ""
    for command, expected in steps:
        argv = shlex.split(command)[1:]
        argv = [execution[:4] if a == "5f0c" else callback if a == "9b1f..." else a for a in argv]
        done = subprocess.run(
            [sys.executable, "-m", "durable_gen.cli", *argv],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, (command, done)
        printed = (done.stdout + done.stderr).splitlines()
        assert _matches(expected, printed), (command, expected, printed)
        if argv[0] == "start":
            execution = done.stdout.strip()
        found = re.search(r"CallbackId ([0-9a-f]+)", done.stdout)
        if found:
            callback = found.group(1)
    assert execution and callback
    assert (tmp_path / "order.html").is_file()


def test_the_commands_run_prints_for_a_relative_db_work_from_another_folder(
    tmp_path: Path,
) -> None:
    project, other = tmp_path / "project", tmp_path / "home"
    (project / "data").mkdir(parents=True)
    other.mkdir()
    (project / "ops.py").write_text(APPROVAL)

    def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if k != "DURABLE_GEN_DB"}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(project), env.get("PYTHONPATH")]))
        return subprocess.run(
            [sys.executable, "-m", "durable_gen.cli", *args],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    for given in ("data/app.db", "sqlite:///data/url.db"):
        waiting = cli("run", "ops:approval", "--input", "1", "--db", given, cwd=project)
        assert waiting.returncode == 3, waiting
        commands = re.findall(r"`(durable-gen [^`]*)`", waiting.stderr)
        succeed = next(c for c in commands if " callback succeed " in c)
        resume = next(c for c in commands if c.startswith("durable-gen worker"))
        # another terminal opens in another folder: the commands carry the whole path
        answer = [a if a != "RESULT_JSON" else '"yes"' for a in shlex.split(succeed)[1:]]
        answered = cli(*answer, cwd=other)
        assert answered.returncode == 0, (succeed, answered)
        resumed = cli(*shlex.split(resume)[1:], "--once", "-q", cwd=other)
        assert resumed.returncode == 0, (resume, resumed)
        listed = cli("list", "--db", given, "--status", "SUCCEEDED", cwd=project)
        assert listed.returncode == 0 and "ops.approval" in listed.stdout, listed
    assert list(other.iterdir()) == []  # no empty database was made where they ran


@pytest.mark.parametrize(
    ("url", "secret", "code", "says"),
    [
        # libpq reads a password= parameter as the password: it is one, and is hidden so
        ("postgresql://me@127.0.0.1:1/db?password=s3cret", "s3cret", 1, "password=***"),
        # an '@' or '/' as is in a password: libpq would split the URL there
        ("postgresql://me:p@ss@127.0.0.1:1/db", "p@ss", 2, "%40 for '@'"),
        ("postgresql://me:pa/ss@127.0.0.1:1/db", "pa/ss", 2, "%2F for '/'"),
        ("postgresql://me:p%40ss@127.0.0.1:1/db?sslmode=nope", "p%40ss", 2, "sslmode"),
    ],
)
def test_a_postgres_password_is_in_no_error_line(
    cli: Cli, url: str, secret: str, code: int, says: str
) -> None:
    pytest.importorskip("psycopg")
    done = cli("list", "--db", url, "--lock-timeout", "1")
    assert done.code == code, done
    assert secret not in done.err and secret.split("@")[-1] + "@" not in done.err, done.err
    assert says in done.err and "Traceback" not in done.err, done.err


def test_redact_hides_every_form_of_password_and_keeps_the_rest() -> None:
    from durable_gen.local._postgres import redact

    shown = {
        "postgresql://me:p?ss@h/db": "postgresql://me:***@h/db",
        "postgresql://me:a:b@h:5432/db": "postgresql://me:***@h:5432/db",
        "postgresql://h/db?user=me&password=x%20y&sslmode=require": (
            "postgresql://h/db?user=me&password=***&sslmode=require"
        ),
        "postgresql://h:5432/db?user=a@b": "postgresql://h:5432/db?user=a@b",
        "postgresql://h1:5432,h2:5433/db": "postgresql://h1:5432,h2:5433/db",
        "postgresql://me@h/db": "postgresql://me@h/db",
    }
    assert {url: redact(url) for url in shown} == shown


def test_what_a_user_tries_next_on_ended_callbacks_and_stops(cli: Cli, workdir: Path) -> None:
    (workdir / "ops.py").write_text(APPROVAL)
    assert cli("run", "ops:approval", "--input", "1", "--name", "a").code == 3
    [cid] = re.findall(r"CallbackId ([0-9a-f]+)", cli("show", "a").out)
    assert cli("callback", "succeed", cid, '"yes"').code == 0
    again = cli("callback", "succeed", cid, '"yes"')
    assert again.code == 1 and "already ended (SUCCEEDED)" in again.err, again
    assert cli("worker", "--once", "-q").code == 0
    late = cli("callback", "fail", cid, "no")
    assert late.code == 1 and "already ended" in late.err, late
    # stop on an ended execution changes nothing, twice
    for _ in range(2):
        stopped = cli("stop", "a")
        assert stopped.code == 0 and stopped.out.endswith(": SUCCEEDED\n"), stopped
    # a second run of the same name and input gives the first one's result
    rerun = cli("run", "ops:approval", "--input", "1", "--name", "a")
    assert rerun.code == 0 and rerun.out.strip() == '{"n": 1, "answer": "yes"}', rerun


def _synopsis() -> dict[str, set[str]]:
    """cli.md's list of commands: the options each one shows."""
    page = (ROOT / "docs" / "cli.md").read_text()
    block = page.split("## Commands", 1)[1].split("```console\n", 1)[1].split("```", 1)[0]
    shown: dict[str, set[str]] = {}
    for line in block.splitlines():
        command = line.split()[1]
        shown[command] = set(re.findall(r"\[(--[a-z-]+)", line))
    return shown


@pytest.mark.parametrize("command", sorted(_synopsis()))
def test_the_options_cli_md_lists_are_the_ones_help_gives(cli: Cli, command: str) -> None:
    helped = cli(command, "--help")
    assert helped.code == 0, helped
    usage = helped.out.split("\n\n", 1)[0]
    given = set(re.findall(r"\[(--[a-z-]+)", usage)) - {"--db", "--lock-timeout"}
    shown = _synopsis()[command]
    assert given == shown, (command, given ^ shown)


def test_the_help_says_what_skip_time_skips_and_what_a_bare_callback_sends(cli: Cli) -> None:
    for command in ("run", "worker"):
        helped = " ".join(cli(command, "--help").out.split())
        assert "timeouts" in helped and "times out at once" in helped, helped
    assert "only the executions with this status" in " ".join(cli("list", "--help").out.split())
    callback = " ".join(cli("callback", "--help").out.split())
    assert "succeed sends null" in callback and "failed from the CLI" in callback, callback


def test_the_answer_a_callback_id_given_for_an_execution_suggests_names_the_database(
    cli: Cli, workdir: Path
) -> None:
    (workdir / "ops.py").write_text(APPROVAL)
    (workdir / "data").mkdir()
    (workdir / "elsewhere").mkdir()
    assert cli("run", "ops:approval", "--input", "1", "--name", "a", "--db", "data/a.db").code == 3
    [cid] = re.findall(r"CallbackId ([0-9a-f]+)", cli("show", "a", "--db", "data/a.db").out)
    for given in (["--db", "data/a.db"], []):
        env = {} if given else {"DURABLE_GEN_DB": "data/a.db"}
        refused = cli("stop", cid, *given, env=env)
        assert refused.code == 2 and "is a CallbackId" in refused.err, refused
        [command] = re.findall(r"`(durable-gen callback succeed [^`]*)`", refused.err)
        assert f"--db {workdir / 'data' / 'a.db'} {cid}" in command, command
    # carried out as printed, from another folder and without the variable, it answers
    answer = [a if a != "RESULT_JSON" else '"yes"' for a in shlex.split(command)[1:]]
    done = subprocess.run(
        [sys.executable, "-m", "durable_gen.cli", *answer],
        cwd=workdir / "elsewhere",
        env={k: v for k, v in os.environ.items() if k != "DURABLE_GEN_DB"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done


@pytest.mark.parametrize(
    ("command", "instead"),
    [
        ("export", "durable-gen history ID --json > FILE"),
        ("timeline", "durable-gen show ID --html FILE"),
        ("status", "durable-gen show ID"),
        ("cancel", "durable-gen stop ID"),
    ],
)
def test_a_command_looked_for_under_another_name_names_the_one_to_use(
    cli: Cli, command: str, instead: str
) -> None:
    done = cli(command, "abc")
    assert done.code == 2 and done.out == "", done
    assert f"there is no {command} command" in done.err and instead in done.err, done.err
    assert len(done.err.splitlines()) == 1


def test_a_worker_on_a_database_that_was_not_there_says_it_created_it(
    cli: Cli, workdir: Path
) -> None:
    first = cli("worker", "--once", "-q", "--db", "typo.db")
    assert first.code == 0, first
    line = f"there was no database at {workdir / 'typo.db'}: created an empty one"
    assert line in first.err and "--db" in first.err and len(first.err.splitlines()) == 1
    again = cli("worker", "--once", "-q", "--db", "typo.db")  # it exists now: nothing to say
    assert again.code == 0 and again.err == "", again


def test_a_workflow_that_cannot_be_found_says_where_to_run_from_and_what_there_is(
    cli: Cli, workdir: Path
) -> None:
    # the Quick start's command from another folder than the repository's
    away = cli("run", "examples.order:place_order", "--input", "{}")
    assert away.code == 2, away
    assert "cannot import module 'examples.order'" in away.err
    assert f"run the command from the folder that holds it (the working directory, {workdir}" in (
        away.err
    )
    assert "PYTHONPATH" in away.err
    (workdir / "needs.py").write_text("import no_such_dependency_here\n")
    missing = cli("run", "needs:wf", "--input", "{}")
    assert missing.code == 2 and "it imports 'no_such_dependency_here'" in missing.err, missing
    assert "install it" in missing.err
    typo = cli("run", "flows:totl", "--input", "1")
    assert typo.code == 2 and "has no attribute 'totl'" in typo.err, typo
    assert "its workflows are " in typo.err and "total" in typo.err.split("its workflows are ")[1]


def test_json_that_the_shell_or_python_habits_spoiled_says_what_to_write(cli: Cli) -> None:
    bare = cli("start", "flows:total", "--input", "laptop")
    assert bare.code == 2 and "--input is not valid JSON" in bare.err, bare
    assert bare.err.rstrip().endswith("""single quotes: '"laptop"'"""), bare.err
    python = cli("start", "flows:total", "--input", "{'id': 1}")
    assert python.code == 2 and "JSON takes double quotes around strings and keys" in python.err
    assert cli("start", "flows:total", "--input", "1").code == 0  # the database to answer in
    answer = cli("callback", "succeed", "abc", "approved")
    assert answer.code == 2 and """'"approved"'""" in answer.err, answer
