"""Run one conformance requirement against the embedded engine and check it.

The published runner invokes a deployed function, polls ``GetDurableExecutionHistory`` and
answers ``CallbackStarted`` events with the requirement's ``CallbackActions`` (sleeping each
action's ``Delay`` first). Here the same happens on a ``LocalService`` whose ``VirtualClock``
moves only when told to:

1. Everything due now runs (``run_until_idle``): invocations, steps, fired timers.
2. Each new ``CallbackStarted`` event, in history order, gets the first unused action whose
   ``CallbackName`` selects it. Its ``Delay`` is spent by moving the clock forward timer by
   timer (timers due meanwhile fire first, in order), then the action is sent. A heartbeat
   leaves the callback open for a later action. With actions configured, a callback that no
   action selects is an error, as in the published runner.
3. When nothing is due and no callback is new, the clock jumps to the next timer. The run ends
   when the execution ends, or when nothing is left to happen (an execution waiting on a callback
   nobody answers; the requirements that do so expect no final result).

Then the history (``get_history`` as API dicts) is matched with ``match_history``, the final
state with ``match_result`` and the run's log and printed lines with ``check_logs``, sharing one
set of variable bindings, history first. Log records are rendered as Lambda renders them in its
JSON log format (the Lambda runtime's own formatter, from ``awslambdaric``); printed lines stay
as printed. ``check_logs`` keeps what AWS's runner would retrieve for the execution (its
CloudWatch filter: a JSON record whose top-level ``durableExecutionArn`` or ``executionArn`` is
the execution's ARN) and checks ``ExpectedLogs`` twice: with ``match_logs`` and with AWS's own
validator from the unpacked wheel.
A handler may come with plugins (the ``plugin`` suite): fresh instances are passed to
``make_handler`` for each requirement.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import io
import json
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import msgspec
from awslambdaric.lambda_runtime_log_utils import JsonFormatter

import durable_gen as dg
from durable_gen._wire import ErrorObject
from durable_gen.local import ExecutionStore, LocalService, VirtualClock
from durable_gen.local._run import register_function

from . import handlers
from .handlers import Handler
from .matching import (
    CallbackAction,
    callback_name_matches,
    generate_variables,
    in_execution_scope,
    match_history,
    match_logs,
    match_result,
    parse_callback_actions,
    substitute,
)
from .suite import PACKAGE_DIR, Requirement, ensure_unpacked

__all__ = [
    "EMULATOR_ENV_VAR",
    "FUNCTION_NAME",
    "Result",
    "captured_logs",
    "check_logs",
    "check_published",
    "published_log_checker",
    "run_embedded",
]

#: Set to 1 to run the requirements through AWS's emulator too (``emulator_runner.py``).
EMULATOR_ENV_VAR: Final = "DURABLE_GEN_CONFORMANCE_EMULATOR"
#: The name the handler under test is registered under.
FUNCTION_NAME: Final = "conformance-handler"
#: Guards against a run that never settles (a handler that loops forever on timers).
MAX_ROUNDS: Final = 10_000

Status = Literal["passed", "failed", "skipped"]


@dataclass
class Result:
    """The outcome of one requirement on one engine."""

    status: Status
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0
    history: list[dict[str, Any]] = field(default_factory=list)
    execution_status: str | None = None

    @property
    def reason(self) -> str:
        return "; ".join(self.errors)


def run_embedded(
    req: Requirement,
    handler: Handler | None = None,
    functions: dict[str, Any] | None = None,
    *,
    store: ExecutionStore | None = None,
    register: Callable[[LocalService, Handler], None] | None = None,
    page_size: int | None = None,
) -> Result:
    """Run ``req`` on a fresh embedded engine; ``skipped`` when its handler is not written.

    ``handler`` and ``functions`` (the ``Invoke`` targets) replace ours from ``handlers/``:
    the outsider handlers (``outsider/``) run through the same checks. ``store`` is the
    engine's store (a fresh ``MemoryStore`` when None; a new ``SqliteStore`` runs the
    requirement on SQLite). ``register(engine, handler)``, when given, registers the
    requirement's function (``FUNCTION_NAME``) again after ``make_handler``'s, through another
    host (``outsider5/``); ``page_size`` is the engine's (operations per page of state).
    """
    if handler is None:
        handler = handlers.handler_for(req.suite, req.key)
        if handler is None:
            return Result("skipped", ["handler not written"])
        functions = handlers.functions()
    began = time.perf_counter()
    handlers.reset()
    variables = generate_variables(req.variables)
    clock = VirtualClock(auto_advance=False)
    engine = LocalService(store=store, clock=clock, page_size=page_size)
    _register(engine, handler, functions or {})
    if register is not None:
        register(engine, handler)
    payload = json.dumps(substitute(req.input, variables))
    actions = parse_callback_actions(req.callback_actions, variables)
    with captured_logs() as messages:
        arn = engine.start(FUNCTION_NAME, payload)
        errors = _drive(engine, clock, arn, actions, variables)
    record = engine.get_execution(arn)
    history = [msgspec.to_builtins(event) for event in engine.get_history(arn)]
    generated = dict(variables)
    errors += match_history(req.expected_history, history, variables)
    error = msgspec.to_builtins(record.error) if record.error is not None else None
    errors += match_result(req.expected_result, record.status, record.result, error, variables)
    errors += check_logs(req, messages, arn, variables)
    errors += check_published(req, history, record.status, record.result, generated)
    return Result(
        "failed" if errors else "passed",
        errors,
        time.perf_counter() - began,
        history,
        record.status,
    )


class _Capture(logging.Handler):
    """Log records as Lambda writes them in its JSON log format."""

    def __init__(self, lines: list[str], lock: threading.Lock) -> None:
        super().__init__(logging.INFO)
        self.lines = lines
        self.guard = lock
        self.setFormatter(JsonFormatter())

    def emit(self, record: logging.LogRecord) -> None:
        line = self.format(record)
        with self.guard:
            self.lines.append(line)


def check_logs(
    req: Requirement, lines: list[str], execution_arn: str, variables: dict[str, Any]
) -> list[str]:
    """``req``'s ExpectedLogs against the lines AWS's runner would retrieve for the execution.

    Checked by ``match_logs`` and by AWS's published ``CloudWatchLogValidator``; an error from
    either fails the requirement.
    """
    if not req.expected_logs:
        return []
    scoped = in_execution_scope(lines, execution_arn)
    errors = match_logs(req.expected_logs, scoped, variables)
    cloudwatch, placeholders = published_log_checker()
    context = placeholders.PlaceholderContext()
    for name, value in variables.items():
        context.bind(name, value)
    # One line per millisecond, in the order emitted: no two records look concurrent.
    events = [
        {"message": line, "timestamp": i, "ingestionTime": i} for i, line in enumerate(scoped)
    ]
    theirs = cloudwatch.CloudWatchLogValidator().validate(req.expected_logs, events, context)
    errors += [f"AWS's log validator: {error}" for error in theirs.errors]
    return errors


class _Described:
    """What ``GetDurableExecution`` answered, for AWS's result validator (it asks a client)."""

    def __init__(self, status: str | None, result_json: str | None) -> None:
        self.answer: dict[str, Any] = {"Status": status}
        if result_json is not None:
            self.answer["Result"] = result_json

    def get_durable_execution(self, DurableExecutionArn: str) -> dict[str, Any]:
        return dict(self.answer)


def check_published(
    req: Requirement,
    events: list[dict[str, Any]],
    status: str | None,
    result_json: str | None,
    generated: dict[str, Any],
) -> list[str]:
    """``req``'s expected history and result checked by AWS's published validators too.

    Their ``EventHistoryMatcher`` and result validation (from the unpacked wheel) judge the same
    history and final state as ``match_history`` and ``match_result``, starting from the
    generated ``Variables`` only, so that a requirement passes only when both agree.
    """
    history, validate, placeholders = published_checkers()
    context = placeholders.PlaceholderContext()
    for name, value in generated.items():
        context.bind(name, value)
    errors: list[str] = []
    if req.expected_history:
        matched = history.EventHistoryMatcher(context=context).match(
            list(req.expected_history), events
        )
        errors += [f"AWS's history matcher: {error}" for error in matched.errors]
    if req.expected_result:
        theirs = validate._validate_execution_result(
            "arn", dict(req.expected_result), _Described(status, result_json), context
        )
        errors += [f"AWS's result validator: {error}" for error in theirs]
    return errors


@functools.cache
def published_checkers() -> tuple[Any, Any, Any]:
    """AWS's ``history``, ``validate`` and ``variables`` modules, from the unpacked wheel."""
    root = str(ensure_unpacked())
    sys.path.insert(0, root)
    try:
        return (
            importlib.import_module(f"{PACKAGE_DIR}.history"),
            importlib.import_module(f"{PACKAGE_DIR}.validate"),
            importlib.import_module(f"{PACKAGE_DIR}.variables"),
        )
    finally:
        sys.path.remove(root)


@functools.cache
def published_log_checker() -> tuple[Any, Any]:
    """AWS's ``cloudwatch`` and ``variables`` modules, from the unpacked conformance wheel."""
    root = str(ensure_unpacked())
    sys.path.insert(0, root)
    try:
        return (
            importlib.import_module(f"{PACKAGE_DIR}.cloudwatch"),
            importlib.import_module(f"{PACKAGE_DIR}.variables"),
        )
    finally:
        sys.path.remove(root)


class _Stdout(io.TextIOBase):
    """``sys.stdout`` during a run: each printed line joins the captured lines, in order."""

    def __init__(self, lines: list[str], lock: threading.Lock) -> None:
        self.lines = lines
        self.guard = lock
        self.partial = threading.local()

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        pending = getattr(self.partial, "text", "") + text
        *complete, self.partial.text = pending.split("\n")
        with self.guard:
            self.lines.extend(complete)
        return len(text)


@contextlib.contextmanager
def captured_logs() -> Iterator[list[str]]:
    """Every INFO-or-above log record and every printed line of the run, in the order emitted.

    On Lambda both end in the function's log stream: log records as JSON objects (Lambda's JSON
    log format: ``timestamp``, ``level``, ``message``, ``logger``, ... and the record's extra
    fields), printed lines as printed (the plugin requirements print JSON records).
    """
    lines: list[str] = []
    lock = threading.Lock()
    root = logging.getLogger()
    capture = _Capture(lines, lock)
    level = root.level
    root.addHandler(capture)
    root.setLevel(min(level, logging.INFO) if level else logging.INFO)
    try:
        with contextlib.redirect_stdout(_Stdout(lines, lock)):
            yield lines
    finally:
        root.removeHandler(capture)
        root.setLevel(level)


def _register(engine: LocalService, handler: Handler, functions: dict[str, Any]) -> None:
    engine.register(
        FUNCTION_NAME,
        dg.make_handler(
            handler.workflow,
            engine,
            checkpointing=handler.checkpointing,
            plugins=handler.plugins(),
        ),
    )
    for name, fn in functions.items():
        register_function(engine, name, fn)


def _drive(
    engine: LocalService,
    clock: VirtualClock,
    arn: str,
    actions: list[CallbackAction],
    variables: dict[str, Any],
) -> list[str]:
    errors: list[str] = []
    settled: set[str] = set()
    used: set[int] = set()
    for _ in range(MAX_ROUNDS):
        engine.run_until_idle()
        if engine.get_execution(arn).status != "RUNNING":
            return errors
        fresh = [
            event
            for event in engine.get_history(arn)
            if event.event_type == "CallbackStarted" and _callback_id(event) not in settled
        ]
        if fresh:
            for event in fresh:
                _answer(engine, clock, event, actions, used, settled, variables, errors)
            continue
        task = engine.store.next_task()
        if task is None:
            return errors  # only the outside could move it on
        clock.advance_to(task.due_ms)
    errors.append(f"the execution did not settle after {MAX_ROUNDS} rounds")
    return errors


def _callback_id(event: Any) -> str:
    details = event.callback_started_details or {}
    return str(details.get("CallbackId", ""))


def _answer(
    engine: LocalService,
    clock: VirtualClock,
    event: Any,
    actions: list[CallbackAction],
    used: set[int],
    settled: set[str],
    variables: dict[str, Any],
    errors: list[str],
) -> None:
    callback_id = _callback_id(event)
    index = next(
        (
            i
            for i, action in enumerate(actions)
            if i not in used and callback_name_matches(action.callback_name, event.name, variables)
        ),
        None,
    )
    if index is None:
        settled.add(callback_id)
        if actions:
            errors.append(
                f"no CallbackAction matches callback {event.name or '<anonymous>'!r} "
                f"(id={callback_id})"
            )
        return
    used.add(index)
    action = actions[index]
    if action.operation != "heartbeat":
        settled.add(callback_id)
    if action.delay_seconds > 0:
        _sleep(engine, clock, action.delay_seconds)
    try:
        if action.operation == "success":
            result = action.success_result()
            engine.send_callback_success(callback_id, None if result is None else result.decode())
        elif action.operation == "failure":
            failure = action.failure_error()
            engine.send_callback_failure(
                callback_id, None if failure is None else msgspec.convert(failure, ErrorObject)
            )
        else:
            engine.send_callback_heartbeat(callback_id)
    except dg.DurableGenError as exc:
        errors.append(f"sending {action.operation} to callback {callback_id} failed: {exc}")
    engine.run_until_idle()


def _sleep(engine: LocalService, clock: VirtualClock, seconds: float) -> None:
    """Let ``seconds`` of virtual time pass, firing the timers due meanwhile in order."""
    target = clock.now_ms() + round(seconds * 1000)
    while (task := engine.store.next_task()) is not None and task.due_ms <= target:
        clock.advance_to(task.due_ms)
        engine.run_until_idle()
    clock.advance_to(target)
