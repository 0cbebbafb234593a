"""In-process crash trials: the Python API on SQLite, killed with SIGKILL at random moments.

Written from the docs alone. Each trial starts ``tests.soak.api_flows:trial`` (every command:
steps sync and async, a retry with backoff, a wait, a step timeout, an at-most-once step, a
``Map`` with a completion policy, nested ``Child`` contexts, ``WaitForCondition``, a
``WaitForCallback`` answered while no process runs, an ``Invoke`` of another workflow) in a
subprocess through one documented entry point, kills it, resumes it with a fresh process the
documented way, and at the end checks that

- the execution succeeds with the result of an uninterrupted run;
- nothing recorded before a kill is lost or changed afterwards;
- no step whose success was recorded before a kill starts again after it;
- the at-most-once step starts at most once;
- the final history replays (``durable_gen.testing.replay``) without a difference.

Entry points (``--mode``): ``drive`` (``Worker.register``, ``service.start`` with an
``execution_name``, ``Worker.drive``), ``service`` (``LocalService(store=SqliteStore(...))``
with ``make_handler``, ``service.run``) and ``run`` (``Worker(..., concurrency=2).run()``);
``race`` resumes with two processes at once. Run ``python -m tests.soak.api_crash --trials 50``
for a longer soak; it prints a tally.
"""

from __future__ import annotations

import argparse
import contextlib
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
MODES = ("drive", "service", "run", "race")
CALLEE_ENV = "DURABLE_GEN_API_SOAK_CALLEE"
INPUT = 7
#: How long the last process of a trial may take (the workflow itself needs about 6 s).
FINISH_SECONDS = 40.0


# --- the child process -----------------------------------------------------------------


def child(db: str, mode: str) -> int:
    """Start (idempotently) and drive the trial's execution; print its record as JSON."""
    from durable_gen.local import LocalService, SqliteStore, Worker
    from durable_gen.runtime import make_handler

    from . import api_flows

    api_flows.log("phase", "open")  # the driver's early kills aim just after this line
    if mode == "service":
        with SqliteStore(db) as store:
            service = LocalService(store=store)
            trial_name = "api-trial"
            callee_name = "api-callee"
            os.environ[CALLEE_ENV] = callee_name
            service.register(trial_name, make_handler(api_flows.trial, service))
            service.register(callee_name, make_handler(api_flows.callee, service))
            arn = service.start(trial_name, str(INPUT), execution_name="trial")
            record = service.run(arn)
            while record.status == "RUNNING":  # a callback, answered from outside
                time.sleep(0.05)
                record = service.run(arn)
            print(json.dumps({"status": record.status, "result": record.result}), flush=True)
            return 0
    concurrency = 2 if mode == "run" else 1
    with Worker(db, concurrency=concurrency, log=lambda line: None) as worker:
        name = worker.register(api_flows.trial)
        os.environ[CALLEE_ENV] = worker.register(api_flows.callee)
        arn = worker.service.start(name, str(INPUT), execution_name="trial")
        if mode == "run":
            done = threading.Event()

            def watch() -> None:
                while not done.is_set():
                    if worker.service.get_execution(arn).is_terminal:
                        worker.stop()
                        return
                    time.sleep(0.05)

            watcher = threading.Thread(target=watch, daemon=True)
            watcher.start()
            worker.run()
            done.set()
            record = worker.service.get_execution(arn)
        else:
            record = worker.drive(arn)
            while record.status == "RUNNING":
                time.sleep(0.05)
                record = worker.drive(arn)
        print(json.dumps({"status": record.status, "result": record.result}), flush=True)
    return 0


# --- the driver ------------------------------------------------------------------------


@dataclass
class Tally:
    """What the trials saw."""

    trials: int = 0
    kills: Counter[str] = field(default_factory=Counter)
    points: Counter[str] = field(default_factory=Counter)  # kills by when they came
    reruns: int = 0  # at-least-once steps started again after a kill (their success unrecorded)
    interrupted: int = 0  # the at-most-once step was cut short
    violations: list[str] = field(default_factory=list)

    def report(self) -> str:
        kills = ", ".join(f"{mode}: {n}" for mode, n in sorted(self.kills.items()))
        kills += " (" + ", ".join(f"{p}: {n}" for p, n in sorted(self.points.items())) + ")"
        lines = [
            f"{self.trials} trials, kills per entry point: {kills or 'none'}; "
            f"{self.reruns} re-runs of unrecorded steps, at-most-once interrupted "
            f"{self.interrupted} times; {len(self.violations)} violations"
        ]
        lines += [f"  VIOLATION {v}" for v in self.violations]
        return "\n".join(lines)


def _env(log: Path) -> dict[str, str]:
    from . import api_flows

    env = dict(os.environ)
    env[api_flows.LOG_ENV] = str(log)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return env


def _spawn(db: Path, log: Path, mode: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.soak.api_crash", "--child", str(db), "--mode", mode],
        cwd=ROOT,
        env=_env(log),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _label(op: Any, by_id: dict[str, Any]) -> list[str]:
    """The log labels whose success (or finished attempts) ``op`` records."""
    if op.type != "STEP":
        return []
    if op.sub_type == "WaitForCondition":
        done = op.step_details.attempt if op.step_details else 0
        return [f"check-{k}" for k in range(done)]
    if op.status != "SUCCEEDED":
        return []
    if op.name == "item":
        return [by_id[op.parent_id].name]
    if op.name == "approval submitter":
        return ["submit"]
    return [op.name]


def _snapshot(db: Path) -> tuple[set[str], dict[str, tuple[str, str, Any]]]:
    """The labels recorded as done, and every operation's (status, type, result) by id."""
    from durable_gen.local import SqliteStore

    labels: set[str] = set()
    ops: dict[str, tuple[str, str, Any]] = {}
    if not db.exists():
        return labels, ops
    with SqliteStore(str(db)) as store:
        for header in store.executions():
            arn = header.arn
            found = list(store.operations(arn))
            by_id = {op.id: op for op in found}
            for op in found:
                labels.update(_label(op, by_id))
                result = op.step_details.result if op.step_details else None
                ops[f"{arn}/{op.id}"] = (op.status, op.type, result)
    return labels, ops


class _Answerer:
    """Answers the trial's callback as soon as its id is in the log, from this process."""

    def __init__(self, db: Path, log: Path) -> None:
        self.db, self.log = db, log
        self.answered: set[str] = set()

    def poll(self) -> None:
        from durable_gen import UnknownCallbackError
        from durable_gen.local import LocalService, SqliteStore

        if not self.log.exists():
            return
        ids = [
            line.split()[1]
            for line in self.log.read_text().splitlines()
            if line.startswith("callback ")
        ]
        for callback_id in ids:
            if callback_id in self.answered:
                continue
            # A submitter run again after a kill hands over a new id; the first was answered.
            with SqliteStore(str(self.db)) as store, contextlib.suppress(UnknownCallbackError):
                LocalService(store=store).send_callback_success(callback_id, '"approved"')
            self.answered.add(callback_id)


def _waits(db: Path) -> str:
    """What each execution in ``db`` waits on, for a report."""
    from durable_gen.local import LocalService, SqliteStore

    with SqliteStore(str(db)) as store:
        service = LocalService(store=store)
        return "; ".join(
            f"{record.name} {record.status} {service.waiting_on(record.arn)}"
            for record in service.list_executions()
        )


def _unfinished(lines: list[list[str]]) -> list[tuple[str, str]]:
    """(pid, label) of the steps the log shows started and not ended."""
    open_steps: Counter[tuple[str, str]] = Counter()
    for event, label, pid in lines:
        if event == "start":
            open_steps[pid, label] += 1
        elif event in ("end", "fail"):
            open_steps[pid, label] -= 1
    return [key for key, n in open_steps.items() if n > 0]


def _log_lines(log: Path) -> list[list[str]]:
    if not log.exists():
        return []
    return [line.split() for line in log.read_text().splitlines() if line.strip()]


def run_trial(
    mode: str,
    rng: random.Random,
    tally: Tally,
    *,
    kills: int = 3,
    points: tuple[str, ...] | None = None,
) -> None:
    """One trial: ``kills`` SIGKILLs at random moments, then a last process that finishes.

    ``points`` limits when the kills come (``early``, ``later``, ``in-step``, ``in-once``,
    and ``sigterm``, a SIGTERM in mode ``run``).
    """
    from durable_gen.local import SqliteStore
    from durable_gen.testing import replay

    from . import api_flows

    with tempfile.TemporaryDirectory(prefix="api-crash-") as tmp:
        db, log = Path(tmp) / "durable.db", Path(tmp) / "steps.log"
        answerer = _Answerer(db, log)
        forbidden: list[tuple[int, set[str]]] = []  # (log position, labels recorded by then)
        recorded: dict[str, tuple[str, str, Any]] = {}
        for k in range(kills):
            procs = [_spawn(db, log, "drive" if mode == "race" else mode)]
            if mode == "race" and k > 0:
                procs.append(_spawn(db, log, rng.choice(["drive", "run"])))
            # Early kills land in the file's creation, the start, the first checkpoint; kills
            # after a log line land inside a step or just after it.
            point = rng.choice(["early", "later", "in-step", "in-once"])
            if mode == "run" and rng.random() < 0.3:
                point = "sigterm"  # a graceful stop while steps run: they end in this process
            if points is not None:
                point = rng.choice(points)
            delay = {"later": rng.uniform(0.3, 4.0)}.get(point, 8.0)
            seen = len(_log_lines(log))
            lines = seen + rng.randint(2, 12)
            deadline = time.monotonic() + delay
            while time.monotonic() < deadline and any(p.poll() is None for p in procs):
                new = _log_lines(log)[seen:]
                if point in ("in-step", "sigterm") and len(new) + seen >= lines:
                    break
                if point == "in-once" and any(line[:2] == ["start", "once"] for line in new):
                    break
                if point == "early" and any(line[:2] == ["phase", "open"] for line in new):
                    # the file's creation, its schema, the start, the first checkpoint
                    time.sleep(rng.uniform(0.0, 0.06))
                    break
                answerer.poll()
                time.sleep(0.002)
            for p in procs:
                if p.poll() is None:
                    p.send_signal(signal.SIGTERM if point == "sigterm" else signal.SIGKILL)
                    tally.kills[mode] += 1
                    tally.points[point] += 1
                try:
                    p.communicate(timeout=FINISH_SECONDS)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.communicate()
                    tally.violations.append(f"{mode}: a SIGTERM did not stop the process")
                if point == "sigterm" and p.returncode != 0:
                    tally.violations.append(f"{mode}: SIGTERM ended the process {p.returncode}")
            if point == "sigterm":
                for pid, label in _unfinished(_log_lines(log)):
                    if pid in {str(p.pid) for p in procs} and label != "flaky":
                        tally.violations.append(f"{mode}: SIGTERM left step {label} unfinished")
            labels, ops = _snapshot(db)
            forbidden.append((len(_log_lines(log)), labels))
            for key, (status, kind, result) in recorded.items():
                now = ops.get(key)
                if now is None:
                    tally.violations.append(f"{mode}: operation {key} recorded, then lost")
                elif kind == "STEP" and status == "SUCCEEDED" and now != (status, kind, result):
                    tally.violations.append(f"{mode}: step {key} changed from {result!r}: {now}")
            recorded = ops
            answerer.poll()  # the callback is answered while no process runs
        final = _spawn(db, log, "drive" if mode == "race" else mode)
        deadline = time.monotonic() + FINISH_SECONDS
        while final.poll() is None and time.monotonic() < deadline:
            answerer.poll()
            time.sleep(0.02)
        if final.poll() is None:
            final.kill()
            out, err = final.communicate()
            tally.violations.append(
                f"{mode}: the last process did not finish: {_waits(db)}; {err[-2000:]}"
            )
            tally.trials += 1
            return
        out, err = final.communicate()
        lines = _log_lines(log)
        tally.trials += 1
        if final.returncode != 0 or not out.strip():
            tally.violations.append(f"{mode}: the last process failed: {err[-2000:]}")
            return
        record = json.loads(out.strip().splitlines()[-1])
        starts = Counter(line[1] for line in lines if line[0] == "start")
        once_ends = sum(1 for line in lines if line[:2] == ["end", "once"])
        result = json.loads(record["result"]) if record["result"] else None
        once_ran = result is not None and result.get("once") != "interrupted"
        if once_ran and once_ends == 0:
            tally.violations.append(f"{mode}: 'once' succeeded without running to its end")
        if not once_ran:
            tally.interrupted += 1
        want = api_flows.expected(INPUT, once_ran=once_ran)
        if record["status"] != "SUCCEEDED" or result != want:
            tally.violations.append(f"{mode}: ended {record['status']} {result!r}, want {want!r}")
        if starts["once"] > 1:
            tally.violations.append(f"{mode}: the at-most-once step started {starts['once']} times")
        for position, labels in forbidden:
            for line in lines[position:]:
                if line[0] == "start" and line[1] in labels:
                    tally.violations.append(
                        f"{mode}: step {line[1]} started again after its success was recorded"
                    )
        tally.reruns += sum(n - 1 for label, n in starts.items() if n > 1 and label != "flaky")
        _, ops = _snapshot(db)
        for key in recorded:
            if key not in ops:
                tally.violations.append(f"{mode}: operation {key} recorded, then lost")
        with SqliteStore(str(db)) as store:
            for header in store.executions():
                events = store.events(header.arn)
                if header.function_name.endswith("trial"):
                    os.environ[CALLEE_ENV] = (
                        "api-callee" if mode == "service" else "tests.soak.api_flows.callee"
                    )
                    report = replay(api_flows.trial, events, execution_arn=header.arn)
                    if not report.ok:
                        tally.violations.append(f"{mode}: the history does not replay: {report}")


def run_trials(
    trials: int,
    *,
    seed: int,
    modes: tuple[str, ...] = MODES,
    kills: int = 3,
    points: tuple[str, ...] | None = None,
) -> Tally:
    """``trials`` trials of each mode in ``modes``."""
    rng = random.Random(seed)
    tally = Tally()
    for _ in range(trials):
        for mode in modes:
            run_trial(mode, rng, tally, kills=kills, points=points)
    return tally


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.soak.api_crash", description=__doc__)
    parser.add_argument("--trials", type=int, default=5, help="trials per entry point")
    parser.add_argument("--kills", type=int, default=3, help="SIGKILLs per trial")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--mode", choices=MODES, action="append")
    parser.add_argument("--child", metavar="DB", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args.child, (args.mode or ["drive"])[0])
    seed = args.seed if args.seed is not None else random.randrange(2**32)
    print(f"seed {seed}", flush=True)
    tally = run_trials(args.trials, seed=seed, modes=tuple(args.mode or MODES), kills=args.kills)
    print(tally.report())
    return 1 if tally.violations else 0


if __name__ == "__main__":
    sys.exit(main())
