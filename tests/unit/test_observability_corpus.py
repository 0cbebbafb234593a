"""What a user reads in docs/observability.md, checked on programs written from it alone: the
durable logger in workflow and step code at every kind of resume point, on the in-memory engine
and on SQLite (a worker that replays from the database), in every checkpointing mode.

Each line of workflow code appears exactly once per execution (none lost after a resume, none
repeated on replay), every record names its execution, and a record logged in a step names its
operation (the id the history holds) and its attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import durable_gen as dg
from durable_gen.local import Worker

LOGGER = "tests.observability.corpus"
log = dg.get_logger(LOGGER)


#: The keys whose first attempt failed already (emptied before each test).
FAILED_ONCE: set[str] = set()


@pytest.fixture(autouse=True)
def fresh() -> Iterator[None]:
    FAILED_ONCE.clear()
    yield


@dg.step(retry=dg.Retry(max_attempts=3, initial_delay=1))
def flaky(key: str) -> str:
    log.info("flaky %s", key)
    if key not in FAILED_ONCE:
        FAILED_ONCE.add(key)
        raise ValueError(f"first attempt of {key}")
    return key


@dg.step
def plain(x: Any) -> Any:
    log.info("plain %s", x)
    return x


@dg.step
async def later(x: Any) -> Any:
    await asyncio.sleep(0)
    log.info("later %s", x)
    return x


@dg.step(timeout=30)
def bounded(x: Any) -> Any:
    log.info("bounded %s", x)
    return x


def submit(callback_id: str) -> None:
    log.info("submit")


def item(x: int) -> Any:
    log.info("item %d before", x)
    yield dg.Wait(seconds=1, name=f"item-wait-{x}")
    log.info("item %d after wait", x)
    r = yield flaky(f"item-{x}")
    log.info("item %d after retry", x)
    return r


def branch_wait() -> Any:
    log.info("branch before")
    yield dg.Wait(seconds=2, name="branch-wait")
    log.info("branch after")
    return "b"


def sub(x: str) -> Any:
    log.info("child %s before", x)
    yield dg.Wait(seconds=1, name="child-wait")
    r = yield later(x)
    log.info("child %s after", x)
    return r


def everything(_: Any) -> Any:
    log.info("start")
    yield plain("top")
    try:
        yield flaky("top")
    except dg.StepFailedError:
        log.info("never")
    log.info("after retry")
    yield dg.Wait(seconds=1, name="w")
    log.info("after wait")
    answer = yield dg.WaitForCallback(submit, name="approve")
    log.info("after callback %s", answer)
    m = yield dg.Map(item, [1, 2], name="items")
    log.info("after map %s", m.results())
    p = yield dg.Parallel([branch_wait, lambda: (yield bounded("branch"))], name="par")
    log.info("after parallel %s", p.results())
    c = yield dg.Child(sub, ("c",), name="child")
    v = yield dg.Child(sub, ("v",), name="virtual", virtual=True)
    log.info("after children %s %s", c, v)
    try:
        yield dg.Invoke("nobody-serves-this", {})
    except dg.InvokeFailedError:
        log.info("after invoke")
    log.info("end")
    return "done"


WORKFLOW_LINES = [
    "start", "after retry", "after wait", "after callback ok",
    "item 1 before", "item 2 before", "item 1 after wait", "item 2 after wait",
    "item 1 after retry", "item 2 after retry", "after map ['item-1', 'item-2']",
    "branch before", "branch after", "after parallel ['b', 'branch']",
    "child c before", "child c after", "child v before", "child v after",
    "after children c v", "after invoke", "end",
]  # fmt: skip
STEP_LINES = {  # message: (step name, attempt)
    "plain top": ("plain", 1), "flaky top": ("flaky", 2), "submit": ("approve submitter", 1),
    "flaky item-1": ("flaky", 2), "flaky item-2": ("flaky", 2), "bounded branch": ("bounded", 1),
    "later c": ("later", 1), "later v": ("later", 1),
}  # fmt: skip


class Keep(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def kept() -> Iterator[list[logging.LogRecord]]:
    handler = Keep()
    logger = logging.getLogger(LOGGER)
    logger.addHandler(handler)
    old = logger.level
    logger.setLevel(logging.INFO)
    yield handler.records
    logger.removeHandler(handler)
    logger.setLevel(old)


def run_in_memory(mode: str) -> tuple[str, list[Any]]:
    """Runs ``everything`` on a LocalService; returns its ARN and its operations."""
    from durable_gen.local import LocalService, VirtualClock
    from durable_gen.runtime import make_handler

    service = LocalService(clock=VirtualClock())
    service.register("everything", make_handler(everything, service, checkpointing=mode))
    arn = service.start("everything", "null")
    record = service.run(arn)
    (callback,) = [op for op in service.get_operations(arn) if op.type == "CALLBACK"]
    service.send_callback_success(callback.callback_details.callback_id, '"ok"')
    record = service.run(arn)
    assert (record.status, record.result) == ("SUCCEEDED", '"done"'), record.error
    return arn, service.get_operations(arn)


def run_on_sqlite(mode: str, db: Path) -> tuple[str, list[Any]]:
    """Runs ``everything`` on a SQLite worker, each invocation replaying from the file."""
    with Worker(str(db), skip_time=True, checkpointing=mode) as worker:
        name = worker.register(everything)
        arn = worker.service.start(name, "null")
        worker.drive(arn)
        (callback,) = [op for op in worker.service.get_operations(arn) if op.type == "CALLBACK"]
    # a new worker on the same file: nothing of the first one's memory survives
    with Worker(str(db), skip_time=True, checkpointing=mode) as worker:
        worker.register(everything)
        worker.service.send_callback_success(callback.callback_details.callback_id, '"ok"')
        worker.drive(arn)
        record = worker.service.get_execution(arn)
        assert (record.status, record.result) == ("SUCCEEDED", '"done"'), record.error
        return arn, worker.service.get_operations(arn)


ENGINES: dict[str, Callable[[str, Path], tuple[str, list[Any]]]] = {
    "memory": lambda mode, tmp: run_in_memory(mode),
    "sqlite": lambda mode, tmp: run_on_sqlite(mode, tmp / "corpus.db"),
}


@pytest.mark.parametrize("mode", ["step", "eager", "batch"])
@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_each_line_once_with_its_execution_and_operation(
    engine: str, mode: str, tmp_path: Path, kept: list[logging.LogRecord]
) -> None:
    arn, operations = ENGINES[engine](mode, tmp_path)
    counts = Counter(r.getMessage() for r in kept)
    assert "never" not in counts
    assert {m: n for m, n in counts.items() if n != 1 and m not in STEP_LINES} == {}
    assert sorted(m for m in counts if m not in STEP_LINES) == sorted(WORKFLOW_LINES)
    # workflow lines keep their order where the code orders them
    lines = [r.getMessage() for r in kept if r.getMessage() in WORKFLOW_LINES]
    assert lines[:4] == WORKFLOW_LINES[:4] and lines[-2:] == WORKFLOW_LINES[-2:]
    assert {getattr(r, "durableExecutionArn", None) for r in kept} == {arn}
    assert {getattr(r, "executionArn", None) for r in kept} == {arn}  # AWS's SDK's key
    by_id = {op.id: op for op in operations}
    for record in kept:
        message = record.getMessage()
        if message not in STEP_LINES:
            assert not hasattr(record, "operationId"), message
            continue
        name, last_attempt = STEP_LINES[message]
        op = by_id[record.operationId]
        assert (op.type, op.name, record.operationName) == ("STEP", name, name), message
        assert getattr(record, "parentId", None) == op.parent_id, message  # as AWS's SDK
        assert 1 <= record.attempt <= last_attempt
    # a retried step logs once per attempt, numbered 1 and 2
    for message, (_, last) in STEP_LINES.items():
        attempts = sorted(r.attempt for r in kept if r.getMessage() == message)
        assert attempts == list(range(1, last + 1)), (message, attempts)


# --- bad arguments of the logger: typed errors that say what to pass ---

BAD_LOGGERS: list[tuple[str, Callable[[], object], str]] = [
    ("name-an-int", lambda: dg.get_logger(5), "a str such as __name__"),  # type: ignore[arg-type]
    (
        "name-a-logger",
        lambda: dg.get_logger(logging.getLogger("x")),  # type: ignore[arg-type]
        "ReplayAwareLogger(logger)",
    ),
    (
        "replay-flag-a-str",
        lambda: dg.get_logger("x", log_during_replay="yes"),  # type: ignore[arg-type]
        "log_during_replay must be True or False",
    ),
    (
        "wrap-a-name",
        lambda: dg.ReplayAwareLogger("x"),  # type: ignore[arg-type]
        "ReplayAwareLogger(logging.getLogger(name))",
    ),
]


@pytest.mark.parametrize(
    ("build", "fragment"), [c[1:] for c in BAD_LOGGERS], ids=[c[0] for c in BAD_LOGGERS]
)
def test_a_bad_logger_argument_is_a_validation_error(
    build: Callable[[], object], fragment: str
) -> None:
    with pytest.raises(dg.ValidationError) as caught:
        build()
    assert fragment in str(caught.value)


def test_good_logger_arguments_are_accepted() -> None:
    assert dg.get_logger().name == "durable_gen.workflow"
    assert dg.get_logger("a.b", log_during_replay=True).log_during_replay is True
    assert dg.ReplayAwareLogger(logging.getLogger("a.c")).name == "a.c"
    assert json.dumps(dg.get_logger("a.d").name) == '"a.d"'


def test_the_logger_is_configured_as_a_logging_logger_is(kept: list[logging.LogRecord]) -> None:
    # The docs call it a wrapper of a standard Logger: what configures one configures it.
    durable = dg.get_logger(f"{LOGGER}.configured")
    extra = Keep()
    durable.addHandler(extra)
    assert durable.hasHandlers() and durable.handlers == [extra]
    durable.setLevel(logging.WARNING)
    assert (durable.level, durable.getEffectiveLevel()) == (logging.WARNING, logging.WARNING)
    durable.addFilter(lambda record: "secret" not in record.getMessage())
    child = durable.getChild("part")
    assert isinstance(child, dg.ReplayAwareLogger) and child.name == f"{LOGGER}.configured.part"
    assert dg.get_logger("x", log_during_replay=True).getChild("y").log_during_replay

    def flow(_: Any) -> Any:
        durable.info("below the level")
        durable.warning("kept")
        durable.warning("a secret")
        child.warning("from the child")
        yield dg.Wait(seconds=1)
        durable.warning("after the wait")
        return 1

    dg.run(flow, None, skip_time=True)
    expected = ["kept", "from the child", "after the wait"]  # the child's record propagates
    assert [r.getMessage() for r in extra.records] == expected
    assert [r.getMessage() for r in kept] == expected
    assert all(getattr(r, "durableExecutionArn", None) for r in kept)
    durable.removeHandler(extra)
    assert durable.handlers == []
    with pytest.raises(AttributeError, match=r"log\.logger\.propagate"):
        durable.propagate  # noqa: B018


# --- an execution the Lambda handler ends because the service refused a checkpoint ---


class Recorder(dg.Plugin):
    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    def on_execution_end(self, info: Any, status: str, result: Any, error: Any) -> None:
        self.seen.append(("execution_end", f"{status} {getattr(error, 'error_type', None)}"))

    def on_invocation_end(self, info: Any, status: str) -> None:
        self.seen.append(("invocation_end", status))


class Refusing:
    """A DurableService that raises ``error`` at the second checkpoint of an invocation."""

    def __init__(self, inner: Any, error: Exception) -> None:
        self.inner, self.error, self.calls = inner, error, 0

    def get_state(self, *args: Any) -> Any:
        return self.inner.get_state(*args)

    def checkpoint(self, arn: str, token: str, updates: Any) -> Any:
        self.calls += 1
        if self.calls == 2:
            raise self.error
        return self.inner.checkpoint(arn, token, updates)


def two_steps(_: Any) -> Any:
    yield plain(1)
    yield plain(2)
    return "two"


def test_a_refused_checkpoint_ends_the_execution_for_the_plugins_too() -> None:
    # The handler returns FAILED (the execution ends), and the plugins see it end: before,
    # they saw neither the execution's nor the invocation's end, so the Invocation span was
    # never exported, there was no Workflow span and no telemetry record.
    pytest.importorskip("opentelemetry.sdk")
    import msgspec
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from durable_gen.local import LocalService, VirtualClock
    from durable_gen.otel import OpenTelemetryPlugin
    from durable_gen.runtime import InvocationOutput
    from durable_gen.telemetry import TelemetryPlugin

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    recorder, records = Recorder(), []
    service = LocalService(clock=VirtualClock())
    refusing = Refusing(service, dg.InvalidCheckpointError("the KMS key is disabled"))
    plugins = [recorder, OpenTelemetryPlugin(provider), TelemetryPlugin(records.append)]
    handler = dg.lambda_handler(two_steps, service=refusing, plugins=plugins)
    service.register(
        "two", lambda event: msgspec.convert(handler(msgspec.to_builtins(event)), InvocationOutput)
    )
    arn = service.start("two", "null")
    record = service.run(arn)
    assert record.status == "FAILED" and record.error is not None
    assert record.error.error_type == "InvalidCheckpointError"
    assert recorder.seen == [
        ("execution_end", "FAILED InvalidCheckpointError"),
        ("invocation_end", "FAILED"),
    ]
    spans = {s.name: s for s in exporter.get_finished_spans()}
    assert spans["Workflow"].attributes is not None
    assert spans["Workflow"].attributes["durable.execution.status"] == "FAILED"
    assert spans["Invocation"].attributes is not None
    assert spans["Invocation"].attributes["durable.invocation.status"] == "FAILED"
    (text,) = records
    assert json.loads(text)["error"]["errorType"] == "InvalidCheckpointError"


def test_an_error_the_service_retries_does_not_end_the_execution_for_the_plugins() -> None:
    import msgspec

    from durable_gen.aws import ServiceUnavailableError
    from durable_gen.local import LocalService, VirtualClock
    from durable_gen.runtime import InvocationOutput

    recorder = Recorder()
    service = LocalService(clock=VirtualClock())
    refusing = Refusing(service, ServiceUnavailableError("throttled"))
    handler = dg.lambda_handler(two_steps, service=refusing, plugins=[recorder])
    raised: list[Exception] = []

    def adapter(event: Any) -> InvocationOutput:
        try:
            return msgspec.convert(handler(msgspec.to_builtins(event)), InvocationOutput)
        except ServiceUnavailableError as exc:  # raised for the service to invoke again
            raised.append(exc)
            raise

    service.register("two", adapter)
    arn = service.start("two", "null")
    record = service.run(arn)
    assert raised and (record.status, record.result) == ("SUCCEEDED", '"two"')
    # the raising invocation ended nothing; the one after it ended the execution
    assert recorder.seen == [
        ("execution_end", "SUCCEEDED None"),
        ("invocation_end", "SUCCEEDED"),
    ]


# --- a step's deciding code (retry_if, a wait strategy) logs as the step's code ---


def retry_once(exc: BaseException) -> bool:
    log.info("retry_if %s", type(exc).__name__)
    return True


@dg.step(retry=dg.Retry(max_attempts=2, initial_delay=1, retry_if=retry_once))
def fails(x: int) -> int:
    raise ValueError(x)


def reached(state: int) -> bool:
    log.info("until %d", state)
    return state >= 2


def strategy(state: int, attempt: int) -> dg.WaitDecision:
    log.info("strategy %d %d", state, attempt)
    return dg.WaitDecision.done() if state >= 2 else dg.WaitDecision.again(1)


def deciding(_: Any) -> Any:
    with contextlib.suppress(dg.StepFailedError):
        yield fails(1)
    until = dg.WaitStrategy(until=reached, delay=1)
    yield dg.WaitForCondition(lambda s: s + 1, 0, wait_strategy=until, name="poll")
    yield dg.WaitForCondition(lambda s: s + 1, 0, wait_strategy=strategy, name="poll-fn")
    return "decided"


def test_retry_if_and_wait_strategies_log_with_their_step(
    kept: list[logging.LogRecord],
) -> None:
    # Before, their records named no execution: they ran outside both workflow and step code.
    assert dg.run(deciding, None, skip_time=True) == "decided"
    seen = [
        (r.getMessage(), r.durableExecutionArn != "", r.operationName, r.attempt)
        for r in kept
        if hasattr(r, "durableExecutionArn")
    ]
    assert seen == [
        ("retry_if ValueError", True, "fails", 1),  # not asked after the last attempt
        ("until 1", True, "poll", 1),
        ("until 2", True, "poll", 2),
        ("strategy 1 1", True, "poll-fn", 1),
        ("strategy 2 2", True, "poll-fn", 2),
    ]
    assert len(seen) == len(kept)


def in_a_child(_: Any) -> Any:
    first = yield plain("root")
    second = yield dg.Child(lambda: (yield plain("in child")), name="kid")
    return [first, second]


def test_a_runtime_of_ones_own_logs_the_fields_of_aws_sdk_too(
    kept: list[logging.LogRecord],
) -> None:
    # A host that drives the Interpreter itself: step records carry executionArn (the key
    # AWS's SDK writes) and, inside a context, its parentId, as the drivers' records do.
    from tests.hosting import DictRuntime

    arn = "arn:aws:lambda:us-east-1:000000000000:function:f:$LATEST/durable-execution/e/i"
    runtime = DictRuntime(in_a_child, execution_arn=arn)
    outcome = runtime.invoke()
    assert outcome.result == '["root","in child"]'  # type: ignore[union-attr]
    kid = next(op for op in runtime.store.values() if op.name == "kid")
    fields = {
        r.getMessage(): (r.executionArn, getattr(r, "parentId", None), r.operationName)
        for r in kept
    }
    assert fields == {"plain root": (arn, None, "plain"), "plain in child": (arn, kid.id, "plain")}


# --- a plugin cannot change what a failed attempt records ---


class Meddler(dg.Plugin):
    """Changes the error it is shown, as a careless redacting or annotating plugin might."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def on_attempt_end(self, attempt: Any, outcome: str, error: BaseException | None) -> None:
        if error is None:
            return
        self.seen.append(str(error))
        error.args = ("redacted by a plugin",)
        error.add_note("note from a plugin")
        error.__traceback__ = None
        error.error_type = "Meddled"  # type: ignore[attr-defined]


class Declined(dg.StepFailedError):
    pass


@dg.step(retry=dg.Retry.never())
def declines(x: int) -> int:
    raise Declined(f"card {x} declined", error_type="CardDeclined", error_data='{"code": 51}')


@dg.step(retry=dg.Retry.never())
def crashes(x: int) -> int:
    raise ValueError(f"bad input {x}")


def declined_flow(_: Any) -> Any:
    with contextlib.suppress(dg.StepFailedError):
        yield crashes(8)
    try:
        yield declines(7)
    except dg.StepFailedError as exc:
        return [exc.error_type, exc.error_message, exc.error_data]


def test_what_a_plugin_changes_in_an_error_is_not_recorded() -> None:
    from durable_gen.local import LocalService, VirtualClock
    from durable_gen.runtime import make_handler

    meddler = Meddler()
    service = LocalService(clock=VirtualClock())
    service.register("declined", make_handler(declined_flow, service, plugins=[meddler]))
    arn = service.start("declined", "null")
    record = service.run(arn)
    assert meddler.seen == ["bad input 8", "card 7 declined"]
    # Before, the plugin's message, error type and missing traceback were what was recorded.
    assert json.loads(record.result or "") == ["CardDeclined", "card 7 declined", '{"code": 51}']
    crashed, declined = [op for op in service.get_operations(arn) if op.type == "STEP"]
    error = crashed.step_details.error  # type: ignore[union-attr]
    assert (error.error_type, error.error_message) == ("ValueError", "bad input 8")
    trace = "\n".join(error.stack_trace or [])
    assert "in crashes" in trace and "plugin" not in trace
    error = declined.step_details.error  # type: ignore[union-attr]
    assert (error.error_type, error.error_message) == ("CardDeclined", "card 7 declined")


# --- where a record says it was logged from ---


def audit(message: str) -> None:
    """A helper that logs for its caller, as ``logging`` allows with ``stacklevel=2``."""
    log.info(message, stacklevel=2)


@dg.step
def audited_step() -> int:
    audit("from the step")
    return 1


def audited_flow(_: Any) -> Any:
    log.info("direct")
    audit("from the workflow")
    yield audited_step()
    return 1


def test_a_record_names_the_code_that_logged_it(kept: list[logging.LogRecord]) -> None:
    # Before, a stacklevel given by the caller counted durable_gen's own frames: the records
    # of a helper logging with stacklevel=2 said they came from _logger.py's `info`.
    dg.run(audited_flow, None)
    where = {r.getMessage(): (Path(r.pathname).name, r.funcName) for r in kept}
    assert where == {
        "direct": ("test_observability_corpus.py", "audited_flow"),
        "from the workflow": ("test_observability_corpus.py", "audited_flow"),
        "from the step": ("test_observability_corpus.py", "audited_step"),
    }


# --- tracing and the telemetry record over every kind of operation, mode and view ---


@dg.step(retry=dg.Retry(max_attempts=2, initial_delay=1))
def maybe(x: str) -> str:
    if x == "bad":
        raise ValueError("bad input")
    return x


def waiting_item(x: str) -> Any:
    yield dg.Wait(seconds=1, name=f"wait-{x}")
    return (yield maybe(x))


def traced(_: Any) -> Any:
    tolerate = dg.Completion(tolerated_failure_count=1)
    yield dg.Map(waiting_item, ["a", "bad", "c"], name="items", completion=tolerate)
    yield dg.Parallel([lambda: (yield maybe("p")), lambda: (yield maybe("bad"))], name="par",
                      completion=tolerate)  # fmt: skip
    yield dg.Child(waiting_item, ("k",), name="child")
    yield dg.Child(waiting_item, ("v",), name="virtual", virtual=True)
    yield maybe("bad")


@pytest.mark.parametrize("view", ["invocation", "execution"])
@pytest.mark.parametrize("mode", ["step", "eager", "batch"])
def test_one_trace_and_one_record_whatever_the_mode_and_view(
    mode: str, view: str, caplog: pytest.LogCaptureFixture
) -> None:
    pytest.importorskip("opentelemetry.sdk")
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from durable_gen.otel import OpenTelemetryPlugin, trace_id_of
    from durable_gen.telemetry import TelemetryPlugin

    caplog.set_level(logging.WARNING, logger="durable_gen.plugins")
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    records: list[str] = []
    plugins = [
        OpenTelemetryPlugin(provider, view=view),  # type: ignore[arg-type]
        TelemetryPlugin(records.append, operations="all"),
    ]
    with pytest.raises(dg.ExecutionFailedError):
        dg.run(traced, None, skip_time=True, checkpointing=mode, plugins=plugins)  # type: ignore[arg-type]
    assert [r for r in caplog.records if r.name == "durable_gen.plugins"] == []
    (text,) = records
    record = json.loads(text)
    assert record["status"] == "FAILED" and record["error"]["errorType"] == "ValueError"
    assert record["operationsByName"]["maybe"]["failedCount"] == 3  # the item, branch, last
    spans = exporter.get_finished_spans()
    assert {s.context.trace_id for s in spans} == {trace_id_of(record["executionArn"])}
    ids = {s.context.span_id for s in spans}
    assert [s.name for s in spans for link in s.links if link.context.span_id not in ids] == []
    (workflow,) = [s for s in spans if s.name == "Workflow"]
    assert workflow.status.status_code.name == "ERROR"
    names = {s.name for s in spans}
    assert {"items", "par", "child", "virtual", "maybe attempt 2"} <= names


def test_a_failed_attempt_record_carries_what_the_steps_own_records_carry() -> None:
    # The record of a failed attempt (logger durable_gen.steps) is a record of the execution
    # logged about a step: a query that selects a step's own lines (by `execution_arn`, the
    # name earlier versions used, or by `parentId`, the context the step runs in) selects it.
    @dg.step(retry=dg.Retry(max_attempts=2, initial_delay=1, jitter="none"))
    def refuses(x: int) -> int:
        log.info("refuses %s", x)
        raise ValueError(f"no {x}")

    def item(x: int):  # type: ignore[no-untyped-def]
        try:
            return (yield refuses(x))
        except dg.StepFailedError:
            return 0

    @dg.workflow
    def wf(_: Any):  # type: ignore[no-untyped-def]
        yield dg.Map(item, [1], name="items")
        with contextlib.suppress(dg.StepFailedError):
            yield refuses(2)
        return 1

    kept: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            kept.append(record)

    handler = Keep()
    loggers = [logging.getLogger(LOGGER), logging.getLogger("durable_gen.steps")]
    levels = [one.level for one in loggers]
    for one in loggers:
        one.addHandler(handler)
        one.setLevel(logging.INFO)
    try:
        assert dg.run(wf, None, skip_time=True) == 1
    finally:
        for one, level in zip(loggers, levels, strict=True):
            one.removeHandler(handler)
            one.setLevel(level)
    own = [r for r in kept if r.name == LOGGER]
    failures = [r for r in kept if r.name == "durable_gen.steps"]
    assert len(own) == len(failures) == 4
    shared = ("durableExecutionArn", "executionArn", "execution_arn", "operationId")
    for mine, failure in zip(own, failures, strict=True):
        for key in (*shared, "operationName", "attempt"):
            assert getattr(failure, key) == getattr(mine, key), key
        assert getattr(failure, "parentId", None) == getattr(mine, "parentId", None)
    assert getattr(failures[0], "parentId", None) is not None  # in the Map item
    assert not hasattr(failures[-1], "parentId")  # at the top level


def test_telemetry_and_traces_under_a_test_runner_read_its_virtual_clock() -> None:
    # Without clock=, both plugins read the wall clock, while the runner's operations carry
    # virtual timestamps: the record's durationMs spanned from 2025 to today, and the spans
    # of attempts sat years away from those of their operations.
    from datetime import UTC, datetime

    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from durable_gen.otel import OpenTelemetryPlugin
    from durable_gen.telemetry import TelemetryPlugin
    from durable_gen.testing import TestRunner

    @dg.workflow
    def waits(_: Any):  # type: ignore[no-untyped-def]
        first = yield plain(1)
        yield dg.Wait(seconds=100, name="pause")
        return first + (yield plain(2))

    start = datetime(2030, 1, 1, tzinfo=UTC)
    start_ns = int(start.timestamp()) * 1_000_000_000
    for view in ("invocation", "execution"):
        records: list[str] = []
        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        fixed: list[str] = []
        plugins = [
            TelemetryPlugin(records.append),
            OpenTelemetryPlugin(provider, view=view),
            TelemetryPlugin(fixed.append, clock=lambda: 1_800_000_000_000),  # its own: kept
        ]
        runner = TestRunner(start=start, plugins=plugins)
        assert runner.run(waits).result() == 3
        record = json.loads(records[0])
        assert record["durationMs"] == 100_000
        assert record["startTime"] == "2030-01-01T00:00:00.000Z"
        assert record["endTime"] == record["emittedAt"] == "2030-01-01T00:01:40.000Z"
        assert json.loads(fixed[0])["emittedAt"] == "2027-01-15T08:00:00.000Z"
        spans = exporter.get_finished_spans()
        assert spans
        for span in spans:
            assert span.start_time is not None and span.end_time is not None
            assert start_ns <= span.start_time <= span.end_time, span.name
            assert span.end_time <= start_ns + 101 * 1_000_000_000, span.name


def test_a_plugin_reused_after_a_test_runner_reads_its_own_clock_again() -> None:
    # The runner used to set the virtual clock on the plugin for good: a session-wide plugin
    # used by one runner then dated the records and spans of dg.run in the runner's virtual
    # past, and a second runner's spans were held behind where the first runner's clock
    # stopped (its clock starts over, the spans only went forward).
    import time
    from datetime import UTC, datetime

    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from durable_gen.otel import OpenTelemetryPlugin
    from durable_gen.telemetry import TelemetryPlugin
    from durable_gen.testing import TestRunner

    @dg.workflow
    def waits(x: Any):  # type: ignore[no-untyped-def]
        yield dg.Wait(seconds=3 * 86_400, name="pause")
        return (yield plain(x))

    records: list[str] = []
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    telemetry, traces = TelemetryPlugin(records.append), OpenTelemetryPlugin(provider)
    start = datetime(2030, 1, 1, tzinfo=UTC)
    start_ns = int(start.timestamp()) * 1_000_000_000
    for n in (1, 2):  # two runners in turn, as two tests sharing the plugins
        exporter.clear()
        assert TestRunner(start=start, plugins=[telemetry, traces]).run(waits, n).result() == n
        assert json.loads(records[-1])["startTime"] == "2030-01-01T00:00:00.000Z"
        assert json.loads(records[-1])["endTime"] == "2030-01-04T00:00:00.000Z"
        first_invocation = min(
            s.start_time or 0 for s in exporter.get_finished_spans() if s.name == "Invocation"
        )
        assert start_ns <= first_invocation < start_ns + 1_000_000_000, n
    exporter.clear()
    before = time.time_ns()
    assert dg.run(waits, 3, plugins=[telemetry, traces], skip_time=True) == 3
    emitted = datetime.fromisoformat(json.loads(records[-1])["emittedAt"])
    assert abs(emitted.timestamp() - before / 1e9) < 60  # the wall clock, not 2030
    invocations = [s for s in exporter.get_finished_spans() if s.name == "Invocation"]
    assert invocations and all((s.start_time or 0) >= before for s in invocations)


def test_spans_of_a_runners_invocations_follow_each_other_at_one_virtual_instant() -> None:
    # Invocations of one runner at the same virtual instant (a callback answered without
    # moving the clock): each span the later invocation times starts after every span of the
    # earlier one ended, as in real time, although the virtual clock did not move (the
    # runner's clock is lent to the plugin invocation by invocation, with its last reading).
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from durable_gen.otel import OpenTelemetryPlugin
    from durable_gen.testing import TestRunner

    @dg.workflow
    def asks(_: Any):  # type: ignore[no-untyped-def]
        first = yield plain(1)
        answer = yield dg.WaitForCallback(lambda callback_id: None, name="ask", timeout=60)
        return first + answer

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    runner = TestRunner(plugins=[OpenTelemetryPlugin(provider)])
    run = runner.run(asks)
    first = list(exporter.get_finished_spans())
    exporter.clear()
    run.send_callback_success("ask", 2)
    runner.run_until_idle()
    assert run.result() == 3
    second = list(exporter.get_finished_spans())
    assert first and second
    # (the Workflow span starts at the execution's recorded start: not compared)
    ended = max(s.end_time or 0 for s in first)
    later = [s for s in second if s.name != "Workflow"]
    assert later and all((s.start_time or 0) > ended for s in later), (
        ended,
        [(s.name, s.start_time) for s in later],
    )


def test_a_thread_a_step_starts_logs_with_the_step_only_in_a_copy_of_its_context(
    kept: list[logging.LogRecord],
) -> None:
    # What docs/observability.md says of threads a step starts itself.
    import concurrent.futures
    import contextvars

    @dg.step
    def fans_out() -> int:
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            pool.submit(log.info, "bare thread").result()
            pool.submit(contextvars.copy_context().run, log.info, "copied context").result()
        return 1

    @dg.step
    async def to_thread() -> int:
        await asyncio.to_thread(log.info, "asyncio.to_thread")
        return 2

    @dg.workflow
    def wf(_: Any):  # type: ignore[no-untyped-def]
        return [(yield fans_out()), (yield to_thread())]

    assert dg.run(wf, None) == [1, 2]
    fields = {r.getMessage(): getattr(r, "operationName", None) for r in kept}
    assert fields == {
        "bare thread": None, "copied context": "fans_out", "asyncio.to_thread": "to_thread",
    }  # fmt: skip


def test_a_logger_adapter_or_shared_extra_keeps_no_fields_of_an_earlier_line() -> None:
    # The logger added its fields into the caller's ``extra`` dict itself: a LoggerAdapter
    # passes its own ``extra`` on every call, so after its first line in a step every later
    # line through it (another Map item, another execution, code outside any execution)
    # carried that first step's operation, parent and execution.
    name = "tests.observability.adapter"
    log = dg.get_logger(name)
    adapter = logging.LoggerAdapter(log, {"tenant": "t1"})  # type: ignore[arg-type]
    shared = {"service": "shop"}
    kept: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            kept.append(record)

    @dg.step
    def item(x: int) -> int:
        adapter.info("item %s", x)
        log.info("shared %s", x, extra=shared)
        return x

    @dg.workflow
    def items(xs: list[int]):  # type: ignore[no-untyped-def]
        adapter.info("body")
        return (yield dg.Map(item, xs)).results()

    handler = Keep()
    logging.getLogger(name).addHandler(handler)
    logging.getLogger(name).setLevel(logging.INFO)
    try:
        assert dg.run(items, [1, 2]) == [1, 2]
        assert dg.run(items, [3]) == [3]
        adapter.info("outside")
    finally:
        logging.getLogger(name).removeHandler(handler)
    assert adapter.extra == {"tenant": "t1"} and shared == {"service": "shop"}
    fields = [vars(r) for r in kept]
    by_message = {f["msg"] % f["args"] if f["args"] else f["msg"]: f for f in fields}
    one, two, three = by_message["item 1"], by_message["item 2"], by_message["item 3"]
    assert len({one["operationId"], two["operationId"]}) == 2
    assert len({one["parentId"], two["parentId"]}) == 2
    assert one["durableExecutionArn"] == two["durableExecutionArn"]
    assert three["durableExecutionArn"] != one["durableExecutionArn"]
    for message in ("item 1", "item 2", "item 3"):
        assert by_message[message]["tenant"] == "t1"
        shared_line = by_message[message.replace("item", "shared")]
        assert shared_line["service"] == "shop"
        assert shared_line["operationId"] == by_message[message]["operationId"]
    assert "operationId" not in by_message["body"]
    assert "durableExecutionArn" not in by_message["outside"]
    assert by_message["outside"]["tenant"] == "t1"
