"""Shape soak: wide Maps, nesting, invoke chains and callbacks on concurrent workers under kills.

Each trial starts executions of the workflows of ``tests.soak.shape_flows`` (round robin:
``fan``, ``nest``, ``chain``, ``callbacks``, ``long`` twice) with ``durable-gen start``, runs
``durable-gen worker --concurrency N`` processes (``N`` 16 by default: the threads of a worker
commit their checkpoints together on SQLite), answers every callback from another process
with ``durable-gen callback succeed``, and meanwhile

- SIGKILLs workers at random moments (a fresh worker takes each one's place);
- SIGKILLs the worker running the ``long`` execution and runs ``durable-gen stop`` on it at
  the same moment;
- SIGTERMs a worker while it runs steps: it must finish them and exit 0;
- on Postgres, restarts the server (``pg_ctl -m immediate``).

What is checked comes from the step log the steps write themselves, besides the database:

- every execution ended; each ends SUCCEEDED with what an uninterrupted run returns (the
  stopped one STOPPED, with at most one step started after ``stop`` returned and nothing but
  its invocation's end recorded after ``ExecutionStopped``);
- no step whose success the database held (read every few milliseconds) started again;
- no at-most-once step started twice;
- no step started after a step that follows it in the workflow had started (a recorded step
  run again, or a record lost after the workflow went past it);
- each step a SIGTERMed worker was running when the signal came ran to its end in that worker.

``python -m tests.soak.shape_crash --trials 10`` runs a longer soak (``--store postgres``);
it prints a tally.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
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

from durable_gen._errors import StoreError
from durable_gen.local import open_store

from . import flows, shape_flows
from .command_crash import _recorded as recorded_labels
from .command_crash import catches, run_trials
from .crash import _lines

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "durable_gen.cli"]
#: The second ``long`` keeps steps in flight for the SIGTERM once the first one is stopped.
KINDS = ["fan", "nest", "chain", "callbacks", "long", "long"]


@dataclass
class Tally:
    """What the trials saw."""

    trials: int = 0
    executions: int = 0
    kills: int = 0
    terms: int = 0
    stops: int = 0
    restarts: int = 0
    freezes: int = 0
    stalled_runs: int = 0  # steps a frozen worker started after it resumed (not recorded)
    snapshots: int = 0
    answers: int = 0
    reruns: int = 0  # at-least-once steps run again because a kill came before their record
    interrupted: int = 0  # at-most-once steps cut short by a kill (never run again)
    violations: list[str] = field(default_factory=list)

    def add(self, other: Tally) -> None:
        for name in ["trials", "executions", "kills", "terms", "stops", "restarts", "freezes",
                     "stalled_runs", "snapshots", "answers", "reruns", "interrupted"]:  # fmt: skip
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.violations.extend(other.violations)

    def report(self) -> str:
        lines = [
            f"trials: {self.trials}, executions: {self.executions}",
            f"worker SIGKILLs: {self.kills}, SIGTERMs: {self.terms}, stops while a worker "
            f"dies: {self.stops}, database restarts: {self.restarts}, workers frozen past their "
            f"lease: {self.freezes} (steps they started once resumed: {self.stalled_runs})",
            f"callbacks answered: {self.answers}, snapshots: {self.snapshots}",
            f"at-least-once steps run again (killed before their record): {self.reruns}, "
            f"at-most-once steps interrupted: {self.interrupted}",
            f"violations: {len(self.violations)}",
        ]
        lines.extend(f"  {v}" for v in self.violations[:20])
        return "\n".join(lines)


class _Trial:
    def __init__(
        self, url: str, tmp: Path, rng: random.Random, concurrency: int, lease: float
    ) -> None:
        self.url, self.rng, self.concurrency, self.lease = url, rng, concurrency, lease
        self.log, self.err = tmp / "steps.log", tmp / "workers.stderr"
        self.env = dict(os.environ)
        self.env["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])
        )
        self.env[flows.LOG_ENV] = str(self.log)
        self.env["DURABLE_GEN_DB"] = url
        self.tally = Tally(trials=1)
        self.kind: dict[str, tuple[str, int]] = {}  # arn: (kind, k)
        self.procs: list[subprocess.Popen[bytes]] = []
        self.answered: set[str] = set()
        self.stopped: dict[str, int] = {}  # arn: log length when stop returned
        self.term_checks: list[tuple[int, set[str]]] = []  # (pid, steps it was running)
        self.frozen: list[tuple[str, int]] = []  # (pid, log length when it was frozen)

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*CLI, *args], env=self.env, cwd=ROOT, capture_output=True, text=True, timeout=120
        )

    def start(self, kind: str) -> None:
        """Start one more execution of ``kind`` (its ``k`` is the next number)."""
        k = len(self.kind)
        started = self.cli("start", f"tests.soak.shape_flows:{kind}", "--input", str(k), "--arn")
        assert started.returncode == 0, started.stderr
        self.kind[started.stdout.strip()] = (kind, k)
        self.tally.executions += 1

    def worker(self) -> None:
        with open(self.err, "ab") as err:
            proc = subprocess.Popen(
                [*CLI, "worker", "-q", "--poll", "0.05", "--concurrency", str(self.concurrency),
                 "--lease", str(self.lease), "--lock-timeout", str(self.lease),
                 "--register", "mid=tests.soak.shape_flows:mid",
                 "--register", "leaf=tests.soak.shape_flows:leaf"],
                env=self.env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err,
            )  # fmt: skip
        self.procs.append(proc)

    def alive(self) -> list[subprocess.Popen[bytes]]:
        return [p for p in self.procs if p.poll() is None]

    def answer_callbacks(self, stop: threading.Event) -> None:
        """Answer each callback id a step logged, from another process (the CLI)."""
        while not stop.wait(0.02):
            for event, callback_id, _ in _lines(self.log):
                if event != "cb" or callback_id in self.answered:
                    continue
                payload = json.dumps(shape_flows.answer(callback_id))
                sent = self.cli("callback", "succeed", callback_id, payload)
                if sent.returncode == 0:
                    self.answered.add(callback_id)
                    self.tally.answers += 1
                elif "StoreUnavailableError" not in sent.stderr:  # else a restart: again
                    self.answered.add(callback_id)
                    self.tally.violations.append(f"callback {callback_id}: {sent.stderr}")

    def run(self, executions: int, workers: int, actions: list[str], restart: Any,
            deadline_s: float) -> None:  # fmt: skip
        for k in range(executions):
            self.start(KINDS[k % len(KINDS)])
        for _ in range(workers):
            self.worker()
        stop = threading.Event()
        answerer = threading.Thread(target=self.answer_callbacks, args=(stop,), daemon=True)
        answerer.start()
        snapshots: list[tuple[set[str], int]] = []
        reader = open_store(self.url, timeout=2)
        try:
            began = time.monotonic()
            next_action = began + self.rng.uniform(0.5, 1.5)
            while time.monotonic() - began < deadline_s:
                time.sleep(self.rng.uniform(0.005, 0.03))
                try:
                    recorded = _recorded(reader)  # first what is recorded, then the log
                    snapshots.append((recorded, len(_lines(self.log))))
                    done = all(ex.status != "RUNNING" for ex in reader.executions())
                except StoreError:
                    continue
                if done and not actions:
                    break
                if actions and time.monotonic() >= next_action:
                    self.act(actions.pop(), restart)
                    next_action = time.monotonic() + self.rng.uniform(0.2, 1.2)
            else:
                self.tally.violations.append(f"trial did not finish within {deadline_s:g} s")
        finally:
            stop.set()
            answerer.join(30)
            for proc in self.procs:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGKILL)
                    proc.wait()
        try:
            self.check(reader, snapshots)
        finally:
            reader.close()

    def act(self, action: str, restart: Any) -> None:
        alive = self.alive()
        if action == "restart":
            restart()
            self.tally.restarts += 1
        elif action == "kill" and alive:
            self.rng.choice(alive).send_signal(signal.SIGKILL)
            self.tally.kills += 1
            self.worker()
        elif action == "stop":
            self.stop_while_dying()
        elif action == "term" and alive:
            self.term_mid_step()
        elif action == "freeze" and alive:
            self.freeze_past_lease()

    def stop_while_dying(self) -> None:
        """SIGKILL the worker running the ``long`` execution, and stop the execution at once."""
        arn, (_, k) = next((a, v) for a, v in self.kind.items() if v[0] == "long")
        deadline = time.monotonic() + 10
        pids: list[str] = []
        while len(pids) < 3 and time.monotonic() < deadline:  # a few steps in
            pids = [pid for _, label, pid in _lines(self.log) if label.startswith(f"e{k}.")]
            time.sleep(0.005)
        running = next((p for p in self.alive() if pids and str(p.pid) == pids[-1]), None)
        if running is not None:
            running.send_signal(signal.SIGKILL)
            self.tally.kills += 1
        stopped = self.cli("stop", arn)
        if stopped.returncode != 0:
            self.tally.violations.append(f"stop: exit {stopped.returncode}: {stopped.stderr}")
        elif stopped.stdout.strip().endswith("STOPPED"):
            self.stopped[arn] = len(_lines(self.log))
            self.tally.stops += 1
        if running is not None:
            self.worker()

    def term_mid_step(self) -> None:
        """SIGTERM a worker (past its start-up) that runs steps; it must finish them."""
        # A loaded machine starts workers slowly, and the step in flight may belong to an
        # execution whose worker the stop just killed: it runs again once that lease expires.
        # Every step may also have ended already (the other long execution ran on a worker
        # the stop spared): then one more long execution gives the SIGTERM a step to land in.
        deadline = time.monotonic() + self.lease + 30
        idle_since: float | None = None
        while time.monotonic() < deadline:
            alive = self.alive()
            # steps in flight in a live worker (one a killed worker left open is not: it runs
            # again elsewhere once its lease expires, and counts as in flight only there)
            live = {str(p.pid) for p in alive}
            busy = {
                pid: labels
                for pid, labels in _in_flight(_lines(self.log)).items()
                if labels and pid in live
            }
            # past its start-up: a SIGTERM before the worker catches it ends it at once
            grown = [p for p in alive if catches(p.pid, signal.SIGTERM) is not False]
            victims = [p for p in grown if str(p.pid) in busy]
            if victims:
                victim = self.rng.choice(victims)
                victim.send_signal(signal.SIGTERM)
                self.term_checks.append((victim.pid, busy[str(victim.pid)]))
                try:
                    code = victim.wait(60)
                except subprocess.TimeoutExpired:
                    victim.kill()
                    code = victim.wait()
                if code != 0:
                    self.tally.violations.append(f"a worker exited {code} after SIGTERM")
                self.tally.terms += 1
                self.worker()
                return
            if busy:
                idle_since = None
            elif idle_since is None:
                idle_since = time.monotonic()
            elif time.monotonic() - idle_since > 2 and self.all_ended():
                self.start("long")
                idle_since = None
            time.sleep(0.002)

    def freeze_past_lease(self) -> None:
        """SIGSTOP a worker that runs steps (in a transaction or not) for longer than its lease:
        every execution it ran must move on in another worker meanwhile. Then SIGCONT it."""
        deadline = time.monotonic() + 15
        victims: list[subprocess.Popen[bytes]] = []
        while not victims and time.monotonic() < deadline:
            busy = {pid: labels for pid, labels in _in_flight(_lines(self.log)).items() if labels}
            victims = [p for p in self.alive() if str(p.pid) in busy]
            time.sleep(0.01)
        if not victims:
            return
        victim = self.rng.choice(victims)
        mark = len(_lines(self.log))
        victim.send_signal(signal.SIGSTOP)
        self.frozen.append((str(victim.pid), mark))
        self.worker()  # the fleet goes on without it
        running = {label.split(".")[0] for label in busy[str(victim.pid)]}
        moved: set[str] = set()
        deadline = time.monotonic() + 3 * self.lease + 10
        while moved != running and time.monotonic() < deadline:
            time.sleep(0.05)
            moved = {
                label.split(".")[0]
                for event, label, pid in _lines(self.log)[mark:]
                if event == "start" and pid != str(victim.pid)
            } & running
        for prefix in running - moved:
            arn = next(a for a, (_, k) in self.kind.items() if f"e{k}" == prefix)
            if self.status(arn) == "RUNNING":
                self.tally.violations.append(
                    f"{prefix}: its worker froze; nobody took it over in "
                    f"{3 * self.lease + 10:g} s (lease {self.lease:g} s)"
                )
        victim.send_signal(signal.SIGCONT)
        self.tally.freezes += 1

    def all_ended(self) -> bool:
        shown = self.cli("list", "--json")
        return shown.returncode == 0 and all(
            r["status"] != "RUNNING" for r in json.loads(shown.stdout)
        )

    def status(self, arn: str) -> str:
        shown = self.cli("list", "--json")
        return next((r["status"] for r in json.loads(shown.stdout) if r["arn"] == arn), "?")

    def check(self, store: Any, snapshots: list[tuple[set[str], int]]) -> None:
        v = self.tally.violations
        self.tally.snapshots = len(snapshots)
        lines = _lines(self.log)
        # What a worker frozen past its lease still runs when it resumes is not recorded, but
        # it runs (docs/engine.md, "What a lease protects"): such lines are not held against
        # the records, only counted (at-most-once steps still start at most once in all).
        stalled = {
            i
            for i, (_, _, pid) in enumerate(lines)
            for p, mark in self.frozen
            if pid == p and i >= mark
        }
        self.tally.stalled_runs = sum(1 for i in stalled if lines[i][0] == "start")
        for recorded, position in snapshots:
            for i, (event, label, _) in enumerate(lines[position:], position):
                if event == "start" and label in recorded and i not in stalled:
                    v.append(f"step {label} started again after its success was recorded")
                    recorded = recorded - {label}
        starts = Counter(label for event, label, _ in lines if event == "start")
        ends = Counter(label for event, label, _ in lines if event == "end")
        self.tally.reruns = sum(
            n - 1 for label, n in starts.items() if not shape_flows.is_at_most_once(label)
        )
        self.tally.interrupted = sum(
            1 for label in starts if shape_flows.is_at_most_once(label) and not ends[label]
        )
        v.extend(
            f"at-most-once step {label} started {n} times"
            for label, n in starts.items()
            if shape_flows.is_at_most_once(label) and n > 1
        )
        for pid, labels in self.term_checks:
            finished = {label for event, label, p in lines if event == "end" and p == str(pid)}
            if labels - finished:
                v.append(f"SIGTERMed worker {pid} left {sorted(labels - finished)} unfinished")
        for label in _recorded(store):
            if ends[label] < 1:
                v.append(f"{label}: recorded as succeeded, never ran to its end")
        for ex in store.executions():  # invoked executions included
            if ex.status == "RUNNING":
                v.append(f"execution {ex.name} of {ex.function_name} is still RUNNING")
        for arn, (kind, k) in self.kind.items():
            v.extend(f"e{k} ({kind}): {p}" for p in self.check_execution(store, arn, kind, k))
            kept = [line for i, line in enumerate(lines) if i not in stalled]
            v.extend(_out_of_order(kept, shape_flows.order(kind, k)))

    def check_execution(self, store: Any, arn: str, kind: str, k: int) -> list[str]:
        ex = store.load(arn)
        if arn in self.stopped:
            if ex.status != "STOPPED":
                return [f"stopped, then ended {ex.status}"]
            after = [
                label
                for event, label, _ in _lines(self.log)[self.stopped[arn] :]
                if event == "start" and label.startswith(f"e{k}.")
            ]
            found = [f"steps started after stop: {after}"] if len(after) > 1 else []
            exported = self.cli("history", arn, "--json")
            events = [e["EventType"] for e in json.loads(exported.stdout)["Events"]]
            tail = events[events.index("ExecutionStopped") + 1 :]
            if set(tail) - {"InvocationCompleted"} or len(tail) > 1:
                found.append(f"recorded after ExecutionStopped: {tail}")
            return found
        if ex.status != "SUCCEEDED":
            return [f"ended {ex.status}: {ex.error}"]
        return shape_flows.problems(kind, k, json.loads(ex.result))


def _recorded(store: Any) -> set[str]:
    """Labels of the steps whose success the database holds, in every execution."""
    return recorded_labels(store, [ex.arn for ex in store.executions()])


def _in_flight(lines: list[list[str]]) -> dict[str, set[str]]:
    """For each process, the steps it started and has not ended (by the log)."""
    running: dict[str, set[str]] = {}
    for event, label, pid in lines:
        if event == "start":
            running.setdefault(pid, set()).add(label)
        elif event == "end":
            running.setdefault(pid, set()).discard(label)
    return running


def _out_of_order(lines: list[list[str]], pairs: list[tuple[str, str]]) -> list[str]:
    def matches(label: str, pattern: str) -> bool:
        return re.fullmatch(pattern, label) is not None

    found = []
    starts = [label for event, label, _ in lines if event == "start"]
    for before, after in pairs:
        first = next((i for i, label in enumerate(starts) if matches(label, after)), None)
        if first is None:
            continue
        late = [label for label in starts[first:] if matches(label, before)]
        if late:
            found.append(f"{late[0]} started after a step that follows it ({after}) had")
    return found


def trial(
    rng: random.Random,
    *,
    cluster: Any = None,
    executions: int = 6,
    workers: int = 2,
    concurrency: int = 16,
    kills: int = 4,
    terms: int = 1,
    stops: int = 1,
    restarts: int = 0,
    freezes: int = 0,
    lease: float = 30.0,
    deadline_s: float = 120.0,
) -> Tally:
    """One trial on a new SQLite file, or on a new database of ``cluster`` (a
    ``tests.postgres.server.Cluster``, which is then restarted ``restarts`` times)."""
    with tempfile.TemporaryDirectory(prefix="dg-shapes-") as tmp:
        url = cluster.create_database("shapes") if cluster else f"sqlite:///{tmp}/soak.db"
        actions = ["kill"] * kills + ["restart"] * (restarts if cluster else 0)
        rng.shuffle(actions)
        # Popped from the end: first the stop (while the long execution still runs), then the
        # freezes and the SIGTERM (while there is work in flight), then the rest. Freezes only
        # on Postgres: on SQLite a frozen worker holding the write lock stops every worker.
        actions += ["term"] * terms + ["freeze"] * (freezes if cluster else 0) + ["stop"] * stops
        one = _Trial(url, Path(tmp), rng, concurrency, lease)
        one.run(executions, workers, actions, lambda: cluster.restart("immediate"), deadline_s)
        if one.tally.violations and one.err.exists():
            one.tally.violations.append("workers' stderr: " + one.err.read_text()[-1500:])
        return one.tally


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--executions", type=int, default=12)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--kills", type=int, default=8)
    parser.add_argument("--terms", type=int, default=1)
    parser.add_argument("--restarts", type=int, default=2, help="on Postgres")
    parser.add_argument("--freezes", type=int, default=0, help="SIGSTOPs past the lease")
    parser.add_argument("--lease", type=float, default=30.0)
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
            freezes=args.freezes,
            lease=args.lease,
        ),
    )


if __name__ == "__main__":
    sys.exit(main())
