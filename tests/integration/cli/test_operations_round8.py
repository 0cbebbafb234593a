"""``durable-gen`` as an operator runs it: every command, on executions in every state.

Written from docs/cli.md and docs/engine.md ("Running a fleet"): what each command prints
(text and JSON), its exit status, the filters of ``list``, how an execution is named on the
command line, a database of an older schema, and two workers with the command line at once.
"""

from __future__ import annotations

import json
import os
import textwrap
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
