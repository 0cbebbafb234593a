"""Round-12 crash trials, through the command line alone.

- Three workers of different ``--concurrency`` and ``--checkpointing`` modes and a
  ``durable-gen run`` share one database; workers are SIGKILLed at random moments (a fresh
  one of the same kind takes each one's place) while their executions invoke a child
  workflow, wait on a callback that ``durable-gen callback succeed`` answers from other
  processes (some of them SIGKILLed too, and sent again), poll a ``WaitForCondition`` and run
  at-most-once steps (side by side in a ``Parallel`` too); ``durable-gen stop`` (killed at
  times as well) stops one execution meanwhile, and another one times out.
- Processes that race to ``start --name`` one execution on a database that does not exist
  yet, some SIGKILLed while they create it.
- A callback kept alive by ``durable-gen callback heartbeat`` while the workers die, and one
  whose heartbeats stop.
- Workers on ``--lease 1`` frozen (SIGSTOP) past it inside steps that last longer, and killed.
- ``durable-gen run --name`` SIGKILLed and run again until it prints the result.

What is checked comes from the docs alone (cli.md on ``start --name``, ``callback``, ``stop``,
``list --json``, ``show`` and ``history``; guide.md on step semantics; engine.md "A worker is
killed"), read from a log the step bodies write (``start``/``end`` lines with the process id)
and from the database:

- every execution ends as an uninterrupted run ends, given which at-most-once steps a kill
  cut (``interrupted``, and then the one run it had was in a killed process, or none);
- no step whose success was recorded starts again, an at-most-once step starts at most once,
  and only after its start was recorded; an at-least-once step runs again only when a kill
  interrupted it;
- one child execution per ``Invoke``, one execution per ``--name``;
- ``list --json``, ``show`` and the replay of ``history --json`` say what the store holds.

Kill points and moments are drawn from a seed; a failure names it (``ROUND12_SEED=N`` adds
one, ``ROUND12_SEED=random`` draws one).
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

from . import round12_flows as flows

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "durable_gen.cli"]
MODULE = "tests.soak.round12_flows"
_EXTRA = os.environ.get("ROUND12_SEED")
SEEDS = [12, 2026] + (
    [] if _EXTRA is None else [random.randrange(2**32) if _EXTRA == "random" else int(_EXTRA)]
)
#: (--concurrency, --checkpointing) of the workers that share the database
KINDS = [("1", "step"), ("3", "batch"), ("2", "eager")]
#: the --timeout of the execution whose callback nobody answers
TIMEOUT = 6


def _env(trial: Trial) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["STEP_LOG"] = str(trial.log)
    env["OUTBOX"] = str(trial.outbox)
    return env


class Trial:
    """One database, one step log, the processes on it and what was recorded as they died."""

    def __init__(self, tmp: Path, seed: int, db: str | None = None) -> None:
        self.db, self.seed = db or str(tmp / "r12.db"), seed
        self.log, self.err, self.outbox = tmp / "steps.log", tmp / "stderr", tmp / "outbox"
        self.outbox.mkdir()
        #: pids SIGKILLed, and pids frozen (SIGSTOP) past their lease
        self.killed: set[str] = set()
        self.frozen: set[str] = set()
        #: (labels whose success the database held, the length of the step log read after)
        self.snapshots: list[tuple[set[str], int]] = []
        self.tags: dict[str, str] = {}  # tag -> arn

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

    def popen(self, *args: str, out: int | None = subprocess.DEVNULL) -> subprocess.Popen[str]:
        with open(self.err, "a", encoding="utf-8") as err:
            return subprocess.Popen(
                [*CLI, *args, "--db", self.db],
                env=_env(self),
                cwd=ROOT,
                stdout=out,
                stderr=err if out == subprocess.DEVNULL else subprocess.PIPE,
                text=True,
            )

    def kill(self, proc: subprocess.Popen[str]) -> None:
        proc.send_signal(signal.SIGKILL)
        proc.communicate()  # closes its pipes
        if proc.returncode == -signal.SIGKILL:
            self.killed.add(str(proc.pid))
        self.snapshot()

    def lines(self) -> list[tuple[str, str, str]]:
        if not self.log.exists():
            return []
        return [tuple(line.split()) for line in self.log.read_text().splitlines()]  # type: ignore[misc]

    def snapshot(self) -> None:
        """What the database holds now, then how long the log is: a start past that length of
        a label held came after its success was committed."""
        recorded = self.recorded()
        self.snapshots.append((recorded, len(self.lines())))

    def recorded(self) -> set[str]:
        labels: set[str] = set()
        with open_store(self.db) as store:
            for ex in store.executions():
                for op in store.operations(ex.arn):
                    details = op.step_details
                    if op.type != "STEP" or details is None or details.result is None:
                        continue
                    value = json.loads(details.result)
                    if op.sub_type == "WaitForCondition":
                        labels.update(f"{value['tag']}.probe{k}" for k in value["seen"])
                    elif op.status == "SUCCEEDED" and isinstance(value, str):
                        labels.add(value.lower())
        return labels

    def start(self, tag: str, *timeout: str) -> str:
        done = self.cli("start", f"{MODULE}:order", "--input", json.dumps(tag), "--arn", *timeout)
        assert done.returncode == 0, self.fail(done.stderr)
        self.tags[tag] = done.stdout.strip()
        return self.tags[tag]

    def executions(self) -> list[Any]:
        with open_store(self.db) as store:
            return list(store.executions())

    def operations(self, arn: str) -> list[Any]:
        with open_store(self.db) as store:
            return list(store.operations(arn))

    def check_steps(self, stopped: set[str]) -> dict[str, str]:
        """The step checks; returns the result of each at-most-once step that ran or was cut
        (label -> its result or ``interrupted``)."""
        lines = self.lines()
        for recorded, seen in self.snapshots:
            for event, label, pid in lines[seen:]:
                # engine.md: a worker frozen past its lease may still run the step in flight
                # (and in batch mode the steps after it) when it resumes: nothing of it is
                # recorded
                if pid in self.frozen:
                    continue
                assert not (event == "start" and label in recorded), self.fail(
                    f"{label} started again in {pid} after its success was recorded"
                )
        starts = Counter(label for event, label, _ in lines if event == "start")
        once_ops = self._once_ops()
        outcome: dict[str, str] = {}
        for label, n in starts.items():
            suffix = "." + label.rsplit(".", 1)[1]
            if suffix in flows.ONCE:
                assert n == 1, self.fail(f"at-most-once {label} started {n} times")
                # its START was recorded before its body ran
                assert label in once_ops, self.fail(f"{label} ran with no START recorded")
            elif n > 1 and label.split(".")[0] not in stopped:
                cut = [
                    p
                    for e, lab, p in lines
                    if lab == label and e == "start" and p in self.killed | self.frozen
                ]
                assert cut, self.fail(f"{label} ran {n} times with no kill in any run")
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
                assert not runs or runs[0] in self.killed | self.frozen, self.fail(
                    f"{label} interrupted, its run in {runs}, killed {self.killed}"
                )
                outcome[label] = "interrupted"
        return outcome

    def _once_ops(self) -> dict[str, tuple[str, str | None, str | None]]:
        """label -> (status, result, error type) of every at-most-once step recorded."""
        names = {name: suffix for suffix, (name, _) in flows.ONCE.items()}
        out = {}
        with open_store(self.db) as store:
            for ex in store.executions():
                tag = json.loads(ex.input or "null")
                for op in store.operations(ex.arn):
                    if op.type == "STEP" and op.name in names:
                        details = op.step_details
                        error = details.error.error_type if details and details.error else None
                        result = details.result if details else None
                        out[f"{tag}{names[op.name]}"] = (op.status, result, error)
        return out

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
            workflow = flows.child if ex.parent_arn else flows.order
            for other in (flows.beating, flows.lasting):
                if ex.function_name.endswith(other.__name__):
                    workflow = other
            report = replay(workflow, json.loads(history.stdout))
            assert report.status == "ok" and report.result == json.loads(ex.result or "null"), (
                self.fail(f"replay of {ex.arn}: {report}")
            )


# --- mixed workers, run, callback and stop commands, all killed -------------------------------


class Answerer:
    """Answers each callback a submitter handed over with ``callback succeed``, from a process
    of its own that is SIGKILLed now and then (and the answer sent again)."""

    def __init__(self, trial: Trial, rng: random.Random) -> None:
        self.trial, self.rng = trial, rng
        self.done: set[str] = set()
        self.refused: dict[str, str] = {}
        #: callback id -> exit statuses of the commands that answered it (-9: killed)
        self.sent: dict[str, list[int]] = {}
        #: tags whose callback is not to be answered yet
        self.hold: set[str] = set()

    def step(self) -> None:
        for path in sorted(self.trial.outbox.iterdir()):
            tag = path.name
            if tag in self.done or tag in self.hold or tag.endswith(".tmp"):
                continue
            callback_id = path.read_text()
            self._shows(tag, callback_id)
            proc = self.trial.popen(
                "callback", "succeed", callback_id, json.dumps(f"ok-{tag}"), out=subprocess.PIPE
            )
            if self.rng.random() < 0.35:
                time.sleep(self.rng.uniform(0.0, 0.3))
                if proc.poll() is None:
                    self.trial.kill(proc)
                    self.sent.setdefault(callback_id, []).append(proc.returncode)
                    continue
            out, err = proc.communicate(timeout=120)
            self.sent.setdefault(callback_id, []).append(proc.returncode)
            if proc.returncode == 0:
                assert out.strip() == f"callback {callback_id}: succeed sent", self.trial.fail(out)
                self.done.add(tag)
            else:
                # answered already (by a run this one thought killed), or its execution stopped
                assert proc.returncode == 1 and "Traceback" not in err, self.trial.fail(err)
                self.refused[tag] = err
                self.done.add(tag)

    def _shows(self, tag: str, callback_id: str) -> None:
        """cli.md: ``show`` names the callback an execution waits on by its id; while it waits
        on one, that is the id its submitter handed over."""
        arn = self.trial.tags.get(tag)
        if arn is None:
            return
        shown = self.trial.cli("show", arn)
        assert shown.returncode == 0, self.trial.fail(shown.stderr)
        waits = [ln for ln in shown.stdout.splitlines() if ln.split()[:2] == ["waits", "on"]]
        for line in waits:
            if "(CallbackId " in line:
                shown_id = line.split("(CallbackId ", 1)[1].split(")", 1)[0]
                assert shown_id == callback_id, self.trial.fail(f"{tag}: {line} != {callback_id}")

    def check(self) -> None:
        """A ``callback succeed`` that said it sent the answer recorded it; one that every
        run of refused (none killed) recorded nothing."""
        answered = {}
        with open_store(self.trial.db) as store:
            for ex in store.executions():
                for op in store.operations(ex.arn):
                    details = op.callback_details
                    if op.type == "CALLBACK" and details is not None and details.callback_id:
                        answered[details.callback_id] = (op.status, details.result, ex.input)
        for callback_id, codes in self.sent.items():
            status, result, tag = answered[callback_id]
            if 0 in codes:
                assert (status, result) == ("SUCCEEDED", json.dumps(f"ok-{json.loads(tag)}")), (
                    self.trial.fail(f"{callback_id} said sent, recorded {status} {result}")
                )
            elif -signal.SIGKILL not in codes:
                assert status != "SUCCEEDED", self.trial.fail(
                    f"{callback_id}: every answer refused ({codes}), yet recorded {status}"
                )


def _until_sigterm_handled(trial: Trial, procs: list[subprocess.Popen[str]]) -> None:
    """Wait until each process catches SIGTERM: a worker does once Python has started it (a
    SIGTERM before that ends it at once, as it ends any program)."""
    deadline = time.monotonic() + 60
    for proc in procs:
        while True:
            status = Path(f"/proc/{proc.pid}/status").read_text()
            (caught,) = [ln.split()[1] for ln in status.splitlines() if ln.startswith("SigCgt:")]
            if int(caught, 16) & (1 << (signal.SIGTERM - 1)):
                break
            assert time.monotonic() < deadline, trial.fail(f"{proc.pid} never handled SIGTERM")
            time.sleep(0.05)


def stop_with_kills(trial: Trial, arn: str, rng: random.Random) -> str:
    """``durable-gen stop``, SIGKILLed at a drawn moment until one run of it ends."""
    for _ in range(5):
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


def mixed_trial(trial: Trial) -> None:
    """The trial of ``test_mixed_workers_run_callback_and_stop_commands_killed_on_one_database``
    on ``trial``'s database (Postgres runs it too)."""
    rng = random.Random(trial.seed)
    for tag in ("a", "b", "c", "d", "s"):
        trial.start(tag)
    # its callback is never answered: it times out while the workers die
    trial.start("t", "--timeout", str(TIMEOUT))
    runner = trial.popen(
        "run", f"{MODULE}:order", "--input", json.dumps("r"), "--name", "r12-run", *flows.REGISTER
    )

    def worker(kind: tuple[str, str]) -> subprocess.Popen[str]:
        concurrency, mode = kind
        return trial.popen(
            "worker",
            "--concurrency",
            concurrency,
            "--checkpointing",
            mode,
            "--poll",
            "0.05",
            "-q",
            *flows.REGISTER,
        )

    workers = [worker(kind) for kind in KINDS]
    answerer = Answerer(trial, rng)
    answerer.hold.update({"s", "t"})
    stop_at = rng.randint(0, 5)
    stopped = ""
    try:
        for kill in range(6):
            moment = time.monotonic() + rng.uniform(0.3, 2.0)
            while time.monotonic() < moment:
                answerer.step()
                time.sleep(0.05)
            if kill == 0:
                deadline = time.monotonic() + 60
                while not any(ex.name == "r12-run" for ex in trial.executions()):
                    assert time.monotonic() < deadline, trial.fail("run started nothing")
                    time.sleep(0.05)
                time.sleep(rng.uniform(0.0, 1.0))
                trial.kill(runner)  # run is not replaced: the workers take its execution over
            i = rng.randrange(len(workers))
            trial.kill(workers[i])
            workers[i] = worker(KINDS[i])
            if kill == stop_at:
                stopped = stop_with_kills(trial, trial.tags["s"], rng)
                answerer.hold.discard("s")  # an answer now is refused: the execution ended
        deadline = time.monotonic() + 120
        while any(ex.status == "RUNNING" for ex in trial.executions()):
            assert time.monotonic() < deadline, trial.fail("executions still running after 120 s")
            for w in workers:
                assert w.poll() is None, trial.fail(f"a worker exited {w.returncode}")
            answerer.step()
            time.sleep(0.1)
        _until_sigterm_handled(trial, workers)
    finally:
        for proc in [*workers, runner]:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(60)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
    assert [w.returncode for w in workers] == [0, 0, 0], trial.fail("a worker failed on SIGTERM")
    assert "Traceback" not in trial.err.read_text(), trial.fail("a process wrote a traceback")
    answerer.check()
    check_mixed(trial, stopped)


def check_mixed(trial: Trial, stopped: str) -> None:
    records = trial.executions()
    by_arn = {ex.arn: ex for ex in records}
    named = [ex for ex in records if ex.name == "r12-run"]
    assert len(named) == 1, trial.fail(f"{len(named)} executions named r12-run")
    trial.tags["r"] = named[0].arn
    s = by_arn[trial.tags["s"]]
    # nobody answers its callback before the stop: it ends STOPPED
    assert s.status == "STOPPED", trial.fail(f"s ended {s.status}")
    assert stopped == f"execution {s.arn.rsplit('/', 1)[1]}: STOPPED", trial.fail(
        f"stop said {stopped!r}"
    )
    once = trial.check_steps({"s"} if s.status == "STOPPED" else set())
    for tag, arn in trial.tags.items():
        ex = by_arn[arn]
        children = [c for c in records if c.parent_arn == arn]
        # one child execution per Invoke, whatever was killed
        assert len(children) <= 1, trial.fail(f"{tag}: {len(children)} child executions")
        invokes = [op for op in trial.operations(arn) if op.type == "CHAINED_INVOKE"]
        if tag == "t":
            # engine.md: it times out; the execution it invoked runs to its own end
            assert ex.status == "TIMED_OUT", trial.fail(f"t ended {ex.status}: {ex.error}")
            assert (ex.end_ms or 0) - ex.start_ms >= TIMEOUT * 1000, trial.fail(f"{ex}")
            assert ex.error is not None and ex.error.error_type == "Execution.Timeout", trial.fail(
                f"{ex.error}"
            )
            assert [c.status for c in children] in ([], ["SUCCEEDED"]), trial.fail(f"{children}")
            continue
        # the invoke operation ends as its child does (a stop stops the running child first)
        assert [op.status for op in invokes] == [c.status for c in children], trial.fail(
            f"{tag}: invoke {[op.status for op in invokes]}, children {children}"
        )
        if tag == "s" and ex.status == "STOPPED":
            assert all(c.status == "STOPPED" for c in children), trial.fail(
                f"the stopped execution's child ended {children}"
            )
            continue
        assert ex.status == "SUCCEEDED", trial.fail(f"{tag} ended {ex.status}: {ex.error}")
        assert [c.status for c in children] == ["SUCCEEDED"], trial.fail(f"{tag}: {children}")
        want = flows.order_result(tag, once)
        assert json.loads(ex.result or "null") == want, trial.fail(f"{tag}: {ex.result} != {want}")
    assert all(ex.status != "RUNNING" for ex in records), trial.fail(f"{records}")
    trial.check_cli_agrees()


@pytest.mark.parametrize("seed", SEEDS[:1] + SEEDS[2:])
def test_mixed_workers_run_callback_and_stop_commands_killed_on_one_database(
    tmp_path: Path, seed: int
) -> None:
    mixed_trial(Trial(tmp_path, seed))


# --- racing named starts on a database being created -------------------------------------------


def racing_starts(trial: Trial, rng: random.Random) -> None:
    """Five ``start --name`` of one execution at once on a database not created yet, two of
    them SIGKILLed at drawn moments; then two more. Every start that ended printed the same
    id, the database holds that one execution, and a worker runs it to its end."""
    args = ("start", f"{MODULE}:order", "--input", '"n"', "--name", "r12-once", "--arn")
    procs = [trial.popen(*args, out=subprocess.PIPE) for _ in range(5)]
    victims = rng.sample(range(5), 2)
    time.sleep(rng.uniform(0.0, 0.4))
    for i in victims:
        if procs[i].poll() is None:
            trial.kill(procs[i])
    arns = set()
    for i, proc in enumerate(procs):
        out, err = proc.communicate(timeout=120)
        if proc.returncode == -signal.SIGKILL and i in victims:
            continue
        assert proc.returncode == 0, trial.fail(f"start exited {proc.returncode}: {err}")
        arns.add(out.strip())
    for _ in range(2):
        done = trial.cli(*args)
        assert done.returncode == 0, trial.fail(done.stderr)
        arns.add(done.stdout.strip())
    assert len(arns) == 1, trial.fail(f"named starts gave {arns}")
    records = [ex for ex in trial.executions() if ex.parent_arn is None]
    assert [ex.arn for ex in records] == list(arns), trial.fail(f"{records} != {arns}")
    (arn,) = arns
    trial.tags["n"] = arn
    proc = trial.popen("worker", "--poll", "0.05", "-q", *flows.REGISTER)
    try:
        answerer = Answerer(trial, random.Random(0))
        deadline = time.monotonic() + 60
        while any(ex.status == "RUNNING" for ex in trial.executions()):
            assert time.monotonic() < deadline, trial.fail("still running after 60 s")
            answerer.step()
            time.sleep(0.1)
    finally:
        proc.terminate()
        proc.wait(60)
    (ex,) = [ex for ex in trial.executions() if ex.arn == arn]
    assert json.loads(ex.result or "null") == flows.order_result("n", {}), trial.fail(ex.result)
    trial.check_steps(set())
    trial.check_cli_agrees()


@pytest.mark.parametrize("seed", SEEDS)
def test_named_starts_raced_and_killed_while_they_create_the_database_make_one_execution(
    tmp_path: Path, seed: int
) -> None:
    racing_starts(Trial(tmp_path, seed), random.Random(seed))


# --- heartbeats sent while the workers die -----------------------------------------------------


def heartbeat_trial(trial: Trial, rng: random.Random) -> None:
    """Two executions wait on a callback with a heartbeat timeout of a few seconds, served by
    two workers SIGKILLed in turns. One's callback gets a ``callback heartbeat`` every second
    for twice its heartbeat timeout, then its answer: it succeeds with it. The other's gets
    none: it ends with ``Callback.Heartbeat``, the kills notwithstanding."""
    arns = {}
    for tag in ("alive", "silent"):
        done = trial.cli("start", f"{MODULE}:beating", "--input", json.dumps(tag), "--arn")
        assert done.returncode == 0, trial.fail(done.stderr)
        arns[tag] = trial.tags[tag] = done.stdout.strip()
    args = ("worker", "--poll", "0.05", "-q", "--concurrency", "2")
    workers = [trial.popen(*args), trial.popen(*args)]
    try:
        path = trial.outbox / "alive"
        deadline = time.monotonic() + 60
        while not path.exists():
            assert time.monotonic() < deadline, trial.fail("no callback handed over")
            time.sleep(0.05)
        callback_id = path.read_text()
        end = time.monotonic() + 2 * flows.HEARTBEAT
        while time.monotonic() < end:
            done = trial.cli("callback", "heartbeat", callback_id)
            assert done.returncode == 0, trial.fail(done.stderr)
            i = rng.randrange(2)
            trial.kill(workers[i])
            workers[i] = trial.popen(*args)
            time.sleep(1)
        done = trial.cli("callback", "succeed", callback_id, '"ok"')
        assert done.returncode == 0, trial.fail(done.stderr)
        deadline = time.monotonic() + 60
        while any(ex.status == "RUNNING" for ex in trial.executions()):
            assert time.monotonic() < deadline, trial.fail("still running after 60 s")
            time.sleep(0.1)
    finally:
        for w in workers:
            w.terminate()
            w.wait(60)
    by_arn = {ex.arn: ex for ex in trial.executions()}
    results = {tag: json.loads(by_arn[arn].result or "null") for tag, arn in arns.items()}
    assert results == {
        "alive": ["ok", "ALIVE.AFTER"],
        "silent": ["Callback.Heartbeat", "SILENT.AFTER"],
    }, trial.fail(f"{results}")
    trial.check_steps(set())
    trial.check_cli_agrees()


def test_heartbeats_sent_from_the_command_line_while_workers_die_keep_a_callback_alive(
    tmp_path: Path,
) -> None:
    heartbeat_trial(Trial(tmp_path, SEEDS[0]), random.Random(SEEDS[0]))


# --- long steps on a one-second lease: workers frozen past it, and killed ----------------------


def _in_steps(trial: Trial) -> set[str]:
    """The pids inside a step body now."""
    open_runs: Counter[tuple[str, str]] = Counter()
    for event, label, pid in trial.lines():
        open_runs[(label, pid)] += {"start": 1, "end": -1}[event]
    return {pid for (_, pid), n in open_runs.items() if n > 0}


def frozen_trial(trial: Trial) -> None:
    """Three workers (one of each ``KINDS``) on ``--lease 1`` run executions whose steps last
    longer than the lease (an at-most-once one among them); workers are frozen (SIGSTOP) past
    their lease inside those steps, then let go, and others SIGKILLed. engine.md ("What a lease
    protects"): an execution frozen so is taken over, the late worker's work is refused, no
    at-most-once attempt starts twice, and every execution ends as an uninterrupted run does
    (the at-most-once step ``interrupted`` only when its one run was in a frozen or killed
    process)."""
    rng = random.Random(trial.seed)
    arns = {}
    for tag in ("p", "q", "r"):
        done = trial.cli("start", f"{MODULE}:lasting", "--input", json.dumps(tag), "--arn")
        assert done.returncode == 0, trial.fail(done.stderr)
        arns[tag] = done.stdout.strip()

    def worker(kind: tuple[str, str]) -> subprocess.Popen[str]:
        concurrency, mode = kind
        return trial.popen(
            "worker", "--concurrency", concurrency, "--checkpointing", mode,
            "--lease", "1", "--poll", "0.05", "-q",
        )  # fmt: skip

    workers = [worker(kind) for kind in KINDS]
    try:
        deadline = time.monotonic() + 60
        while not trial.lines():
            assert time.monotonic() < deadline, trial.fail("no step started")
            time.sleep(0.05)
        for turn in range(5):
            time.sleep(rng.uniform(0.2, 1.5))
            i = rng.randrange(len(workers))
            if turn % 2 == 0:
                # freeze one inside a step, if one is in one
                busy = _in_steps(trial)
                inside = [j for j, w in enumerate(workers) if str(w.pid) in busy]
                i = rng.choice(inside) if inside else i
                workers[i].send_signal(signal.SIGSTOP)
                trial.frozen.add(str(workers[i].pid))
                trial.snapshot()
                time.sleep(rng.uniform(1.5, 3.0))
                workers[i].send_signal(signal.SIGCONT)
            else:
                trial.kill(workers[i])
                workers[i] = worker(KINDS[i])
        deadline = time.monotonic() + 120
        while any(ex.status == "RUNNING" for ex in trial.executions()):
            assert time.monotonic() < deadline, trial.fail("executions still running after 120 s")
            time.sleep(0.1)
        _until_sigterm_handled(trial, workers)
    finally:
        for proc in workers:
            proc.send_signal(signal.SIGCONT)
            proc.terminate()
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    assert [w.returncode for w in workers] == [0, 0, 0], trial.fail(
        f"a worker failed on SIGTERM: {[(w.pid, w.returncode) for w in workers]}, frozen "
        f"{trial.frozen}, killed {trial.killed}"
    )
    assert "Traceback" not in trial.err.read_text(), trial.fail("a process wrote a traceback")
    once = trial.check_steps(set())
    lines = trial.lines()
    taken = [
        label
        for label, outcome in once.items()
        if outcome == "interrupted"
        and any(e == "start" and lab == label and p not in trial.killed for e, lab, p in lines)
    ]
    if taken:
        # cli.md: -q leaves the lost leases in the log
        assert "another worker took the execution over" in trial.err.read_text(), trial.fail(
            f"{taken} were taken over from a live worker that said nothing"
        )
    by_arn = {ex.arn: ex for ex in trial.executions()}
    for tag, arn in arns.items():
        ex = by_arn[arn]
        assert ex.status == "SUCCEEDED", trial.fail(f"{tag} ended {ex.status}: {ex.error}")
        want = flows.lasting_result(tag, once.get(f"{tag}.lonce"))
        assert json.loads(ex.result or "null") == want, trial.fail(f"{tag}: {ex.result}")
    trial.check_cli_agrees()


def test_workers_frozen_past_a_one_second_lease_and_killed_run_no_at_most_once_step_twice(
    tmp_path: Path,
) -> None:
    frozen_trial(Trial(tmp_path, SEEDS[0]))


# --- run --name, SIGKILLed and run again ----------------------------------------------------


def rerun_trial(trial: Trial, rng: random.Random) -> None:
    """``durable-gen run --name`` drives one execution, and is SIGKILLed at drawn moments
    (after the execution exists), three times; each time the same command is run again. cli.md
    (``start --name``, SIGKILL): the same name and input name the same execution, which the
    next ``run`` resumes from its last checkpoint; the last one prints the result an
    uninterrupted run returns."""
    args = ("run", f"{MODULE}:order", "--input", '"k"', "--name", "r12-again", *flows.REGISTER)
    answerer = Answerer(trial, rng)
    for _ in range(3):
        proc = trial.popen(*args, out=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while not any(ex.name == "r12-again" for ex in trial.executions()):
            assert time.monotonic() < deadline, trial.fail("run started nothing")
            time.sleep(0.05)
        moment = time.monotonic() + rng.uniform(0.0, 2.5)
        while time.monotonic() < moment:
            answerer.step()
            time.sleep(0.05)
        if proc.poll() is None:
            trial.kill(proc)
        else:
            proc.communicate()
    # the workflow waits for seconds (its child, its polls): the first kill lands before its end
    assert trial.killed, trial.fail("no run was killed")
    (ex,) = [ex for ex in trial.executions() if ex.name == "r12-again"]
    trial.tags["k"] = ex.arn
    proc = trial.popen(*args, out=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while proc.poll() is None:
        assert time.monotonic() < deadline, trial.fail("run still running after 120 s")
        answerer.step()
        time.sleep(0.05)
    out, err = proc.communicate()
    assert proc.returncode == 0 and "Traceback" not in err, trial.fail(f"{proc.returncode} {err}")
    answerer.check()
    once = trial.check_steps(set())
    want = flows.order_result("k", once)
    assert json.loads(out) == want, trial.fail(f"run printed {out.strip()}, want {want}")
    records = trial.executions()
    assert [r.status for r in records] == ["SUCCEEDED", "SUCCEEDED"], trial.fail(f"{records}")
    trial.check_cli_agrees()


def test_run_killed_and_run_again_under_its_name_resumes_one_execution(tmp_path: Path) -> None:
    rerun_trial(Trial(tmp_path, SEEDS[0]), random.Random(SEEDS[0]))


# --- the checks catch what they look for --------------------------------------------------------


@pytest.mark.parametrize(
    ("lines", "snapshot", "killed", "message"),
    [
        (["start x.once1 1", "start x.once1 2"], None, {"1"}, "at-most-once x.once1 started 2"),
        (["start x.p1 1"], None, set(), "x.p1 ran with no START recorded"),
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
