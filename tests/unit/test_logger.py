"""The replay-aware logger: every line of workflow code once per execution, at every resume point.

Each workflow logs around a point where the execution suspends and is invoked again (a wait, a
callback, an invoke, a retry, a child, a Map item, a Parallel branch). Across all invocations,
each message must appear exactly once: none dropped after a resume, none repeated in replay.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import durable_gen as dg
from durable_gen.testing import TestRunner

log = dg.get_logger("tests.logger")
chatty = dg.get_logger("tests.logger.chatty", log_during_replay=True)


class Records:
    """The records of the test's ``tests.logger`` loggers, read when asked."""

    def __init__(self, caplog: pytest.LogCaptureFixture) -> None:
        self.caplog = caplog

    def __iter__(self) -> Iterator[logging.LogRecord]:
        return (r for r in self.caplog.records if r.name.startswith("tests.logger"))


@pytest.fixture
def records(caplog: pytest.LogCaptureFixture) -> Records:
    caplog.set_level(logging.INFO, logger="tests.logger")
    return Records(caplog)


def messages(records: Records) -> Counter[str]:
    return Counter(r.getMessage() for r in records)


@dg.step
def noop(x: Any = None) -> Any:
    return x


def wait_wf(_: Any):
    log.info("before wait")
    yield dg.Wait(seconds=10, name="w")
    log.info("after wait")
    yield noop(1)
    log.info("after step")
    return "ok"


def callback_wf(_: Any):
    log.info("before callback")
    handle = yield dg.CreateCallback(name="cb")
    log.info("callback created")
    answer = yield handle
    log.info(f"answered {answer}")
    return answer


def invoked(x: Any):
    yield dg.Wait(seconds=5)
    return x


def invoke_wf(_: Any):
    log.info("before invoke")
    result = yield dg.Invoke("target", 7, name="inv")
    log.info(f"invoked {result}")
    return result


attempts = {"n": 0}


@dg.step(retry=dg.Retry(max_attempts=2, initial_delay=1))
def flaky() -> str:
    attempts["n"] += 1
    if attempts["n"] == 1:
        raise RuntimeError("first attempt fails")
    return "second"


@dg.step(retry=dg.Retry(max_attempts=2, initial_delay=1))
def always_fails() -> None:
    raise RuntimeError("always")


def retry_wf(_: Any):
    log.info("before retry")
    value = yield flaky()
    log.info(f"after retry {value}")
    try:
        yield always_fails()
    except dg.StepFailedError:
        log.info("caught after retries")
    return value


def child_body(x: Any):
    log.info("child start")
    yield dg.Wait(seconds=3)
    log.info("child after wait")
    return x


def child_wf(_: Any):
    log.info("before child")
    value = yield dg.Child(child_body, (5,), name="kid")
    log.info("after child")
    return value


def item(x: int):
    log.info(f"item {x} start")
    yield dg.Wait(seconds=1 + x)
    log.info(f"item {x} after wait")
    return x


def map_wf(_: Any):
    log.info("before map")
    result = yield dg.Map(item, [0, 1, 2], max_concurrency=2)
    log.info("after map")
    return result.results()


def branch(n: int) -> Callable[[], Any]:
    def body():
        log.info(f"branch {n} start")
        yield dg.Wait(seconds=2 + n)
        log.info(f"branch {n} after wait")
        return n

    body.__name__ = f"branch_{n}"
    return body


def parallel_wf(_: Any):
    log.info("before parallel")
    result = yield dg.Parallel([branch(0), branch(1)])
    log.info("after parallel")
    return result.results()


CASES = {
    "wait": (wait_wf, ["before wait", "after wait", "after step"]),
    "invoke": (invoke_wf, ["before invoke", "invoked 7"]),
    "retry": (retry_wf, ["before retry", "after retry second", "caught after retries"]),
    "child": (child_wf, ["before child", "child start", "child after wait", "after child"]),
    "map": (
        map_wf,
        ["before map", "after map"]
        + [f"item {i} {what}" for i in range(3) for what in ("start", "after wait")],
    ),
    "parallel": (
        parallel_wf,
        ["before parallel", "after parallel"]
        + [f"branch {i} {what}" for i in range(2) for what in ("start", "after wait")],
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_line_once_across_resumes(case: str, records: Records) -> None:
    attempts["n"] = 0
    workflow, expected = CASES[case]
    runner = TestRunner(functions={"target": invoked})
    run = runner.run(workflow, None)
    assert run.status == "SUCCEEDED", run.error
    assert len(runner.service.get_history(run.arn)) > 0
    assert messages(records) == Counter(expected)


def test_callback_answered_between_invocations(records: Records) -> None:
    runner = TestRunner()
    run = runner.run(callback_wf, None)
    assert run.status == "RUNNING"
    assert messages(records) == Counter(["before callback", "callback created"])
    run.send_callback_success("cb", "yes")
    runner.run_until_idle()
    assert run.result() == "yes"
    assert messages(records) == Counter(["before callback", "callback created", "answered yes"])


def callback_then_step_wf(_: Any):
    handle = yield dg.CreateCallback(name="cb")
    log.info("created")
    yield noop(2)
    log.info("after step")
    answer = yield handle
    log.info("answered")
    yield noop(3)
    log.info("done")
    return answer


def test_callback_with_a_step_before_its_await(records: Records) -> None:
    runner = TestRunner()
    run = runner.run(callback_then_step_wf, None)
    run.send_callback_success("cb", "ok")
    runner.run_until_idle()
    assert run.result() == "ok"
    assert messages(records) == Counter(["created", "after step", "answered", "done"])


def test_records_name_their_execution(records: Records) -> None:
    runner = TestRunner()
    run = runner.run(wait_wf, None)
    ours = [r for r in records if r.name == "tests.logger"]
    assert ours and all(r.durableExecutionArn == run.arn for r in ours)  # type: ignore[attr-defined]
    assert all(r.execution_arn == run.arn for r in ours)  # type: ignore[attr-defined]


step_log = dg.get_logger("tests.logger.step")


@dg.step(name="charge", retry=dg.Retry(max_attempts=2, initial_delay=1))
def logging_step(x: int) -> int:
    step_log.info("inside the step")
    if attempts["n"] == 0:
        attempts["n"] += 1
        raise RuntimeError("again")
    return x


def step_wf(x: int):
    return (yield logging_step(x))


def test_step_code_records_name_the_operation_and_attempt(
    records: Records,
) -> None:
    attempts["n"] = 0
    runner = TestRunner()
    run = runner.run(step_wf, 3)
    assert run.result() == 3
    inside = [r for r in records if r.name == "tests.logger.step"]
    assert [r.attempt for r in inside] == [1, 2]  # type: ignore[attr-defined]
    op = run.operation("charge")
    for record in inside:
        assert record.operationId == op.id  # type: ignore[attr-defined]
        assert record.operationName == "charge"  # type: ignore[attr-defined]
        assert record.durableExecutionArn == run.arn  # type: ignore[attr-defined]


def replayed_wf(_: Any):
    chatty.info("first")
    yield dg.Wait(seconds=1)
    chatty.info("second")
    return None


def test_log_during_replay_marks_replayed_lines(records: Records) -> None:
    runner = TestRunner()
    runner.run(replayed_wf, None)
    seen = [(r.getMessage(), getattr(r, "replaying", False)) for r in records]
    assert seen == [("first", False), ("first", True), ("second", False)]


def test_outside_workflows_it_is_a_plain_logger(records: Records) -> None:
    log.info("plain")
    (record,) = [r for r in records if r.name == "tests.logger"]
    assert not hasattr(record, "durableExecutionArn")


def test_lambda_json_log_format_writes_the_fields_at_the_top_level() -> None:
    """Rendered by the Lambda runtime's own JSON formatter, as on Lambda with LogFormat JSON."""
    formatter = pytest.importorskip("awslambdaric.lambda_runtime_log_utils").JsonFormatter()
    lines: list[dict[str, Any]] = []

    class Render(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            import json

            lines.append(json.loads(formatter.format(record)))

    @dg.step
    def pay(order: str) -> str:
        log.info("paying %s", order)
        return order

    @dg.workflow
    def order(order_id: str):  # type: ignore[no-untyped-def]
        log.info("order %s", order_id)
        return (yield pay(order_id))

    target = logging.getLogger("tests.logger")
    handler, level = Render(), target.level
    target.addHandler(handler)
    target.setLevel(logging.INFO)
    try:
        run = TestRunner().run(order, "o-1")
    finally:
        target.removeHandler(handler)
        target.setLevel(level)
    assert [line["message"] for line in lines] == ["order o-1", "paying o-1"]
    assert {line["durableExecutionArn"] for line in lines} == {run.arn}
    step = lines[1]
    assert step["operationName"] == "pay" and step["attempt"] == 1 and step["operationId"]
    assert "operationId" not in lines[0]


def test_every_level_method_of_a_logger(records: Records) -> None:
    @dg.workflow
    def levels(_: None):  # type: ignore[no-untyped-def]
        log.critical("critical line")
        log.log(logging.WARNING, "log line %d", 1)
        yield dg.Wait(seconds=1)
        log.critical("after the wait")
        return log.name, log.isEnabledFor(logging.DEBUG)

    run = TestRunner().run(levels, None)
    assert run.result() == ["tests.logger", logging.getLogger("tests.logger").isEnabledFor(10)]
    assert messages(records) == Counter(["critical line", "log line 1", "after the wait"])


@pytest.mark.parametrize(
    ("name", "value", "advice"),
    [
        ("propagate", False, "log.logger.propagate = ..."),
        ("disabled", True, "log.logger.disabled = ..."),
        ("level", logging.DEBUG, "log.logger.setLevel(...)"),
        ("handlers", [], "log.logger.handlers = ..."),
    ],
)
def test_setting_a_logger_attribute_on_the_wrapper_says_where_it_goes(
    name: str, value: object, advice: str
) -> None:
    """``log.propagate = False`` configures nothing on the wrapper: it names ``.logger``."""
    log = dg.get_logger("tests.logger.setattr")
    with pytest.raises(AttributeError, match=re.escape(advice)):
        setattr(log, name, value)
    log.log_during_replay = True  # its own options are set as ever
    assert log.log_during_replay is True
    assert log.logger.propagate is True and log.logger.disabled is False


_namer_log = dg.get_logger("tests.logger.namer")


def _namer(item: int, index: int) -> str:
    _namer_log.info("naming %s", item)
    return f"item-{item}"


def _waits(item: int, index: int):  # type: ignore[no-untyped-def]
    _namer_log.info("item %s", item)
    yield dg.Wait(seconds=item, name="pause")
    return item


def _named_map(_: object):  # type: ignore[no-untyped-def]
    batch = yield dg.Map(_waits, [1, 2, 3], item_namer=_namer, name="m", max_concurrency=2)
    _namer_log.info("done")
    return [item.result for item in batch.items]


@pytest.mark.parametrize("payload_format", ["json", "aws"])
def test_an_item_namer_logs_once_per_execution(
    caplog: pytest.LogCaptureFixture, payload_format: str
) -> None:
    """A Map's ``item_namer`` is workflow code that runs when the Map starts; each invocation
    that resumed the Map (after an item's wait) ran it again, twice, and logged its lines
    each time."""
    caplog.set_level(logging.INFO, logger="tests.logger.namer")
    runner = TestRunner(payload_format=payload_format)  # type: ignore[arg-type]
    run = runner.run(_named_map, None)
    assert run.result() == [1, 2, 3]
    assert runner.service.get_execution(run.arn).status == "SUCCEEDED"
    lines = [r.getMessage() for r in caplog.records if r.name == "tests.logger.namer"]
    assert sorted(lines) == sorted(
        ["naming 1", "naming 2", "naming 3", "item 1", "item 2", "item 3", "done"]
    )
