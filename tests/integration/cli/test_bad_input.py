"""``durable-gen`` given bad input: every mistake is one line on stderr, never a traceback, with
the documented exit status (2 a usage error, 1 a runtime failure, 3 suspended), and nothing
that was recorded is lost."""

from __future__ import annotations

import json
import re
import sqlite3
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

Cli = Callable[..., Any]

HOSTILE = textwrap.dedent(
    """
    import durable_gen as dg

    ESC = "\\x1b[2J\\x1b[31mred\\x07\\r\\nsecond line\\u202e"


    @dg.step(retry=dg.Retry.never())
    def explode():
        raise RuntimeError("boom" + ESC)


    @dg.workflow
    def hostile(_):
        yield explode()


    @dg.workflow
    def hostile_result(_):
        return "ok" + ESC
        yield


    async def not_a_generator(x):
        return x


    def no_input():
        yield dg.Wait(seconds=1)


    def two_inputs(a, b):
        yield dg.Wait(seconds=1)
    """
)


@pytest.fixture
def more(workdir: Path) -> Path:
    (workdir / "hostile.py").write_text(HOSTILE)
    (workdir / "broken.py").write_text("def wf(:\n    pass\n")
    (workdir / "raising.py").write_text("raise RuntimeError('configuration missing')\n")
    (workdir / "notadb.db").write_text("this is not a database\n" * 100)
    return workdir


NEEDS_DB = "needs-db"

#: (case, arguments, exit status, a fragment of the one error line, whether a database exists)
CASES: list[tuple[str, list[str], int, str, bool]] = [
    # the command line itself
    ("no-command", [], 2, "required: COMMAND", False),
    ("unknown-command", ["launch"], 2, "invalid choice: 'launch'", False),
    ("lock-timeout-zero", ["list", "--lock-timeout", "0"], 2, "must be positive", False),
    ("lock-timeout-text", ["list", "--lock-timeout", "soon"], 2, "not a number", False),
    # importing the workflow
    ("relative-module", ["run", ".mod:wf"], 2, "names a relative module", False),
    ("relative-parent", ["start", "..flows:total"], 2, "names a relative module", False),
    ("no-colon", ["run", "flows"], 2, "MODULE:FUNCTION", False),
    ("no-function", ["run", "flows:"], 2, "MODULE:FUNCTION", False),
    ("no-module", ["run", ":total"], 2, "MODULE:FUNCTION", False),
    ("missing-module", ["run", "nosuchmodule:wf"], 2, "cannot import module 'nosuchmodule'", False),
    ("missing-attribute", ["run", "flows:nosuch"], 2, "has no attribute 'nosuch'", False),
    ("syntax-error", ["run", "broken:wf"], 2, "SyntaxError", False),
    ("module-raises", ["run", "raising:wf"], 2, "RuntimeError: configuration missing", False),
    ("plain-function", ["run", "flows:double"], 2, "flows:double is not a workflow", False),
    ("a-step-not-a-workflow", ["start", "flows:add"], 2, "is not a workflow", False),
    ("async-function", ["run", "hostile:not_a_generator"], 2, "only steps may be async", False),
    ("not-callable", ["run", "flows:dg"], 2, "is not a function", False),
    ("no-input-parameter", ["run", "hostile:no_input"], 2, "takes one positional argument", False),
    ("two-input-parameters", ["start", "hostile:two_inputs"], 2, "cannot be run with an", False),
    # starting options
    (
        "input-not-json",
        ["run", "flows:total", "--input", "{bad"],
        2,
        "--input is not valid JSON",
        False,
    ),
    ("input-nan", ["run", "flows:total", "--input", "NaN"], 2, "NaN is not a JSON value", False),
    (
        "input-infinity",
        ["run", "flows:total", "--input=-Infinity"],
        2,
        "-Infinity is not a JSON",
        False,
    ),
    ("input-nan-inside", ["start", "flows:total", "--input", "[1, NaN]"], 2, "no NaN", False),
    ("input-overflow", ["run", "flows:total", "--input", "1e999"], 2, "1e999 is too large", False),
    (
        "input-too-deep",
        ["run", "flows:total", "--input", "[" * 5000 + "]" * 5000],
        2,
        "too deeply",
        False,
    ),
    (
        "callback-result-nan",
        ["callback", "succeed", "cid", "NaN"],
        2,
        "the callback result is not valid JSON",
        True,
    ),
    ("input-missing", ["run", "flows:total", "--input"], 2, "expected one argument", False),
    (
        "timeout-zero",
        ["start", "flows:total", "--timeout", "0"],
        2,
        "--timeout: must be whole seconds",
        False,
    ),
    ("timeout-negative", ["start", "flows:total", "--timeout", "-5"], 2, "--timeout", False),
    (
        "timeout-fraction",
        ["start", "flows:total", "--timeout", "1.5"],
        2,
        "not a whole number",
        False,
    ),
    ("timeout-text", ["run", "flows:total", "--timeout", "soon"], 2, "not a whole number", False),
    (
        "timeout-over-a-year",
        ["start", "flows:total", "--timeout", "31622401"],
        2,
        "1..31622400",
        False,
    ),
    (
        "name-slash",
        ["start", "flows:total", "--name", "a/b"],
        2,
        "--name must be 1-64 characters",
        False,
    ),
    ("name-empty", ["start", "flows:total", "--name", ""], 2, "--name must be", False),
    ("name-too-long", ["start", "flows:total", "--name", "n" * 65], 2, "--name must be", False),
    ("name-space", ["run", "flows:total", "--name", "my order"], 2, "--name must be", False),
    # the database
    ("no-database", ["show", "abc"], 2, "no database at durable.db", False),
    ("db-missing-folder", ["list", "--db", "no/such/dir/x.db"], 2, "no database at", False),
    ("db-missing-sqlite-url", ["list", "--db", "sqlite:///nosuch.db"], 2, "no database at", False),
    ("db-before-command", ["--db", "x.db", "list"], 2, "options go after the command", False),
    (
        "lock-timeout-before-command",
        ["--lock-timeout", "3", "list"],
        2,
        "options go after the command: durable-gen list --lock-timeout",
        False,
    ),
    ("quiet-before-command", ["-q", "worker"], 2, "options go after the command", False),
    (
        "db-missing-sqlite-url-callback",
        ["callback", "succeed", "--db", "sqlite:////tmp/no/such.db", "cid", "1"],
        2,
        "no database at",
        False,
    ),
    (
        "db-is-a-folder",
        ["start", "flows:total", "--db", "."],
        2,
        ". is a folder (from --db)",
        False,
    ),
    ("db-not-sqlite", ["list", "--db", "notadb.db"], 1, "StoreError", False),
    ("list-bad-status", ["list", "--status", "DONE"], 2, "invalid choice: 'DONE'", True),
    ("show-unknown", ["show", "zzz"], 2, "no execution matches 'zzz'", True),
    ("show-no-id", ["show"], 2, "required: id", True),
    ("history-unknown", ["history", "zzz"], 2, "no execution matches", True),
    ("stop-unknown", ["stop", "zzz"], 2, "no execution matches", True),
    (
        "html-unwritable",
        ["show", "seeded", "--html", "no/such/dir/t.html"],
        2,
        "cannot write",
        True,
    ),
    ("empty-id-show", ["show", ""], 2, "the execution ID is empty", True),
    ("empty-id-stop", ["stop", " "], 2, "the execution ID is empty", True),
    # callbacks
    ("callback-bad-action", ["callback", "cancel", "cid"], 2, "invalid choice: 'cancel'", True),
    ("callback-no-id", ["callback", "succeed"], 2, "required: callback_id", True),
    (
        "callback-bad-json",
        ["callback", "succeed", "cid", "{bad"],
        2,
        "the callback result is not valid JSON",
        True,
    ),
    (
        "callback-unknown-succeed",
        ["callback", "succeed", "nosuch", "1"],
        1,
        "UnknownCallbackError",
        True,
    ),
    (
        "callback-unknown-fail",
        ["callback", "fail", "nosuch", "no"],
        1,
        "UnknownCallbackError",
        True,
    ),
    (
        "callback-fail-unknown-keys",
        ["callback", "fail", "nosuch", '{"errorType": "Rejected", "errorMessage": "over"}'],
        2,
        "a failure object takes the keys ErrorData, ErrorMessage, ErrorType, StackTrace",
        True,
    ),
    (
        "callback-fail-bad-value",
        ["callback", "fail", "nosuch", '{"ErrorType": 5}'],
        2,
        "bad failure object",
        True,
    ),
    (
        "callback-unknown-heartbeat",
        ["callback", "heartbeat", "nosuch"],
        1,
        "UnknownCallbackError",
        True,
    ),
    (
        "callback-heartbeat-with-payload",
        ["callback", "heartbeat", "nosuch", '"approved"'],
        2,
        "callback heartbeat takes no PAYLOAD",
        True,
    ),
    (
        "callback-fail-over-32k",
        ["callback", "fail", "nosuch", "x" * 40_000],
        1,
        "PayloadTooLargeError: the callback failure is 40",
        True,
    ),
    # text that is not UTF-8 (bytes the shell passed through), or JSON that is not Unicode
    (
        "input-not-utf8",
        ["run", "flows:total", "--input", '"\udcff"'],
        2,
        "--input is not UTF-8 text",
        False,
    ),
    (
        "input-lone-surrogate",
        ["run", "flows:total", "--input", '"\\ud800"'],
        2,
        "lone surrogate escape",
        False,
    ),
    (
        "name-not-utf8",
        ["start", "flows:total", "--name", "a\udcff"],
        2,
        "--name is not UTF-8",
        False,
    ),
    (
        "callback-id-not-utf8",
        ["callback", "succeed", "\udcff", "1"],
        2,
        "CALLBACK_ID is not UTF-8",
        True,
    ),
    (
        "callback-result-surrogate",
        ["callback", "succeed", "cid", '"\\udc80"'],
        2,
        "lone surrogate",
        True,
    ),
    (
        "callback-message-not-utf8",
        ["callback", "fail", "cid", "bad \udcff"],
        2,
        "PAYLOAD is not UTF-8",
        True,
    ),
    ("show-id-not-utf8", ["show", "\udcff"], 2, "ID is not UTF-8", True),
    (
        "register-not-utf8",
        ["worker", "--once", "--register", "x=fl\udcffows:a"],
        2,
        "--register is not UTF-8",
        False,
    ),
    # the worker
    ("worker-poll-zero", ["worker", "--once", "--poll", "0"], 2, "must be positive", False),
    ("worker-lease-negative", ["worker", "--once", "--lease", "-1"], 2, "must be positive", False),
    # NaN and infinity: a traceback (OverflowError/ValueError in the store), or a NaN poll
    ("worker-lease-inf", ["worker", "--once", "--lease", "inf"], 2, "and finite", False),
    ("worker-lease-nan", ["worker", "--once", "--lease", "nan"], 2, "and finite", False),
    ("worker-poll-nan", ["worker", "--once", "--poll", "nan"], 2, "and finite", False),
    ("lock-timeout-nan", ["list", "--lock-timeout", "nan"], 2, "and finite", False),
    (
        "register-no-equals",
        ["worker", "--once", "--register", "x"],
        2,
        "NAME=MODULE:FUNCTION",
        False,
    ),
    (
        "register-no-colon",
        ["worker", "--once", "--register", "x=flows"],
        2,
        "NAME=MODULE:FUNCTION",
        False,
    ),
    (
        "register-relative",
        ["worker", "--once", "--register", "x=..a:b"],
        2,
        "relative module",
        False,
    ),
    (
        "register-missing",
        ["worker", "--once", "--register", "x=nosuch:f"],
        2,
        "cannot import module",
        False,
    ),
    (
        "register-twice",
        ["worker", "--once", "--register", "x=flows:total", "--register", "x=flows:double"],
        2,
        "names 'x' twice",
        False,
    ),
    (
        "register-bad-name",
        ["worker", "--once", "--register", "bad name=flows:total"],
        2,
        "function name must be",
        False,
    ),
    (
        "worker-skip-time-with-concurrency",
        ["worker", "--once", "--skip-time", "--concurrency", "2"],
        2,
        "--skip-time moves one virtual clock, for one execution at a time: leave out --concurrency",
        False,
    ),
    (
        "register-syntax-error",
        ["worker", "--once", "--register", "x=broken:wf"],
        2,
        "SyntaxError",
        False,
    ),
    # runtime outcomes
    ("execution-fails", ["run", "flows:failing"], 1, "ExecutionFailedError", False),
    (
        "execution-waits",
        ["run", "flows:approval", "--input", "1"],
        3,
        "is suspended, waiting on",
        False,
    ),
]


#: A failed step attempt, logged at WARNING on ``durable_gen.steps`` before the verdict.
_STEP_LOG = re.compile(r"^step '.*' attempt \d+ failed: ")


def _one_line(err: str) -> str:
    assert "Traceback" not in err, err
    lines = [line for line in err.strip().splitlines() if not _STEP_LOG.match(line)]
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize(
    ("args", "code", "fragment", "needs_db"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_a_mistake_is_one_line_and_the_documented_status(
    cli: Cli, more: Path, args: list[str], code: int, fragment: str, needs_db: bool
) -> None:
    if needs_db:
        assert cli("start", "flows:total", "--input", "1", "--name", "seeded").code == 0
    result = cli(*args)
    assert result.code == code, result
    line = _one_line(result.err)
    assert fragment in line, line
    assert line.startswith("durable-gen"), line
    if needs_db:
        # Nothing recorded was lost: the execution started above is still there.
        listing = cli("list", "--json")
        assert listing.code == 0 and len(json.loads(listing.out)) == 1


def test_the_case_names_are_unique() -> None:
    names = [case[0] for case in CASES]
    assert len(names) == len(set(names))


def test_a_plain_function_leaves_no_trace_in_the_database(cli: Cli, workdir: Path) -> None:
    assert cli("start", "flows:total").code == 0
    assert cli("run", "flows:double", "--input", "2").code == 2
    with sqlite3.connect(workdir / "durable.db") as conn:
        names = {row[0] for row in conn.execute("SELECT function_name FROM executions")}
    conn.close()
    assert names == {"flows.total"}


# --- a locked database --------------------------------------------------------------------------


def test_worker_once_on_a_locked_database_fails_and_loses_nothing(cli: Cli, workdir: Path) -> None:
    started = cli("start", "flows:total", "--input", "3")
    assert started.code == 0
    holder = sqlite3.connect(workdir / "durable.db", isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        blocked = cli("worker", "--once", "--lock-timeout", "0.2")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert blocked.code == 1, blocked
    line = _one_line(blocked.err)
    assert "Store" in line and "Error" in line and "is locked" in line and "retrying" not in line
    # Once the lock is gone the same command does the work: nothing was lost or half-done.
    assert cli("worker", "--once", "--skip-time").code == 0
    shown = cli("show", started.out.strip())
    assert "status    SUCCEEDED" in shown.out, shown


# --- text from the database, on a terminal ------------------------------------------------------


RAW = ("\x1b", "\x07", "\r", "\u202e")


def _harmless(text: str) -> None:
    for char in RAW:
        assert char not in text, (char, text)


def test_stored_text_is_printed_with_control_characters_escaped(cli: Cli, more: Path) -> None:
    failed = cli("run", "hostile:hostile")
    assert failed.code == 1
    _harmless(failed.err)
    line = _one_line(failed.err)
    assert "boom\\x1b[2J\\x1b[31mred\\x07\\r\\nsecond line\\u202e" in line

    ok = cli("run", "hostile:hostile_result")
    assert ok.code == 0 and json.loads(ok.out).startswith("ok\x1b")  # JSON keeps the value

    listing = cli("list")
    _harmless(listing.out)
    failed_id = next(
        row.split()[0] for row in listing.out.splitlines() if "FAILED" in row.split()[1:2]
    )
    shown = cli("show", failed_id)
    assert shown.code == 0, shown
    _harmless(shown.out)
    # the execution's error and the step's, escaped
    assert shown.out.count("boom\\x1b[2J\\x1b[31mred\\x07\\r\\nsecond line") == 2
    history = cli("history", failed_id)
    assert history.code == 0 and "StepFailed" in history.out
    _harmless(history.out)
    # The JSON forms are JSON: they escape by themselves and keep the exact text.
    events = json.loads(cli("history", failed_id, "--json").out)["Events"]
    assert any("boom\x1b[2J" in text for text in _strings(events))


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list):
        return [text for item in value for text in _strings(item)]
    return []


def test_a_callback_failure_message_is_shown_escaped(cli: Cli, workdir: Path) -> None:
    started = cli("start", "flows:approval", "--input", "1")
    assert cli("worker", "--once").code == 0
    shown = cli("show", started.out.strip())
    callback_id = shown.out.split("CallbackId ")[1].split(")")[0].split()[0].rstrip(",")
    sent = cli("callback", "fail", callback_id, "denied\x1b]0;owned\x07")
    assert sent.code == 0, sent
    assert cli("worker", "--once").code == 0
    shown = cli("show", started.out.strip())
    _harmless(shown.out)
    assert "denied\\x1b]0;owned\\x07" in shown.out


def test_a_worker_skips_a_remembered_workflow_whose_module_now_fails(
    cli: Cli, workdir: Path
) -> None:
    started = cli("start", "flows:total", "--input", "2")
    assert started.code == 0
    good = (workdir / "flows.py").read_text()
    (workdir / "flows.py").write_text("raise RuntimeError('half-deployed')\n" + good)
    ran = cli("worker", "--once")
    assert ran.code == 0, ran
    assert "not serving 'flows.total'" in ran.err and "half-deployed" in ran.err
    assert "Traceback" not in ran.err
    # The execution waits for a worker that can import it, and then finishes.
    (workdir / "flows.py").write_text(good)
    assert cli("worker", "--once", "--skip-time").code == 0
    assert "status    SUCCEEDED" in cli("show", started.out.strip()).out


def test_json_arguments_nest_at_most_500_levels_on_every_python_version() -> None:
    """How deep Python's json reads depends on its version (3.11 stops near 1,000 levels,
    3.13 goes on): the CLI holds every version to the same documented limit."""
    from durable_gen.cli import MAX_JSON_DEPTH, CliError, parse_json

    assert MAX_JSON_DEPTH == 500
    deepest = "[" * 500 + "]" * 500
    assert parse_json(deepest) is not None
    assert parse_json('{"a": ' * 499 + "[]" + "}" * 499) is not None
    for text in ("[" * 501 + "]" * 501, '{"a": ' * 500 + "[]" + "}" * 500, "[" * 9999 + "]" * 9999):
        with pytest.raises(CliError, match="more than 500 levels"):
            parse_json(text)
