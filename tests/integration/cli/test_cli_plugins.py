"""``--plugin`` and ``--checkpointing`` on ``durable-gen run`` and ``durable-gen worker``: hooks
seen across processes, an execution resumed by a second worker process after a callback."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

Cli = Callable[..., Any]

PLUGINS = textwrap.dedent(
    """
    import json
    import os

    import durable_gen as dg

    OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "hooks.jsonl")


    def _write(**line):
        with open(OUT, "a", encoding="utf-8") as f:
            f.write(json.dumps(line) + "\\n")


    class Recorder(dg.Plugin):
        def on_invocation_start(self, info):
            _write(hook="invocation_start", first=info.first, pid=os.getpid())

        def on_operation_start(self, op):
            _write(hook="operation_start", name=op.name, type=op.type)

        def on_operation_end(self, op, status):
            _write(hook="operation_end", name=op.name, status=status)

        def on_operation_change(self, op):
            _write(hook="change", name=op.name, status=op.status, by_service=op.by_service)

        def on_attempt_start(self, attempt):
            _write(hook="attempt_start", name=attempt.name, attempt=attempt.attempt)

        def on_execution_end(self, info, status, result, error):
            _write(hook="execution_end", status=status, result=result)

        def on_invocation_end(self, info, status):
            _write(hook="invocation_end", status=status, pid=os.getpid())


    recorder = Recorder()


    def make():
        return Recorder()


    not_a_plugin = 42


    def broken():
        raise RuntimeError("no config")
    """
)


def hooks(workdir: Path) -> list[dict[str, Any]]:
    path = workdir / "hooks.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def callback_id(cli: Cli, exec_id: str) -> str:
    events = json.loads(cli("history", exec_id, "--json").out)["Events"]
    return next(
        e["CallbackStartedDetails"]["CallbackId"]
        for e in events
        if e["EventType"] == "CallbackStarted"
    )


def test_a_worker_plugin_sees_each_operation_once_across_two_worker_processes(
    cli: Cli, workdir: Path
) -> None:
    (workdir / "plugins.py").write_text(PLUGINS)
    exec_id = cli("start", "flows:approval", "--input", '"laptop"').out.strip()
    first = cli("worker", "--once", "--plugin", "plugins:recorder")
    assert first.code == 0, first
    seen = hooks(workdir)
    assert [h["hook"] for h in seen if h["hook"].startswith("invocation")] == [
        "invocation_start",
        "invocation_end",
    ]
    assert seen[0]["first"] is True and seen[-1]["status"] == "PENDING"
    started = [h["name"] for h in seen if h["hook"] == "operation_start"]
    assert started[0] == "approve" and len(started) == len(set(started))
    assert cli("callback", "succeed", callback_id(cli, exec_id), '"yes"').code == 0

    second = cli("worker", "--once", "--plugin", "plugins:make")  # a factory this time
    assert second.code == 0, second
    resumed = hooks(workdir)[len(seen) :]
    assert resumed[0]["hook"] == "invocation_start" and resumed[0]["first"] is False
    assert resumed[0]["pid"] != seen[0]["pid"]  # another process
    # the callback answered between the two: a change made by the service, seen once
    answered = [h for h in resumed if h["hook"] == "change" and h["status"] == "SUCCEEDED"]
    assert [(h["name"], h["by_service"]) for h in answered] == [
        ("approve create callback id", True),  # the answer, recorded by the service
        ("approve", False),  # the context, ended by the workflow
    ]
    # replayed operations fire no start hooks; the execution ends once
    assert not [h for h in resumed if h["hook"] == "operation_start"]
    ends = [h for h in hooks(workdir) if h["hook"] == "execution_end"]
    assert len(ends) == 1 and ends[0]["status"] == "SUCCEEDED"
    assert json.loads(ends[0]["result"]) == {"request": "laptop", "answer": "yes"}


def test_run_takes_plugins_and_a_checkpointing_mode(cli: Cli, workdir: Path) -> None:
    (workdir / "plugins.py").write_text(PLUGINS)
    done = cli(
        "run", "flows:total", "--input", "4", "--plugin", "plugins:recorder",
        "--checkpointing", "batch",
    )  # fmt: skip
    assert done.code == 0, done
    assert json.loads(done.out) == {"total": 6, "doubles": [2, 4, 6]}
    attempts = [h for h in hooks(workdir) if h["hook"] == "attempt_start"]
    assert [h["name"] for h in attempts][:4] == ["add"] * 4
    assert [h["status"] for h in hooks(workdir) if h["hook"] == "execution_end"] == ["SUCCEEDED"]


def test_bad_plugins_are_one_line_usage_errors(cli: Cli, workdir: Path) -> None:
    (workdir / "plugins.py").write_text(PLUGINS)
    for spec, words in [
        ("plugins:not_a_plugin", "is an int, not a Plugin"),
        ("plugins:broken", "calling it without arguments failed (RuntimeError: no config)"),
        ("plugins:missing", "has no attribute"),
        ("nowhere:recorder", "cannot import module 'nowhere'"),
        ("plugins", "MODULE:ATTR"),
    ]:
        result = cli("worker", "--once", "--plugin", spec)
        assert result.code == 2, (spec, result)
        assert words in result.err and "--plugin" in result.err, (spec, result.err)
        assert len(result.err.strip().splitlines()) == 1, result.err
    bad_mode = cli("run", "flows:total", "--input", "1", "--checkpointing", "sometimes")
    assert bad_mode.code == 2 and "invalid choice" in bad_mode.err
