"""What docs/testing.md says of ``TestRunner.start`` / ``run`` and their keyword options."""

from __future__ import annotations

import durable_gen as dg
from durable_gen.testing import TestRunner

ARN = "arn:aws:lambda:us-east-1:000000000000:function:f:$LATEST/durable-execution/n/id"


@dg.workflow
def draws(_: None):
    first = yield dg.UUID()
    yield dg.Wait(1)
    return str(first)


def test_start_runs_nothing_until_run_until_idle() -> None:
    runner = TestRunner()
    run = runner.start(draws, None)
    assert run.status == "RUNNING"
    assert run.history()[-1].event_type == "ExecutionStarted"
    runner.run_until_idle()
    assert run.status == "SUCCEEDED"


def test_the_same_execution_arn_makes_two_runs_comparable() -> None:
    one = TestRunner().run(draws, None, execution_arn=ARN)
    two = TestRunner().run(draws, None, execution_arn=ARN)
    other = TestRunner().run(draws, None)
    assert one.result() == two.result() != other.result()


def test_an_execution_name_makes_the_start_idempotent() -> None:
    runner = TestRunner()
    first = runner.run(draws, None, execution_name="order-1")
    again = runner.run(draws, None, execution_name="order-1")
    assert again.arn == first.arn
    assert len(runner.executions()) == 1
