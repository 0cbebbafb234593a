"""Property tests of the determinism tools, written from docs/testing.md and docs/guide.md, from
the angle of workflow code: a body that reads the clock, uuid4, random or state it keeps between
runs is caught by ``assert_deterministic``/``DeterminismCheck`` wherever the read sits (a
Parallel branch, flat or nested, a Child, a Map item, an invoked workflow), with a message that
names the place as the engine's ``Where:`` does; a body that draws from the ``random`` module
is caught even where the draw only rarely changes what a run records; and workflows that merely look suspicious
(``Now()``, ``Random()``, ``UUID()`` commands everywhere, sorted sets of strings, a seeded
generator of their own, an input or step result changed in place) pass every crash schedule,
replay from their export and resume on the engine."""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Generator
from datetime import timedelta
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

FEW = s.check_settings(max_examples=8)


@dg.step
def work(value: str) -> str:
    return value


# --- a read outside commands, somewhere below the root: caught, and the place is named -----------


def _reads_uuid(_: Any = None) -> Generator[Any, Any, Any]:
    yield work("before")
    yield dg.Step(lambda: 1, name=f"ship-{uuid.uuid4().hex[:8]}")
    return 1


def _quiet(_: Any = None) -> Generator[Any, Any, Any]:
    return (yield work("quiet"))


def _item(item: int, *_: Any) -> Generator[Any, Any, Any]:
    if item == 2:
        return (yield from _reads_uuid())
    return (yield work(str(item)))


@dg.workflow
def in_nested_branch(_: Any) -> Generator[Any, Any, Any]:
    return (yield dg.Parallel([_quiet, _reads_uuid], name="fan")).results()


@dg.workflow
def in_flat_branch(_: Any) -> Generator[Any, Any, Any]:
    return (yield dg.Parallel([_quiet, _reads_uuid], name="fan", nesting="flat")).results()


@dg.workflow
def in_child(_: Any) -> Generator[Any, Any, Any]:
    return (yield dg.Child(_reads_uuid, (None,), name="audit"))


@dg.workflow
def in_map_item(_: Any) -> Generator[Any, Any, Any]:
    return (yield dg.Map(_item, [1, 2, 3], name="ship-all")).results()


@pytest.mark.parametrize(
    ("workflow", "place"),
    [
        (
            in_nested_branch,
            "(CONTEXT/ParallelBranch 'parallel-branch-1', in CONTEXT/Parallel 'fan')",
        ),
        (in_flat_branch, "(CONTEXT/Parallel 'fan')"),
        (in_child, "(CONTEXT/RunInChildContext 'audit')"),
        (in_map_item, "(CONTEXT/MapIteration 'map-item-1', in CONTEXT/Map 'ship-all')"),
    ],
)
def test_a_read_below_the_root_is_caught_naming_its_context(workflow: Any, place: str) -> None:
    with pytest.raises(AssertionError) as caught:
        assert_deterministic(workflow, None, random_runs=0)
    message = str(caught.value)
    first = next(line for line in message.splitlines() if line.startswith("First difference"))
    assert place in first, message
    assert "STEP/Step 'ship-" in first and "name: uninterrupted 'ship-" in first, message
    assert "the workflow body reads something that changes" in message


def test_the_engine_names_the_same_place_when_such_a_read_diverges_on_resume() -> None:
    def waits_then_reads(_: Any = None) -> Generator[Any, Any, Any]:
        yield dg.Step(lambda: 1, name=f"ship-{uuid.uuid4().hex[:8]}")
        yield dg.Wait(seconds=5)
        return 1

    @dg.workflow
    def resumes(_: Any) -> Generator[Any, Any, Any]:
        return (yield dg.Parallel([_quiet, waits_then_reads], name="fan")).results()

    run = TestRunner().run(resumes, None)
    assert run.status == "FAILED" and run.error is not None
    assert run.error.error_type == "NonDeterminismError"
    assert (
        "Where: context 974bfc6321e2 is CONTEXT/ParallelBranch name='parallel-branch-1', "
        "in CONTEXT/Parallel name='fan', at the root"
    ) in (run.error.error_message or "")


def test_an_invoked_workflow_s_read_is_caught_naming_the_invoke() -> None:
    @dg.workflow
    def invokes(_: Any) -> Generator[Any, Any, Any]:
        return (yield dg.Invoke("sub", None, name="inv"))

    with pytest.raises(AssertionError) as caught:
        assert_deterministic(invokes, None, functions={"sub": _reads_uuid}, random_runs=0)
    assert "the execution invoked by Invoke 'inv'" in str(caught.value)


# --- state the body keeps between runs: the second run starts with what the first left -----------


@dg.workflow
def default_argument(order: str, seen: list[str] = []) -> Generator[Any, Any, Any]:  # noqa: B006
    seen.append(order)
    yield dg.Step(lambda: 1, name=f"visit-{len(seen)}")
    return len(seen)


_CACHE: dict[str, str] = {}


@dg.workflow
def module_cache(key: str) -> Generator[Any, Any, Any]:
    if key not in _CACHE:  # a warm process skips the step: a resume there diverges
        _CACHE[key] = yield work(key)
    return _CACHE[key]


@pytest.mark.parametrize("workflow", [default_argument, module_cache])
def test_state_the_body_changes_between_runs_is_caught(workflow: Any) -> None:
    with pytest.raises(AssertionError) as caught:
        assert_deterministic(workflow, "k", random_runs=0)
    message = str(caught.value)
    assert "non-deterministic even without crashes" in message
    assert "state kept between runs" in message


_FILLED: dict[str, str] = {}


@dg.step
def fills(key: str) -> str:
    _FILLED[key] = f"v-{key}"  # left in memory instead of returned
    return "ok"


@dg.workflow
def reads_what_a_step_left(key: str) -> Generator[Any, Any, Any]:
    yield fills(key)
    yield dg.Wait(seconds=1)
    return _FILLED[key]


def test_what_a_step_leaves_in_memory_passes_as_documented() -> None:
    # docs/testing.md: memory survives the simulated crashes, so the check cannot see this
    assert_deterministic(reads_what_a_step_left, "k", random_runs=1)


# --- suspicious-looking but deterministic workflows: no false alarm ----------------------------


def _branch(tag: str) -> Any:
    def branch(_: Any = None) -> Generator[Any, Any, Any]:
        u = yield dg.UUID()
        yield work(f"{tag}-{u.hex[:6]}")
        rng = yield dg.Random()
        yield dg.Step(lambda: tag, name=f"{tag}-{rng.randint(0, 10**6)}")
        return [str(u), rng.random()]

    return branch


def _mapped(item: int, *_: Any) -> Generator[Any, Any, Any]:
    u = yield dg.UUID()
    return (yield work(f"{item}-{u.hex[:6]}"))


@dg.workflow
def looks_suspicious(words: list[str]) -> Generator[Any, Any, Any]:
    words.append("appended-to-the-input")  # the input is decoded afresh for each invocation
    start = yield dg.Now()
    u = yield dg.UUID()
    yield dg.Step(lambda: 1, name=f"order-{u}")
    rng = yield dg.Random()
    for i in range(rng.randint(1, 3)):
        yield work(f"draw-{i}")
    for word in sorted(set(words)):  # a set of strings, sorted before its order shows
        yield work(word)
    own = random.Random(7)  # a generator of its own with a fixed seed
    yield work(f"own-{own.randint(0, 10**6)}")
    yield work(f"uuid5-{uuid.uuid5(uuid.NAMESPACE_URL, 'fixed')}")
    yield work(f"hash-{hash((1, 2, 3)) % 97}")  # hash of ints is the same in every process
    stamp = time.time()  # read, logged, never branched on
    dg.logger.info("took %s", stamp)
    listed = yield dg.Step(lambda: [1, 2], name="listed")
    listed.append(3)  # a step's result changed in place: the next replay decodes it afresh
    fan = yield dg.Parallel([_branch("a"), _branch("b")], name="fan")
    flat = yield dg.Parallel([_branch("c"), _branch("d")], name="flat", nesting="flat")
    mapped = yield dg.Map(_mapped, [1, 2], name="mapped", max_concurrency=2)
    virtual = yield dg.Child(_branch("v"), (None,), name="v", virtual=True)
    yield dg.Wait(seconds=3600, name="an-hour")
    later = yield dg.Now(name="later")
    waited = later - start  # measured with recorded times: the same on every replay
    label = "long" if waited >= timedelta(minutes=30) else "short"
    yield work(label)
    return {
        "uuid": str(u),
        "fan": fan.results(),
        "flat": flat.results(),
        "mapped": mapped.results(),
        "virtual": virtual,
        "listed": listed,
        "label": label,
        "words": len(words),
    }


@FEW
@given(
    st.lists(st.sampled_from(["ant", "bee", "cat", "dodo"]), min_size=1, max_size=4),
    s.crash_schedules(max_point=20),
    st.sampled_from(["step", "eager", "batch"]),
)
def test_commands_that_look_like_reads_pass_any_crash_schedule(
    words: list[str], schedule: CrashSchedule, mode: Any
) -> None:
    got = DeterminismCheck(looks_suspicious, words, checkpointing=mode).check(schedule)
    value = json.loads(got.result or "null")
    assert value["label"] == "long" and value["listed"] == [1, 2, 3]
    assert value["words"] == len(words) + 1
    uuids = [value["uuid"], *(b[0] for b in value["fan"] + value["flat"]), value["virtual"][0]]
    assert len(set(uuids)) == len(uuids)  # each context draws its own values


def test_commands_that_look_like_reads_replay_from_what_was_recorded() -> None:
    runner = TestRunner()
    run = runner.run(looks_suspicious, ["bee", "ant", "bee"])
    assert run.status == "SUCCEEDED", run.error
    exported = run.export()
    report = replay(looks_suspicious, exported)
    assert report.status == "ok" and not report.warnings, report.message
    assert json.loads(dg.JsonSerdes().serialize(report.result)) == json.loads(
        json.dumps(run.result())
    )
    # the operations alone name no ARN: given it, the draws agree and nothing is warned about
    again = replay(
        looks_suspicious, exported["Operations"], execution_arn=exported["DurableExecutionArn"]
    )
    assert again.status == "ok" and not again.warnings, again.message
    # without it, UUID() builds another step name: replay says so rather than passing
    blind = replay(looks_suspicious, exported["Operations"])
    assert blind.status == "diverged" and any("execution_arn" in w for w in blind.warnings)


def test_commands_that_look_like_reads_pass_assert_deterministic() -> None:
    assert_deterministic(looks_suspicious, ["cat", "ant"], random_runs=3, seed=13)


# --- a rare random branch: found by the draw itself, not by luck --------------------------------


def _rare_branch(threshold: float) -> Any:
    @dg.workflow
    def rare_branch(n: int) -> Generator[Any, Any, Any]:
        yield work("a")
        yield dg.Wait(seconds=5)
        if random.random() < threshold:  # one run in twenty takes it
            yield dg.Step(lambda: 1, name="rare")
        yield work("b")
        return n

    return rare_branch


@pytest.mark.parametrize("n", range(3))
def test_a_body_drawing_from_random_is_caught_however_rarely_it_shows(n: int) -> None:
    with pytest.raises(AssertionError) as caught:
        assert_deterministic(_rare_branch(0.05), n)
    message = str(caught.value)
    assert "draws from the random module in its workflow code" in message, message
    assert "dg.Random()" in message


def test_a_random_draw_only_on_idle_or_in_steps_is_no_false_alarm() -> None:
    @dg.step
    def roll() -> int:
        return random.randint(1, 6)

    @dg.workflow
    def asks(_: Any) -> Generator[Any, Any, Any]:
        dice = yield roll()
        answer = yield dg.WaitForCallback(lambda callback_id: None, name="approval")
        return [dice, answer]

    def on_idle(run: Any) -> None:
        random.random()  # the test's own draw, not the workflow's
        run.send_callback_success("approval", "yes")

    assert_deterministic(asks, None, on_idle=on_idle, random_runs=2)
