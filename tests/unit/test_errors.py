"""The one error tree: every exception durable_gen defines sits under ``DurableGenError``,
in the branch of whoever must act."""

from __future__ import annotations

import importlib
import json
import logging
import pkgutil
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest

import durable_gen
import durable_gen as dg
from durable_gen import _errors

#: Exceptions of the package that are not errors for users to catch, and why.
NOT_IN_THE_TREE = {
    # Control flow inside the interpreter: turned into a failed outcome before it leaves.
    "durable_gen._interpreter_core.Fatal",
    # A warning category (the body built a command it never yielded), not an error.
    "durable_gen._guard.UnyieldedCommandWarning",
    # Control flow inside the codec: a payload that is not AWS's envelope is read as plain JSON.
    "durable_gen._codec._NotEnvelope",
    # Raised inside the codec's encoding hook for a pydantic secret; encode() turns it into a
    # SerializationError naming the payload before it leaves.
    "durable_gen._codec._SecretValueError",
    # Raised inside the codec's encoding hook when pydantic cannot write a model in JSON mode;
    # encode() turns it into a SerializationError naming the payload before it leaves.
    "durable_gen._codec._ModelDumpError",
    # Control flow inside the driver: a checkpoint reply without a token (a paused execution)
    # ends the invocation PENDING before it leaves.
    "durable_gen._driver._TokenWithheld",
    # What the driver catches as asyncio's CancelledError while asyncio is not imported:
    # nothing raises it.
    "durable_gen._driver._NeverRaised",
    # The test harness's simulated process crash: a BaseException so no `except Exception`
    # in a step or workflow can swallow it.
    "durable_gen.testing._harness.Crash",
}

#: Each branch of the tree: who must act when it is raised.
BRANCHES: dict[type[Exception], set[str]] = {
    dg.ValidationError: {"ValidationError", "ArgumentError", "CliError"},
    dg.WorkflowDefinitionError: {"WorkflowDefinitionError"},
    dg.SerializationError: {"SerializationError", "PayloadTooLargeError"},
    dg.NonDeterminismError: {"NonDeterminismError"},
    dg.InvalidInputError: {"InvalidInputError"},
    dg.StoreError: {
        "StoreError",
        "LeaseLostError",
        "StoreUnavailableError",
        "DamagedRecordError",
        "NoTablesError",
    },
    dg.ServiceError: {
        "ServiceError",
        "InvalidCheckpointTokenError",
        "InvalidCheckpointError",
        "ExecutionNotFoundError",
        "UnknownCallbackError",
        "FunctionNotRegisteredError",
        "ServiceUnavailableError",
    },
    dg.OperationError: {
        "OperationError",
        "StepFailedError",
        "StepInterruptedError",
        "StepTimeoutError",
        "WaitConditionNotMetError",
        "CallbackError",
        "CallbackFailedError",
        "CallbackTimeoutError",
        "InvokeFailedError",
        "ChildFailedError",
        "BatchFailedError",
    },
}


def _package_exceptions() -> Iterator[type[BaseException]]:
    for info in pkgutil.walk_packages(durable_gen.__path__, "durable_gen."):
        if info.name.startswith("durable_gen.testing.strategies"):
            pytest.importorskip("hypothesis")
        importlib.import_module(info.name)

    def walk(cls: type[BaseException]) -> Iterator[type[BaseException]]:
        for sub in cls.__subclasses__():
            yield sub
            yield from walk(sub)

    seen: set[type[BaseException]] = set()
    for cls in walk(BaseException):
        if cls.__module__.startswith("durable_gen") and cls not in seen:
            seen.add(cls)
            yield cls


def test_every_exception_of_the_package_is_in_the_tree() -> None:
    outside = [
        f"{cls.__module__}.{cls.__qualname__}"
        for cls in _package_exceptions()
        if not issubclass(cls, dg.DurableGenError)
    ]
    assert sorted(outside) == sorted(NOT_IN_THE_TREE)


def test_each_error_sits_in_the_branch_of_who_must_act() -> None:
    found: dict[str, type[BaseException]] = {
        cls.__name__: cls
        for cls in _package_exceptions()
        if issubclass(cls, dg.DurableGenError) and cls is not dg.DurableGenError
    }
    placed: dict[str, type[Exception]] = {}
    for branch, names in BRANCHES.items():
        for name in names:
            assert issubclass(found[name], branch), (name, branch)
            placed[name] = branch
    # The branches do not overlap, and nothing is left out of them but the plain outcomes.
    for name, cls in found.items():
        homes = [b.__name__ for b in BRANCHES if issubclass(cls, b)]
        assert len(homes) <= 1, (name, homes)
    unplaced = set(found) - set(placed)
    assert unplaced == {
        "ExecutionFailedError",
        "ExecutionSuspendedError",
    }


def test_a_store_error_is_not_bad_input() -> None:
    # A locked or corrupt database is nothing the caller passed wrong.
    assert not issubclass(dg.StoreError, dg.InvalidInputError)
    assert not issubclass(dg.StoreError, ValueError)
    assert issubclass(dg.StoreError, dg.DurableGenError)


def test_bad_options_are_value_errors_too() -> None:
    # `except ValueError` written before the tree existed keeps working.
    assert issubclass(dg.ValidationError, ValueError)
    assert issubclass(dg.InvalidInputError, ValueError)
    assert issubclass(dg.WorkflowDefinitionError, TypeError)


def test_wait_condition_not_met_is_a_durable_gen_error_importable_from_the_top() -> None:
    assert dg.WaitConditionNotMetError is _errors.WaitConditionNotMetError
    assert issubclass(dg.WaitConditionNotMetError, dg.DurableGenError)
    from durable_gen._commands import WaitConditionNotMetError

    assert WaitConditionNotMetError is dg.WaitConditionNotMetError


def test_a_failed_wait_condition_reaches_the_workflow_as_a_step_failure() -> None:
    @dg.workflow
    def poll(_: object) -> object:
        try:
            yield dg.WaitForCondition(
                lambda n: n + 1,
                0,
                wait_strategy=dg.WaitStrategy(until=lambda n: n > 99, delay=1, max_attempts=2),
                name="poll",
            )
        except dg.StepFailedError as exc:
            return exc.error_type
        return None

    assert dg.run(poll, None, skip_time=True) == "WaitConditionNotMetError"


def test_a_failed_wait_condition_is_caught_by_its_own_class() -> None:
    """``except dg.WaitConditionNotMetError`` in the workflow catches it (it used to reach the
    workflow as a plain ``StepFailedError``, so that clause caught nothing)."""

    @dg.workflow
    def poll(_: object) -> object:
        try:
            yield dg.WaitForCondition(
                lambda n: n + 1,
                0,
                wait_strategy=dg.WaitStrategy(until=lambda n: n > 99, delay=1, max_attempts=2),
                name="poll",
            )
        except dg.WaitConditionNotMetError as exc:
            return [type(exc).__name__, isinstance(exc, dg.StepFailedError), exc.error_type]
        return None

    for payload_format in ("json", "aws"):
        assert dg.run(poll, None, skip_time=True, payload_format=payload_format) == [
            "WaitConditionNotMetError",
            True,
            "WaitConditionNotMetError"
            if payload_format == "json"
            else "aws_durable_execution_sdk_python.exceptions.WaitForConditionError",
        ]


def test_every_name_in_the_tree_is_exported_at_the_top() -> None:
    for name in _errors.__all__:
        assert getattr(dg, name) is getattr(_errors, name), name


def test_an_error_over_32_kib_loses_its_trace_first_and_says_truncated_only_when_it_is() -> None:
    from durable_gen._failure import bounded_error
    from durable_gen._wire import MAX_ERROR_BYTES, ErrorObject

    long_trace = ErrorObject(
        error_type="ValueError", error_message="bad value", stack_trace=["frame " * 40] * 400
    )
    cut = bounded_error(long_trace)
    assert cut.stack_trace is None
    assert cut.error_message == "bad value"  # whole: no "[truncated ...]" note
    long_message = ErrorObject(error_type="ValueError", error_message="m" * 40_000)
    cut = bounded_error(long_message)
    assert cut.error_message is not None
    assert cut.error_message.startswith("m" * 4096)
    assert cut.error_message.endswith("[truncated to fit the 32 KiB error limit]")
    small = ErrorObject(error_type="E", error_message="short", stack_trace=["a", "b"])
    assert bounded_error(small) is small
    for err in (long_trace, long_message):
        assert len(msgspec.json.encode(bounded_error(err))) <= MAX_ERROR_BYTES


@pytest.mark.parametrize("char", ["\u00e9", "\u4e2d", "\U0001f600"])
def test_an_error_of_non_ascii_text_is_held_to_32_kib_as_the_service_counts_it(char: str) -> None:
    """The service (AWS's emulator) counts an error object as ``json.dumps`` writes it, with
    every non-ASCII character escaped (6 bytes, 12 beyond the BMP): 10,000 accented letters are
    20 KB of UTF-8 but 60 KB so counted, and a checkpoint carrying them is refused."""
    import json

    from durable_gen._failure import bounded_error, error_object
    from durable_gen._wire import MAX_ERROR_BYTES

    error = error_object(RuntimeError(char * 10_000))
    cut = bounded_error(error)
    assert len(json.dumps(msgspec.to_builtins(cut))) <= MAX_ERROR_BYTES
    assert cut.error_message is not None
    assert cut.error_message.startswith(char * 100)
    assert cut.error_message.endswith("[truncated to fit the 32 KiB error limit]")
    fits = error_object(RuntimeError(char * 2_000))
    assert len(json.dumps(msgspec.to_builtins(fits))) <= MAX_ERROR_BYTES
    assert bounded_error(fits).error_message == char * 2_000


def test_a_step_failing_with_a_long_non_ascii_message_is_recorded_and_caught() -> None:
    def boom() -> str:
        raise RuntimeError("\u00e9" * 10_000)

    @dg.workflow
    def wf(_: None) -> dg.Workflow[object]:
        try:
            yield dg.Step(boom, retry=dg.Retry.never(), name="boom")
        except dg.StepFailedError as exc:
            return [exc.error_type, exc.error_message.endswith("error limit]")]
        return None

    assert dg.run(wf) == ["RuntimeError", True]


class _Unprintable(Exception):
    """An exception whose ``__str__`` itself raises."""

    def __str__(self) -> str:
        raise RuntimeError("__str__ is broken")


def _unprintable() -> None:
    raise _Unprintable()


@dg.workflow
def _catches_an_unprintable_step_failure(_: None):  # type: ignore[no-untyped-def]
    try:
        yield dg.Step(_unprintable, name="flaky", retry=dg.Retry(max_attempts=2, initial_delay=1))
    except dg.StepFailedError as exc:
        return [exc.error_type, exc.error_message]
    return "not raised"


@dg.workflow
def _raises_an_unprintable(_: None):  # type: ignore[no-untyped-def]
    yield dg.Step(lambda: 1, name="one")
    raise _Unprintable()


def test_a_step_exception_whose_str_raises_is_still_the_step_failure() -> None:
    """Its retry policy runs and the workflow catches it; the message says what Python's
    traceback says. Before, the broken ``__str__`` failed the execution instead."""
    assert dg.run(_catches_an_unprintable_step_failure, None, skip_time=True) == [
        "_Unprintable",
        "<exception str() failed>",
    ]


def test_a_workflow_exception_whose_str_raises_fails_the_execution_under_its_type() -> None:
    with pytest.raises(dg.ExecutionFailedError) as caught:
        dg.run(_raises_an_unprintable, None)
    assert caught.value.error_type == "_Unprintable"
    assert caught.value.error_message == "<exception str() failed>"


def _raise_huge() -> None:
    raise ValueError("v" * 2_000_000)


@dg.workflow
def _huge_step_failure(_: None):  # type: ignore[no-untyped-def]
    try:
        yield dg.Step(_raise_huge, name="huge", retry=dg.Retry(max_attempts=1))
    except dg.StepFailedError as exc:
        return len(exc.error_message or "")
    return -1


def test_a_failed_attempt_logs_at_most_the_message_its_error_keeps(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The attempt's log line carries the first 4,096 characters of a long message (what the
    recorded error keeps of it), not the whole message on every attempt."""
    with caplog.at_level(logging.WARNING, logger="durable_gen.steps"):
        kept = dg.run(_huge_step_failure, None)
    (record,) = [r for r in caplog.records if r.name == "durable_gen.steps"]
    line = record.getMessage()
    assert "v" * 4096 in line and "v" * 4097 not in line
    assert "[truncated: 2000000 characters]" in line
    assert len(line) < 5_000
    assert kept <= 4096 + 100


def test_an_exception_message_holding_a_lone_surrogate_is_recorded_with_its_escape(
    tmp_path: Any,
) -> None:
    """Text decoded with errors='surrogateescape' (a file name, a subprocess's output) can
    hold lone surrogates, which no JSON store carries: the recorded message writes them as
    escapes, instead of the checkpoint of the failure crashing the invocation."""
    from durable_gen.local import LocalService, SqliteStore, register_function

    def boom() -> str:
        raise RuntimeError("bad \ud800 name")

    def declined() -> str:
        raise dg.StepFailedError("no \udcff", error_type="Declined", error_data='"\udcff"')

    @dg.workflow
    def wf(_: None) -> dg.Workflow[object]:
        out: list[object] = []
        for fn in (boom, declined):
            try:
                yield dg.Step(fn, retry=dg.Retry.never())
            except dg.StepFailedError as exc:
                out.append([exc.error_type, exc.error_message, exc.error_data])
        return out

    expected = [
        ["RuntimeError", "bad \\ud800 name", None],
        ["Declined", "no \\udcff", '"\\udcff"'],
    ]
    assert dg.run(wf) == expected
    engine = LocalService(store=SqliteStore(str(tmp_path / "x.db")))
    register_function(engine, "wf", wf)
    arn = engine.start("wf", None)
    engine.run_until_idle()
    record = engine.get_execution(arn)
    assert record.status == "SUCCEEDED", record.error
    assert json.loads(record.result or "") == expected


@pytest.mark.parametrize(
    ("value", "said"),
    [(7, "an int"), ([1], "a list"), ("x", "a str"), (object(), "an object"), (None, "a NoneType")],
)
def test_a_value_s_kind_takes_the_article_its_name_wants(value: object, said: str) -> None:
    from durable_gen._errors import a_kind

    assert a_kind(value) == said

