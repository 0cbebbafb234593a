"""``durable-gen`` as an operator runs it, round 10: shapes the earlier files did not take.

Written from docs/cli.md and docs/engine.md: the reading commands on a Postgres database
that holds no durable_gen tables (a mistyped URL naming an existing database), a callback
failed by a script with part of an error (a type alone), a CallbackId given where an
execution's id goes, ``durable-gen migrate``, a Postgres URL or an OpenTelemetry plugin where
the optional package is not installed, and a ``--plugin`` value that is not UTF-8.
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
    import durable_gen as dg


    @dg.step
    def add(a, b):
        return a + b


    @dg.workflow
    def quick(n):
        x = yield add(n, 1)
        return {"x": x}


    @dg.workflow
    def approval(n):
        return (yield dg.WaitForCallback(lambda callback_id: None, name="approve"))


    @dg.workflow
    def approval_t(n):
        return (yield dg.WaitForCallback(lambda callback_id: None, name="approve", timeout=600))
    """
)


@pytest.fixture
def ops(workdir: Path) -> Path:
    (workdir / "ops.py").write_text(OPS)
    return workdir


def _tables(url: str) -> list[str]:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchall()
    return sorted(str(row[0]) for row in rows)


READING = [
    ("list",),
    ("list", "--json"),
    ("show", "abc"),
    ("history", "abc", "--json"),
    ("stop", "abc"),
    ("callback", "succeed", "abc", "1"),
]


def test_a_reading_command_on_a_postgres_database_without_tables_writes_none(
    cli: Cli, ops: Path, postgres_url: str
) -> None:
    # The URL of a database that exists but is not durable_gen's: the server's `postgres`
    # database, the application's own. As for a SQLite path with no file, nothing is taken
    # for an empty durable_gen database, and nothing is written into it.
    for command in READING:
        result = cli(*command, env={"DURABLE_GEN_DB": postgres_url})
        assert result.code == 2, (command, result)
        assert "no durable_gen database at postgresql://" in result.err, result.err
        assert "(from DURABLE_GEN_DB)" in result.err and "durable-gen start" in result.err
        assert len(result.err.strip().splitlines()) == 1, result.err
        assert _tables(postgres_url) == [], command


def test_the_tables_come_with_the_first_start_and_the_reading_commands_then_work(
    cli: Cli, ops: Path, postgres_url: str
) -> None:
    with_password = postgres_url.replace("://postgres@", "://postgres:s3cret@")
    assert with_password != postgres_url
    refused = cli("list", "--db", with_password)
    assert refused.code == 2 and "(from --db)" in refused.err, refused
    assert "s3cret" not in refused.err and "postgres:***@" in refused.err, refused.err
    assert _tables(postgres_url) == []
    started = cli("start", "ops:quick", "--input", "1", "--name", "q", "--db", postgres_url)
    assert started.code == 0, started
    assert "schema_version" in _tables(postgres_url)
    listed = cli("list", "--json", "--db", postgres_url)
    assert listed.code == 0, listed
    [record] = json.loads(listed.out)
    assert record["name"] == "q" and record["status"] == "RUNNING"
    assert cli("worker", "--once", "-q", "--db", postgres_url).code == 0
    shown = cli("show", "q", "--db", postgres_url)
    assert shown.code == 0 and "SUCCEEDED" in shown.out, shown


def _callback_id(cli: Cli, ref: str) -> str:
    events = json.loads(cli("history", ref, "--json").out)["Events"]
    [cid] = [
        e["CallbackStartedDetails"]["CallbackId"]
        for e in events
        if e["EventType"] == "CallbackStarted"
    ]
    return str(cid)


@pytest.mark.parametrize(
    ("failure", "reads", "logged"),
    [
        ('{"ErrorType": "Denied"}', "Denied", "Denied"),
        (
            '{"ErrorData": "{\\"ticket\\": 7}"}',
            "no error type or message recorded",
            "CallbackFailedError",
        ),
    ],
)
def test_a_callback_failed_with_part_of_an_error_reads_without_none(
    failure: str, reads: str, logged: str, cli: Cli, ops: Path
) -> None:
    # A script fails a callback with an error type alone (or a message alone): what the
    # operator reads names what was sent, never "None" for what was not.
    cli("start", "ops:approval", "--input", "1", "--name", "ask")
    assert cli("worker", "--once", "-q").code == 0
    sent = cli("callback", "fail", _callback_id(cli, "ask"), failure)
    assert sent.code == 0, sent
    resumed = cli("worker", "--once")
    assert resumed.code == 0, resumed
    assert f"FAILED: {logged} in " in resumed.err, resumed.err  # the worker's line
    shown = cli("show", "ask")
    assert "None" not in shown.out, shown.out
    [row] = [line for line in shown.out.splitlines() if "approve create callback id" in line]
    assert row.rstrip().endswith(f"\u2717 {reads}"), row
    [record] = json.loads(cli("list", "--json").out)
    assert record["status"] == "FAILED"
    assert "None" not in json.dumps(record["error"])  # JSON keeps null as null


def test_run_says_what_a_callback_failed_with_a_type_alone_failed_with(
    cli: Cli, ops: Path, workdir: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DURABLE_GEN_DB"}
    env["PYTHONPATH"] = str(workdir)
    run = subprocess.Popen(
        [sys.executable, "-m", "durable_gen.cli", "run", "ops:approval_t", "--name", "t"],
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:  # until run has recorded the callback
            history = cli("history", "t", "--json")
            if history.code == 0 and "CallbackStarted" in history.out:
                break
            assert time.monotonic() < deadline, history
            time.sleep(0.2)
        assert cli("callback", "fail", _callback_id(cli, "t"), '{"ErrorType": "Denied"}').code == 0
        out, err = run.communicate(timeout=30)
    finally:
        run.kill()
        run.wait()
    assert run.returncode == 1, (out, err)
    assert err.splitlines()[-1] == "durable-gen: ExecutionFailedError: execution failed: Denied"


def test_a_callback_id_given_for_an_execution_names_its_execution(cli: Cli, ops: Path) -> None:
    execution = cli("start", "ops:approval", "--input", "1", "--name", "ask").out.strip()
    assert cli("worker", "--once", "-q").code == 0
    cid = _callback_id(cli, "ask")
    for command in ("show", "history", "stop"):
        result = cli(command, cid)
        assert result.code == 2, result
        assert f"{cid!r} is a CallbackId, not an execution" in result.err, result.err
        assert f"its execution is {execution} (give that id)" in result.err, result.err
        assert f"durable-gen callback succeed {cid} " in result.err, result.err
    assert json.loads(cli("list", "--json").out)[0]["status"] == "RUNNING"  # stop did nothing
    # a prefix of a CallbackId is nothing: no lookup by prefix among callbacks
    assert "no execution matches" in cli("show", cid[:8]).err


@pytest.mark.parametrize("args", [("migrate",), ("migrate", "--db", "app.db")])
def test_migrate_says_that_opening_the_database_upgrades_it(
    args: tuple[str, ...], cli: Cli, ops: Path
) -> None:
    result = cli(*args)
    assert result.code == 2, result
    assert "there is no migrate command" in result.err
    assert "durable-gen list --db DB" in result.err and "restart the workers" in result.err
    assert len(result.err.strip().splitlines()) == 1
    assert not (ops / "app.db").exists() and not (ops / "durable.db").exists()


#: ``durable-gen ARGS`` in a Python where psycopg cannot be imported (a plain ``pip install
#: durable-gen``, without the postgres extra).
WITHOUT_PSYCOPG = (
    "import sys\n"
    "sys.modules['psycopg'] = sys.modules['psycopg_pool'] = None\n"
    "from durable_gen.cli import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)


@pytest.mark.parametrize(
    "args",
    [
        ("list",),
        ("start", "ops:quick", "--input", "1"),
        ("run", "ops:quick", "--input", "1"),
        ("worker", "--once"),
    ],
    ids=lambda a: a[0],
)
def test_a_postgres_url_without_psycopg_installed_is_one_line_naming_the_extra(
    args: tuple[str, ...], ops: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DURABLE_GEN_DB"}
    env["PYTHONPATH"] = str(ops)
    env["DURABLE_GEN_DB"] = "postgresql://app@127.0.0.1:5/durable"  # never reached
    proc = subprocess.run(
        [sys.executable, "-c", WITHOUT_PSYCOPG, *args],
        cwd=ops,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1, proc
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "durable-gen: error: PostgresStore needs psycopg 3 and psycopg_pool: "
        "pip install 'durable-gen[postgres]'"
    ]


OTEL = "durable_gen.otel:OpenTelemetryPlugin"


def test_a_plugin_whose_extra_is_not_installed_says_what_to_install(ops: Path) -> None:
    # A plugin class that needs a package this environment lacks (here opentelemetry, made
    # unimportable): the fix is an install, not another MODULE:ATTR.
    script = (
        "import sys\n"
        "sys.modules['opentelemetry'] = None\n"
        "from durable_gen.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "DURABLE_GEN_DB"}
    env["PYTHONPATH"] = str(ops)
    proc = subprocess.run(
        [sys.executable, "-c", script, "run", "ops:quick", "--input", "1", "--plugin", OTEL],
        cwd=ops,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2, proc
    [line] = proc.stderr.strip().splitlines()
    assert "pip install 'durable-gen[otel]'" in line, line
    assert "point --plugin at" not in line, line
    assert not (ops / "durable.db").exists()  # refused before anything was recorded


def test_a_plugin_spec_that_is_not_utf8_is_named_as_the_option(ops: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DURABLE_GEN_DB"}
    env["PYTHONPATH"] = str(ops)
    proc = subprocess.run(
        [sys.executable, "-m", "durable_gen.cli", "run", "ops:quick", "--plugin", b"app\xff:x"],
        cwd=ops,
        env=env,
        capture_output=True,
        timeout=60,
    )
    assert proc.returncode == 2, proc
    assert proc.stderr.decode().startswith("durable-gen: error: --plugin is not UTF-8 text"), proc


def test_the_text_of_a_failure_leaves_out_what_was_not_recorded() -> None:
    from durable_gen import ExecutionFailedError
    from durable_gen._errors import failure_text

    assert failure_text("Denied", "over budget") == "Denied: over budget"
    assert failure_text("Denied", None) == "Denied"
    assert failure_text(None, "over budget") == "over budget"
    assert failure_text(None, "") == "no error type or message recorded"
    assert str(ExecutionFailedError("Denied", None)) == "execution failed: Denied"


def test_a_link_to_a_database_on_a_volume_not_mounted_says_so(cli: Cli, ops: Path) -> None:
    (ops / "durable.db").symlink_to(ops / "data" / "durable.db")  # `data` is not mounted
    for command in (("worker", "--once"), ("start", "ops:quick", "--input", "1")):
        result = cli(*command)
        assert result.code == 1, result
        assert "it is a symbolic link to " in result.err, result.err
        assert f"whose folder {ops / 'data'} does not exist (a volume not mounted?)" in result.err
        assert len(result.err.strip().splitlines()) == 1
    assert not (ops / "data").exists()


def test_a_database_created_through_a_link_is_the_owners_alone(cli: Cli, ops: Path) -> None:
    (ops / "data").mkdir()
    (ops / "durable.db").symlink_to(ops / "data" / "durable.db")
    assert cli("start", "ops:quick", "--input", "1", "--name", "q").code == 0
    created = ops / "data" / "durable.db"
    assert created.stat().st_mode & 0o777 == 0o600  # as any new database
    assert cli("worker", "--once", "-q").code == 0
    assert json.loads(cli("list", "--json").out)[0]["status"] == "SUCCEEDED"


def _with_stdin(ops: Path, stdin: bytes | None, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "DURABLE_GEN_DB"}
    env["PYTHONPATH"] = str(ops)
    return subprocess.run(
        [sys.executable, "-m", "durable_gen.cli", *args],
        cwd=ops,
        env=env,
        input=stdin.decode() if stdin is not None else None,
        stdin=subprocess.DEVNULL if stdin is None else None,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_an_input_longer_than_a_command_line_is_read_from_standard_input(ops: Path) -> None:
    # Linux takes at most 128 KiB in one argument: a 200 KiB input comes through a pipe
    (ops / "bulk.py").write_text(
        "import durable_gen as dg\n\n@dg.workflow\ndef size(order):\n"
        "    yield dg.Wait(seconds=1)\n    return len(order['lines'])\n"
    )
    order = {"lines": ["x" * 100] * 2000}
    text = json.dumps(order)
    assert len(text) > 200_000
    ran = _with_stdin(
        ops, (text + "\n").encode(), "run", "bulk:size", "--input", "-", "--skip-time"
    )
    assert ran.returncode == 0, ran
    assert json.loads(ran.stdout) == 2000
    started = _with_stdin(ops, text.encode(), "start", "bulk:size", "--input", "-", "--name", "b")
    assert started.returncode == 0, started
    again = _with_stdin(ops, text.encode(), "start", "bulk:size", "--input", "-", "--name", "b")
    assert again.stdout == started.stdout  # the same input: the same execution
    [record] = [
        r for r in json.loads(_with_stdin(ops, None, "list", "--json").stdout) if r["name"] == "b"
    ]
    assert json.loads(record["input"]) == order
    empty = _with_stdin(ops, b"", "start", "bulk:size", "--input", "-")
    assert empty.returncode == 2, empty
    assert "standard input is empty: --input - reads the workflow input" in empty.stderr
    bad = _with_stdin(ops, b"{oops", "start", "bulk:size", "--input", "-")
    assert bad.returncode == 2 and "--input is not valid JSON" in bad.stderr, bad


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ("kid-fn=ops:nosuch", "module 'ops' has no attribute 'nosuch'"),
        ("kid-fn=nomodule:kid", "cannot import module 'nomodule'"),
    ],
)
def test_a_register_that_cannot_be_imported_names_the_option(
    spec: str, says: str, cli: Cli, ops: Path
) -> None:
    for command in (("worker", "--once"), ("run", "ops:quick", "--input", "1")):
        result = cli(*command, "--register", spec)
        assert result.code == 2, result
        assert result.err.strip() == f"durable-gen: error: --register {spec}: {says}" or (
            result.err.startswith(f"durable-gen: error: --register {spec}: {says}")
        ), result.err
    assert not (ops / "durable.db").exists()  # refused before any database was made
