"""Property tests of user workflows, written from docs/testing.md: what the determinism check
and the strategies promise. Nondeterministic bodies are caught and the cause is named; sagas,
Maps with failures, retries, callbacks, waits, nested children and async steps are never
flagged; the strategies generate what they say; a failing property shrinks to the smallest
program without a crash."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import subprocess
import sys
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import durable_gen as dg
from durable_gen.testing import (
    CrashSchedule,
    DeterminismCheck,
    DurableRun,
    TestRunner,
    assert_deterministic,
    current_attempt,
    load_history,
    replay,
)
from durable_gen.testing import strategies as s

FEW = s.check_settings(max_examples=12)


# --- nondeterminism is caught, and the message names the cause ---

_COUNTER = itertools.count()


@dg.step
def echo(value: Any) -> Any:
    return value


@dg.workflow
def numbered_by_a_global_counter(_: None) -> Generator[Any, Any, Any]:
    n = next(_COUNTER)  # module state that survives from one run to the next
    return (yield dg.Step(echo, (n,), name=f"item-{n}"))


@dg.workflow
def passes_a_global_counter(_: None) -> Generator[Any, Any, Any]:
    return (yield echo(next(_COUNTER)))


@dg.workflow
def passes_an_id(_: None) -> Generator[Any, Any, Any]:
    return (yield echo(id(object()) % 100_003))


def _failure(workflow: Any) -> str:
    with pytest.raises(AssertionError) as caught:
        assert_deterministic(workflow, None, random_runs=0)
    return str(caught.value)


def test_a_global_counter_in_a_name_is_caught_and_named() -> None:
    message = _failure(numbered_by_a_global_counter)
    assert "even without crashes" in message
    assert "name: uninterrupted 'item-" in message
    assert "module-level counter" in message


def test_a_global_counter_in_a_step_argument_is_caught_and_named() -> None:
    message = _failure(passes_a_global_counter)
    assert "step 'echo' ended differently" in message
    assert "module-level counter" in message


def test_an_id_in_a_step_argument_is_caught_and_named() -> None:
    message = _failure(passes_an_id)
    assert "step 'echo' ended differently" in message
    assert "id() of an object" in message


# --- deterministic workflows are never flagged ---

_undone: list[str] = []


def _release(reservation: str) -> str:
    _undone.append(reservation)
    return f"released {reservation}"


@dg.step(compensate=_release)
def reserve(item: int) -> str:
    return f"seat-{item}"


@dg.step(retry=dg.Retry.never())
def pay(order: dict[str, int]) -> str:
    if order["declined"]:
        raise RuntimeError("card declined")
    return "paid"


@dg.workflow
def book(order: dict[str, int]) -> Generator[Any, Any, Any]:
    try:
        for item in range(order["seats"]):
            yield reserve(item)
        return [(yield pay(order))]
    except dg.StepFailedError:
        undone = yield dg.RunCompensations()
        return [[u.name, u.status, u.result] for u in undone]


@FEW
@given(
    st.integers(min_value=0, max_value=3),
    st.booleans(),
    s.crash_schedules(max_point=12),
)
def test_a_saga_is_never_flagged_and_undoes_in_reverse(
    seats: int, declined: bool, schedule: CrashSchedule
) -> None:
    order = {"seats": seats, "declined": int(declined)}
    got = DeterminismCheck(book, order).check(schedule)
    expected: Any = (
        [["reserve", "SUCCEEDED", f"released seat-{i}"] for i in reversed(range(seats))]
        if declined
        else ["paid"]
    )
    assert got.status == "SUCCEEDED" and json.loads(got.result or "null") == expected


def _halve(item: int) -> int:
    if item % 3 == 0:
        raise ValueError(f"{item} is refused")
    return item // 2


@dg.workflow
def halve_all(spec: dict[str, Any]) -> Generator[Any, Any, Any]:
    batch = yield dg.Map(
        dg.Step(_halve, retry=dg.Retry.never()),
        spec["items"],
        max_concurrency=spec["concurrency"],
        completion=dg.Completion(tolerated_failure_count=spec["tolerated"]),
    )
    return [batch.completion_reason, batch.success_count, batch.failure_count]


@FEW
@given(
    st.lists(st.integers(min_value=1, max_value=20), max_size=5),
    st.integers(min_value=1, max_value=3),
    st.integers(min_value=0, max_value=2),
    s.crash_schedules(max_point=10),
)
def test_a_map_with_failures_and_a_policy_is_never_flagged(
    items: list[int], concurrency: int, tolerated: int, schedule: CrashSchedule
) -> None:
    spec = {"items": items, "concurrency": concurrency, "tolerated": tolerated}
    check = DeterminismCheck(halve_all, spec)
    got = check.check(schedule)
    assert got.status == check.reference.status
    assert got.result == check.reference.result


@dg.step(retry=dg.Retry(max_attempts=4, initial_delay=3, jitter="full"))
def settle_account(key: str) -> str:
    info = current_attempt()
    if info is not None and info.attempt < 3:
        raise TimeoutError("ledger busy")
    return key.upper()


def _account(key: str) -> Generator[Any, Any, Any]:
    value = yield settle_account(key)
    yield dg.Wait(seconds=30, name=f"pause-{key}")
    return value


def _ask(callback_id: str) -> None:
    pass


@dg.workflow
def nested_accounts(keys: list[str]) -> Generator[Any, Any, Any]:
    out = []
    for key in keys:
        out.append((yield dg.Child(_account, (key,), name=f"account-{key}")))
    inner = yield dg.Child(
        lambda: (yield dg.Child(_account, ("deep",), name="deeper")), name="outer", virtual=True
    )
    answer = yield dg.WaitForCallback(_ask, name="sign-off", timeout=600)
    return [out, inner, answer]


def _sign(run: DurableRun[Any]) -> None:
    run.send_callback_success("sign-off", "signed")


@FEW
@given(
    st.lists(st.sampled_from(["a", "b", "c"]), max_size=3, unique=True),
    s.crash_schedules(max_point=20),
)
def test_nested_children_with_retries_waits_and_a_callback_are_never_flagged(
    keys: list[str], schedule: CrashSchedule
) -> None:
    got = DeterminismCheck(nested_accounts, keys, on_idle=_sign).check(schedule)
    assert json.loads(got.result or "null") == [[k.upper() for k in keys], "DEEP", "signed"]


@dg.step
async def slow_double(item: int) -> int:
    await asyncio.sleep(0.001 * (item % 3))  # items finish out of order when run together
    return 2 * item


@dg.workflow
def double_all(items: list[int]) -> Generator[Any, Any, Any]:
    batch = yield dg.Map(slow_double, items, max_concurrency=4)
    return batch.results()


@FEW
@given(st.lists(st.integers(min_value=0, max_value=9), max_size=6))
def test_async_steps_in_a_map_are_never_flagged(items: list[int]) -> None:
    summary = DeterminismCheck(double_all, items).check(CrashSchedule.at_every_checkpoint())
    assert json.loads(summary.result or "null") == [2 * i for i in items]


@pytest.mark.parametrize("checkpointing", ["eager", "batch"])
@settings(s.check_settings(max_examples=8))
@given(program=s.programs(max_nodes=3, max_leaves=5), schedule=s.crash_schedules(max_point=15))
def test_generated_programs_agree_in_every_checkpointing_mode(
    checkpointing: str, program: s.Program, schedule: CrashSchedule
) -> None:
    check = DeterminismCheck(
        s.program_workflow,
        s.program_input(program),
        on_idle=s.answer_callbacks,
        checkpointing=checkpointing,  # type: ignore[arg-type]
    )
    assert json.loads(check.check(schedule).result or "null") == s.expected_result(program)


# --- the strategies generate what they say ---


def _count(program: s.Program) -> tuple[int, int]:
    """(leaves, the most nodes in one list) of a program."""
    leaves, widest = 0, len(program)
    for node in program:
        bodies = (
            node.branches
            if isinstance(node, s.ParallelNode)
            else [node.body]
            if isinstance(node, s.ChildNode)
            else []
        )
        if not bodies:
            leaves += 1
        for body in bodies:
            inner, wide = _count(body)
            leaves, widest = leaves + inner, max(widest, wide)
    return leaves, widest


@settings(max_examples=150, database=None, deadline=None)
@given(st.data())
def test_programs_keep_to_max_leaves_in_all_and_max_nodes_per_list(data: st.DataObject) -> None:
    max_nodes = data.draw(st.integers(min_value=1, max_value=4))
    max_leaves = data.draw(st.integers(min_value=1, max_value=6))
    program = data.draw(s.programs(max_nodes=max_nodes, max_leaves=max_leaves))
    leaves, widest = _count(program)
    assert 1 <= leaves <= max_leaves
    assert 1 <= widest <= max_nodes
    json.dumps(s.expected_result(program))  # plain JSON, computed without running


@settings(max_examples=60, database=None, deadline=None)
@given(s.programs(kinds=("wait", "child"), max_nodes=3))
def test_programs_use_only_the_kinds_asked_for(program: s.Program) -> None:
    def kinds(nodes: s.Program) -> set[type]:
        out: set[type] = set()
        for node in nodes:
            out.add(type(node))
            if isinstance(node, s.ChildNode):
                out |= kinds(node.body)
        return out

    assert kinds(program) <= {s.WaitNode, s.ChildNode}


def test_kinds_given_as_one_string_is_refused_saying_how_to_write_it() -> None:
    with pytest.raises(dg.ValidationError, match=r"kinds=\('step',\)"):
        s.programs(kinds="step")


# --- a failing property shrinks to the smallest program, without a crash ---

_RUNS = itertools.count()


@dg.workflow
def counts_its_runs(payload: Any) -> Generator[Any, Any, Any]:
    result = yield from s.program_workflow(payload)
    if next(_RUNS) % 2:  # state kept in the process: another path on the next run
        yield dg.Wait(seconds=1, name="odd-run")
    return result


def test_a_stateful_body_shrinks_to_one_plain_step_and_no_crash() -> None:
    failing: list[tuple[s.Program, CrashSchedule]] = []

    @s.check_settings(max_examples=30)
    @given(s.programs(), s.crash_schedules())
    def prop(program: s.Program, schedule: CrashSchedule) -> None:
        check = DeterminismCheck(
            counts_its_runs, s.program_input(program), on_idle=s.answer_callbacks
        )
        try:
            check.check(schedule)
        except AssertionError:
            failing.append((program, schedule))
            raise

    with pytest.raises(AssertionError, match="module-level counter"):
        prop()
    program, schedule = failing[-1]  # hypothesis runs the shrunk example last
    assert program == [s.StepNode(0)]
    assert schedule.after_checkpoints == schedule.before_attempts == frozenset()
    assert schedule.after_attempts == frozenset() and not schedule.every_checkpoint


# --- assert_deterministic's options ---


@dg.workflow
def names_a_step_at_random(_: None) -> Generator[Any, Any, Any]:
    return (yield dg.Step(echo, (1,), name=f"s-{next(_COUNTER)}"))


@pytest.mark.parametrize("crashes", [[], ()])
def test_an_empty_crash_list_still_compares_the_two_uninterrupted_runs(crashes: Any) -> None:
    with pytest.raises(AssertionError, match="even without crashes"):
        assert_deterministic(names_a_step_at_random, None, crashes=crashes)
    assert_deterministic(book, {"seats": 1, "declined": 1}, crashes=crashes)


@pytest.mark.parametrize("seed", [None, "x", 1.5, True])
def test_a_seed_that_is_not_a_whole_number_is_refused_before_anything_runs(seed: Any) -> None:
    before = next(_COUNTER)
    with pytest.raises(dg.ValidationError, match="seed must be a whole number"):
        assert_deterministic(names_a_step_at_random, None, seed=seed)
    assert next(_COUNTER) == before + 1  # the workflow never ran


@pytest.mark.parametrize("program", ["x", [1], None, [{"type": "step", "value": 1}]])
def test_program_input_refuses_what_is_not_a_program_as_expected_result_does(program: Any) -> None:
    with pytest.raises(dg.ValidationError, match="program_input needs a program"):
        s.program_input(program)
    with pytest.raises(dg.ValidationError, match="expected_result needs a program"):
        s.expected_result(program)


# --- exports of generated programs replay in every checkpointing mode and payload format ---


@pytest.mark.parametrize("payload_format", ["json", "aws"])
@pytest.mark.parametrize("checkpointing", ["step", "eager", "batch"])
@settings(s.check_settings(max_examples=10))
@given(program=s.programs(max_nodes=3, max_leaves=6))
def test_an_exported_program_run_replays_to_its_recorded_result(
    checkpointing: str, payload_format: str, program: s.Program
) -> None:
    runner = TestRunner(checkpointing=checkpointing, payload_format=payload_format)  # type: ignore[arg-type]
    run = runner.start(s.program_workflow, s.program_input(program))
    runner.run_until_idle()
    while not run.done:
        before = len(run.history())
        s.answer_callbacks(run)
        runner.run_until_idle()
        if not run.done and len(run.history()) == before:
            assert runner.advance_to_next_timer()  # nobody answers: the callback times out
    assert run.result() == s.expected_result(program)
    exported = run.export()
    report = replay(s.program_workflow, exported)
    assert report.status == "ok" and report.result == s.expected_result(program), str(report)
    recorded = load_history(exported)
    assert recorded.status == "SUCCEEDED" and recorded.result is not None
    assert json.loads(dg.JsonSerdes().serialize(report.result)) == json.loads(recorded.result)


# --- a difference is reported where the value was computed ---


def _stamped() -> Generator[Any, Any, Any]:
    value = yield echo(1)
    return [value, next(_COUNTER)]


@dg.workflow
def stamps_inside_a_branch(_: None) -> Generator[Any, Any, Any]:
    batch = yield dg.Parallel(
        [lambda: 0, dg.Branch(lambda: (yield dg.Child(_stamped, name="stamp")), name="b")]
    )
    return batch.results()


def test_the_first_difference_is_the_innermost_context_that_computed_it() -> None:
    message = _failure(stamps_inside_a_branch)
    first = next(line for line in message.splitlines() if line.startswith("First difference"))
    assert "CONTEXT/RunInChildContext 'stamp'" in first and "result[1]" in first, first


def _stamp_item(item: int) -> list[int]:
    return [item, next(_COUNTER)]  # a step that returns something new each time


@dg.workflow
def maps_a_stamping_function(items: list[int]) -> Generator[Any, Any, Any]:
    return (yield dg.Map(_stamp_item, items)).results()


def test_a_map_of_a_plain_function_blames_its_step_not_the_body() -> None:
    with pytest.raises(AssertionError) as caught:
        assert_deterministic(maps_a_stamping_function, [1], random_runs=0)
    first, advice = (
        line
        for line in str(caught.value).splitlines()
        if line.startswith(("First difference", "Likely cause"))
    )
    assert "STEP/Step '_stamp_item'" in first, first
    assert "step '_stamp_item' ended differently" in advice, advice


# --- rollbacks inside Map items and children, under random crash schedules ---


def _unbook(booking: str) -> str:
    return f"undo {booking}"


@dg.step(compensate=_unbook)
def book_seat(item: int) -> str:
    return f"r{item}"


@dg.step(retry=dg.Retry(max_attempts=2, initial_delay=1, jitter="full"))
def charge_seat(item: int) -> int:
    if item % 2:
        raise ValueError(f"declined {item}")
    return item


def _seat(item: int) -> Generator[Any, Any, Any]:
    yield book_seat(item)
    try:
        yield charge_seat(item)
    except dg.StepFailedError:
        return [u.result for u in (yield dg.RunCompensations())]
    yield dg.Wait(seconds=5)
    return "ok"


def _group(items: list[int]) -> Generator[Any, Any, Any]:
    yield book_seat(100)
    seats = yield dg.Map(_seat, items, max_concurrency=2)
    undone = yield dg.RunCompensations()  # only the group's own booking: items keep theirs
    return [seats.results(), [u.result for u in undone]]


@dg.workflow
def seat_groups(items: list[int]) -> Generator[Any, Any, Any]:
    first = yield dg.Child(_group, (items,), name="group")
    second = yield dg.Child(_group, (items[::-1],), name="reversed", virtual=True)
    return [first, second]


def _group_result(items: list[int]) -> list[Any]:
    seats = [[f"undo r{i}"] if i % 2 else "ok" for i in items]
    return [seats, ["undo r100"]]


@s.check_settings(max_examples=6)
@given(
    st.lists(st.integers(min_value=1, max_value=9), min_size=1, max_size=3),
    st.integers(min_value=0, max_value=2**16),
    st.sampled_from(["step", "eager", "batch"]),
)
def test_rollbacks_in_map_items_and_children_are_never_flagged(
    items: list[int], seed: int, checkpointing: str
) -> None:
    assert_deterministic(seat_groups, items, seed=seed, random_runs=3, checkpointing=checkpointing)  # type: ignore[arg-type]
    got = DeterminismCheck(seat_groups, items).reference
    assert json.loads(got.result or "null") == [_group_result(items), _group_result(items[::-1])]


# --- set order: what the check cannot see, replay across hash seeds finds (as documented) ---

_SET_WORKFLOW = """
import sys
import durable_gen as dg
from durable_gen.testing import TestRunner, replay

@dg.workflow
def fan_out(_):
    out = []
    for key in {"alpha", "beta", "gamma", "delta", "epsilon", "zeta"}:
        out.append((yield dg.Step(lambda key=key: key, name=key)))
    return out

if sys.argv[1] == "record":
    TestRunner().run(fan_out, None).export(sys.argv[2])
else:
    print(replay(fan_out, sys.argv[2]).status)
"""


def test_replay_across_hash_seeds_finds_set_order(tmp_path: Path) -> None:
    script = tmp_path / "fan.py"
    script.write_text(_SET_WORKFLOW)
    history = tmp_path / "fan.json"

    def run(seed: str, *args: str) -> str:
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run(
            [sys.executable, str(script), *args], env=env, capture_output=True, text=True,
            timeout=60, check=True,
        )  # fmt: skip
        return done.stdout.strip()

    run("1", "record", str(history))
    assert run("1", "replay", str(history)) == "ok"
    assert run("2", "replay", str(history)) == "diverged"


# --- step runs are counted per execution: an invoked one numbers its operations as its caller ---


@dg.workflow
def priced(amount: int) -> Generator[Any, Any, Any]:
    now = yield dg.Now()  # operation 1 here, as the caller's Invoke is operation 1 there
    tax = yield dg.Step(lambda: amount // 10, name="tax")  # operation 2: no caller op there
    return [tax, now.year]


@dg.workflow
def invoice(amount: int) -> Generator[Any, Any, Any]:
    return (yield dg.Invoke("priced", amount, name="price"))


@s.check_settings(max_examples=10)
@given(st.integers(min_value=0, max_value=10_000), s.crash_schedules(max_point=8))
def test_an_invoked_execution_losing_a_step_run_to_a_crash_is_not_flagged(
    amount: int, schedule: CrashSchedule
) -> None:
    check = DeterminismCheck(invoice, amount, functions={"priced": priced})
    assert json.loads(check.check(schedule).result or "null") == [amount // 10, 2025]


def test_the_crash_that_lost_an_invoked_step_run_is_not_blamed_on_the_engine() -> None:
    check = DeterminismCheck(invoice, 7, functions={"priced": priced})
    got = check.check(CrashSchedule(after_attempts=[2]))  # just after the invoked "tax" ran
    assert got.crashes and sum(got.lost.values()) == 1


def test_operation_runs_counts_the_steps_of_its_own_execution_only() -> None:
    @dg.workflow
    def caller(_: None) -> Generator[Any, Any, Any]:
        total = yield dg.Invoke("priced", 50, name="price")
        mine = yield dg.Step(lambda: 1, name="mine")  # operation 2, as the invoked "tax"
        return [total, mine]

    runner = TestRunner(functions={"priced": priced})
    run = runner.run(caller, None)
    assert run.operation("mine").runs == 1
    (invoked,) = (r for r in runner.executions() if r.arn != run.arn)
    assert invoked.operation("tax").runs == 1
