"""Round-8 crash trials: workers of the command line killed in every checkpointing mode.

``trial()`` starts executions of ``round8_flows.mixed`` (steps, an at-most-once step, a Map,
a Parallel, a recorded and a virtual Child, an async step, a Wait) with ``durable-gen
start``, runs ``durable-gen worker --concurrency N --checkpointing MODE`` processes, SIGKILLs
them at random moments (a fresh worker takes each one's place), and reads the database every
few milliseconds meanwhile. It checks:

- every execution ends SUCCEEDED, and its result holds, for every step, a value that a run of
  that step produced (the step log holds each nonce it drew);
- every step result the database held at some moment is the one it holds at the end (nothing
  recorded is lost or changed);
- no step whose success the database held started again afterwards;
- no at-most-once step started twice;
- every history replays against the workflow.

``python -m tests.soak.round8_crash --trials 5 --checkpointing batch`` runs it longer.
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
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from durable_gen._errors import StoreError
from durable_gen.local import open_store
from durable_gen.testing import replay

from . import round8_flows
from .flows import LOG_ENV

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "durable_gen.cli"]
AT_MOST_ONCE = ("-o", "-c2")


#: Workflows by the end of the function name they run under.
WORKFLOWS = {
    "mixed": round8_flows.mixed,
    "caller": round8_flows.caller,
    "r8child": round8_flows.child_body,
    "chain_with_once": round8_flows.chain_with_once,
    "approval": round8_flows.approval,
    "retrying": round8_flows.retrying,
    "wide": round8_flows.wide,
}
REGISTER = ["--register", "r8child=tests.soak.round8_flows:child_body",
            "--register", "r8plain=tests.soak.round8_flows:plain"]  # fmt: skip


def is_at_most_once(label: str) -> bool:
    return label.endswith(AT_MOST_ONCE)


def read_log(path: Path) -> list[list[str]]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    # A kill may cut the last line short: keep whole lines only.
    lines = text.split("\n")[:-1]
    return [line.split() for line in lines]


@dataclass
class Tally:
    trials: int = 0
    executions: int = 0
    kills: int = 0
    stops: int = 0
    restarts: int = 0
    freezes: int = 0
    snapshots: int = 0
    reruns: int = 0
    interrupted: int = 0
    violations: list[str] = field(default_factory=list)

    def report(self) -> str:
        head = (
            f"trials {self.trials}, executions {self.executions}, kills {self.kills}, "
            f"stops {self.stops}, database restarts {self.restarts}, freezes {self.freezes}, "
            f"snapshots {self.snapshots}, at-least-once reruns {self.reruns}, "
            f"at-most-once interrupted {self.interrupted}, violations {len(self.violations)}"
        )
        return "\n".join([head, *(f"  {v}" for v in self.violations[:20])])


class Fleet:
    """Worker processes of the command line on one database, and what was seen of it."""

    def __init__(self, url: str, tmp: Path, *, worker_args: list[str], slow: float = 0.0) -> None:
        self.url, self.tmp, self.worker_args = url, tmp, worker_args
        self.log = tmp / "steps.log"
        self.env = dict(os.environ)
        self.env["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(tmp), str(ROOT), os.environ.get("PYTHONPATH")])
        )
        self.env[LOG_ENV] = str(self.log)
        self.env["DURABLE_GEN_DB"] = url
        self.env[round8_flows.SLOW_ENV] = str(slow)
        self.procs: list[subprocess.Popen[bytes]] = []
        self.err = open(tmp / "workers.stderr", "ab")  # noqa: SIM115
        self.seen: dict[tuple[str, str], str] = {}  # (arn, op id): recorded step result
        self.recorded_at: dict[tuple[str, str], int] = {}  # (arn, label): log length after
        self.violations: list[str] = []
        self.snapshots = 0
        self.quiet = True  # workers log only trouble (``-q``)
        self.answered: set[str] = set()
        self.answers = 0

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [*CLI, *args], env=self.env, capture_output=True, text=True, timeout=60, cwd=self.tmp
        )
        if check and done.returncode != 0:
            raise AssertionError(f"durable-gen {' '.join(args)}: {done.returncode} {done.stderr}")
        return done

    def worker(self, *extra: str) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [*CLI, "worker", *(["-q"] if self.quiet else []), *self.worker_args, *extra],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=self.err,
            cwd=self.tmp,
        )
        self.procs.append(proc)
        return proc

    def answer(self) -> None:
        """Answer each callback id a step handed over (``cb TAG ID`` in the log), once."""
        for fields in read_log(self.log):
            if fields[0] != "cb" or fields[3] in self.answered:
                continue
            self.answered.add(fields[3])
            done = self.cli("callback", "succeed", fields[3], json.dumps(f"ok-{fields[1]}"),
                            check=False)  # fmt: skip
            if done.returncode not in (0, 1) or "Traceback" in done.stderr:
                self.violations.append(f"callback succeed {fields[3]}: {done.stderr}")
            if done.returncode == 0:
                self.answers += 1

    def in_flight(self) -> set[int]:
        """Pids of the processes running a step now (started, not ended); those running an
        at-most-once step, when there are some."""
        running: Counter[tuple[str, str]] = Counter()
        for fields in read_log(self.log):
            if fields[0] in ("start", "end"):
                running[(fields[1], fields[2])] += 1 if fields[0] == "start" else -1
        busy = [(label, int(pid)) for (label, pid), n in running.items() if n > 0]
        return {pid for label, pid in busy if is_at_most_once(label)} or {p for _, p in busy}

    def live(self) -> list[subprocess.Popen[bytes]]:
        return [p for p in self.procs if p.poll() is None]

    def kill_all(self) -> None:
        for proc in self.live():
            proc.kill()
        for proc in self.procs:
            proc.wait(timeout=30)

    def close(self) -> None:
        self.kill_all()
        self.err.close()

    def snapshot(self, arns: list[str]) -> list[Any]:
        """Read every execution's steps; note what was recorded, and check it stays so."""
        try:
            store = open_store(self.url)
        except StoreError:
            return []
        records = []
        try:
            every = [header.arn for header in store.executions()]  # invoked ones too
            for arn in every:
                ops = store.operations(arn)
                if arn in arns:
                    records.append(store.load(arn))
                for op in ops:
                    result = op.step_details.result if op.step_details else None
                    if op.type != "STEP" or op.status != "SUCCEEDED" or result is None:
                        continue
                    key = (arn, op.id)
                    before = self.seen.setdefault(key, result)
                    if before != result:
                        self.violations.append(
                            f"{arn}: step {op.id} recorded {before}, then {result}"
                        )
                    value = json.loads(result)
                    if isinstance(value, str):  # not a hand-over's None
                        self.recorded_at.setdefault((arn, value.split("/")[0]), -1)
        except StoreError:
            return []
        finally:
            store.close()
        # The log is read after the database: a start after this point is a run again.
        length = len(read_log(self.log))
        for key, at in self.recorded_at.items():
            if at == -1:
                self.recorded_at[key] = length
        self.snapshots += 1
        return records

    def check(self, arns: dict[str, str], stopped: dict[str, int] | None = None) -> Tally:
        """The checks of the module docstring, once every execution ended."""
        tally = Tally(trials=1, executions=len(arns), snapshots=self.snapshots)
        violations = tally.violations
        violations.extend(self.violations)
        self.snapshot(list(arns))
        self.err.flush()
        errors = (self.tmp / "workers.stderr").read_text(encoding="utf-8", errors="replace")
        if "Traceback" in errors:  # cli.md: every error is one line, never a traceback
            violations.append(f"a worker printed a traceback: {errors[-3000:]}")
        if os.environ.get("ROUND8_SHOW_STDERR"):
            print(errors)
        lines = read_log(self.log)
        produced = {fields[3] for fields in lines if fields[0] == "end" and len(fields) == 4}
        starts = Counter(fields[1] for fields in lines if fields[0] == "start")
        tally.reruns = sum(n - 1 for label, n in starts.items() if not is_at_most_once(label))
        for label, n in starts.items():
            if is_at_most_once(label) and n > 1:
                violations.append(f"at-most-once step {label} started {n} times")
        for (_arn, label), at in self.recorded_at.items():
            again = [i for i, f in enumerate(lines) if i >= at and f[:2] == ["start", label]]
            if at >= 0 and again:
                violations.append(f"{label}: recorded by log line {at}, started again at {again}")
        with open_store(self.url) as store:
            headers = list(store.executions())
            stopped = dict(stopped or {})
            for header in headers:
                if header.arn not in arns:  # an invoked execution: the tag of its caller
                    parent = header.parent_arn or ""
                    arns[header.arn] = f"{arns.get(parent, '?')}"
                    if parent in stopped and header.status == "STOPPED":
                        stopped[header.arn] = stopped[parent]
            tally.executions = len(headers)
            for arn, tag in arns.items():
                record = store.load(arn)
                assert record is not None
                if arn in stopped:
                    tally.stops += 1
                    events = [e.event_type for e in store.events(arn)]
                    if record.status != "STOPPED" or "ExecutionStopped" not in events:
                        violations.append(f"{tag}: stopped, but {record.status}")
                        continue
                    after = events[events.index("ExecutionStopped") + 1 :]
                    if after not in ([], ["InvocationCompleted"]):
                        violations.append(f"{tag}: recorded after ExecutionStopped: {after}")
                    late = [f[1] for f in lines[stopped[arn] :] if f[0] == "start"]
                    if [label for label in late if label.startswith(f"{tag}-")
                            and is_at_most_once(label)]:  # fmt: skip
                        violations.append(f"{tag}: at-most-once step after the stop: {late}")
                    continue
                if record.status != "SUCCEEDED":
                    violations.append(f"{tag}: {record.status} {record.error}")
                    continue
                result = json.loads(record.result or "null")
                for value in _leaves(result):
                    if value == "interrupted":
                        tally.interrupted += 1
                    elif value == f"ok-{tag}":  # a callback's answer
                        continue
                    elif value not in produced:
                        violations.append(f"{tag}: result {value} was never produced by a step")
                    elif not value.startswith(f"{tag}-"):
                        violations.append(f"{tag}: result {value} belongs to another execution")
                for op in store.operations(arn):
                    result_text = op.step_details.result if op.step_details else None
                    if op.type == "STEP" and op.status == "SUCCEEDED" and result_text:
                        seen = self.seen.get((arn, op.id))
                        if seen is not None and seen != result_text:
                            violations.append(f"{tag}: step {op.id} was {seen}, ends {result_text}")
                history = self.tmp / f"{tag}.json"
                history.write_text(self.cli("history", arn, "--json").stdout, encoding="utf-8")
                workflow = WORKFLOWS[re.split("[-.]", record.function_name)[-1]]
                report = replay(workflow, str(history))
                if not report.ok or report.outcome != "succeeded":
                    violations.append(f"{tag}: replay {report.status}: {report.message}")
        return tally


def _leaves(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [leaf for v in value.values() for leaf in _leaves(v)]
    if isinstance(value, list):
        return [leaf for v in value for leaf in _leaves(v)]
    return [value]


def trial(
    rng: random.Random,
    *,
    url: str | None = None,
    checkpointing: str = "step",
    executions: int = 6,
    workers: int = 2,
    concurrency: int = 4,
    kills: int = 4,
    workflow: str = "mixed",
    stops: int = 0,
    freezes: int = 0,
    answer: bool = False,
    lease: float = 30.0,
    cluster: Any = None,
    restarts: int = 0,
    slow: float = 0.03,
    deadline: float = 90.0,
) -> Tally:
    """One trial; on a new SQLite file unless ``url`` names a database."""
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        db = url or f"sqlite:///{tmp / 'round8.db'}"
        fleet = Fleet(
            db,
            tmp,
            slow=slow,
            worker_args=[
                "--concurrency",
                str(concurrency),
                "--checkpointing",
                checkpointing,
                "--poll",
                "0.05",
                "--lease",
                str(lease),
                *REGISTER,
            ],
        )
        try:
            arns: dict[str, str] = {}

            def start_one() -> None:
                tag = f"e{len(arns)}x{rng.randrange(10**6)}"
                arn = fleet.cli(
                    "start",
                    f"tests.soak.round8_flows:{workflow}",
                    "--input",
                    json.dumps(tag),
                    "--arn",
                ).stdout.strip()
                arns[arn] = tag

            for _ in range(executions):
                start_one()
            for _ in range(workers):
                fleet.worker()
            done_kills = done_restarts = done_freezes = 0
            stopped: dict[str, int] = {}  # arn: log length when its stop returned
            end = time.monotonic() + deadline
            next_kill = time.monotonic() + rng.uniform(0.1, 0.5)
            next_freeze = time.monotonic() + rng.uniform(0.1, 0.5)
            while time.monotonic() < end:
                records = fleet.snapshot(list(arns))
                if records and all(r is not None and r.status != "RUNNING" for r in records):
                    if done_kills >= kills or len(arns) >= 4 * executions:
                        break
                    # Every execution ended before the kills did (a busy machine starts the
                    # next kill late): one more execution gives the remaining kills work to
                    # land in, and is checked like the others.
                    start_one()
                    continue
                if done_freezes < freezes and time.monotonic() >= next_freeze:
                    # Freeze a busy worker past its lease: its executions move on
                    # elsewhere, and what it sends once it continues is refused.
                    frozen = [p for p in fleet.live() if p.pid in fleet.in_flight()]
                    if frozen:
                        frozen[0].send_signal(signal.SIGSTOP)
                        fleet.worker()
                        pause = time.monotonic() + lease * 2.5
                        while time.monotonic() < pause:
                            fleet.snapshot(list(arns))
                            time.sleep(0.02)
                        frozen[0].send_signal(signal.SIGCONT)
                        done_freezes += 1
                        next_freeze = time.monotonic() + rng.uniform(0.2, 0.6)
                if done_kills < kills and time.monotonic() >= next_kill:
                    # A worker with a step in flight, when there is one: the kill lands in it.
                    busy = fleet.in_flight()
                    live = [p for p in fleet.live() if p.pid in busy] or fleet.live()
                    if live:
                        victim = rng.choice(live)
                        if len(stopped) < stops and done_kills % 2 == 1:
                            # Stop one of its executions while it dies.
                            running = [
                                a
                                for a, r in zip(arns, records, strict=False)
                                if r and r.status == "RUNNING"
                            ]
                            if running:
                                arn = rng.choice(running)
                                victim.kill()
                                said = fleet.cli("stop", arn).stdout
                                if "STOPPED" in said:  # not ended meanwhile (cli.md)
                                    stopped[arn] = len(read_log(fleet.log))
                        victim.kill()
                        done_kills += 1
                    if done_restarts < restarts and done_kills == kills // 2:
                        cluster.restart("immediate")
                        done_restarts += 1
                    fleet.worker()
                    next_kill = time.monotonic() + rng.uniform(0.05, 0.4)
                if answer:
                    fleet.answer()
                while len(fleet.live()) < workers:
                    fleet.worker()
                time.sleep(rng.uniform(0.005, 0.03))
            fleet.kill_all()
            tally = fleet.check(arns, stopped)
            tally.kills, tally.restarts = done_kills, done_restarts
            tally.freezes = done_freezes
            if done_freezes < freezes:
                tally.violations.append(f"only {done_freezes} freezes")
            if len(stopped) < stops:
                tally.violations.append(f"only {len(stopped)} stops")
            if done_kills < kills:
                tally.violations.append(f"only {done_kills} kills before the executions ended")
            return tally
        finally:
            fleet.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--checkpointing", default="step")
    parser.add_argument("--seed", type=int, default=8)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    for _ in range(args.trials):
        tally = trial(rng, checkpointing=args.checkpointing, executions=10, kills=8)
        print(tally.report())


if __name__ == "__main__":
    main()
