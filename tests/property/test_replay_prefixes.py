"""Every state an execution passes through replays on the same code: random programs (from
``durable_gen.testing.strategies``) are run on the engine one suspension at a time, in every
checkpointing mode, and the history exported at each suspension replays ``ok`` (or
``incomplete``), the same from its operations and from its ``GetDurableExecutionHistory``
events; the final history replays to the result the execution returned, which is the one the
program must return."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from durable_gen.testing import TestRunner, replay
from durable_gen.testing.strategies import (
    check_settings,
    expected_result,
    program_input,
    program_workflow,
    programs,
)

from ._support import settle


@check_settings(max_examples=60)
@given(programs(max_nodes=5), st.sampled_from(["step", "eager", "batch"]))
def test_every_suspension_replays_and_the_end_replays_to_the_result(
    program: Any, mode: Any
) -> None:
    runner = TestRunner(skip_time=False, checkpointing=mode)
    run = runner.run(program_workflow, program_input(program))
    exports = [run.export()]
    for _ in range(200):
        settle(runner, run)
        exports.append(run.export())
        if run.done:
            break
        if not runner.advance_to_next_timer():
            runner.advance(366 * 86_400)  # nothing due but callbacks: let them time out
    assert run.status == "SUCCEEDED", run.error
    assert run.result() == expected_result(program)
    for export in exports:
        report = replay(program_workflow, export)
        assert report.ok, report.message
        from_events = replay(program_workflow, {"Events": export["Events"]})
        assert (from_events.status, from_events.outcome) == (report.status, report.outcome)
    final = replay(program_workflow, exports[-1])
    assert (final.status, final.outcome) == ("ok", "succeeded"), final.message
    assert final.result == run.result()
