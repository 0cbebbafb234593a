"""``durable-gen run`` and ``show`` on an execution whose decided ``Map`` left an item
waiting on a callback: only the callbacks the execution waits on are offered to answer."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

Cli = Callable[..., Any]

RACE = textwrap.dedent(
    """
    import durable_gen as dg


    def item(i):
        if i == 0:
            handle = yield dg.CreateCallback(name="not-needed")
            yield handle
        return i


    @dg.workflow
    def race(_):
        batch = yield dg.Map(item, [0, 1], name="race", completion=dg.Completion(min_successful=1))
        handle = yield dg.CreateCallback(name="go-ahead")
        return [batch.get_results(), (yield handle)]
    """
)


def test_run_and_show_offer_only_the_callbacks_the_execution_waits_on(
    cli: Cli, workdir: Path
) -> None:
    (workdir / "racing.py").write_text(RACE)
    ran = cli("run", "racing:race", "--name", "r")
    assert ran.code == 3, ran
    # every callback id the lines name: in "waiting on" and in the commands to answer
    offered = set(re.findall(r"\b[0-9a-f]{48}\b", ran.err))
    assert len(offered) == 1, ran.err
    assert "Answer it with" in ran.err, ran.err
    assert "'not-needed'" not in ran.err and "'go-ahead'" in ran.err, ran.err
    shown = cli("show", "r")
    waits = [line for line in shown.out.splitlines() if line.startswith("  waits on")]
    assert len(waits) == 1 and "'go-ahead'" in waits[0], shown.out
    # the abandoned callback is still in the store, open
    assert re.search(r"not-needed +Callback +STARTED", shown.out), shown.out
    # given the execution's name, `callback` names the one callback it waits on
    wrong = cli("callback", "succeed", "r")
    assert wrong.code == 1 and f"it waits on callback {offered.pop()})" in wrong.err, wrong


def test_show_html_says_how_many_operations_it_wrote(cli: Cli, workdir: Path) -> None:
    (workdir / "racing.py").write_text(RACE)
    assert cli("run", "racing:race", "--name", "r").code == 3
    wrote = cli("show", "r", "--html", "r.html")
    assert wrote.code == 0 and wrote.out == "wrote r.html (5 operations)\n", wrote
    page = (workdir / "r.html").read_text()
    assert "<span>5 operations</span>" in page
