"""``Patched`` makes an insertion safe wherever it is made and whenever the deploy happens:
a random program is recorded up to a random suspension, a step is inserted before a random
node of its root, and the execution resumes on the new code. Guarded by ``Patched``, the
execution always ends with the program's result, and ``replay`` of the history at the deploy
says ``ok``; unguarded, ``replay`` says ``diverged`` exactly when the resume fails with
``NonDeterminismError`` (docs/versioning.md)."""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

import msgspec
from hypothesis import given
from hypothesis import strategies as st

import durable_gen as dg
from durable_gen.testing import TestRunner, replay
from durable_gen.testing.strategies import (
    Node,
    check_settings,
    expected_result,
    program_input,
    program_workflow,
    programs,
)
from durable_gen.testing.strategies import _run as run_nodes

from ._support import settle

inserted_runs: list[str] = []


@dg.step(name="inserted")
def inserted(x: int) -> int:
    inserted_runs.append("inserted")
    return x


def with_insert(at: int, guarded: bool) -> Callable[[Any], Generator[Any, Any, list[Any]]]:
    def new_code(program: Any) -> Generator[Any, Any, list[Any]]:
        nodes = msgspec.convert(program, list[Node])
        out = yield from run_nodes(nodes[:at], "p")
        if not guarded or (yield dg.Patched("insert")):
            yield inserted(at)
        out += yield from run_nodes(nodes[at:], "p", at)
        return out

    return new_code


def _advance(runner: TestRunner) -> None:
    if not runner.advance_to_next_timer():
        runner.advance(366 * 86_400)  # only callbacks left: let them time out


@check_settings(max_examples=60)
@given(programs(max_nodes=5), st.data(), st.booleans())
def test_an_insertion_resumes_as_the_docs_say(program: Any, data: Any, guarded: bool) -> None:
    at = data.draw(st.integers(0, len(program)), label="insert before node")
    suspensions = data.draw(st.integers(0, 6), label="suspensions before the deploy")
    runner = TestRunner(skip_time=False)
    run = runner.run(program_workflow, program_input(program))
    for _ in range(suspensions):
        settle(runner, run)
        if run.done:
            break
        _advance(runner)
    settle(runner, run)
    new_code = with_insert(at, guarded)
    report = replay(new_code, run.export())
    finished_before = run.done
    runner.deploy(program_workflow, new_code)
    for _ in range(200):
        settle(runner, run)
        if run.done:
            break
        _advance(runner)
    assert run.done
    failed_nondet = run.status == "FAILED" and run.error is not None
    failed_nondet = failed_nondet and run.error.error_type == "NonDeterminismError"
    if guarded:
        assert report.ok, report.message
        assert run.status == "SUCCEEDED", run.error
        assert run.result() == expected_result(program)
    elif not finished_before:
        assert (report.status == "diverged") == failed_nondet, (report.status, run.error)
