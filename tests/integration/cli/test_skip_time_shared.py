"""``durable-gen run --skip-time`` on a database that holds other executions.

``--skip-time`` moves a virtual clock for the execution ``run`` drives. On a database that
other executions share, that clock used to fire their timers too: a test run of one workflow
ended another execution's hour-long wait at once (and stamped it an hour ahead). ``run``
now skips time for its own execution and the executions it invokes only; the others' waits
end on the wall clock.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

Cli = Callable[..., Any]

WAITS = """
import durable_gen as dg


@dg.workflow
def hour(_):
    yield dg.Wait(seconds=3600, name="hour")
    return "an hour later"


@dg.workflow
def cooling(x):
    yield dg.Wait(seconds=600, name="cooling-off")
    return x + 1
"""


def test_run_with_skip_time_skips_its_own_waits_and_leaves_the_others(
    workdir: Path, cli: Cli
) -> None:
    (workdir / "waits.py").write_text(WAITS)
    other = cli("start", "waits:hour", "--arn").out.strip()
    assert cli("worker", "--once", "-q").code == 0  # it now waits, on the wall clock

    ran = cli("run", "waits:cooling", "--input", "4", "--skip-time")
    assert (ran.code, json.loads(ran.out)) == (0, 5), ran
    ran = cli("run", "flows:total", "--input", "3", "--skip-time")
    assert ran.code == 0, ran

    listed = {e["arn"]: e["status"] for e in json.loads(cli("list", "--json").out)}
    assert listed[other] == "RUNNING", listed
    events = json.loads(cli("history", other, "--json").out)["Events"]
    assert [e["EventType"] for e in events][-1] == "InvocationCompleted"
    assert not any(e["EventType"] == "WaitSucceeded" for e in events)
