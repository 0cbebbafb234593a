"""A custom serdes that cannot read back a payload: the error names what it was reading."""

from __future__ import annotations

from typing import Any

import durable_gen as dg
from durable_gen.testing import TestRunner


class Fussy:
    """Writes ``x<value>``; reads it back until ``broken`` is set (a serdes changed by a
    deploy, say)."""

    broken = False

    def serialize(self, value: Any) -> str:
        return f"x{value}"

    def deserialize(self, payload: str) -> Any:
        if Fussy.broken or not payload.startswith("x"):
            raise ValueError(f"cannot read {payload!r}")
        return int(payload[1:])


@dg.workflow
def flow(_: Any) -> dg.Workflow[Any]:
    try:
        value = yield dg.Step(lambda: 1, name="one", serdes=Fussy())
    except (dg.StepFailedError, dg.SerializationError) as exc:
        value = f"{type(exc).__name__}: {getattr(exc, 'error_message', None) or exc}"
    yield dg.Wait(seconds=5, name="pause")
    return value


def test_a_result_the_serdes_cannot_read_names_the_step_when_it_runs() -> None:
    Fussy.broken = True
    try:
        out = dg.run(flow, None, skip_time=True)
    finally:
        Fussy.broken = False
    assert out.startswith("StepFailedError: the serdes failed to deserialize the result of step")
    assert "'one'" in out and "cannot read 'x1'" in out


def test_a_recorded_result_the_serdes_cannot_read_names_the_step_on_replay() -> None:
    runner = TestRunner(skip_time=False)
    run = runner.run(flow, None)
    assert run.status == "RUNNING"  # waiting, the step's result recorded
    Fussy.broken = True  # the code that reads it back changed
    try:
        runner.advance(5)
    finally:
        Fussy.broken = False
    assert run.status == "SUCCEEDED"
    out = run.result()
    assert out.startswith("SerializationError: the recorded result of step 'one'")
    assert "cannot read 'x1'" in out
