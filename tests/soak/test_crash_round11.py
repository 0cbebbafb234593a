"""Round-11 crash trials: processes SIGKILLed inside a ``WaitForCondition`` loop, inside the
at-most-once items of a ``Map`` under ``min_successful``, and inside a ``Child`` holding a
``Parallel`` whose branches retry with backoff (one of them an at-most-once step in a nested
``Child``); then the same workflows on two ``--concurrency`` workers at once, SIGKILLed at
random moments while they wait on real timers and retry delays.

What is checked comes from the docs alone (guide.md on step semantics, engine.md "A worker is
killed"), read from a log the steps write themselves (``start``/``end``/``fail``/``die`` lines
with the process id) and from the database:

- the execution succeeds with what an uninterrupted run returns, given which steps were killed;
- no step whose success was recorded before a kill starts again after it;
- an at-most-once step starts at most once per recorded attempt, and an at-most-once step
  without retries at most once in all;
- an at-least-once step runs again only when a kill interrupted it.

Each trial draws its kill points from a seed; a failure names the seed (``ROUND11_SEED=N``
reruns one).
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

from . import round11_flows as flows

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "durable_gen.cli"]
MODULE = "tests.soak.round11_flows"
# Fixed seeds, so that a run is repeatable; ROUND11_SEED=N adds one (ROUND11_SEED=random draws one).
_EXTRA = os.environ.get("ROUND11_SEED")
SEEDS = [11, 1107, 31337] + (
    [] if _EXTRA is None else [random.randrange(2**32) if _EXTRA == "random" else int(_EXTRA)]
)
#: Step runs of an uninterrupted run of each workflow (what DIE_AT draws from).
RUNS = {"poll": flows.POLLS + 1, "quorum": flows.NEEDED, "nested": 8, "chain3": 7}
#: At-most-once steps without retries: at most one start in all.
ONCE = ("settle-", "deliver-")


def _env(log: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["STEP_LOG"] = str(log)
    env.update(extra)
    return env


class Trial:
    """One database, one step log, the processes run on it and what was recorded at each kill."""

    def __init__(self, tmp: Path, seed: int, db: str | None = None) -> None:
        #: a SQLite file in ``tmp`` unless a database URL is given (Postgres)
        self.db, self.log, self.seed = db or str(tmp / "r11.db"), tmp / "steps.log", seed
        self.err = tmp / "stderr"
        #: (pid killed, labels whose success the database held right after the kill, the
        #: length of the step log read after that)
        self.kills: list[tuple[str, set[str], int]] = []
        self.arns: dict[str, tuple[str, str]] = {}  # arn -> (kind, tag)

    def fail(self, message: str) -> str:
        return f"seed {self.seed}: {message}\nstderr: {self._stderr()}\nlog: {self.lines()[-40:]}"

    def _stderr(self) -> str:
        try:
            return self.err.read_text(errors="replace")[-3000:]
        except FileNotFoundError:
            return ""

    def cli(
        self, *args: str, die_at: int = 0, where: str = "start"
    ) -> subprocess.CompletedProcess[str]:
        extra = {"DIE_AT": str(die_at), "DIE_WHERE": where} if die_at else {}
        return subprocess.run(
            [*CLI, *args, "--db", str(self.db)],
            env=_env(self.log, **extra),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def popen(self, *args: str) -> subprocess.Popen[bytes]:
        with open(self.err, "ab") as err:
            return subprocess.Popen(
                [*CLI, *args, "--db", str(self.db)],
                env=_env(self.log),
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=err,
            )

    def start(self, kind: str, tag: str) -> str:
        done = self.cli("start", f"{MODULE}:{kind}", "--input", json.dumps(tag), "--arn")
        assert done.returncode == 0, self.fail(done.stderr)
        arn = done.stdout.strip()
        self.arns[arn] = (kind, tag)
        return arn

    def killed(self, pid: int) -> None:
        recorded = self.recorded()
        self.kills.append((str(pid), recorded, len(self.lines())))

    def lines(self) -> list[tuple[str, str, str]]:
        if not self.log.exists():
            return []
        return [tuple(line.split()) for line in self.log.read_text().splitlines()]  # type: ignore[misc]

    def recorded(self) -> set[str]:
        """Labels of the step runs whose success the database holds."""
        labels: set[str] = set()
        with open_store(self.db) as store:
            for arn in [ex.arn for ex in store.executions()]:  # invoked ones too
                for op in store.operations(arn):
                    details = op.step_details
                    if op.type != "STEP" or details is None or details.result is None:
                        continue
                    value = json.loads(details.result)
                    if op.sub_type == "WaitForCondition":
                        # the state after each check is recorded: the checks before it ran
                        labels.update(f"probe-{value['tag']}-{k}" for k in value["seen"])
                    elif op.status == "SUCCEEDED" and op.name == "settle":
                        labels.add(f"settle-{value.split()[0]}")
                    elif op.status == "SUCCEEDED" and op.name == "deliver":
                        labels.add(f"deliver-{value.lower()}")
                    elif op.status == "SUCCEEDED":
                        labels.add(value.lower())
        return labels

    def state(self) -> dict[str, Any]:
        out = {}
        with open_store(self.db) as store:
            for arn in self.arns:
                ex = store.load(arn)
                assert ex is not None, self.fail(f"execution {arn} lost")
                out[arn] = (ex, store.operations(arn))
        return out

    def attempts(self) -> dict[str, int]:
        """The attempt each recorded step reached (by label)."""
        out = {}
        with open_store(self.db) as store:
            for arn in [ex.arn for ex in store.executions()]:  # invoked ones too
                for op in store.operations(arn):
                    if op.type == "STEP" and op.name in ("charge", "flaky"):
                        details = op.step_details
                        assert details is not None and details.result is not None, op
                        out[json.loads(details.result).lower()] = details.attempt or 0
        return out

    # --- the checks -------------------------------------------------------------------------

    def check(self) -> None:
        lines = self.lines()
        victims = {label for event, label, _ in lines if event in ("die", "dieend")}
        killed_pids = {pid for pid, _, _ in self.kills}
        starts = Counter(label for event, label, _ in lines if event == "start")
        # The log's length is read after the database: a start past it came after the label's
        # success was committed.
        for pid, recorded, seen in self.kills:
            for event, label, p in lines[seen:]:
                assert not (event == "start" and label in recorded), self.fail(
                    f"{label} started again in {p} after its success was recorded (kill of {pid})"
                )
        for label, n in starts.items():
            if label.startswith(ONCE):
                assert n == 1, self.fail(f"at-most-once {label} started {n} times")
        attempts = self.attempts()
        for label, n in starts.items():
            ends = sum(1 for e, lab, _ in lines if lab == label and e == "end")
            fails = sum(1 for e, lab, _ in lines if lab == label and e == "fail")
            ends -= sum(1 for e, lab, _ in lines if lab == label and e == "dieend")
            if ".charge" in label:
                # one start per attempt; an attempt whose START was committed before a kill in
                # the other branch, its body not begun, counts as interrupted without a start
                assert 0 <= attempts[label] - n <= len(self.kills), self.fail(
                    f"{label}: {n} starts for {attempts[label]} recorded attempts"
                )
                # it ends once, more only for runs that ended in a process killed before their
                # success was committed (counted interrupted, so a next attempt runs)
                cut_ends = sum(
                    1 for e, lab, p in lines if lab == label and e == "end" and p in killed_pids
                )
                assert 1 <= ends <= 1 + cut_ends, self.fail(f"{label} ended {ends} times")
            elif ".flaky" in label:
                assert ends >= 1 and fails == 2, self.fail(f"{label}: {fails} fails, {ends} ends")
                # One attempt per start, less the runs a kill cut off or whose failure or
                # success had not been committed when it came (run again as the same attempt):
                # a failure in the log is not yet a recorded one, so the attempt can be below
                # fails + 1; at most one run of a step is lost per kill.
                assert n - len(self.kills) <= attempts[label] <= n, self.fail(
                    f"{label}: {n} starts, {fails} failures, attempt {attempts[label]}"
                )
            if not label.startswith(ONCE) and ".charge" not in label and n > fails + 1:
                # an at-least-once step runs again only when a kill cut a run of it short (a
                # failed attempt's retry is not a run again: it follows a recorded failure)
                cut = [
                    p for e, lab, p in lines if lab == label and e == "start" and p in killed_pids
                ]
                assert cut, self.fail(f"{label} ran {n} times with no kill in any run")
        for arn, (ex, _ops) in self.state().items():
            kind, tag = self.arns[arn]
            assert ex.status == "SUCCEEDED", self.fail(
                f"{kind} {tag} ended {ex.status}: {ex.error}"
            )
            result = json.loads(ex.result or "null")
            if kind == "poll":
                cut = result[1] == "StepInterruptedError"
                want = flows.poll_result(tag, result[1] if cut else None)
                assert result == want, self.fail(f"poll {tag}: {result} != {want}")
                runs = [p for e, lab, p in lines if e == "start" and lab == f"settle-{tag}"]
                # interrupted: a kill while it ran, or after its START was committed and before
                # its body began (no start then); else it ran to its end
                assert (not runs or runs[0] in killed_pids) if cut else len(runs) == 1, self.fail(
                    f"settle-{tag}: {result[1]}, runs in {runs}, killed {killed_pids}"
                )
                self._probes_in_order(tag, lines)
            elif kind == "quorum":
                self._quorum(tag, result, lines, victims, killed_pids)
            elif kind == "chain3":
                want = flows.chain3_result(tag)
                assert result == want, self.fail(f"chain3 {tag}: {result} != {want}")
                self._one_execution_per_invoke(arn)
            else:
                want = flows.nested_result(tag)
                assert result == want, self.fail(f"nested {tag}: {result} != {want}")

    def _one_execution_per_invoke(self, arn: str) -> None:
        """engine.md: an ``Invoke`` of a durable function starts one child execution; a kill
        in the caller or the callee starts no second one."""
        with open_store(self.db) as store:
            rows = [
                (ex.arn, ex.function_name, ex.status, ex.parent_arn) for ex in store.executions()
            ]
        mids = [row for row in rows if row[3] == arn]
        assert [row[1:3] for row in mids] == [("r11-mid", "SUCCEEDED")], self.fail(f"{rows}")
        leaves = [row for row in rows if row[3] == mids[0][0]]
        assert [row[1:3] for row in leaves] == [("r11-leaf", "SUCCEEDED")], self.fail(f"{rows}")

    def _probes_in_order(self, tag: str, lines: list[tuple[str, str, str]]) -> None:
        """A check sees the state the one before recorded: probe k never starts after probe
        k+1 started (a recorded state lost would send the loop back)."""
        ks = [
            int(lab.rsplit("-", 1)[1])
            for e, lab, _ in lines
            if e == "start" and lab.startswith(f"probe-{tag}-")
        ]
        assert sorted(ks) == ks and set(ks) == set(range(flows.POLLS)), self.fail(
            f"probes of {tag} started in the order {ks}"
        )

    def _quorum(
        self,
        tag: str,
        result: Any,
        lines: list[tuple[str, str, str]],
        victims: set[str],
        killed: set[str],
    ) -> None:
        items = [f"{tag}{item}" for item in flows.ITEMS]
        got = result["all"]
        ok = [i for i, item in enumerate(items) if got[i] is not None]
        assert len(ok) == flows.NEEDED and result["reason"] == "MIN_SUCCESSFUL_REACHED", self.fail(
            result
        )
        # max_concurrency=1: the items run in order, and none after the NEEDED-th success
        decided = items[: ok[-1] + 1]
        started = [lab for e, lab, _ in lines if e == "start" and lab.startswith(f"deliver-{tag}")]
        assert started == [f"deliver-{i}" for i in decided if f"deliver-{i}" in started], self.fail(
            f"deliveries started in the order {started}, decided by {decided}"
        )
        ended = {lab for e, lab, _ in lines if e == "end" and lab.startswith(f"deliver-{tag}")}
        for i in ok:
            assert got[i] == items[i].upper() and f"deliver-{items[i]}" in ended, self.fail(got)
        # Every other item before the last success failed as interrupted: a kill while it
        # ran, or after its START was committed and before its body began (no start then).
        failed = [item for i, item in enumerate(decided) if i not in ok]
        assert result["errors"] == ["StepInterruptedError"] * len(failed), self.fail(result)
        for item in failed:
            runs = [p for e, lab, p in lines if e == "start" and lab == f"deliver-{item}"]
            assert not runs or runs[0] in killed, self.fail(f"{item} failed, ran in {runs}")
        for victim in victims & set(started):
            assert victim[len("deliver-") :] in failed, self.fail(
                f"the killed delivery {victim} counted as a success: {result}"
            )


def _finish(trial: Trial) -> None:
    """Workers with --once until every execution ended (a worker exits 0 or 1, never a crash)."""
    for _ in range(4):
        done = trial.cli("worker", "--once", "--skip-time", "-q", *flows.REGISTER)
        assert done.returncode in (0, 1), trial.fail(
            f"worker exited {done.returncode}: {done.stderr}"
        )
        assert "Traceback" not in done.stderr, trial.fail(done.stderr)
        if all(ex.status != "RUNNING" for ex, _ in trial.state().values()):
            return
    raise AssertionError(trial.fail("executions still running after four workers"))


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("kind", ["poll", "quorum", "nested", "chain3"])
def test_workers_killed_inside_steps_at_drawn_points_lose_nothing(
    tmp_path: Path, kind: str, seed: int
) -> None:
    """guide.md (step semantics, WaitForCondition, Map completion) and engine.md ("A worker is
    killed"): a worker that SIGKILLs itself inside its DIE_AT-th step run, as it begins or
    once its body is done (drawn from the seed, once or twice), then workers that finish the
    execution. The checks above hold."""
    rng = random.Random(f"{seed}-{kind}")
    trial = Trial(tmp_path, seed)
    trial.start(kind, "x")
    for _ in range(rng.randint(1, 2)):
        die_at = rng.randint(1, RUNS[kind])
        where = rng.choice(["start", "end"])
        done = trial.cli(
            "worker", "--once", "--skip-time", "-q", *flows.REGISTER, die_at=die_at, where=where
        )
        if done.returncode == -signal.SIGKILL:
            pids = {p for e, _, p in trial.lines() if e in ("die", "dieend")} - {
                p for p, _, _ in trial.kills
            }
            (pid,) = pids
            trial.killed(int(pid))
        else:
            assert done.returncode in (0, 1), trial.fail(f"exit {done.returncode}: {done.stderr}")
            assert "Traceback" not in done.stderr, trial.fail(done.stderr)
    _finish(trial)
    trial.check()


@pytest.mark.parametrize("mode", ["step", "batch"])
def test_two_concurrent_workers_killed_at_random_moments_on_real_timers(
    tmp_path: Path, mode: str
) -> None:
    """cli.md (``worker --concurrency``) and engine.md ("A worker is killed"): every workflow
    above twice, on two ``--concurrency 3`` workers sharing one file, their polls, waits and
    retry delays on the wall clock, in each checkpointing mode; one worker or the other is
    SIGKILLed at random moments (a fresh one takes its place), then the last ones finish. The
    checks above hold."""
    concurrent_trial(Trial(tmp_path, SEEDS[-1]), mode)


def concurrent_trial(trial: Trial, mode: str) -> None:
    """The trial above on ``trial``'s database (Postgres runs it too)."""
    rng = random.Random(trial.seed)
    for kind in ("poll", "quorum", "nested", "chain3"):
        for tag in ("a", "b"):
            trial.start(kind, f"{kind[0]}{tag}")
    args = (
        "worker",
        "--concurrency",
        "3",
        "--poll",
        "0.02",
        "--lease",
        "30",
        "-q",
        "--checkpointing",
        mode,
        *flows.REGISTER,
    )
    workers = [trial.popen(*args), trial.popen(*args)]
    try:
        for _ in range(3):
            time.sleep(rng.uniform(0.2, 2.5))
            i = rng.randrange(2)
            workers[i].send_signal(signal.SIGKILL)
            workers[i].wait()
            trial.killed(workers[i].pid)
            workers[i] = trial.popen(*args)
        deadline = time.monotonic() + 90
        while not all(ex.status != "RUNNING" for ex, _ in trial.state().values()):
            assert time.monotonic() < deadline, trial.fail("executions still running after 90 s")
            for w in workers:
                assert w.poll() is None, trial.fail(f"worker exited {w.returncode}")
            time.sleep(0.1)
    finally:
        for w in workers:
            if w.poll() is None:
                w.terminate()
                try:
                    w.wait(60)
                except subprocess.TimeoutExpired:
                    w.kill()
                    w.wait()
    assert [w.returncode for w in workers] == [0, 0], trial.fail("a worker failed on SIGTERM")
    assert "Traceback" not in trial._stderr(), trial.fail("a worker wrote a traceback")
    trial.check()


@pytest.mark.parametrize("how", ["succeed", "fail", "api"])
@pytest.mark.parametrize("where", ["start", "end"])
def test_a_callback_answered_while_its_submitter_runs_outlives_the_submitters_kill(
    tmp_path: Path, how: str, where: str
) -> None:
    """guide.md (WaitForCallback: the submitter is an at-least-once step) and cli.md
    (``callback succeed|fail``): the submitter hands the id over, the answer comes at once
    (from ``durable-gen callback`` or the API, in another process), and the worker is
    SIGKILLed before the submitter's success is recorded. The next worker runs the submitter
    again for the same callback, and the workflow gets the answer that came: it is not lost,
    nor waited for again."""
    trial = Trial(tmp_path, 0)
    arn = trial.start("answered", "")
    trial.arns[arn] = ("answered", "")
    env = {"ANSWER_HOW": how, "R11_DB": str(trial.db), "DIE_WHERE": where}
    done = subprocess.run(
        [*CLI, "worker", "--once", "--skip-time", "-q", "--db", str(trial.db)],
        env=_env(trial.log, **env),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == -signal.SIGKILL, trial.fail(done.stderr)
    assert [e for e, lab, _ in trial.lines()][:2] == ["start", "answered"], trial.fail("")
    done = subprocess.run(
        [*CLI, "worker", "--once", "--skip-time", "-q", "--db", str(trial.db)],
        env=_env(trial.log, **env),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0 and "Traceback" not in done.stderr, trial.fail(done.stderr)
    (ex, ops) = trial.state()[arn]
    want = "yes" if how != "fail" else "CallbackFailed: no way"
    assert (ex.status, json.loads(ex.result or "null")) == (
        "SUCCEEDED",
        [want, "cb settled at 0"],
    ), trial.fail(f"{ex.status} {ex.result} {ex.error} {[(o.type, o.name, o.status) for o in ops]}")
    starts = Counter(lab for e, lab, _ in trial.lines() if e == "start")
    assert starts == Counter({"hand": 2, "settle-cb": 1}), trial.fail(str(starts))
