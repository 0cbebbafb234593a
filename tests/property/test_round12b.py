"""Property tests of the determinism tools, written from docs/testing.md: workflows whose body
reads the clock, uuid4, a file it writes, a runtime-built value or a module counter are caught
with the body's cause named; workflows whose steps draw random values (recorded, so a resume
replays them) pass every crash schedule, and so does a body branching on what such a step
returned; the order of a set of strings and ``hash()`` of a string, which one process sees
alike, show to ``replay`` across hash seeds only where they reach what a history records."""

from __future__ import annotations

import itertools
import json
import os
import random
import subprocess
import sys
import time
import uuid
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import durable_gen as dg
from durable_gen.testing import (
    CrashSchedule,
    DeterminismCheck,
    TestRunner,
    assert_deterministic,
    replay,
)
from durable_gen.testing import strategies as s

FEW = s.check_settings(max_examples=10)


# --- steps that draw random values: recorded, so every run and every resume agree ----------------


@dg.step
def roll(sides: int) -> int:
    return random.randint(1, sides)


@dg.step
def pick(options: list[str]) -> str:
    return random.choice(options)


@dg.step
def shuffled(items: list[int]) -> list[int]:
    out = list(items)
    random.shuffle(out)
    return out


@dg.step(retry=dg.Retry(max_attempts=5, initial_delay=1, jitter="none"))
def coin_until_heads() -> float:
    draw = random.random()
    if draw < 0.5:
        raise ValueError(f"tails ({draw})")
    return draw


@dg.workflow
def random_steps(items: list[int]) -> Generator[Any, Any, Any]:
    dice = yield roll(6)
    yield dg.Wait(seconds=5, name="pause")
    # the body branches on what a step returned: its result is recorded, so replay agrees
    side = yield pick(["left", "right"] if dice % 2 else ["up", "down"])
    order = yield shuffled(items)
    heads = yield coin_until_heads()
    scaled = yield dg.Map(lambda item: item * random.randint(1, 3), order, name="scale")
    return {"dice": dice, "side": side, "order": order, "heads": heads, "scaled": scaled.results()}


@FEW
@given(
    st.lists(st.integers(min_value=0, max_value=50), min_size=1, max_size=3),
    s.crash_schedules(max_point=12),
    st.sampled_from(["step", "eager", "batch"]),
)
def test_steps_returning_random_values_pass_any_crash_schedule_and_replay(
    items: list[int], schedule: CrashSchedule, checkpointing: str
) -> None:
    check = DeterminismCheck(random_steps, items, checkpointing=checkpointing)  # type: ignore[arg-type]
    got = check.check(schedule)
    value = json.loads(got.result or "null")
    assert 1 <= value["dice"] <= 6 and sorted(value["order"]) == sorted(items)
    assert value["side"] in (["left", "right"] if value["dice"] % 2 else ["up", "down"])
    assert value["heads"] >= 0.5
    for scaled, item in zip(value["scaled"], value["order"], strict=True):
        assert scaled in (item, 2 * item, 3 * item)
    run = TestRunner().run(random_steps, items)
    assert replay(random_steps, run.export()).ok


def test_assert_deterministic_passes_steps_that_draw_random_values() -> None:
    assert_deterministic(random_steps, [3, 1, 2], random_runs=3)


def poll(state: int) -> int:
    return state + random.randint(1, 3)


@dg.workflow
def polls_a_random_walk(goal: int) -> Generator[Any, Any, Any]:
    strategy = dg.WaitStrategy(until=lambda s: s >= goal, delay=5, max_attempts=40)
    return (yield dg.WaitForCondition(poll, initial_state=0, wait_strategy=strategy, name="walk"))


@dg.workflow
def draws_then_waits(base: int) -> Generator[Any, Any, Any]:
    drawn = yield dg.Step(lambda: random.randint(1, 100), name="draw")
    yield dg.Wait(seconds=3, name="settle")
    return base + drawn


@dg.workflow
def invokes_a_drawing_workflow(base: int) -> Generator[Any, Any, Any]:
    return (yield dg.Invoke("draws_then_waits", base, name="draw-elsewhere"))


@FEW
@given(st.integers(min_value=1, max_value=12), s.crash_schedules(max_point=10))
def test_condition_checks_and_invoked_steps_drawing_random_values_pass(
    goal: int, schedule: CrashSchedule
) -> None:
    walk = DeterminismCheck(polls_a_random_walk, goal).check(schedule)
    assert goal <= json.loads(walk.result or "null") <= goal + 2
    functions = {"draws_then_waits": draws_then_waits}
    invoked = DeterminismCheck(invokes_a_drawing_workflow, goal, functions=functions)
    assert goal < json.loads(invoked.check(schedule).result or "null") <= goal + 100


@dg.workflow
def body_reads_random_between_random_steps(_: None) -> Generator[Any, Any, Any]:
    first = yield roll(6)
    side = "heads" if random.random() < 0.5 else "tails"  # the bug: read in the body
    second = yield dg.Step(lambda: side, name=f"call-{side}")
    return [first, second]


def test_the_body_s_own_random_read_is_still_caught_between_random_steps() -> None:
    failures = set()
    for seed in range(4):  # whatever the schedules, the two uninterrupted runs already differ
        with pytest.raises(AssertionError) as caught:
            assert_deterministic(body_reads_random_between_random_steps, None, seed=seed)
        failures.add(str(caught.value))
        assert "dg.Random()" in str(caught.value)
    assert len(failures) == 1  # reproducible: the same report every time


@dg.step
def stamped() -> float:
    return time.time()


@dg.workflow
def step_reads_the_clock(_: None) -> Generator[Any, Any, Any]:
    return (yield stamped())


def test_a_step_reading_the_clock_is_blamed_on_the_step_naming_the_clock() -> None:
    with pytest.raises(AssertionError) as caught:
        assert_deterministic(step_reads_the_clock, None, random_runs=0)
    message = str(caught.value)
    assert "step 'stamped' ended differently" in message, message
    assert "the clock, uuid.uuid4(), a counter, a random.Random() of its own" in message, message
    assert "(not the random module's functions" in message, message


# --- an object's default repr in an error or a result: its address differs, nothing else ----------


class Parcel:
    """An object with the default repr, kept alive so that each run allocates a new one."""

    kept: list[Any] = []  # noqa: RUF012

    def __init__(self, label: str) -> None:
        self.label = label
        Parcel.kept.append(self)


@dg.step
def ship_parcel(label: str) -> str:
    raise ValueError(f"cannot ship {Parcel(label)}: no address")


@dg.step
def describe(label: str) -> str:
    return f"built {Parcel(label)}"


def _refuse(handler: Any) -> None:
    Parcel.kept.append(handler)
    raise TypeError(f"cannot call {handler}")  # <function ..._refuse.<locals>.<lambda> at 0x...>


@dg.workflow
def reprs_in_errors_and_results(labels: list[str]) -> Generator[Any, Any, Any]:
    out = []
    for label in labels:
        try:
            yield ship_parcel(label)
        except dg.StepFailedError as failure:
            out.append(str(failure))
    shown = yield describe("x")
    try:
        yield dg.Step(lambda: _refuse(lambda: None), name="refuse")
    except dg.StepFailedError as failure:
        out.append(str(failure))
    items = yield dg.Map(lambda label: ship_parcel.fn(label), labels, name="ship-all")
    out.append([error.error_message for error in items.errors()])
    if labels and labels[0] == "fail":
        yield ship_parcel("uncaught")  # the execution fails with the repr in its error
    return [out, shown.startswith("built <")]


@FEW
@given(
    st.lists(st.sampled_from(["fail", "box", "crate"]), min_size=1, max_size=3),
    s.crash_schedules(max_point=10),
)
def test_an_object_s_address_in_an_error_or_a_result_is_no_false_alarm(
    labels: list[str], schedule: CrashSchedule
) -> None:
    got = DeterminismCheck(reprs_in_errors_and_results, labels).check(schedule)
    assert got.status == ("FAILED" if labels[0] == "fail" else "SUCCEEDED")
    assert " at 0x" in (got.error_message or got.result or "")


@dg.workflow
def names_a_step_after_an_object(_: None) -> Generator[Any, Any, Any]:
    return (yield dg.Step(lambda: 1, name=f"ship {Parcel('name')}"))


def test_an_object_s_address_in_a_name_is_still_caught() -> None:
    with pytest.raises(AssertionError) as caught:
        assert_deterministic(names_a_step_after_an_object, None, random_runs=0)
    assert "the workflow body reads something that changes" in str(caught.value)


# --- bodies that read something outside commands are caught, the body's cause named --------------

_TICKS = itertools.count()


def _body_reads(kind: str, scratch: Path) -> Any:
    @dg.workflow
    def workflow(_: None) -> Generator[Any, Any, Any]:
        yield dg.Step(lambda: "ok", name="first")
        if kind == "time_ns":
            label = f"at-{time.time_ns()}"
        elif kind == "perf_counter":
            label = f"at-{time.perf_counter_ns()}"
        elif kind == "uuid4":
            label = uuid.uuid4().hex
        elif kind == "counter":
            label = f"n-{next(_TICKS)}"
        elif kind == "file":  # the body writes a file, and reads it on its next run
            marker = scratch / "marker"
            label = "again" if marker.exists() else "first-time"
            marker.write_text("seen")
        else:  # a dict built at run time and keyed by the clock
            stamps = {time.perf_counter_ns(): "a", 0: "b"}
            label = "-".join(str(k) for k in stamps)
        return (yield dg.Step(lambda: label, name=label))

    workflow.__qualname__ = f"reads_{kind}"
    return workflow


@pytest.mark.parametrize("kind", ["time_ns", "perf_counter", "uuid4", "counter", "file", "dict"])
def test_a_body_reading_outside_commands_fails_with_the_body_s_cause(
    kind: str, tmp_path: Path
) -> None:
    with pytest.raises(AssertionError) as caught:
        assert_deterministic(_body_reads(kind, tmp_path), None, random_runs=0)
    message = str(caught.value)
    assert f"reads_{kind} is non-deterministic even without crashes" in message, message
    assert "the workflow body reads something that changes" in message, message
    assert "Patched(...) is not the fix" in message


@dg.workflow
def runtime_containers(words: list[str]) -> Generator[Any, Any, Any]:
    counts: dict[str, int] = {}
    for word in words:  # a dict keeps insertion order: deterministic
        counts[word] = counts.get(word, 0) + 1
    lengths = {len(word) for word in words}  # a set of ints iterates in a fixed order
    out = []
    for word, n in counts.items():
        out.append((yield dg.Step(lambda w=word, n=n: f"{w}x{n}", name=f"count-{word}")))
    for length in sorted(lengths):
        out.append((yield dg.Step(lambda n=length: n, name=f"len-{length}")))
    return out


@FEW
@given(
    st.lists(st.sampled_from(["ant", "bee", "cat", "dodo", "emu"]), min_size=1, max_size=5),
    s.crash_schedules(max_point=10),
)
def test_runtime_dicts_and_int_sets_are_no_false_alarm(
    words: list[str], schedule: CrashSchedule
) -> None:
    got = DeterminismCheck(runtime_containers, words).check(schedule)
    counts = {w: words.count(w) for w in dict.fromkeys(words)}
    expected = [f"{w}x{n}" for w, n in counts.items()]
    assert json.loads(got.result or "null") == expected + sorted({len(w) for w in words})


# --- the order of a set of strings: replay across hash seeds sees it where a history records it ---

_SET_SCRIPT = """
import sys
import durable_gen as dg
from durable_gen.testing import TestRunner, assert_deterministic, replay

KEYS = {"alpha", "beta", "gamma", "delta", "epsilon", "zeta"}

@dg.step
def ship(key: str) -> str:
    return key

@dg.workflow
def by_argument(_):
    done = []
    for key in KEYS:
        done.append((yield ship(key)))
        if len(done) == 3:
            yield dg.WaitForCallback(lambda callback_id: None, name="go")
    return done

@dg.workflow
def by_name(_):
    done = []
    for key in KEYS:
        done.append((yield dg.Step(ship.fn, (key,), name=f"ship-{key}")))
        if len(done) == 3:
            yield dg.WaitForCallback(lambda callback_id: None, name="go")
    return done

@dg.workflow
def by_shard(_):
    done = []
    for key in sorted(KEYS):  # sorted: only the shard's name depends on the hash seed
        shard = hash(key) % 8
        done.append((yield dg.Step(ship.fn, (key,), name=f"shard-{shard}")))
        if len(done) == 3:
            yield dg.WaitForCallback(lambda callback_id: None, name="go")
    return done

workflow = {"by_name": by_name, "by_argument": by_argument, "by_shard": by_shard}[sys.argv[2]]
if sys.argv[1] == "check":
    assert_deterministic(workflow, None, on_idle=lambda run: run.send_callback_success("go"))
    print("passed", "".join(k[0] for k in KEYS))
    sys.exit()
if sys.argv[1] == "record":
    TestRunner().run(workflow, None).export(sys.argv[3])
else:
    print(replay(workflow, sys.argv[3]).status, "".join(k[0] for k in KEYS))
"""


def test_set_order_shows_to_replay_across_seeds_only_where_the_history_records_it(
    tmp_path: Path,
) -> None:
    script = tmp_path / "keys.py"
    script.write_text(_SET_SCRIPT)

    def run(seed: str, *args: str) -> list[str]:
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run(
            [sys.executable, str(script), *args], env=env, capture_output=True, text=True,
            timeout=120, check=True,
        )  # fmt: skip
        return done.stdout.split()

    for kind in ("by_name", "by_argument", "by_shard"):
        # one process hashes alike in every run: the check cannot see the seed's part
        assert run("2", "check", kind)[0] == "passed"
        history = str(tmp_path / f"{kind}.json")
        run("1", "record", kind, history)
        status, order_1 = run("1", "replay", kind, history)
        assert status == "ok"
        status, order_2 = run("2", "replay", kind, history)
        assert order_1 != order_2  # the two seeds iterate the set in other orders
        # a name made of the key or its hash: the history shows it; one name for all: it does not
        assert status == ("ok" if kind == "by_argument" else "diverged")


def test_set_order_in_step_arguments_changes_what_a_resumed_execution_does() -> None:
    """What the docs warn of: the engine replays the recorded results and hands the next steps
    their keys in the new order, so a key is shipped twice and another never."""
    keys = ["alpha", "beta", "gamma", "delta"]

    @dg.step
    def ship(key: str) -> str:
        return key

    def shipping(order: list[str]) -> Any:
        @dg.workflow
        def workflow(_: None) -> Generator[Any, Any, Any]:
            done = []
            for key in order:
                done.append((yield ship(key)))
                if len(done) == 2:
                    yield dg.WaitForCallback(lambda callback_id: None, name="go")
            return done

        return workflow

    first, other = shipping(keys), shipping(keys[::-1])
    runner = TestRunner()
    run = runner.run(first, None)
    assert replay(other, run.export()).ok  # replay cannot see a step's arguments
    runner.deploy(first, other)
    run.send_callback_success("go", None)
    runner.run_until_idle()
    assert run.result() == ["alpha", "beta", "beta", "alpha"]
