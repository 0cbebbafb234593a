"""Crash soak: kill worker processes with SIGKILL at random points and check what survives.

Each trial starts one execution of ``tests.soak.flows:soak`` in a fresh database, then runs
``durable-gen worker`` processes and kills one to three of them at random moments (inside a
step, between a checkpoint and the next step, during the Map), then lets a last worker finish.
It checks that

- the execution succeeds with the result of an uninterrupted run, and no operation is missing;
- no step whose success was recorded before a kill runs again after it;
- the at-most-once step never starts twice.

Run ``python -m tests.soak.crash --trials 1000`` for the full soak; it prints a tally.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from durable_gen.local import SqliteStore, Worker

from . import flows

ROOT = Path(__file__).resolve().parents[2]
#: Lines an uninterrupted run writes to the log: a start and an end per step.
FULL_LOG = 2 * (flows.SEQUENTIAL + flows.MAP_ITEMS + 1)


@dataclass
class Tally:
    """What the trials saw."""

    trials: int = 0
    kills: int = 0
    kill_points: Counter[str] = field(default_factory=Counter)
    reruns: int = 0  # at-least-once steps run again because the kill came before their record
    interrupted_once: int = 0  # the at-most-once step was cut short (it is not run again)
    violations: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, other: Tally) -> None:
        with self.lock:
            self.trials += other.trials
            self.kills += other.kills
            self.kill_points.update(other.kill_points)
            self.reruns += other.reruns
            self.interrupted_once += other.interrupted_once
            self.violations.extend(other.violations)

    def report(self) -> str:
        points = ", ".join(f"{k} {v}" for k, v in sorted(self.kill_points.items()))
        lines = [
            f"trials: {self.trials}",
            f"kills: {self.kills} ({points})",
            f"at-least-once steps re-run after a kill before their record: {self.reruns}",
            f"at-most-once step interrupted (not re-run): {self.interrupted_once}",
            f"violations: {len(self.violations)}",
        ]
        lines.extend(f"  {v}" for v in self.violations[:20])
        return "\n".join(lines)


def _env(log: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env[flows.LOG_ENV] = str(log)
    return env


def _worker(db: Path, env: dict[str, str], *extra: str) -> subprocess.Popen[bytes]:
    """A ``durable-gen worker`` process; its stderr goes to a file beside ``db`` (see ``_err``)."""
    with open(_err_path(db), "ab") as err:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "durable_gen.cli",
                "worker",
                "--db",
                str(db),
                "--poll",
                "0.01",
                *extra,
            ],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )


def _err_path(db: Path) -> Path:
    return db.with_name(db.name + ".stderr")


def _err(db: Path) -> str:
    """The end of what the workers on ``db`` wrote to stderr."""
    try:
        return _err_path(db).read_text(encoding="utf-8", errors="replace")[-3000:]
    except FileNotFoundError:
        return ""


def _stop(proc: subprocess.Popen[bytes], db: Path) -> None:
    """SIGTERM, then SIGKILL if the worker has not exited within 30 s (that is a failure)."""
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        message = f"worker {proc.pid} ignored SIGTERM for 30 s; stderr: {_err(db)}"
        raise AssertionError(message) from None


def _lines(log: Path) -> list[list[str]]:
    try:
        text = log.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    return [line.split() for line in text.splitlines() if line.count(" ") == 2]


def _recorded_labels(db: Path, arn: str) -> set[str]:
    """Labels of the steps whose success the database holds."""
    with SqliteStore(db) as store:
        ops = store.operations(arn)
    labels = set()
    for op in ops:
        details = op.step_details
        if op.type == "STEP" and op.status == "SUCCEEDED" and details and details.result:
            labels.add(details.result.strip('"').split("=")[0])
    return labels


def trial(rng: random.Random) -> Tally:
    """One execution, killed one to three times, then finished; returns its tally."""
    tally = Tally(trials=1)
    with tempfile.TemporaryDirectory(prefix="dg-soak-") as tmp:
        db, log = Path(tmp) / "soak.db", Path(tmp) / "steps.log"
        env = _env(log)
        n = rng.randrange(100)
        with Worker(db) as starter:
            name = starter.register(flows.soak)
            arn = starter.service.start(name, str(n))
        recorded_at_kill: list[tuple[set[str], set[str]]] = []  # (labels recorded, pids before)
        pids: set[str] = set()
        for _ in range(rng.randint(1, 3)):
            done = len(_lines(log))  # re-run steps write more than FULL_LOG lines
            target = rng.randrange(done, max(done, FULL_LOG) + 2)
            proc = _worker(db, env, "--lease", "30")
            deadline = time.monotonic() + 20
            while len(_lines(log)) < target and proc.poll() is None:
                if time.monotonic() > deadline:
                    break
                time.sleep(0.0005)
            time.sleep(rng.uniform(0, 0.003))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                tally.kills += 1
            proc.wait()
            pids.add(str(proc.pid))
            lines = _lines(log)
            last = lines[-1] if lines else ["none", "", ""]
            place = "in Map" if last[1].startswith("map-") else "in sequence"
            where = "inside a step" if last[0] == "start" else "between steps"
            tally.kill_points[f"{where} {place}"] += 1
            recorded_at_kill.append((_recorded_labels(db, arn), set(pids)))
        for _ in range(3):
            final = _worker(db, env, "--once")
            final.wait(60)
            if final.returncode != 0:
                tally.violations.append(f"final worker failed: {_err(db)[-300:]}")
            with Worker(db) as reader:
                record = reader.service.get_execution(arn)
                ops = reader.service.get_operations(arn)
            if record.is_terminal:
                break
        _check(tally, record, ops, _lines(log), recorded_at_kill, n)
    return tally


def _check(tally: Tally, record, ops, lines, recorded_at_kill, n) -> None:  # type: ignore[no-untyped-def]
    if record.status != "SUCCEEDED":
        tally.violations.append(f"execution ended {record.status}: {record.error}")
        return
    import json

    if json.loads(record.result) != flows.expected(n):
        tally.violations.append(f"result {record.result} != {flows.expected(n)}")
    for recorded, before in recorded_at_kill:
        for event, label, pid in lines:
            if event == "start" and pid not in before and label in recorded:
                tally.violations.append(f"step {label} ran again after its success was recorded")
    starts = Counter(label for event, label, _ in lines if event == "start")
    if starts["once"] > 1:
        tally.violations.append(f"the at-most-once step started {starts['once']} times")
    tally.reruns += sum(count - 1 for label, count in starts.items() if label != "once")
    names = Counter((op.type, op.sub_type, op.status) for op in ops if op.name != "notify")
    want = {
        ("STEP", "Step", "SUCCEEDED"): flows.SEQUENTIAL + flows.MAP_ITEMS,
        ("CONTEXT", "MapIteration", "SUCCEEDED"): flows.MAP_ITEMS,
        ("CONTEXT", "Map", "SUCCEEDED"): 1,
        ("EXECUTION", None, "SUCCEEDED"): 1,
    }
    if dict(names) != want:
        tally.violations.append(f"operations {dict(names)} != {want}")
    notify = [op for op in ops if op.name == "notify"]
    if len(notify) != 1:
        tally.violations.append(f"{len(notify)} notify operations")
    elif notify[0].status != "SUCCEEDED":
        tally.interrupted_once += 1


def run_trials(
    trials: int, *, jobs: int = 1, seed: int | None = None, progress: bool = False
) -> Tally:
    """Run ``trials`` trials, ``jobs`` at a time; returns the combined tally."""
    seed = random.randrange(2**32) if seed is None else seed
    total = Tally()

    def one(i: int) -> Tally:
        try:
            return trial(random.Random(seed + i))
        except Exception as exc:  # a broken trial is reported, not fatal to the soak
            return Tally(trials=1, violations=[f"trial {i} (seed {seed + i}) raised {exc!r}"])

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        for i, result in enumerate(pool.map(one, range(trials)), 1):
            total.add(result)
            if progress and i % 100 == 0:
                print(f"... {i} trials, {len(total.violations)} violations", file=sys.stderr)
    return total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--seed", type=int)
    args = parser.parse_args()
    started = time.monotonic()
    tally = run_trials(args.trials, jobs=args.jobs, seed=args.seed, progress=True)
    print(tally.report())
    print(f"time: {time.monotonic() - started:.1f} s")
    return 1 if tally.violations else 0


if __name__ == "__main__":
    sys.exit(main())
