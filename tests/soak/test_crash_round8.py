"""Round-8 crash trials, short enough for CI (``python -m tests.soak.round8_crash`` runs longer)."""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from durable_gen.local import open_store

from .round8_crash import Fleet, read_log, trial


@pytest.mark.parametrize("mode", ["step", "eager", "batch"])
def test_workers_killed_mid_step_in_every_checkpointing_mode_lose_and_rerun_nothing_recorded(
    mode: str,
) -> None:
    tally = trial(random.Random(f"round8-{mode}"), checkpointing=mode, executions=6, kills=5)
    print(tally.report())
    assert tally.kills == 5 and tally.snapshots > 10
    assert tally.violations == [], tally.report()


def _start(fleet: Fleet, workflow: str, spec: dict[str, Any], *options: str) -> str:
    out = fleet.cli(
        "start",
        f"tests.soak.round8_flows:{workflow}",
        "--input",
        json.dumps(spec),
        "--arn",
        *options,
    )
    return out.stdout.strip()


def _wait_for(predicate: Any, seconds: float, what: str) -> None:
    end = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def _events(fleet: Fleet, arn: str) -> list[str]:
    history = json.loads(fleet.cli("history", arn, "--json").stdout)
    return [event["EventType"] for event in history["Events"]]


def test_timers_callback_timeouts_and_execution_timeouts_due_while_no_worker_runs(
    tmp_path: Path,
) -> None:
    """Everything falls due while the only worker is dead; what the docs say happens, does."""
    fleet = Fleet(f"sqlite:///{tmp_path / 'timers.db'}", tmp_path, worker_args=["--poll", "0.05"])
    try:
        arns = {
            # its execution timeout passes while no worker runs: TIMED_OUT, no code runs
            "late": _start(fleet, "napper", {"tag": "late", "wait": 30}, "--timeout", "3"),
            # its wait ends while no worker runs: the next worker goes on at once
            "nap": _start(fleet, "napper", {"tag": "nap", "wait": 2}),
            # its callback times out while no worker runs: an answer then is refused
            "cb": _start(fleet, "gate", {"tag": "cb", "timeout": 2}),
            # heartbeat sent while no worker runs keeps its callback open past the first timeout
            "beat": _start(fleet, "gate", {"tag": "beat", "heartbeat": 2, "timeout": 60}),
            # stopped after its timeout passed, while no worker runs: it timed out
            "stop": _start(fleet, "napper", {"tag": "stop", "wait": 30}, "--timeout", "3"),
        }
        worker = fleet.worker()
        ids: dict[str, str] = {}

        def suspended() -> bool:
            lines = read_log(fleet.log)
            ids.update({f[1]: f[3] for f in lines if f[0] == "cb"})
            ended = {f[1] for f in lines if f[0] == "end"}
            return {"late-a", "nap-a", "stop-a"} <= ended and {"cb", "beat"} <= set(ids)

        _wait_for(suspended, 30, "every execution to suspend")
        time.sleep(0.3)  # the invocations that handed the callback ids over suspend
        worker.kill()
        worker.wait()
        killed_at = len(read_log(fleet.log))
        began = time.monotonic()
        time.sleep(1.0)
        assert fleet.cli("callback", "heartbeat", ids["beat"]).returncode == 0
        time.sleep(1.4)  # past the first heartbeat deadline, not past the second one
        assert fleet.cli("callback", "succeed", ids["beat"], '"on time"').returncode == 0
        time.sleep(max(0.0, 3.3 - (time.monotonic() - began)))
        late = fleet.cli("callback", "succeed", ids["cb"], '"too late"', check=False)
        assert late.returncode == 1, (late.returncode, late.stderr)
        assert "\n" not in late.stderr.strip() and "Traceback" not in late.stderr
        stopped = fleet.cli("stop", arns["stop"])
        assert "TIMED_OUT" in stopped.stdout, stopped.stdout
        assert read_log(fleet.log)[killed_at:] == []  # nothing ran meanwhile
        fleet.worker()
        with open_store(fleet.url) as store:

            def ended() -> bool:
                return all(
                    (r := store.load(arn)) is not None and r.status != "RUNNING"
                    for arn in arns.values()
                )

            _wait_for(ended, 30, "every execution to end")
            records = {tag: store.load(arn) for tag, arn in arns.items()}
        assert {tag: r.status for tag, r in records.items() if r} == {
            "late": "TIMED_OUT",
            "nap": "SUCCEEDED",
            "cb": "SUCCEEDED",
            "beat": "SUCCEEDED",
            "stop": "TIMED_OUT",
        }
        results = {tag: json.loads(r.result or "null") for tag, r in records.items() if r}
        assert results["cb"][1] == "timed out: Callback.Timeout"
        assert results["beat"][1] == "on time"
        starts = Counter(f[1] for f in read_log(fleet.log) if f[0] == "start")
        assert "late-b" not in starts and "stop-b" not in starts
        assert all(n == 1 for n in starts.values()), starts
        assert "CallbackTimedOut" in _events(fleet, arns["cb"])
        for tag in ("late", "stop"):
            events = _events(fleet, arns[tag])
            assert events[-1] == "ExecutionTimedOut" and "WaitSucceeded" not in events, events
    finally:
        fleet.close()
