"""``durable-gen`` end to end: every command run for real, against a SQLite file."""

from __future__ import annotations

import json
import re
import sqlite3
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from durable_gen.testing import replay

Cli = Callable[..., Any]

VOID = {"meta", "br", "img", "input", "link", "hr", "col", "area", "base", "wbr", "source"}


class Checker(HTMLParser):
    """Collects tag balance problems and the ids of elements."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.problems: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.ids.update(value for name, value in attrs if name == "id" and value)
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()


def one_line_error(result: object) -> None:
    code, err = result.code, result.err  # type: ignore[attr-defined]
    assert code != 0
    assert "Traceback" not in err
    # failed step attempts are logged (durable_gen.steps) before the one-line verdict
    lines = [
        x for x in err.strip().splitlines() if not re.match(r"step '.*' attempt \d+ failed: ", x)
    ]
    assert len(lines) == 1, err


def test_run_then_inspect(cli: Cli, workdir: Path) -> None:
    done = cli("run", "flows:total", "--input", "4")
    assert done.code == 0, done
    assert json.loads(done.out) == {"total": 6, "doubles": [2, 4, 6]}
    assert (workdir / "durable.db").exists()

    listing = cli("list")
    assert "SUCCEEDED" in listing.out and "flows.total" in listing.out
    exec_id = listing.out.splitlines()[1].split()[0]

    shown = cli("show", exec_id[:6])
    assert shown.code == 0, shown
    assert shown.out.count("add ") == 4 and "doubles" in shown.out and "MapIteration" in shown.out
    assert "attempt 1" in shown.out and '{"total":6' in shown.out

    history = cli("history", exec_id, "--json")
    events = json.loads(history.out)["Events"]
    assert events[0]["EventType"] == "ExecutionStarted"
    assert events[-1]["EventType"] == "ExecutionSucceeded"
    assert [e["EventId"] for e in events] == list(range(1, len(events) + 1))
    assert cli("history", exec_id).out.count("StepSucceeded") == 7

    page = workdir / "timeline.html"
    assert cli("show", exec_id, "--html", str(page)).code == 0
    text = page.read_text()
    checker = Checker()
    checker.feed(text)
    checker.close()
    assert checker.problems == [] and checker.stack == []
    assert "<script" not in text and "http" not in text.replace(exec_id, "")
    with sqlite3.connect(workdir / "durable.db") as conn:
        op_ids = {
            row[0] for row in conn.execute("SELECT id FROM operations WHERE type != 'EXECUTION'")
        }
    conn.close()
    assert len(op_ids) == 4 + 1 + 3 + 3
    assert {f"op-{op_id}" for op_id in op_ids} <= checker.ids


def test_start_then_worker(cli: Cli) -> None:
    started = cli("start", "flows:total", "--input", "3", "--name", "order-1")
    assert started.code == 0, started
    exec_id = started.out.strip()
    assert "RUNNING" in cli("list", "--status", "RUNNING").out
    assert cli("start", "flows:total", "--input", "3", "--name", "order-1").out.strip() == exec_id
    assert cli("worker", "--once").code == 0
    assert exec_id in cli("list", "--status", "SUCCEEDED").out
    assert "order-1" in cli("show", "order").out


def callback_id_of(cli: Cli, exec_id: str) -> str:
    events = json.loads(cli("history", exec_id, "--json").out)["Events"]
    return next(
        e["CallbackStartedDetails"]["CallbackId"]
        for e in events
        if e["EventType"] == "CallbackStarted"
    )


def test_callbacks_and_stop_from_the_command_line(cli: Cli) -> None:
    waiting = cli("run", "flows:approval", "--input", '"laptop"', "--name", "ok")
    assert waiting.code == 3, waiting
    assert "suspended" in waiting.err and "callback" in waiting.err
    refused = cli("start", "flows:approval", "--input", '"yacht"', "--name", "no").out.strip()
    stopped = cli("start", "flows:approval", "--input", '"boat"', "--name", "stop").out.strip()
    assert cli("worker", "--once").code == 0
    approve, deny = callback_id_of(cli, "ok"), callback_id_of(cli, refused)
    assert cli("callback", "heartbeat", approve).code == 0
    assert cli("callback", "succeed", approve, '"approved"').code == 0
    assert cli("callback", "fail", deny, "no budget").code == 0
    stop = cli("stop", stopped)
    assert stop.code == 0 and "STOPPED" in stop.out
    assert cli("worker", "--once").code == 0
    listing = {line.split()[0]: line.split()[1] for line in cli("list").out.splitlines()[1:]}
    assert sorted(listing.values()) == ["FAILED", "STOPPED", "SUCCEEDED"]
    assert listing[refused] == "FAILED" and listing[stopped] == "STOPPED"
    assert '"answer":"approved"' in cli("show", "ok").out
    one_line_error(cli("callback", "succeed", approve, '"again"'))


def test_the_database_comes_from_the_option_or_the_environment(cli: Cli, workdir: Path) -> None:
    assert cli("run", "flows:total", "--input", "1", "--db", "a.db").code == 0
    assert cli("run", "flows:total", "--input", "1", env={"DURABLE_GEN_DB": "b.db"}).code == 0
    assert (workdir / "a.db").exists() and (workdir / "b.db").exists()
    assert not (workdir / "durable.db").exists()
    assert "flows.total" in cli("list", env={"DURABLE_GEN_DB": "b.db"}).out


def test_mistakes_are_one_line_and_a_nonzero_exit(cli: Cli, workdir: Path) -> None:
    one_line_error(cli("list"))  # no database yet
    mistakes = [
        ("run", "flows:failing"),
        ("show", "no-such-id"),
        ("run", "flows:total", "--input", "{not json"),
        ("run", "flows:missing"),
        ("run", "no_such_module:flow"),
        ("run", "flows"),
        ("callback", "succeed", "unknown-id"),
        ("callback", "succeed", "unknown-id", "{bad"),
    ]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda args: cli(*args), mistakes))
    for result in results:
        one_line_error(result)
    assert "boom" in results[0].err

    (workdir / "corrupt.db").write_bytes(b"garbage" * 1000)
    corrupt = cli("list", "--db", "corrupt.db")
    one_line_error(corrupt)
    assert "corrupt" in corrupt.err

    assert cli("start", "flows:total", "--input", "1").code == 0
    holder = sqlite3.connect(workdir / "durable.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        locked = cli("start", "flows:total", "--lock-timeout", "0.1")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    one_line_error(locked)
    assert "locked" in locked.err


def test_ambiguous_prefixes_are_refused(cli: Cli) -> None:
    for name in ("order-1", "order-2"):
        assert cli("start", "flows:total", "--input", "1", "--name", name).code == 0
    result = cli("show", "order-")
    one_line_error(result)
    assert "matches 2 executions" in result.err


def test_history_json_names_the_arn_so_replay_draws_the_same_uuids(workdir: Path, cli: Cli) -> None:
    (workdir / "coins.py").write_text(
        "import durable_gen as dg\n\n"
        "@dg.step\ndef heads():\n    return 'heads'\n\n"
        "@dg.step\ndef tails():\n    return 'tails'\n\n"
        "@dg.workflow\ndef flips(_):\n    out = []\n    for i in range(8):\n"
        "        u = yield dg.UUID()\n"
        "        out.append((yield (heads() if u.int % 2 else tails())))\n"
        "    return out\n"
    )
    arn = cli("start", "coins:flips", "--arn").out.strip()
    assert cli("worker", "--once", "-q").code == 0
    exported = json.loads(cli("history", arn, "--json").out)
    assert exported["DurableExecutionArn"] == arn
    sys.path.insert(0, str(workdir))
    try:
        import coins  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(workdir))
        sys.modules.pop("coins", None)
    report = replay(coins.flips, exported)
    assert report.status == "ok", report.message
    recorded = json.loads(exported["Events"][-1]["ExecutionSucceededDetails"]["Result"]["Payload"])
    assert report.result == recorded and report.warnings == []


def test_an_invoke_nobody_serves_says_how_to_serve_it_from_the_command_line(
    workdir: Path, cli: Cli
) -> None:
    (workdir / "taxes.py").write_text(
        "import durable_gen as dg\n\n"
        "@dg.workflow\ndef checkout(amount):\n"
        "    return (yield dg.Invoke('tax-service', {'amount': amount}))\n"
    )
    ran = cli("run", "taxes:checkout", "--input", "100")
    assert ran.code == 1, ran
    assert "FunctionNotRegisteredError" in ran.err
    assert "durable-gen worker --register tax-service=MODULE:FUNCTION" in ran.err, ran.err
