"""Fleet crash soak: several workers share executions; kills, and database restarts on Postgres.

Each trial starts a few executions of ``tests.postgres.flows:fleet`` in a new database, runs
several ``Worker`` processes against it, and meanwhile SIGKILLs workers at random moments
(replacing each with a fresh one), restarts the database server (``pg_ctl -m immediate``:
as if it crashed) and cuts every worker's connection at once (``pg_terminate_backend``, in
the middle of whatever transaction it ran: a checkpoint so cut is tried again). Every few
tens of milliseconds it notes which steps the database has recorded and how long the step
log is. At the end it checks that

- every execution succeeded with the result of an uninterrupted run (none is lost);
- no step whose success was recorded started again later (by any worker);
- no at-most-once step started twice.

Run ``python -m tests.postgres.fleet_soak --trials 20`` for a longer soak; it prints a tally.
``--store sqlite`` runs the same on a SQLite file (no restarts): there the threads of a
worker with ``--concurrency`` above 1 commit their checkpoints together.
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
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from durable_gen._errors import StoreError
from durable_gen.local import Worker
from durable_gen.local._dbstore import DatabaseStore
from durable_gen.local._url import open_store

from ..soak import flows as soak_flows
from ..soak.crash import _lines
from . import flows
from .server import Cluster, find_bindir

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Tally:
    """What the trials saw."""

    trials: int = 0
    executions: int = 0
    lost: int = 0
    kills: int = 0
    restarts: int = 0
    cuts: int = 0  # connections of the workers ended by the server (pg_terminate_backend)
    snapshots: int = 0
    recorded_reruns: int = 0  # a step recorded as succeeded started again: must stay 0
    at_most_once_twice: int = 0  # must stay 0
    reruns: int = 0  # at-least-once steps run again because a kill came before their record
    interrupted_once: int = 0  # at-most-once steps cut short (not run again)
    violations: list[str] = field(default_factory=list)

    def add(self, other: Tally) -> None:
        names = (
            "trials executions lost kills restarts cuts snapshots recorded_reruns "
            "at_most_once_twice reruns interrupted_once"
        )
        for name in names.split():
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.violations.extend(other.violations)

    def report(self) -> str:
        lines = [
            f"trials: {self.trials}, executions: {self.executions}",
            f"worker SIGKILLs: {self.kills}, database restarts: {self.restarts}, "
            f"connections cut: {self.cuts}, snapshots checked: {self.snapshots}",
            f"lost executions: {self.lost}",
            f"re-runs of a recorded step: {self.recorded_reruns}",
            f"at-most-once steps run twice: {self.at_most_once_twice}",
            f"at-least-once steps re-run after a kill before their record: {self.reruns}",
            f"at-most-once steps interrupted (not re-run): {self.interrupted_once}",
            f"violations: {len(self.violations)}",
        ]
        lines.extend(f"  {v}" for v in self.violations[:20])
        return "\n".join(lines)


def _spawn(url: str, env: dict[str, str], concurrency: int = 1) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.postgres.fleet_worker", url, str(concurrency)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _cut_connections(url: str) -> None:
    """End every durable_gen connection to the database but this one (as the server would
    for a lost client), each in the middle of whatever it was doing."""
    import psycopg

    with psycopg.connect(url, autocommit=True, connect_timeout=2) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = 'durable_gen' AND pid <> pg_backend_pid()"
        )


def _recorded(store: DatabaseStore, arns: list[str]) -> set[str]:
    """Labels of the steps whose success the database holds."""
    labels = set()
    for arn in arns:
        for op in store.operations(arn):
            details = op.step_details
            if op.type == "STEP" and op.status == "SUCCEEDED" and details and details.result:
                labels.add(details.result.strip('"').split("=")[0])
    return labels


def trial(
    cluster: Cluster | None,
    rng: random.Random,
    *,
    executions: int = 4,
    workers: int = 3,
    kills: int = 3,
    restarts: int = 1,
    cuts: int = 0,
    concurrency: int = 1,
    deadline_s: float = 120.0,
) -> Tally:
    """One trial: ``executions`` executions, ``workers`` processes (each driving up to
    ``concurrency`` executions at once), chaos, then the checks."""
    tally = Tally(trials=1, executions=executions)
    with tempfile.TemporaryDirectory(prefix="dg-fleet-") as tmp:
        # No cluster: the workers share a SQLite file (and no server restarts).
        url = cluster.create_database("fleet") if cluster else f"sqlite:///{tmp}/fleet.db"
        restarts = restarts if cluster else 0
        cuts = cuts if cluster else 0
        log = Path(tmp) / "steps.log"
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        env[soak_flows.LOG_ENV] = str(log)
        os.environ[soak_flows.LOG_ENV] = str(log)  # for the starter's registration only
        with Worker(url) as starter:
            name = starter.register(flows.fleet)
            arns = [starter.service.start(name, str(k)) for k in range(executions)]
        procs = [_spawn(url, env, concurrency) for _ in range(workers)]
        actions = ["kill"] * kills + ["restart"] * restarts + ["cut"] * cuts
        rng.shuffle(actions)
        snapshots: list[tuple[set[str], int]] = []
        reader = open_store(url, timeout=2)
        try:
            started = time.monotonic()
            next_action = started + rng.uniform(0.05, 0.4)
            while time.monotonic() - started < deadline_s:
                time.sleep(rng.uniform(0.01, 0.05))
                try:
                    recorded = _recorded(reader, arns)  # first what is recorded, then the log
                    snapshots.append((recorded, len(_lines(log))))
                    done = all(
                        (ex := reader.load(arn)) is not None and ex.status != "RUNNING"
                        for arn in arns
                    )
                except StoreError:
                    continue  # the server is restarting
                if done and not actions:
                    break
                if actions and time.monotonic() >= next_action:
                    action = actions.pop()
                    if action == "kill":
                        victim = rng.randrange(len(procs))
                        procs[victim].send_signal(signal.SIGKILL)
                        procs[victim].wait()
                        procs[victim] = _spawn(url, env, concurrency)
                        tally.kills += 1
                    elif action == "cut":
                        # Every connection of the workers dies at once, wherever its
                        # transaction stands (a proxy or a firewall dropping them).
                        tally.cuts += 1
                        with contextlib.suppress(Exception):
                            _cut_connections(url)
                    else:
                        assert cluster is not None
                        cluster.restart("immediate")
                        tally.restarts += 1
                    next_action = time.monotonic() + rng.uniform(0.05, 0.5)
            else:
                tally.violations.append(f"trial did not finish within {deadline_s:g} s")
        finally:
            for proc in procs:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
            final = {arn: reader.load(arn) for arn in arns}
            operations = {arn: reader.operations(arn) for arn in arns}
            reader.close()
        _check(tally, arns, final, operations, _lines(log), snapshots)
    return tally


def _check(tally, arns, final, operations, lines, snapshots) -> None:  # type: ignore[no-untyped-def]
    tally.snapshots += len(snapshots)
    for recorded, position in snapshots:
        for event, label, _ in lines[position:]:
            if event == "start" and label in recorded:
                tally.recorded_reruns += 1
                tally.violations.append(
                    f"step {label} started again after its success was recorded"
                )
    starts = Counter(label for event, label, _ in lines if event == "start")
    for k, arn in enumerate(arns):
        ex = final[arn]
        if ex is None or ex.status != "SUCCEEDED":
            tally.lost += 1
            status = None if ex is None else (ex.status, ex.error)
            tally.violations.append(f"execution x{k} did not succeed: {status}")
            continue
        if json.loads(ex.result) != flows.fleet_expected(k):
            tally.violations.append(f"x{k}: result {ex.result} != {flows.fleet_expected(k)}")
        if starts[f"x{k}.once"] > 1:
            tally.at_most_once_twice += 1
            tally.violations.append(f"x{k}: the at-most-once step started {starts[f'x{k}.once']}x")
        ops = operations[arn]
        notify = [op for op in ops if op.name == "tagged_notify"]
        others = Counter((op.type, op.sub_type, op.status) for op in ops if op not in notify)
        want = {
            ("STEP", "Step", "SUCCEEDED"): 6 + flows.MAP_ITEMS,
            ("CONTEXT", "MapIteration", "SUCCEEDED"): flows.MAP_ITEMS,
            ("CONTEXT", "Map", "SUCCEEDED"): 1,
            ("EXECUTION", None, "SUCCEEDED"): 1,
        }
        if dict(others) != want:
            tally.violations.append(f"x{k}: operations {dict(others)} != {want}")
        if len(notify) != 1:
            tally.violations.append(f"x{k}: {len(notify)} at-most-once operations")
        elif notify[0].status != "SUCCEEDED":
            tally.interrupted_once += 1
    tally.reruns += sum(count - 1 for label, count in starts.items() if not label.endswith("once"))


def run_trials(
    trials: int, *, seed: int | None = None, store: str = "postgres", **options: int
) -> Tally:
    """Run ``trials`` trials (on one throwaway cluster, or on SQLite files); returns the tally."""
    seed = random.randrange(2**32) if seed is None else seed
    total = Tally()
    cluster = None
    if store == "postgres":
        bindir = find_bindir()
        if bindir is None:
            raise RuntimeError("no Postgres server binaries (initdb, pg_ctl) found")
        cluster = Cluster(bindir)
    try:
        for i in range(trials):
            total.add(trial(cluster, random.Random(seed + i), **options))
    finally:
        if cluster is not None:
            cluster.remove()
    return total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--executions", type=int, default=6)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--kills", type=int, default=4)
    parser.add_argument("--restarts", type=int, default=1)
    parser.add_argument("--cuts", type=int, default=2, help="all workers' connections ended")
    parser.add_argument("--concurrency", type=int, default=2, help="of each worker")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--store", choices=["postgres", "sqlite"], default="postgres")
    args = parser.parse_args()
    started = time.monotonic()
    tally = run_trials(
        args.trials,
        seed=args.seed,
        store=args.store,
        executions=args.executions,
        workers=args.workers,
        kills=args.kills,
        restarts=args.restarts,
        cuts=args.cuts,
        concurrency=args.concurrency,
    )
    print(tally.report())
    print(f"time: {time.monotonic() - started:.1f} s")
    return 1 if tally.violations else 0


if __name__ == "__main__":
    sys.exit(main())
