"""Command soak: every command under SIGKILLs, through the command line only.

Each trial starts executions of ``tests.soak.command_flows:every_command`` with ``durable-gen
start``, runs ``durable-gen worker`` processes (``--register`` serves the ``Invoke``
targets, ``--concurrency`` runs several executions per process), answers each callback from
another process with ``durable-gen callback succeed`` as soon as a step hands its id over,
and meanwhile SIGKILLs workers at random moments (some come back at once, some later), stops
one with SIGTERM, and on Postgres restarts the server (``pg_ctl -m immediate``). Every few
milliseconds it notes which steps the database recorded and how long the step log is. Then:

- every execution, invoked ones included, succeeded, with the result of an uninterrupted run;
- no step whose success was recorded started again; no at-most-once attempt started twice;
  every recorded success ran to its end;
- a SIGTERMed worker exited 0;
- each history (``durable-gen history ID --json``) numbers its events 1..n, ends with
  ``ExecutionSucceeded``, has no step that succeeded twice and no operation without events,
  and replays (``durable_gen.testing.replay``) to the recorded result; ``show`` prints it.

``python -m tests.soak.command_crash --trials 20`` runs a longer soak (``--store postgres``,
``--real-time`` for waits and retry delays in real time); it prints a tally.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from durable_gen._errors import StoreError
from durable_gen.local import open_store
from durable_gen.testing import replay

from . import command_flows, flows
from .crash import _lines

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "durable_gen.cli"]


@dataclass
class Tally:
    """What the trials saw."""

    trials: int = 0
    executions: int = 0
    kills: int = 0
    terms: int = 0
    restarts: int = 0
    snapshots: int = 0
    answers: int = 0
    violations: list[str] = field(default_factory=list)

    def add(self, other: Tally) -> None:
        for name in ["trials", "executions", "kills", "terms", "restarts", "snapshots", "answers"]:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.violations.extend(other.violations)

    def report(self) -> str:
        lines = [
            f"trials: {self.trials}, executions: {self.executions}",
            f"worker SIGKILLs: {self.kills}, SIGTERMs: {self.terms}, database restarts: "
            f"{self.restarts}, callbacks answered: {self.answers}, snapshots: {self.snapshots}",
            f"violations: {len(self.violations)}",
        ]
        lines.extend(f"  {v}" for v in self.violations[:20])
        return "\n".join(lines)


class _Trial:
    def __init__(self, url: str, tmp: Path, rng: random.Random, skip_time: bool) -> None:
        self.url, self.rng, self.skip_time = url, rng, skip_time
        self.log, self.err = tmp / "steps.log", tmp / "workers.stderr"
        self.env = dict(os.environ)
        self.env["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])
        )
        self.env[flows.LOG_ENV] = str(self.log)
        self.env["DURABLE_GEN_DB"] = url
        self.tally = Tally(trials=1)
        self.k_of: dict[str, int] = {}
        self.answered: set[str] = set()

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*CLI, *args], env=self.env, cwd=ROOT, capture_output=True, text=True, timeout=120
        )

    def worker(self, concurrency: int) -> subprocess.Popen[bytes]:
        options = ["--skip-time"] if self.skip_time else []
        with open(self.err, "ab") as err:
            return subprocess.Popen(
                [
                    *CLI, "worker", "-q", "--poll", "0.05", "--concurrency", str(concurrency),
                    "--register", "tax=tests.soak.command_flows:tax",
                    "--register", "invoked=tests.soak.command_flows:invoked",
                    *options,
                ],
                env=self.env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err,
            )  # fmt: skip

    def answer_callbacks(self, stop: threading.Event) -> None:
        """Answer each callback id a step logged, from another process (the CLI)."""
        store = None
        while not stop.wait(0.02):
            for event, callback_id, _ in _lines(self.log):
                if event != "cb" or callback_id in self.answered:
                    continue
                try:
                    store = store or open_store(self.url, timeout=2)
                    entry = store.find_callback(callback_id)
                except StoreError:  # the server restarts
                    store = None
                    continue
                if entry is None:
                    self.tally.violations.append(f"callback {callback_id} is unknown")
                    self.answered.add(callback_id)
                    continue
                payload = json.dumps(command_flows.answer(self.k_of[entry.arn]))
                done = self.cli("callback", "succeed", callback_id, payload)
                if done.returncode == 0:  # else the server restarts: try again
                    self.answered.add(callback_id)
                    self.tally.answers += 1
        if store is not None:
            store.close()

    def run(self, *, executions: int, workers: int, concurrency: int, actions: list[str],
            restart: Any, deadline_s: float) -> None:  # fmt: skip
        for k in range(executions):
            started = self.cli("start", "tests.soak.command_flows:every_command", "--input",
                               str(k), "--name", f"x{k}", "--arn")  # fmt: skip
            assert started.returncode == 0, started.stderr
            self.k_of[started.stdout.strip()] = k
        arns = list(self.k_of)
        self.tally.executions = executions
        procs = [self.worker(concurrency) for _ in range(workers)]
        self.started = [time.monotonic()] * workers
        stop = threading.Event()
        answerer = threading.Thread(target=self.answer_callbacks, args=(stop,), daemon=True)
        answerer.start()
        snapshots: list[tuple[set[str], int]] = []
        reader = open_store(self.url, timeout=2)
        try:
            began = time.monotonic()
            next_action = began + self.rng.uniform(0.05, 0.6)
            while time.monotonic() - began < deadline_s:
                time.sleep(self.rng.uniform(0.005, 0.03))
                try:
                    recorded = _recorded(reader, arns)  # first what is recorded, then the log
                    snapshots.append((recorded, len(_lines(self.log))))
                    done = all(_status(reader, arn) != "RUNNING" for arn in arns)
                except StoreError:
                    continue
                if done and not actions:
                    break
                broken = [p.returncode for p in procs if p.poll() not in (None, -signal.SIGKILL)]
                if broken:
                    self.tally.violations.append(f"a worker exited by itself: {broken}")
                    break
                if actions and time.monotonic() >= next_action:
                    self.act(actions.pop(), procs, concurrency, restart)
                    next_action = time.monotonic() + self.rng.uniform(0.05, 0.6)
            else:
                self.tally.violations.append(f"trial did not finish within {deadline_s:g} s")
        finally:
            stop.set()
            answerer.join(30)
            for proc in procs:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
        try:
            self.check(reader, arns, snapshots)
        finally:
            reader.close()

    def act(self, action: str, procs: list[subprocess.Popen[bytes]], concurrency: int,
            restart: Any) -> None:  # fmt: skip
        victim = self.rng.randrange(len(procs))
        if action == "kill":
            procs[victim].send_signal(signal.SIGKILL)
            procs[victim].wait()
            self.tally.kills += 1
            if self.rng.random() < 0.3:  # the execution waits for a worker a while
                time.sleep(self.rng.uniform(0, 0.4))
        elif action == "term":
            # Past its start-up: a signal that lands while Python itself still starts (before
            # durable_gen is imported) ends the process as the signal's default does. A loaded
            # machine takes seconds to get there: wait until the process catches SIGTERM.
            time.sleep(max(0.0, self.started[victim] + 1.5 - time.monotonic()))
            _await_handler(procs[victim].pid, signal.SIGTERM, timeout=60)
            procs[victim].send_signal(signal.SIGTERM)
            try:
                code = procs[victim].wait(60)
            except subprocess.TimeoutExpired:
                procs[victim].kill()
                code = procs[victim].wait()
            if code != 0:
                self.tally.violations.append(f"a worker exited {code} after SIGTERM")
            self.tally.terms += 1
        else:
            restart()
            self.tally.restarts += 1
            return
        procs[victim] = self.worker(concurrency)
        self.started[victim] = time.monotonic()

    def check(self, store: Any, arns: list[str], snapshots: list[tuple[set[str], int]]) -> None:
        v = self.tally.violations
        self.tally.snapshots = len(snapshots)
        lines = _lines(self.log)
        for recorded, position in snapshots:
            for event, label, _ in lines[position:]:
                if event == "start" and label in recorded:
                    v.append(f"step {label} started again after its success was recorded")
        starts = Counter(label for event, label, _ in lines if event == "start")
        ends = Counter(label for event, label, _ in lines if event == "end")
        for ex in store.executions():  # invoked executions included
            if ex.status != "SUCCEEDED":
                v.append(f"execution {ex.name} of {ex.function_name} ended {ex.status}: {ex.error}")
        for arn in arns:
            k = self.k_of[arn]
            ex = store.load(arn)
            if ex is None or ex.status != "SUCCEEDED":
                continue
            out = json.loads(ex.result)
            v.extend(f"x{k} {problem}" for problem in command_flows.problems(k, out))
            if starts[f"x{k}.once"] > 1 or (
                out["once"] != "interrupted" and starts[f"x{k}.once"] != 1
            ):
                v.append(f"x{k}: the at-most-once step started {starts[f'x{k}.once']} times")
            attempts = {
                op.name: op.step_details.attempt
                for op in store.operations(arn)
                if op.type == "STEP" and op.step_details is not None
            }
            if starts[f"x{k}.onceR"] > (attempts.get("once_retried") or 0):
                v.append(f"x{k}: at-most-once attempts started {starts[f'x{k}.onceR']} times in "
                         f"{attempts.get('once_retried')} attempts")  # fmt: skip
            for label in _recorded(store, [arn]):
                if ends[label] < 1 and not label.endswith(".flaky"):
                    v.append(f"{label}: recorded as succeeded, never ran to its end")
            self.check_history(arn, k, out, store)

    def check_history(self, arn: str, k: int, out: Any, store: Any) -> None:
        v = self.tally.violations
        shown = self.cli("show", arn)
        if shown.returncode != 0:
            v.append(f"show x{k}: exit {shown.returncode}: {shown.stderr.strip()}")
        exported = self.cli("history", arn, "--json")
        if exported.returncode != 0:
            v.append(f"history x{k}: exit {exported.returncode}: {exported.stderr.strip()}")
            return
        history = json.loads(exported.stdout)
        events = history["Events"]
        if [e["EventId"] for e in events] != list(range(1, len(events) + 1)):
            v.append(f"x{k}: the EventIds are not 1..n")
        if events[-1]["EventType"] != "ExecutionSucceeded":
            v.append(f"x{k}: the history ends with {events[-1]['EventType']}")
        ended = Counter(
            e["Id"]
            for e in events
            if e["EventType"] == "StepSucceeded"
            and not e["StepSucceededDetails"].get("RetryDetails", {}).get("NextAttemptDelaySeconds")
        )
        v.extend(f"x{k}: step {i[:12]} succeeded {n} times" for i, n in ended.items() if n > 1)
        ended_by: dict[str, str] = {}  # an operation's events stop at its end
        for e in events:
            op_id, kind = e.get("Id"), e["EventType"]
            if op_id is None or kind == "InvocationCompleted":
                continue
            if op_id in ended_by:
                v.append(f"x{k}: {kind} of {e.get('Name')} after its {ended_by[op_id]}")
            details = next((d for key, d in e.items() if key.endswith("Details")), {})
            retried = details.get("RetryDetails", {}).get("NextAttemptDelaySeconds")
            ends = kind.endswith(("Succeeded", "Failed", "TimedOut", "Stopped", "Cancelled"))
            if ends and not retried:
                ended_by[op_id] = kind
        with_events = {e.get("Id") for e in events}
        for op in store.operations(arn):
            if op.type != "EXECUTION" and op.id not in with_events:
                v.append(f"x{k}: operation {op.name} ({op.id[:12]}) has no event")
        report = replay(command_flows.every_command, history)
        if report.status != "ok" or report.result != out or report.warnings:
            v.append(f"x{k}: replay of its history: {report}")


def _status(store: Any, arn: str) -> str | None:
    ex = store.load(arn)
    return None if ex is None else str(ex.status)


def _recorded(store: Any, arns: list[str]) -> set[str]:
    """Labels of the steps whose success the database holds."""
    labels = set()
    for arn in arns:
        for op in store.operations(arn):
            details = op.step_details
            if op.type == "STEP" and op.status == "SUCCEEDED" and details and details.result:
                value = json.loads(details.result)
                if isinstance(value, str) and "=" in value:
                    labels.add(value.split("=")[0])
    return labels


def trial(
    rng: random.Random,
    *,
    cluster: Any = None,
    executions: int = 3,
    workers: int = 2,
    concurrency: int = 2,
    kills: int = 4,
    terms: int = 1,
    restarts: int = 0,
    skip_time: bool = True,
    deadline_s: float = 120.0,
) -> Tally:
    """One trial on a new SQLite file, or on a new database of ``cluster`` (a
    ``tests.postgres.server.Cluster``, which is then restarted ``restarts`` times)."""
    with tempfile.TemporaryDirectory(prefix="dg-commands-") as tmp:
        url = cluster.create_database("commands") if cluster else f"sqlite:///{tmp}/soak.db"
        actions = ["kill"] * kills + ["term"] * terms + ["restart"] * (restarts if cluster else 0)
        rng.shuffle(actions)
        one = _Trial(url, Path(tmp), rng, skip_time)
        one.run(
            executions=executions,
            workers=workers,
            concurrency=concurrency,
            actions=actions,
            restart=lambda: cluster.restart("immediate"),
            deadline_s=deadline_s,
        )
        if one.tally.violations and one.err.exists():
            one.tally.violations.append("workers' stderr: " + one.err.read_text()[-1500:])
        return one.tally


def catches(pid: int, signum: int) -> bool | None:
    """Whether process ``pid`` catches ``signum`` now (its ``SigCgt`` mask); None where that
    cannot be read (not Linux, or the process is gone)."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    caught = next((ln.split()[1] for ln in text.splitlines() if ln.startswith("SigCgt:")), "0")
    return bool(int(caught, 16) >> (signum - 1) & 1)


def _await_handler(pid: int, signum: int, *, timeout: float) -> None:
    """Wait until process ``pid`` catches ``signum`` (or that cannot be told)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and catches(pid, signum) is False:
        time.sleep(0.02)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--executions", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=1, help="above 1 needs --real-time")
    parser.add_argument("--kills", type=int, default=6)
    parser.add_argument("--terms", type=int, default=1)
    parser.add_argument("--restarts", type=int, default=1, help="on Postgres")
    parser.add_argument("--real-time", action="store_true", help="no --skip-time")
    parser.add_argument("--store", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--seed", type=int)
    args = parser.parse_args()
    return run_trials(
        args.store,
        args.trials,
        args.seed,
        Tally(),
        lambda rng, cluster: trial(
            rng,
            cluster=cluster,
            executions=args.executions,
            workers=args.workers,
            concurrency=args.concurrency,
            kills=args.kills,
            terms=args.terms,
            restarts=args.restarts,
            skip_time=not args.real_time,
        ),
    )


def run_trials(
    store: str, trials: int, seed: int | None, total: Any, one: Callable[[random.Random, Any], Any]
) -> int:
    """A soak's command line: ``trials`` trials of ``one(rng, cluster)`` (``cluster`` a
    throwaway durable Postgres server with ``store == "postgres"``, else None), each added to
    the tally ``total``; prints the seed, the report and the time. 1 if any violation."""
    seed = random.randrange(2**32) if seed is None else seed
    cluster = None
    if store == "postgres":
        from ..postgres.server import Cluster, find_bindir

        bindir = find_bindir()
        if bindir is None:
            raise SystemExit("no Postgres server binaries (initdb, pg_ctl) found")
        cluster = Cluster(bindir, durable=True)
    began = time.monotonic()
    try:
        for i in range(trials):
            total.add(one(random.Random(seed + i), cluster))
            print(f"... {i + 1} trials, {len(total.violations)} violations", file=sys.stderr)
    finally:
        if cluster is not None:
            cluster.remove()
    print(f"seed: {seed}")
    print(total.report())
    print(f"time: {time.monotonic() - began:.1f} s")
    return 1 if total.violations else 0


if __name__ == "__main__":
    sys.exit(main())
