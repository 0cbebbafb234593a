"""Round-13 crash trials: processes SIGKILLed at drawn moments, checked against the docs.

- Two ``--concurrency`` workers (``batch`` and ``eager`` checkpointing) share one database and
  are SIGKILLed in turns while executions run a ``Map`` whose items wait on callbacks (with a
  timer between the id handed over and the answer awaited) and invoke a child workflow that
  waits on a callback too. The callbacks are answered from other processes, some through
  ``durable-gen callback succeed|fail`` and some through the Python API
  (``LocalService(store=open_store(db)).send_callback_*``), those processes SIGKILLed at times
  and the answer sent again. ``durable-gen stop`` (killed at times) stops one execution while
  its items wait, and the child execution of another (its parent goes on with the failed
  invoke).
- Timers of several lengths in the branches of a ``Parallel`` fall due while the workers are
  killed and while none runs: none fires early, none is lost.
- ``worker`` and ``run`` SIGKILLed while they create the database; ``start`` (without
  ``--name``), ``callback fail`` and ``stop`` SIGKILLed while they write: each command's
  effect is all recorded or absent, and every execution recorded runs to its end.

What is checked comes from the docs alone (engine.md "A worker is killed", "Callbacks";
cli.md on ``callback``, ``stop``, ``start``; guide.md on steps, callbacks and ``Invoke``):
no execution lost, no step whose success was recorded started again, no at-most-once step
started twice (nor before its START was recorded), results as an uncrashed run returns them
given what each at-most-once step and callback ended with, and ``list --json``, ``show`` and a
replay of ``history --json`` agreeing with the store.

Moments are drawn from a seed; a failure names it (``ROUND13_SEED=N`` adds one,
``ROUND13_SEED=random`` draws one).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from durable_gen.local import open_store
from durable_gen.testing import replay

from . import round13_flows as flows

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "durable_gen.cli"]
MODULE = "tests.soak.round13_flows"
_EXTRA = os.environ.get("ROUND13_SEED")
SEEDS = [13, 3113] + (
    [] if _EXTRA is None else [random.randrange(2**32) if _EXTRA == "random" else int(_EXTRA)]
)
#: (--concurrency, --checkpointing) of the workers that share the database
KINDS = [("3", "batch"), ("2", "eager")]

#: answers a callback through the Python API: argv = db, callback id, succeed|fail, payload
API_ANSWER = """
import sys
from durable_gen.local import LocalService, open_store
from durable_gen.runtime import ErrorObject
db, callback_id, kind, payload = sys.argv[1:]
with open_store(db) as store:
    service = LocalService(store=store)
    if kind == "succeed":
        service.send_callback_success(callback_id, payload)
    else:
        service.send_callback_failure(
            callback_id, ErrorObject(error_type=payload, error_message="refused")
        )
print(f"callback {callback_id}: {kind} sent")
"""


def _env(trial: Trial) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["STEP_LOG"] = str(trial.log)
    env["OUTBOX"] = str(trial.outbox)
    return env


class Trial:
    """One database, one step log, the processes on it and what was recorded as they died."""

    def __init__(self, tmp: Path, seed: int, db: str | None = None) -> None:
        self.db, self.seed = db or str(tmp / "r13.db"), seed
        self.log, self.err, self.outbox = tmp / "steps.log", tmp / "stderr", tmp / "outbox"
        self.outbox.mkdir()
        self.killed: set[str] = set()
        #: pids of the workers with ``--checkpointing eager``
        self.eager: set[str] = set()
        #: (labels whose success the database held, the length of the step log read after)
        self.snapshots: list[tuple[set[str], int]] = []
        self.tags: dict[str, str] = {}

    def fail(self, message: str) -> str:
        try:
            err = self.err.read_text(errors="replace")[-3000:]
        except FileNotFoundError:
            err = ""
        return f"seed {self.seed}: {message}\nstderr: {err}\nlog: {self.lines()[-30:]}"

    def cli(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*CLI, *args, "--db", self.db],
            env=_env(self),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def popen(
        self, *args: str, out: int | None = subprocess.DEVNULL, db: bool = True
    ) -> subprocess.Popen[str]:
        argv = [*CLI, *args, "--db", self.db] if db else list(args)
        with open(self.err, "a", encoding="utf-8") as err:
            return subprocess.Popen(
                argv,
                env=_env(self),
                cwd=ROOT,
                stdout=out,
                stderr=err if out == subprocess.DEVNULL else subprocess.PIPE,
                text=True,
            )

    def worker(self, kind: tuple[str, str], *, register: bool = True) -> subprocess.Popen[str]:
        """A worker; without ``register`` it serves the child workflow as the database
        remembers it (cli.md: a function given to one worker with ``--register`` is)."""
        concurrency, mode = kind
        proc = self.popen(
            "worker", "--concurrency", concurrency, "--checkpointing", mode,
            "--poll", "0.05", "-q", *(flows.REGISTER if register else []),
        )  # fmt: skip
        if mode == "eager":
            self.eager.add(str(proc.pid))
        return proc

    def kill(self, proc: subprocess.Popen[str]) -> None:
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        if proc.returncode == -signal.SIGKILL:
            self.killed.add(str(proc.pid))
        self.snapshot()
        if str(proc.pid) in self.eager:
            self.check_eager(str(proc.pid))

    def check_eager(self, pid: str) -> None:
        """guide.md (``checkpointing="eager"``: START confirmed before every step): every step
        body the worker ``pid`` began has its step recorded (steps are named by their label)."""
        with open_store(self.db) as store:
            names = {
                op.name
                for ex in store.executions()
                for op in store.operations(ex.arn)
                if op.type == "STEP"
            }
        began = {label for event, label, p in self.lines() if event == "start" and p == pid}
        assert began <= names, self.fail(f"eager worker {pid} ran {began - names} unrecorded")

    def lines(self) -> list[tuple[str, str, str]]:
        if not self.log.exists():
            return []
        return [tuple(line.split()) for line in self.log.read_text().splitlines()]  # type: ignore[misc]

    def snapshot(self) -> None:
        recorded = self.recorded()
        self.snapshots.append((recorded, len(self.lines())))

    def recorded(self) -> set[str]:
        labels: set[str] = set()
        with open_store(self.db) as store:
            for ex in store.executions():
                for op in store.operations(ex.arn):
                    details = op.step_details
                    if op.type != "STEP" or op.status != "SUCCEEDED" or details is None:
                        continue
                    value = json.loads(details.result or "null")
                    if isinstance(value, str):
                        labels.add(value.lower())
        return labels

    def start(self, workflow: str, tag: str, *more: str) -> str:
        done = self.cli("start", f"{MODULE}:{workflow}", "--input", json.dumps(tag), "--arn", *more)
        assert done.returncode == 0, self.fail(done.stderr)
        self.tags[tag] = done.stdout.strip()
        return self.tags[tag]

    def executions(self) -> list[Any]:
        with open_store(self.db) as store:
            return list(store.executions())

    def operations(self, arn: str) -> list[Any]:
        with open_store(self.db) as store:
            return list(store.operations(arn))

    def wait_all_ended(self, workers: list[subprocess.Popen[str]], tick: Any = None) -> None:
        deadline = time.monotonic() + 120
        while any(ex.status == "RUNNING" for ex in self.executions()):
            assert time.monotonic() < deadline, self.fail(
                f"still running after 120 s: {[e for e in self.executions() if not e.is_terminal]}"
            )
            for w in workers:
                assert w.poll() is None, self.fail(f"a worker exited {w.returncode}")
            if tick is not None:
                tick()
            time.sleep(0.1)

    def once_ops(self) -> dict[str, tuple[str, str | None, str | None]]:
        """label -> (status, result, error type) of every at-most-once step recorded (they are
        named by their label)."""
        out = {}
        with open_store(self.db) as store:
            for ex in store.executions():
                for op in store.operations(ex.arn):
                    if op.type == "STEP" and op.name and op.name.endswith("once"):
                        details = op.step_details
                        error = details.error.error_type if details and details.error else None
                        result = details.result if details else None
                        out[op.name] = (op.status, result, error)
        return out

    def check_steps(self, stopped: set[str]) -> dict[str, str]:
        """The step checks; returns the outcome of each at-most-once step recorded as ended
        (label -> its result or ``interrupted``)."""
        lines = self.lines()
        for recorded, seen in self.snapshots:
            for event, label, pid in lines[seen:]:
                assert not (event == "start" and label in recorded), self.fail(
                    f"{label} started again in {pid} after its success was recorded"
                )
        starts = Counter(label for event, label, _ in lines if event == "start")
        once_ops = self.once_ops()
        for label, n in starts.items():
            if label.endswith("once"):
                assert n == 1, self.fail(f"at-most-once {label} started {n} times")
                assert label in once_ops, self.fail(f"{label} ran with no START recorded")
            elif n > 1 and label.split(".")[0] not in stopped:
                cut = [
                    p for e, lab, p in lines if lab == label and e == "start" and p in self.killed
                ]
                assert cut, self.fail(f"{label} ran {n} times with no kill in any run")
        outcome: dict[str, str] = {}
        for label, (status, result, error) in once_ops.items():
            runs = [p for e, lab, p in lines if e == "start" and lab == label]
            ended = any(e == "end" and lab == label for e, lab, _ in lines)
            if status == "SUCCEEDED":
                assert ended and result == json.dumps(label.upper()), self.fail(
                    f"{label}: {status} {result}"
                )
                outcome[label] = label.upper()
            elif status == "FAILED":
                assert error == "StepInterruptedError", self.fail(f"{label}: {error}")
                assert not runs or runs[0] in self.killed, self.fail(
                    f"{label} interrupted, its run in {runs}, killed {self.killed}"
                )
                outcome[label] = "interrupted"
        return outcome

    def check_cli_agrees(self) -> None:
        """``list --json``, ``show`` and a replay of ``history --json`` say what the store holds."""
        done = self.cli("list", "--json")
        assert done.returncode == 0, self.fail(done.stderr)
        listed = {row["arn"]: row for row in json.loads(done.stdout)}
        records = self.executions()
        assert set(listed) == {ex.arn for ex in records}, self.fail(f"{listed} != {records}")
        for ex in records:
            row = listed[ex.arn]
            assert (row["status"], row["result"], row["parent_arn"]) == (
                ex.status,
                ex.result,
                ex.parent_arn,
            ), self.fail(f"list --json {row} != {ex}")
            shown = self.cli("show", ex.arn)
            assert shown.returncode == 0, self.fail(shown.stderr)
            status_lines = [
                ln.split() for ln in shown.stdout.splitlines() if ln.split()[:1] == ["status"]
            ]
            assert status_lines[:1] == [["status", ex.status]], self.fail(shown.stdout)
            if ex.status != "SUCCEEDED":
                continue
            history = self.cli("history", ex.arn, "--json")
            assert history.returncode == 0, self.fail(history.stderr)
            name = ex.function_name.rsplit(".", 1)[-1]
            workflow = flows.child if ex.parent_arn else getattr(flows, name)
            report = replay(workflow, json.loads(history.stdout))
            assert report.status == "ok" and report.result == json.loads(ex.result or "null"), (
                self.fail(f"replay of {ex.arn}: {report}")
            )


def _until_sigterm_handled(trial: Trial, procs: list[subprocess.Popen[str]]) -> None:
    deadline = time.monotonic() + 60
    for proc in procs:
        while True:
            status = Path(f"/proc/{proc.pid}/status").read_text()
            (caught,) = [ln.split()[1] for ln in status.splitlines() if ln.startswith("SigCgt:")]
            if int(caught, 16) & (1 << (signal.SIGTERM - 1)):
                break
            assert time.monotonic() < deadline, trial.fail(f"{proc.pid} never handled SIGTERM")
            time.sleep(0.05)


def _stop_all(procs: list[subprocess.Popen[str]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


# --- callbacks answered from other processes, by the CLI and the API ---------------------------


def wanted_answer(key: str) -> Any:
    """The answer each callback is sent: items ``i1`` are failed, the rest succeed."""
    return "failed:Refused" if key.endswith(".i1") else f"ok-{key}"


class Answerer:
    """Answers each callback handed over, by ``durable-gen callback`` or by the Python API
    (drawn each time), from a process SIGKILLed now and then (and the answer sent again)."""

    def __init__(self, trial: Trial, rng: random.Random) -> None:
        self.trial, self.rng = trial, rng
        self.done: set[str] = set()
        #: prefixes of the keys whose callbacks are not to be answered yet
        self.hold: set[str] = set()
        #: callback key -> exit statuses of the processes that answered it (-9: killed)
        self.sent: dict[str, list[int]] = {}
        self.refused: dict[str, str] = {}

    def _proc(self, callback_id: str, key: str) -> subprocess.Popen[str]:
        failing = key.endswith(".i1")
        if self.rng.random() < 0.5:
            if failing:
                payload = json.dumps({"ErrorType": "Refused", "ErrorMessage": "refused"})
                return self.trial.popen(
                    "callback", "fail", callback_id, payload, out=subprocess.PIPE
                )
            return self.trial.popen(
                "callback", "succeed", callback_id, json.dumps(f"ok-{key}"), out=subprocess.PIPE
            )
        kind, payload = ("fail", "Refused") if failing else ("succeed", json.dumps(f"ok-{key}"))
        return self.trial.popen(
            sys.executable, "-c", API_ANSWER, self.trial.db, callback_id, kind, payload,
            out=subprocess.PIPE, db=False,
        )  # fmt: skip

    def step(self) -> None:
        for path in sorted(self.trial.outbox.iterdir()):
            key = path.name
            if key in self.done or key.endswith(".tmp") or any(map(key.startswith, self.hold)):
                continue
            callback_id = path.read_text()
            proc = self._proc(callback_id, key)
            if self.rng.random() < 0.35:
                time.sleep(self.rng.uniform(0.0, 0.4))
                if proc.poll() is None:
                    self.trial.kill(proc)
                    self.sent.setdefault(key, []).append(proc.returncode)
                    continue
            out, err = proc.communicate(timeout=120)
            self.sent.setdefault(key, []).append(proc.returncode)
            assert "Traceback" not in err or "UnknownCallbackError" in err, self.trial.fail(err)
            if proc.returncode == 0:
                assert out.strip().startswith(f"callback {callback_id}: "), self.trial.fail(out)
            else:
                # answered already (by a process this one thought killed), or its execution
                # ended: refused, exit status 1
                assert proc.returncode == 1, self.trial.fail(f"{proc.returncode}: {err}")
                self.refused[key] = err
            self.done.add(key)

    def recorded(self) -> dict[str, tuple[str, Any]]:
        """key -> (status of its CALLBACK operation, what the workflow reads from it)."""
        out = {}
        ids = {p.read_text(): p.name for p in self.trial.outbox.iterdir() if "." in p.name}
        with open_store(self.trial.db) as store:
            for ex in store.executions():
                for op in store.operations(ex.arn):
                    details = op.callback_details
                    if op.type != "CALLBACK" or details is None or details.callback_id not in ids:
                        continue
                    if op.status == "SUCCEEDED":
                        value: Any = json.loads(details.result or "null")
                    elif op.status == "FAILED" and details.error is not None:
                        value = f"failed:{details.error.error_type}"
                    else:
                        value = None
                    out[ids[details.callback_id]] = (op.status, value)
        return out

    def check(self) -> dict[str, Any]:
        """An answer a process said it sent was recorded; a callback every process refused
        (none killed) recorded none. Returns key -> the answer recorded."""
        recorded = self.recorded()
        for key, codes in self.sent.items():
            status, value = recorded[key]
            if 0 in codes:
                assert value == wanted_answer(key), self.trial.fail(
                    f"{key} said sent, recorded {status} {value}"
                )
            elif -signal.SIGKILL not in codes:
                assert status not in ("SUCCEEDED", "FAILED"), self.trial.fail(
                    f"{key}: every answer refused ({codes}), yet recorded {status}"
                )
        return {key: value for key, (_, value) in recorded.items()}


def stop_with_kills(trial: Trial, arn: str, rng: random.Random) -> str:
    """``durable-gen stop``, SIGKILLed at a drawn moment until one run of it ends."""
    for _ in range(4):
        proc = trial.popen("stop", arn, out=subprocess.PIPE)
        if rng.random() < 0.5:
            time.sleep(rng.uniform(0.0, 0.4))
            if proc.poll() is None:
                trial.kill(proc)
                continue
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, trial.fail(err)
        return out.strip()
    done = trial.cli("stop", arn)
    assert done.returncode == 0, trial.fail(done.stderr)
    return done.stdout.strip()


def _wait_for(trial: Trial, what: str, ready: Any, tick: Any, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not ready():
        assert time.monotonic() < deadline, trial.fail(f"no {what} after {seconds} s")
        tick()
        time.sleep(0.05)


def callbacks_trial(trial: Trial, kills: int = 6, *, drain: bool = False) -> None:
    """The trial of ``test_map_items_and_a_child_wait_on_callbacks_answered_by_cli_and_api_while_
    workers_die`` on ``trial``'s database (Postgres runs it too). With ``drain``, a worker is
    sent SIGTERM first and SIGKILLed at a drawn moment of its graceful stop (engine.md: it
    runs its invocations in progress to their end meanwhile)."""
    rng = random.Random(trial.seed)
    # the Invoke target is registered before the first execution that calls it starts
    done = trial.cli("worker", "--once", "-q", *flows.REGISTER)
    assert done.returncode == 0, trial.fail(done.stderr)
    for tag in ("a", "b", "k", "s"):
        trial.start("fan", tag)
    workers = [trial.worker(kind, register=False) for kind in KINDS]
    answerer = Answerer(trial, rng)
    # s is stopped while its items wait; k's child is stopped while it waits
    answerer.hold.update({"s.i", "k.child"})
    stop_at, child_stop_at = rng.randrange(kills), rng.randrange(kills)
    said: dict[str, str] = {}
    #: tag -> the length of the step log when its stop returned
    stopped_at: dict[str, int] = {}
    try:
        for turn in range(kills):
            moment = time.monotonic() + rng.uniform(0.3, 1.5)
            while time.monotonic() < moment:
                answerer.step()
                time.sleep(0.05)
            i = rng.randrange(len(workers))
            if drain:
                workers[i].terminate()
                time.sleep(rng.uniform(0.0, 0.3))
            trial.kill(workers[i])
            workers[i] = trial.worker(KINDS[i], register=rng.random() < 0.5)
            if turn == child_stop_at:
                _wait_for(
                    trial, "child of k", lambda: (trial.outbox / "k.child").exists(), answerer.step
                )
                (child,) = [ex for ex in trial.executions() if ex.parent_arn == trial.tags["k"]]
                said["k"] = stop_with_kills(trial, child.arn, rng)
                stopped_at["k.child"] = len(trial.lines())
                trial.tags["k.child"] = child.arn
                answerer.hold.discard("k.child")
            if turn == stop_at:
                _wait_for(
                    trial, "item of s", lambda: (trial.outbox / "s.i0").exists(), answerer.step
                )
                said["s"] = stop_with_kills(trial, trial.tags["s"], rng)
                stopped_at["s."] = len(trial.lines())
                answerer.hold.discard("s.i")
        trial.wait_all_ended(workers, answerer.step)
        _until_sigterm_handled(trial, workers)
    finally:
        _stop_all(workers)
    assert [w.returncode for w in workers] == [0, 0], trial.fail("a worker failed on SIGTERM")
    assert "Traceback" not in trial.err.read_text(), trial.fail("a process wrote a traceback")
    answers = answerer.check()
    once = trial.check_steps({"s"})
    for prefix, seen in stopped_at.items():
        # cli.md (stop): no at-most-once step starts after the stop, in any mode
        late = [
            (label, pid)
            for event, label, pid in trial.lines()[seen:]
            if event == "start" and label.startswith(prefix) and label.endswith("once")
        ]
        assert not late, trial.fail(f"at-most-once steps started after the stop: {late}")
    records = trial.executions()
    by_arn = {ex.arn: ex for ex in records}
    s = by_arn[trial.tags["s"]]
    assert s.status == "STOPPED", trial.fail(f"s ended {s.status}")
    assert said["s"] == f"execution {s.arn.rsplit('/', 1)[1]}: STOPPED", trial.fail(said)
    kchild = by_arn[trial.tags["k.child"]]
    assert kchild.status == "STOPPED", trial.fail(f"k's child ended {kchild.status}")
    assert said["k"] == f"execution {kchild.arn.rsplit('/', 1)[1]}: STOPPED", trial.fail(said)
    for tag in ("a", "b", "k", "s"):
        ex = by_arn[trial.tags[tag]]
        children = [c for c in records if c.parent_arn == ex.arn]
        assert len(children) == 1, trial.fail(f"{tag}: {len(children)} child executions")
        invokes = [op for op in trial.operations(ex.arn) if op.type == "CHAINED_INVOKE"]
        assert [op.status for op in invokes] == [children[0].status], trial.fail(
            f"{tag}: invoke {[op.status for op in invokes]}, child {children[0]}"
        )
        if tag == "s":
            assert children[0].status in ("STOPPED", "SUCCEEDED"), trial.fail(f"{children}")
            # nothing of s runs after its stop; its items' callbacks answered after it refused
            for key, value in answers.items():
                if key.startswith("s.i") and key in answerer.refused:
                    assert value is None, trial.fail(f"{key} of stopped s recorded {value}")
            continue
        assert ex.status == "SUCCEEDED", trial.fail(f"{tag} ended {ex.status}: {ex.error}")
        if tag == "k":
            (op,) = invokes
            details = op.chained_invoke_details
            error = details.error.error_type if details and details.error else None
            assert error, trial.fail(f"k's stopped child gave the invoke no error: {op}")
            invoked: Any = f"invoke:{error}"
        else:
            assert children[0].status == "SUCCEEDED", trial.fail(f"{tag}: {children}")
            invoked = flows.child_result(tag, once, answers[f"{tag}.child"])
            assert json.loads(children[0].result or "null") == invoked, trial.fail(
                f"{tag}'s child: {children[0].result} != {invoked}"
            )
        for key in (f"{tag}.i{i}" for i in range(flows.ITEMS)):
            assert answers[key] == wanted_answer(key), trial.fail(f"{key}: {answers[key]}")
        want = flows.fan_result(tag, once, answers, invoked)
        assert json.loads(ex.result or "null") == want, trial.fail(f"{tag}: {ex.result} != {want}")
    trial.check_cli_agrees()


@pytest.mark.parametrize("seed", SEEDS[:1] + SEEDS[2:])
def test_map_items_and_a_child_wait_on_callbacks_answered_by_cli_and_api_while_workers_die(
    tmp_path: Path, seed: int
) -> None:
    callbacks_trial(Trial(tmp_path, seed))


def test_the_same_with_workers_killed_in_the_middle_of_their_graceful_stop(
    tmp_path: Path,
) -> None:
    callbacks_trial(Trial(tmp_path, SEEDS[1]), drain=True)


# --- timers of several lengths coming due across restarts ---------------------------------------


def timers_trial(trial: Trial) -> None:
    """Three executions each wait 1, 2 and 3 seconds in the branches of a ``Parallel`` (an
    at-most-once step after each wait) and 1 second after it, served by a ``step`` and a
    ``batch`` worker that are SIGKILLed in turns; once, every worker is killed and none runs
    for longer than the longest wait. engine.md ("Time", "A worker is killed"): no wait ends
    before its time, every one ends (none lost with its worker), and the executions end as an
    uncrashed run does."""
    rng = random.Random(trial.seed)
    for tag in ("t1", "t2", "t3"):
        trial.start("timers", tag)
    kinds = [("1", "step"), ("2", "batch")]
    workers = [trial.worker(kind) for kind in kinds]
    blackout = rng.randrange(4)
    try:
        for turn in range(4):
            time.sleep(rng.uniform(0.2, 1.2))
            if turn == blackout:
                for w in workers:
                    trial.kill(w)
                time.sleep(max(flows.WAITS) + 0.5)
                workers = [trial.worker(kind) for kind in kinds]
                continue
            i = rng.randrange(len(workers))
            trial.kill(workers[i])
            workers[i] = trial.worker(kinds[i])
        trial.wait_all_ended(workers)
        _until_sigterm_handled(trial, workers)
    finally:
        _stop_all(workers)
    assert [w.returncode for w in workers] == [0, 0], trial.fail("a worker failed on SIGTERM")
    assert "Traceback" not in trial.err.read_text(), trial.fail("a process wrote a traceback")
    once = trial.check_steps(set())
    for tag in ("t1", "t2", "t3"):
        arn = trial.tags[tag]
        (ex,) = [ex for ex in trial.executions() if ex.arn == arn]
        assert ex.status == "SUCCEEDED", trial.fail(f"{tag} ended {ex.status}: {ex.error}")
        want = flows.timers_result(tag, once)
        assert json.loads(ex.result or "null") == want, trial.fail(f"{tag}: {ex.result} != {want}")
        waits = [op for op in trial.operations(arn) if op.type == "WAIT"]
        assert sorted(op.name for op in waits) == ["tail", "wait0", "wait1", "wait2"], trial.fail(
            f"{tag}: {waits}"
        )
        for op in waits:
            seconds = 1 if op.name == "tail" else flows.WAITS[int(op.name[-1])]
            assert op.status == "SUCCEEDED", trial.fail(f"{tag}: {op}")
            assert op.end_timestamp - op.start_timestamp >= seconds * 1000, trial.fail(
                f"{tag}: {op.name} of {seconds} s ended after "
                f"{op.end_timestamp - op.start_timestamp} ms"
            )
            assert op.wait_details.scheduled_end_timestamp == op.start_timestamp + seconds * 1000, (
                trial.fail(f"{tag}: {op}")
            )
    trial.check_cli_agrees()


def test_timers_of_several_lengths_come_due_across_kills_and_a_blackout_of_every_worker(
    tmp_path: Path,
) -> None:
    timers_trial(Trial(tmp_path, SEEDS[0]))


# --- commands SIGKILLed while they write --------------------------------------------------------


def commands_trial(trial: Trial, rng: random.Random) -> None:
    """On a database that does not exist yet, two workers and a ``run`` start together and
    are SIGKILLed at drawn moments (while they create it, for some); then ``start`` (without
    ``--name``) is SIGKILLed at drawn moments six times, and ``callback succeed|fail`` (by the
    command line and the API) SIGKILLed before each answer that ends. cli.md ("Upgrades",
    ``start``, ``callback``): the schema is created in one transaction; each start is
    recorded whole (an execution a worker then runs to its end) or not at all, and one that
    printed its id recorded it; no answer is half-recorded."""
    first = [
        trial.worker(KINDS[0]),
        trial.worker(KINDS[1]),
        trial.popen("run", f"{MODULE}:short", "--input", '"r0"'),
    ]
    for proc in first:
        time.sleep(rng.uniform(0.0, 0.3))
        trial.kill(proc)
    started: list[str] = []
    for n in range(6):
        proc = trial.popen(
            "start", f"{MODULE}:short", "--input", json.dumps(f"s{n}"), "--arn",
            out=subprocess.PIPE,
        )  # fmt: skip
        time.sleep(rng.uniform(0.1, 0.8))
        if proc.poll() is None:
            trial.kill(proc)
            continue
        out, err = proc.communicate()
        assert proc.returncode == 0, trial.fail(f"start exited {proc.returncode}: {err}")
        started.append(out.strip())
    for tag in ("c1", "c2", "c3"):
        trial.start("child", tag)
    workers = [trial.worker(kind) for kind in KINDS]
    answerer = Answerer(trial, rng)
    try:
        trial.wait_all_ended(workers, answerer.step)
        _until_sigterm_handled(trial, workers)
    finally:
        _stop_all(workers)
    assert [w.returncode for w in workers] == [0, 0], trial.fail("a worker failed on SIGTERM")
    assert "Traceback" not in trial.err.read_text(), trial.fail("a process wrote a traceback")
    answers = answerer.check()
    once = trial.check_steps(set())
    records = trial.executions()
    arns = {ex.arn for ex in records}
    assert set(started) <= arns, trial.fail(f"a start that printed its id recorded none: {started}")
    for ex in records:
        tag = json.loads(ex.input or "null")
        assert ex.status == "SUCCEEDED", trial.fail(f"{tag} ended {ex.status}: {ex.error}")
        if tag.startswith("c"):
            want: Any = flows.child_result(tag, once, answers[f"{tag}.child"])
            assert answers[f"{tag}.child"] == wanted_answer(f"{tag}.child"), trial.fail(answers)
        else:
            want = [f"{tag.upper()}.S1", once.get(f"{tag}.sonce", f"{tag.upper()}.SONCE")]
        assert json.loads(ex.result or "null") == want, trial.fail(f"{tag}: {ex.result} != {want}")
    trial.check_cli_agrees()


@pytest.mark.parametrize("seed", SEEDS)
def test_workers_run_and_start_killed_while_they_create_and_write_the_database(
    tmp_path: Path, seed: int
) -> None:
    commands_trial(Trial(tmp_path, seed), random.Random(seed))


# --- one callback answered by several processes at once -----------------------------------------


def racing_answers_trial(trial: Trial, rng: random.Random) -> None:
    """Three executions wait on a callback each; four processes answer each callback at once
    (two ``durable-gen callback`` commands and two through the Python API, each with an answer
    of its own, some succeeding and some failing it), one of them SIGKILLed at a drawn moment,
    while the two workers are killed in turns. engine.md ("Callbacks"): a callback completes
    once, so at most one process says it sent its answer, the others are refused (exit status
    1, no traceback), and the execution ends with the answer recorded: that one's, or a killed
    process's."""
    tags = ("r1", "r2", "r3")
    for tag in tags:
        trial.start("child", tag)
    workers = [trial.worker(kind) for kind in KINDS]
    answers: dict[str, dict[int, Any]] = {}
    outcomes: dict[str, dict[int, int]] = {}
    try:
        for tag in tags:
            key = f"{tag}.child"
            _wait_for(trial, f"callback of {tag}", (trial.outbox / key).exists, lambda: None)
            callback_id = (trial.outbox / key).read_text()
            procs = {}
            answers[key] = {}
            for n in range(4):
                if n % 2 == 0:
                    result = json.dumps(f"cli-{n}")
                    answers[key][n] = f"cli-{n}"
                    args = ("callback", "succeed", callback_id, result)
                    if n == 2:
                        args = ("callback", "fail", callback_id, '{"ErrorType": "Cli2"}')
                        answers[key][n] = "failed:Cli2"
                    procs[n] = trial.popen(*args, out=subprocess.PIPE)
                else:
                    kind, payload = ("succeed", json.dumps(f"api-{n}"))
                    answers[key][n] = f"api-{n}"
                    if n == 3:
                        kind, payload = "fail", "Api3"
                        answers[key][n] = "failed:Api3"
                    procs[n] = trial.popen(
                        sys.executable, "-c", API_ANSWER, trial.db, callback_id, kind, payload,
                        out=subprocess.PIPE, db=False,
                    )  # fmt: skip
            victim = rng.randrange(4)
            time.sleep(rng.uniform(0.0, 0.6))
            if procs[victim].poll() is None:
                trial.kill(procs[victim])
            outcomes[key] = {}
            for n, proc in procs.items():
                _, err = proc.communicate(timeout=120)
                outcomes[key][n] = proc.returncode
                if proc.returncode not in (0, -signal.SIGKILL):
                    assert proc.returncode == 1, trial.fail(f"{key} #{n}: {proc.returncode} {err}")
                    assert "already ended" in err, trial.fail(f"{key} #{n}: {err}")
            i = rng.randrange(len(workers))
            trial.kill(workers[i])
            workers[i] = trial.worker(KINDS[i])
        trial.wait_all_ended(workers)
        _until_sigterm_handled(trial, workers)
    finally:
        _stop_all(workers)
    assert [w.returncode for w in workers] == [0, 0], trial.fail("a worker failed on SIGTERM")
    once = trial.check_steps(set())
    recorded = Answerer(trial, rng).recorded()
    by_arn = {ex.arn: ex for ex in trial.executions()}
    for tag in tags:
        key = f"{tag}.child"
        codes = outcomes[key]
        sent = [n for n, code in codes.items() if code == 0]
        assert len(sent) <= 1, trial.fail(f"{key}: {sent} all said they sent their answer")
        _, value = recorded[key]
        if sent:
            assert value == answers[key][sent[0]], trial.fail(f"{key}: {value} != #{sent}")
        else:
            killed = [n for n, code in codes.items() if code == -signal.SIGKILL]
            assert value in [answers[key][n] for n in killed], trial.fail(
                f"{key}: recorded {value}, none said sent, killed {killed}"
            )
        ex = by_arn[trial.tags[tag]]
        assert ex.status == "SUCCEEDED", trial.fail(f"{tag} ended {ex.status}: {ex.error}")
        want = flows.child_result(tag, once, value)
        assert json.loads(ex.result or "null") == want, trial.fail(f"{tag}: {ex.result} != {want}")
    trial.check_cli_agrees()


@pytest.mark.parametrize("seed", SEEDS[:1] + SEEDS[2:])
def test_one_callback_answered_by_four_processes_at_once_completes_once(
    tmp_path: Path, seed: int
) -> None:
    racing_answers_trial(Trial(tmp_path, seed), random.Random(seed))


# --- a parent and its child stopped at once, from two processes ---------------------------------


def stop_pairs_trial(trial: Trial, pairs: int = 4) -> None:
    """Executions whose child waits on a callback; ``durable-gen stop PARENT`` and ``durable-gen
    stop CHILD`` run at once for each, while a worker runs. engine.md (``stop``): the executions
    a stopped one invoked are stopped with it, and stopping an ended execution prints the status
    it ended with; both commands succeed (exit status 0), both executions end STOPPED, and the
    parent's invoke records STOPPED. (On Postgres a stop that took the rows in another order
    than the child's end deadlocked, and the server failed one: exit status 1, "locked".)"""
    tags = [f"p{i}" for i in range(pairs)]
    done = trial.cli("worker", "--once", "-q", *flows.REGISTER)
    assert done.returncode == 0, trial.fail(done.stderr)
    for tag in tags:
        trial.start("fan", tag)
    workers = [trial.worker(KINDS[0])]
    try:
        for tag in tags:
            _wait_for(trial, f"child of {tag}", (trial.outbox / f"{tag}.child").exists, tuple)
        kids = {ex.parent_arn: ex.arn for ex in trial.executions() if ex.parent_arn}
        for tag in tags:
            parent = trial.tags[tag]
            procs = [
                trial.popen("stop", arn, out=subprocess.PIPE) for arn in (parent, kids[parent])
            ]
            for proc, arn in zip(procs, (parent, kids[parent]), strict=True):
                out, err = proc.communicate(timeout=120)
                assert proc.returncode == 0, trial.fail(f"stop of {tag}'s {arn}: {err}")
                assert out.strip() == f"execution {arn.rsplit('/', 1)[1]}: STOPPED", trial.fail(out)
    finally:
        _stop_all(workers)
    assert "Traceback" not in trial.err.read_text(), trial.fail("a process wrote a traceback")
    by_arn = {ex.arn: ex for ex in trial.executions()}
    for tag in tags:
        parent = trial.tags[tag]
        assert (by_arn[parent].status, by_arn[kids[parent]].status) == ("STOPPED", "STOPPED")
        invokes = [op.status for op in trial.operations(parent) if op.type == "CHAINED_INVOKE"]
        assert invokes == ["STOPPED"], trial.fail(f"{tag}: {invokes}")
    trial.check_steps(set(tags))


def test_a_parent_and_its_child_stopped_at_once_by_two_commands(tmp_path: Path) -> None:
    stop_pairs_trial(Trial(tmp_path, SEEDS[0]))


# --- start SIGKILLed just after it created the database file -----------------------------------


def test_start_killed_just_after_it_created_the_database_file_leaves_a_usable_one(
    tmp_path: Path,
) -> None:
    """``start`` on a path where there is no database, SIGKILLed a few milliseconds after the
    file appears (while it sets the file up and creates the schema, or starts the execution).
    cli.md ("Upgrades", ``start``): the schema is created in one transaction, so the next
    ``start`` on that file works, ``list --json`` lists what was started and a worker runs it."""
    rng = random.Random(SEEDS[0])
    for n in range(6):
        (tmp_path / f"t{n}").mkdir()
        trial = Trial(tmp_path / f"t{n}", SEEDS[0])
        proc = trial.popen(
            "start", f"{MODULE}:short", "--input", '"k"', "--arn", out=subprocess.PIPE
        )
        _wait_for(trial, "database file", Path(trial.db).exists, tuple, seconds=30)
        time.sleep(rng.uniform(0.0, 0.03))
        trial.kill(proc)
        arn = trial.start("short", "l")
        done = trial.cli("list", "--json")
        assert done.returncode == 0, trial.fail(done.stderr)
        listed = {row["arn"]: json.loads(row["input"]) for row in json.loads(done.stdout)}
        assert listed[arn] == "l" and set(listed.values()) <= {"k", "l"}, trial.fail(f"{listed}")
        done = trial.cli("worker", "--once", "-q")
        assert done.returncode == 0, trial.fail(done.stderr)
        records = trial.executions()
        assert [ex.status for ex in records] == ["SUCCEEDED"] * len(listed), trial.fail(
            f"{records}"
        )
        trial.check_steps(set())


# --- the checks catch what they look for --------------------------------------------------------


@pytest.mark.parametrize(
    ("lines", "snapshot", "killed", "message"),
    [
        (["start x.once 1", "start x.once 2"], None, {"1"}, "at-most-once x.once started 2"),
        (["start x.i0.once 1"], None, set(), "x.i0.once ran with no START recorded"),
        (["start x.a 1", "end x.a 1", "start x.a 2"], ({"x.a"}, 2), set(), "started again in 2"),
        (["start x.z 1", "end x.z 1", "start x.z 2"], None, set(), "ran 2 times with no kill"),
    ],
)
def test_the_step_checks_catch_a_run_too_many(
    tmp_path: Path,
    lines: list[str],
    snapshot: tuple[set[str], int] | None,
    killed: set[str],
    message: str,
) -> None:
    trial = Trial(tmp_path, 0)
    open_store(trial.db).close()  # an empty database: no step recorded
    trial.log.write_text("".join(f"{line}\n" for line in lines))
    trial.killed = killed
    if snapshot is not None:
        trial.snapshots.append(snapshot)
    with pytest.raises(AssertionError, match=message):
        trial.check_steps(set())


def test_the_eager_check_catches_a_step_run_before_its_start_was_recorded(tmp_path: Path) -> None:
    trial = Trial(tmp_path, 0)
    open_store(trial.db).close()
    trial.log.write_text("start x.a 7\nend x.a 7\n")
    with pytest.raises(AssertionError, match=r"eager worker 7 ran \{.x\.a.\} unrecorded"):
        trial.check_eager("7")


# --- a plain Invoke target whose worker is killed while it runs ----------------------------------


def test_a_plain_invoke_target_cut_by_a_kill_is_called_again_and_its_execution_ends(
    tmp_path: Path,
) -> None:
    """engine.md ("Scheduling"): a plain function is called after the invocation that started
    it, and again when the worker calling it dies before its result is recorded (as an
    at-least-once step): the execution is not lost with the worker, and ends with the result."""
    trial = Trial(tmp_path, SEEDS[0])
    done = trial.cli("worker", "--once", "-q", *flows.PLAIN)
    assert done.returncode == 0, trial.fail(done.stderr)
    arn = trial.start("calls_plain", "v")
    proc = trial.worker(("1", "step"), register=False)
    _wait_for(
        trial, "plain call", lambda: ("start", "v.plain") in [ln[:2] for ln in trial.lines()], tuple
    )
    trial.kill(proc)
    workers = [trial.worker(("1", "step"), register=False)]
    try:
        trial.wait_all_ended(workers)
    finally:
        _stop_all(workers)
    (ex,) = trial.executions()
    assert (ex.arn, ex.status) == (arn, "SUCCEEDED"), trial.fail(f"{ex}")
    assert json.loads(ex.result or "null") == ["V.PLAIN", "V.AFTER"], trial.fail(f"{ex.result}")
    runs = [pid for event, label, pid in trial.lines() if (event, label) == ("start", "v.plain")]
    assert len(runs) == 2 and runs[0] == str(proc.pid), trial.fail(f"plain calls in {runs}")
    trial.check_steps(set())
