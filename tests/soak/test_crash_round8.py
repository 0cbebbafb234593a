"""Round-8 crash trials, short enough for CI (``python -m tests.soak.round8_crash`` runs longer)."""

from __future__ import annotations

import json
import random
import shutil
import signal
import sqlite3
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from durable_gen import ValidationError
from durable_gen.local import Worker, open_store

from .round8_crash import CLI, Fleet, _leaves, read_log, trial


@pytest.mark.parametrize("mode", ["step", "eager", "batch"])
def test_workers_killed_mid_step_and_a_stop_as_one_dies_in_every_checkpointing_mode(
    mode: str,
) -> None:
    tally = trial(
        random.Random(f"round8-{mode}"), checkpointing=mode, executions=6, kills=5, stops=1
    )
    print(tally.report())
    assert tally.kills == 5 and tally.stops == 1 and tally.snapshots > 10
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


def _writable(db: Path) -> bool:
    """Whether no process holds the write lock of the SQLite file ``db``."""
    conn = sqlite3.connect(db, timeout=0.2, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError:
        return False
    finally:
        conn.close()


def _events(fleet: Fleet, arn: str) -> list[str]:
    history = json.loads(fleet.cli("history", arn, "--json").stdout)
    return [event["EventType"] for event in history["Events"]]


def test_timers_callback_timeouts_and_execution_timeouts_due_while_no_worker_runs(
    tmp_path: Path,
) -> None:
    """Everything falls due while the only worker is dead; what the docs say happens, does."""
    fleet = Fleet(f"sqlite:///{tmp_path / 'timers.db'}", tmp_path, worker_args=["--poll", "0.05"])
    try:
        started = time.monotonic()
        arns = {
            # its execution timeout passes while no worker runs: TIMED_OUT, no code runs
            "late": _start(fleet, "napper", {"tag": "late", "wait": 30}, "--timeout", "5"),
            # its wait ends while no worker runs: the next worker goes on at once
            "nap": _start(fleet, "napper", {"tag": "nap", "wait": 2}),
            # its callback times out while no worker runs: an answer then is refused
            "cb": _start(fleet, "gate", {"tag": "cb", "timeout": 2}),
            # stopped after its timeout passed, while no worker runs: it timed out
            "stop": _start(fleet, "napper", {"tag": "stop", "wait": 30}, "--timeout", "5"),
            # heartbeat sent while no worker runs keeps its callback open past the first timeout
            "beat": _start(fleet, "gate", {"tag": "beat", "heartbeat": 6, "timeout": 60}),
        }
        worker = fleet.worker()
        ids: dict[str, str] = {}
        handed: dict[str, float] = {}

        def suspended() -> bool:
            lines = read_log(fleet.log)
            ids.update({f[1]: f[3] for f in lines if f[0] == "cb"})
            if "beat" in ids:
                handed.setdefault("beat", time.monotonic())  # after its callback started
            ended = {f[1] for f in lines if f[0] == "end"}
            # (on a loaded machine a worker may start after a 5 s timeout passed: then it
            # times the execution out before its first step, which is as good)
            late = {"late-a", "stop-a"} - ended
            return (
                "nap-a" in ended
                and {"cb", "beat"} <= set(ids)
                and (not late or time.monotonic() > started + 5.5)
            )

        _wait_for(suspended, 30, "every execution to suspend")
        time.sleep(0.3)  # the invocations that handed the callback ids over suspend
        worker.kill()
        worker.wait()
        killed_at = len(read_log(fleet.log))
        time.sleep(max(0.0, handed["beat"] + 2.0 - time.monotonic()))
        beat_at = time.monotonic()
        assert fleet.cli("callback", "heartbeat", ids["beat"]).returncode == 0
        # past the first heartbeat deadline (6 s after the callback started, before it was
        # handed over), well before the second one (6 s after the heartbeat)
        time.sleep(max(0.0, handed["beat"] + 6.3 - time.monotonic()))
        assert time.monotonic() < beat_at + 5.0, "the machine is too slow for this trial"
        assert fleet.cli("callback", "succeed", ids["beat"], '"on time"').returncode == 0
        time.sleep(max(0.0, started + 5.5 - time.monotonic()))
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


DEPLOY = """
import durable_gen as dg
from tests.soak.round8_flows import _nonce, hand_over, nonce


@dg.step(name="charge", semantics={semantics}, retry=dg.Retry(max_attempts=1))
def charge(label):
    return _nonce(label)


@dg.workflow
def order(tag):
    a = yield nonce(f"{{tag}}-a")
    x = None
    if {patched}:
        x = yield nonce(f"{{tag}}-x")
    handle = yield dg.CreateCallback(name="gate")
    yield hand_over(tag, handle.callback_id)
    answer = yield handle
    b = yield nonce(f"{{tag}}-b")
    return [a, answer, b, x]


@dg.step(name="hold", semantics=dg.AT_MOST_ONCE, retry=dg.Retry(max_attempts=1))
def hold(label):
    return _nonce(label)


@dg.workflow
def pay(tag):
    try:
        paid = yield (charge if tag == "relaxed" else hold)(f"{{tag}}-o")
    except dg.StepFailedError as exc:
        paid = f"failed: {{exc.error_type}}"
    return paid
"""


def _deploy(folder: Path, *, semantics: str, patched: str) -> None:
    for cache in folder.glob("__pycache__"):
        shutil.rmtree(cache)
    (folder / "r8deploy.py").write_text(
        DEPLOY.format(semantics=semantics, patched=patched), encoding="utf-8"
    )


def test_workers_restarted_with_changed_code_after_a_kill_keep_old_executions_on_their_path(
    tmp_path: Path,
) -> None:
    """A deploy between a SIGKILL and the next worker: ``Patched`` sends the executions that
    went past the change down the old path and the others down the new one; a step made
    at-least-once (same name) runs the attempt the kill interrupted again, as versioning.md
    says, while one that stays at-most-once counts it as interrupted."""
    _deploy(tmp_path, semantics="dg.AT_MOST_ONCE", patched="False")
    fleet = Fleet(
        f"sqlite:///{tmp_path / 'deploy.db'}",
        tmp_path,
        worker_args=["--poll", "0.05", "--concurrency", "4"],
        slow=0.6,
    )

    def start(workflow: str, tag: str) -> str:
        out = fleet.cli("start", f"r8deploy:{workflow}", "--input", json.dumps(tag), "--arn")
        return out.stdout.strip()

    try:
        arns = {"parked": start("order", "parked")}
        worker = fleet.worker()
        ids: dict[str, str] = {}

        def handed(*tags: str) -> Any:
            def check() -> bool:
                ids.update({f[1]: f[3] for f in read_log(fleet.log) if f[0] == "cb"})
                return set(tags) <= set(ids)

            return check

        _wait_for(handed("parked"), 30, "the first execution to park at its callback")
        time.sleep(0.3)
        worker.kill()
        worker.wait()
        for tag, workflow in [("cut", "order"), ("relaxed", "pay"), ("strict", "pay")]:
            arns[tag] = start(workflow, tag)
        worker = fleet.worker()

        def in_steps() -> bool:
            begun = {f[1] for f in read_log(fleet.log) if f[0] == "start"}
            return {"cut-a", "relaxed-o", "strict-o"} <= begun

        _wait_for(in_steps, 30, "the kill's steps to start")
        worker.kill()
        worker.wait()
        assert [f for f in read_log(fleet.log) if f[0] == "end" and f[1] == "cut-a"] == []

        # The deploy: a Patched change; "charge" made at-least-once for the "relaxed" one.
        _deploy(tmp_path, semantics="dg.AT_LEAST_ONCE", patched='(yield dg.Patched("extra"))')
        arns["new"] = start("order", "new")
        fleet.cli("callback", "succeed", ids["parked"], '"ok-parked"')
        fleet.worker()
        _wait_for(handed("cut", "new"), 30, "the resumed executions to park")
        time.sleep(0.3)
        fleet.kill_all()
        for tag in ("cut", "new"):
            fleet.cli("callback", "succeed", ids[tag], json.dumps(f"ok-{tag}"))
        fleet.worker()
        with open_store(fleet.url) as store:
            _wait_for(
                lambda: all(store.load(a).status != "RUNNING" for a in arns.values()),  # type: ignore[union-attr]
                60,
                "every execution to end",
            )
            records = {tag: store.load(arn) for tag, arn in arns.items()}
        results = {tag: json.loads(r.result or "null") for tag, r in records.items() if r}
        assert {tag: r.status for tag, r in records.items() if r} == dict.fromkeys(
            arns, "SUCCEEDED"
        ), {tag: r.error for tag, r in records.items() if r}
        starts = Counter(f[1] for f in read_log(fleet.log) if f[0] == "start")
        assert results["parked"][1:] == ["ok-parked", results["parked"][2], None]
        assert results["cut"][3] is not None and results["cut"][3].startswith("cut-x/")
        assert results["new"][3] is not None and results["new"][3].startswith("new-x/")
        assert "parked-x" not in starts
        assert starts["cut-a"] == 2  # killed before its record: run again
        assert starts["relaxed-o"] == 2 and results["relaxed"].startswith("relaxed-o/")
        assert starts["strict-o"] == 1 and results["strict"] == "failed: StepInterruptedError"
        assert all(n == 1 for label, n in starts.items() if label not in ("cut-a", "relaxed-o"))
    finally:
        fleet.close()


def test_sigterm_lets_every_thread_pool_and_event_loop_step_of_every_execution_end(
    tmp_path: Path,
) -> None:
    """SIGTERM to a ``--concurrency 4`` worker whose executions run Map steps in its pool and
    async steps on its loop: each step it started ends in it, it exits 0, and what it recorded
    is kept (a fresh worker runs no step again)."""
    fleet = Fleet(
        f"sqlite:///{tmp_path / 'term.db'}",
        tmp_path,
        worker_args=["--poll", "0.05", "--concurrency", "4"],
        slow=0.8,
    )
    try:
        arns = {}
        for k in range(4):
            tag = f"w{k}"
            out = fleet.cli(
                "start", "tests.soak.round8_flows:wide", "--input", json.dumps(tag), "--arn"
            )
            arns[tag] = out.stdout.strip()
        worker = fleet.worker()

        def busy() -> bool:
            lines = read_log(fleet.log)
            return sum(1 for f in lines if f[0] == "start") >= 8

        _wait_for(busy, 30, "steps to start in the pool")
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=30) == 0
        lines = read_log(fleet.log)
        pid = str(worker.pid)
        started = Counter(f[1] for f in lines if f[0] == "start" and f[2] == pid)
        ended = Counter(f[1] for f in lines if f[0] == "end" and f[2] == pid)
        assert started and started == ended, (started, ended)
        fleet.worker()
        with open_store(fleet.url) as store:
            _wait_for(
                lambda: all(store.load(a).status != "RUNNING" for a in arns.values()),  # type: ignore[union-attr]
                60,
                "every execution to end",
            )
            records = {tag: store.load(arn) for tag, arn in arns.items()}
        assert {t: r.status for t, r in records.items() if r} == dict.fromkeys(arns, "SUCCEEDED")
        starts = Counter(f[1] for f in read_log(fleet.log) if f[0] == "start")
        assert all(n == 1 for n in starts.values()), starts
        assert len(starts) == 4 * 6
        produced = {f[3] for f in read_log(fleet.log) if f[0] == "end"}
        for record in records.values():
            assert record is not None
            assert set(_leaves(json.loads(record.result or "null"))) <= produced
    finally:
        fleet.close()


@pytest.mark.parametrize("mode", ["step", "eager", "batch"])
def test_stop_while_a_worker_runs_steps_records_nothing_more_and_starts_no_at_most_once_step(
    tmp_path: Path, mode: str
) -> None:
    """``durable-gen stop`` while a worker of each checkpointing mode runs the execution's
    steps: in "step" and "eager" mode the worker stops at the step in flight; in "batch" mode
    (which checkpoints at its next wait or at-most-once step) it may run the at-least-once steps
    up to there, as engine.md says; no at-most-once step starts after the stop, and nothing but
    the invocation's end is recorded after ``ExecutionStopped``."""
    fleet = Fleet(
        f"sqlite:///{tmp_path / 'stop.db'}",
        tmp_path,
        worker_args=["--poll", "0.05", "--checkpointing", mode],
        slow=0.15,
    )
    try:
        spec = {"tag": mode, "n": 15}
        arn = _start(fleet, "chain_with_once", spec)
        worker = fleet.worker("-q")
        _wait_for(lambda: len(read_log(fleet.log)) >= 7, 30, "steps to run")
        assert "STOPPED" in fleet.cli("stop", arn).stdout
        at = len(read_log(fleet.log))
        time.sleep(0.15 * 4 + 0.5)
        after = [f[1] for f in read_log(fleet.log)[at:] if f[0] == "start"]
        assert not [label for label in after if label.endswith("-o")], after
        # The step in flight may end, and in batch mode the steps up to the next checkpoint
        # (the next at-most-once step, two steps on at most) run: no more than that.
        assert len(after) <= (2 if mode == "batch" else 0), after
        events = _events(fleet, arn)
        assert events[events.index("ExecutionStopped") + 1 :] in ([], ["InvocationCompleted"])
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=30) == 0
    finally:
        fleet.close()


@pytest.mark.parametrize("mode", ["step", "batch"])
def test_invokes_of_a_plain_function_and_of_a_workflow_across_kills_and_a_stop(
    mode: str,
) -> None:
    tally = trial(
        random.Random(f"invoke-{mode}"),
        checkpointing=mode,
        executions=5,
        kills=3,
        stops=1,
        workflow="caller",
        slow=0.15,
    )
    print(tally.report())
    assert tally.executions >= 9 and tally.kills == 3 and tally.stops >= 1
    assert tally.violations == [], tally.report()


def test_skip_time_runs_one_execution_at_a_time(tmp_path: Path) -> None:
    """cli.md: ``worker --skip-time`` with ``--concurrency`` above 1 is a usage error."""
    fleet = Fleet(f"sqlite:///{tmp_path / 'skip.db'}", tmp_path, worker_args=[])
    try:
        done = fleet.cli("worker", "--once", "--skip-time", "--concurrency", "2", check=False)
        assert done.returncode == 2 and "--concurrency" in done.stderr, done.stderr
        with pytest.raises(ValidationError, match="concurrency=1"):
            Worker(str(tmp_path / "skip.db"), skip_time=True, concurrency=2)
    finally:
        fleet.close()


BROKEN = {
    "raises": "raise RuntimeError('half-deployed')\n",
    "exits": "import sys\nsys.exit(3)\n",
    "plain": "def order(tag):\n    return tag\n",
    "async": "async def order(tag):\n    return tag\n",
    "missing": "",
}


@pytest.mark.parametrize("broken", sorted(BROKEN))
def test_a_deploy_that_breaks_the_workflow_after_a_kill_leaves_its_executions_waiting(
    tmp_path: Path, broken: str
) -> None:
    """cli.md: a workflow a worker cannot import (or that a deploy turned into a plain or
    ``async def`` function) is reported and left, with what it recorded, for a worker whose
    code has it again; the worker runs the other executions meanwhile."""
    _deploy(tmp_path, semantics="dg.AT_MOST_ONCE", patched="False")
    fleet = Fleet(
        f"sqlite:///{tmp_path / 'broken.db'}",
        tmp_path,
        worker_args=["--poll", "0.05", "--concurrency", "2"],
        slow=0.5,
    )
    try:
        arn = fleet.cli("start", "r8deploy:order", "--input", '"cut"', "--arn").stdout.strip()
        worker = fleet.worker()
        _wait_for(lambda: ["start", "cut-a"] in [f[:2] for f in read_log(fleet.log)], 30, "step a")
        worker.kill()
        worker.wait()
        (tmp_path / "r8deploy.py").unlink()
        for cache in tmp_path.glob("__pycache__"):
            shutil.rmtree(cache)
        if BROKEN[broken]:
            (tmp_path / "r8deploy.py").write_text(BROKEN[broken], encoding="utf-8")
        other = _start(fleet, "napper", {"tag": "other", "wait": 1})
        fleet.err.truncate(0)
        worker = fleet.worker()
        with open_store(fleet.url) as store:
            _wait_for(
                lambda: store.load(other).status == "SUCCEEDED",  # type: ignore[union-attr]
                30,
                "the other execution to end",
            )
            assert worker.poll() is None, "the worker must go on serving"
            assert store.load(arn).status == "RUNNING"  # type: ignore[union-attr]
        worker.kill()
        worker.wait()
        errors = (tmp_path / "workers.stderr").read_text(encoding="utf-8", errors="replace")
        assert "r8deploy" in errors and "Traceback" not in errors, errors[-2000:]
        assert [f for f in read_log(fleet.log) if f[1].startswith("cut") and f[0] == "end"] == []
        # The fixed deploy: the execution resumes from what it recorded.
        _deploy(tmp_path, semantics="dg.AT_MOST_ONCE", patched="False")
        fleet.worker()
        ids: dict[str, str] = {}

        def parked() -> bool:
            ids.update({f[1]: f[3] for f in read_log(fleet.log) if f[0] == "cb"})
            return "cut" in ids

        _wait_for(parked, 30, "the execution to resume")
        fleet.cli("callback", "succeed", ids["cut"], '"ok"')
        with open_store(fleet.url) as store:
            _wait_for(
                lambda: store.load(arn).status != "RUNNING",  # type: ignore[union-attr]
                30,
                "the execution to end",
            )
            record = store.load(arn)
        assert record is not None and record.status == "SUCCEEDED", record
        events = _events(fleet, arn)
        crashed = [e for e in events if e == "ExecutionFailed"]
        assert crashed == [], events
    finally:
        fleet.close()


@pytest.mark.parametrize("quiet", [True, False])
@pytest.mark.parametrize("mode", ["step", "batch"])
def test_a_worker_frozen_past_its_lease_on_sqlite_is_taken_over_and_its_late_work_refused(
    tmp_path: Path, mode: str, quiet: bool
) -> None:
    """engine.md, "What a lease protects": a worker that stalls past its lease (here SIGSTOP,
    not holding the write lock) loses its executions to another worker on the same file; once
    it continues nothing it sends is recorded, it logs that another worker took them over
    (once per invocation, also with ``-q``), and no at-most-once attempt starts twice."""
    frozen_trial(f"sqlite:///{tmp_path / 'freeze.db'}", tmp_path, mode, quiet=quiet)


def frozen_trial(url: str, tmp_path: Path, mode: str, *, quiet: bool) -> None:
    """The frozen worker's trial on the database ``url`` (shared with the Postgres tests)."""
    fleet = Fleet(
        url,
        tmp_path,
        worker_args=["--poll", "0.05", "--lease", "1", "--checkpointing", mode],
        slow=0.3,
    )
    fleet.quiet = quiet
    try:
        arns = {
            _start(fleet, "chain_with_once", {"tag": f"f{k}", "n": 8}): f"f{k}" for k in range(2)
        }
        frozen = fleet.worker("--concurrency", "2")
        _wait_for(lambda: len(read_log(fleet.log)) >= 6, 30, "steps to run")
        # Frozen outside a write transaction: one frozen inside it holds SQLite's write lock,
        # which blocks every other worker until it continues (engine.md says so).
        for _ in range(50):
            frozen.send_signal(signal.SIGSTOP)
            if not url.startswith("sqlite:///") or _writable(Path(url[len("sqlite:///") :])):
                break
            frozen.send_signal(signal.SIGCONT)
            time.sleep(0.03)
        at = len(read_log(fleet.log))
        fleet.worker("--concurrency", "2")
        _wait_for(
            lambda: any(f[2] != str(frozen.pid) for f in read_log(fleet.log)[at:]),
            30,
            "another worker to take the executions over",
        )
        time.sleep(0.5)
        frozen.send_signal(signal.SIGCONT)
        with open_store(fleet.url) as store:
            _wait_for(
                lambda: all(store.load(a).status != "RUNNING" for a in arns),  # type: ignore[union-attr]
                60,
                "every execution to end",
            )
        time.sleep(1.0)  # the frozen worker hears that its invocations were taken over
        tally = fleet.check(dict(arns))
        assert tally.violations == [], tally.report()
        errors = (tmp_path / "workers.stderr").read_text(encoding="utf-8")
        taken = [
            line for line in errors.splitlines() if "another worker took the execution over" in line
        ]
        assert len(taken) >= 1 and all(
            " left tests.soak.round8_flows.chain_with_once " in line for line in taken
        ), errors
        assert "outlived its lease and" not in errors, errors  # the one line says it all
        once = Counter(line.split(" left ", 1)[1].split(":")[0] for line in taken)
        assert all(n == 1 for n in once.values()), errors
    finally:
        fleet.close()


@pytest.mark.parametrize("mode", ["step", "batch"])
def test_callbacks_answered_from_another_process_while_workers_die(mode: str) -> None:
    """A WaitForCallback whose submitter hands the id over, answered by ``durable-gen
    callback succeed`` as soon as it appears, while workers are killed: in "batch" mode the
    submitter's success is held until the invocation suspends, so a kill may make it hand the
    same id over again; the answer is delivered once either way."""
    tally = trial(
        random.Random(f"answer-{mode}"),
        checkpointing=mode,
        executions=8,
        kills=3,
        workflow="approval",
        answer=True,
        slow=0.1,
    )
    print(tally.report())
    assert tally.kills == 3
    assert tally.violations == [], tally.report()


def test_ctrl_c_to_a_concurrent_worker_releases_one_invocation_and_lets_the_others_end(
    tmp_path: Path,
) -> None:
    """cli.md: SIGINT interrupts the invocation of the worker's main thread and hands it back,
    exit status 130; with ``--concurrency`` above 1 the other threads' invocations run to
    their end first. The next worker resumes what was handed back at once (no lease to wait
    for), and no at-most-once step starts twice."""
    fleet = Fleet(
        f"sqlite:///{tmp_path / 'int.db'}",
        tmp_path,
        worker_args=["--poll", "0.05", "--concurrency", "3", "--lease", "60"],
        slow=0.4,
    )
    try:
        arns = {
            _start(fleet, "chain_with_once", {"tag": f"i{k}", "n": 6}): f"i{k}" for k in range(3)
        }
        worker = fleet.worker()

        def all_busy() -> bool:
            lines = read_log(fleet.log)
            return len({f[1].split("-")[0] for f in lines if f[0] == "start"}) == 3

        _wait_for(all_busy, 30, "the three executions to run")
        worker.send_signal(signal.SIGINT)
        assert worker.wait(timeout=60) == 130
        pid = str(worker.pid)
        lines = read_log(fleet.log)
        started = Counter(f[1] for f in lines if f[0] == "start" and f[2] == pid)
        ended = Counter(f[1] for f in lines if f[0] == "end" and f[2] == pid)
        cut = started - ended
        assert sum(cut.values()) <= 1, cut  # the main thread's step, at most
        began = time.monotonic()
        fleet.worker()
        with open_store(fleet.url) as store:
            _wait_for(
                lambda: all(store.load(a).status != "RUNNING" for a in arns),  # type: ignore[union-attr]
                30,
                "every execution to end",
            )
        assert time.monotonic() - began < 20  # not the 60 s lease
        tally = fleet.check(dict(arns))
        assert tally.violations == [], tally.report()
    finally:
        fleet.close()


@pytest.mark.parametrize("mode", ["step", "eager", "batch"])
def test_retry_delays_that_end_while_no_worker_runs(tmp_path: Path, mode: str) -> None:
    """Each retry delay of a failing step ends while its worker is dead (SIGKILLed as soon as
    the attempt failed); the next worker runs the next attempt at once, and the step runs
    exactly its three attempts."""
    fleet = Fleet(
        f"sqlite:///{tmp_path / 'retry.db'}",
        tmp_path,
        worker_args=["--poll", "0.05", "--checkpointing", mode],
    )
    try:
        arn = fleet.cli("start", "tests.soak.round8_flows:retrying", "--input", '"t"', "--arn")
        arn_text = arn.stdout.strip()
        for failures in (1, 2):
            worker = fleet.worker()
            _wait_for(
                lambda n=failures: sum(f[0] == "fail" for f in read_log(fleet.log)) >= n,  # type: ignore[misc]
                30,
                f"attempt {failures} to fail",
            )
            time.sleep(0.2)  # its RETRY is checkpointed as the invocation suspends
            worker.kill()
            worker.wait()
            time.sleep(2.2 * failures)  # the delay (1 s, then 2 s) ends meanwhile
        fleet.worker()
        with open_store(fleet.url) as store:
            _wait_for(
                lambda: store.load(arn_text).status != "RUNNING",  # type: ignore[union-attr]
                30,
                "the execution to end",
            )
        tally = fleet.check({arn_text: "t"})
        assert tally.violations == [], tally.report()
        starts = Counter(f[1] for f in read_log(fleet.log) if f[0] == "start")
        assert starts == {"t-a": 1, "t-r": 3, "t-b": 1}, starts
        events = _events(fleet, arn_text)
        assert events.count("StepFailed") == 2 and events.count("StepSucceeded") == 3, events
    finally:
        fleet.close()


def test_an_unguarded_change_deployed_after_a_kill_fails_only_the_executions_it_moves(
    tmp_path: Path,
) -> None:
    """versioning.md: a change that moves what an execution recorded fails it with
    ``NonDeterminismError`` (position, recorded, requested) when it resumes, never retried and
    running nothing; an execution killed before it recorded anything past the change runs the
    new code."""
    _deploy(tmp_path, semantics="dg.AT_MOST_ONCE", patched="False")
    fleet = Fleet(
        f"sqlite:///{tmp_path / 'diverge.db'}",
        tmp_path,
        worker_args=["--poll", "0.05", "--concurrency", "2"],
        slow=0.5,
    )

    def start(tag: str) -> str:
        out = fleet.cli("start", "r8deploy:order", "--input", json.dumps(tag), "--arn")
        return out.stdout.strip()

    try:
        parked = start("parked")
        worker = fleet.worker()
        _wait_for(lambda: any(f[0] == "cb" for f in read_log(fleet.log)), 30, "the callback id")
        time.sleep(0.3)
        cut = start("cut")
        _wait_for(lambda: ["start", "cut-a"] in [f[:2] for f in read_log(fleet.log)], 30, "cut-a")
        worker.kill()
        worker.wait()
        _deploy(tmp_path, semantics="dg.AT_MOST_ONCE", patched="True")  # no Patched guard
        callback_id = next(f[3] for f in read_log(fleet.log) if f[0] == "cb")
        fleet.cli("callback", "succeed", callback_id, '"late"')  # wakes "parked" up
        at = len(read_log(fleet.log))
        fleet.worker()
        with open_store(fleet.url) as store:
            _wait_for(
                lambda: (
                    store.load(parked).status != "RUNNING"  # type: ignore[union-attr]
                    and any(f[0] == "cb" and f[1] == "cut" for f in read_log(fleet.log))
                ),
                30,
                "the change to reach both executions",
            )
            failed = store.load(parked)
            assert failed is not None and failed.status == "FAILED" and failed.error
            assert failed.error.error_type == "NonDeterminismError", failed.error
            message = failed.error.error_message or ""
            assert "CALLBACK" in message and "nonce" in message, message
            assert store.load(cut).status == "RUNNING"  # type: ignore[union-attr]
        after = [f[1] for f in read_log(fleet.log)[at:] if f[0] == "start"]
        assert not [label for label in after if label.startswith("parked")], after
        assert after[:2] == ["cut-a", "cut-x"], after  # the new code, from the kill on
        events = _events(fleet, parked)
        assert events[-1] == "ExecutionFailed" and events.count("InvocationCompleted") == 2
    finally:
        fleet.close()


def test_sigterm_to_run_while_map_steps_run_in_its_pool_exits_143_after_they_end(
    tmp_path: Path,
) -> None:
    """cli.md, "Stopping run": SIGTERM lets the invocation in progress run to its end (Map
    steps running side by side in the pool, async ones on the loop), then ``run`` exits 143,
    says to run ``durable-gen worker``, and the worker finishes the execution from there."""
    fleet = Fleet(f"sqlite:///{tmp_path / 'run.db'}", tmp_path, worker_args=[], slow=0.8)
    try:
        run = subprocess.Popen(
            [*CLI, "run", "tests.soak.round8_flows:wide", "--input", '"r"', "--name", "r1"],
            env=fleet.env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        _wait_for(lambda: len(read_log(fleet.log)) >= 2, 30, "the Map's steps to start")
        run.send_signal(signal.SIGTERM)
        _, err = run.communicate(timeout=60)
        assert run.returncode == 143, (run.returncode, err)
        assert b"durable-gen worker" in err and b"Traceback" not in err, err
        pid = str(run.pid)
        lines = read_log(fleet.log)
        started = Counter(f[1] for f in lines if f[0] == "start" and f[2] == pid)
        ended = Counter(f[1] for f in lines if f[0] == "end" and f[2] == pid)
        assert started and started == ended, (started, ended)
        fleet.worker()
        with open_store(fleet.url) as store:
            arn_text = next(iter(store.executions())).arn
            _wait_for(
                lambda: store.load(arn_text).status != "RUNNING",  # type: ignore[union-attr]
                30,
                "the worker to finish the execution",
            )
        starts = Counter(f[1] for f in read_log(fleet.log) if f[0] == "start")
        assert all(n == 1 for n in starts.values()) and len(starts) == 6, starts
        tally = fleet.check({arn_text: "r"})
        assert tally.violations == [], tally.report()
    finally:
        fleet.close()


@pytest.mark.parametrize("mode", ["step", "batch"])
def test_sixteen_threads_committing_together_killed_lose_nothing(mode: str) -> None:
    """``--concurrency 16`` with fast steps: the threads' checkpoints commit together on
    SQLite (group commit), so kills land in the middle of shared transactions."""
    tally = trial(
        random.Random(f"group-{mode}"),
        checkpointing=mode,
        executions=16,
        kills=4,
        stops=1,
        concurrency=16,
        slow=0.01,
    )
    print(tally.report())
    assert tally.kills == 4 and tally.stops == 1
    assert tally.violations == [], tally.report()
