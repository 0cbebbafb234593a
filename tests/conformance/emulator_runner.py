"""Run conformance requirements through AWS's emulator (``dex-local-runner``).

The handlers are the same workflows as on the embedded engine, wrapped with
``durable_gen.aws.lambda_handler`` and served by the Lambda endpoint of
``tests/integration/aws/emulator.py``; every checkpoint is boto3 traffic to the emulator. The
emulator runs in real time (waits, retry delays, callback timeouts and action delays all take
the time they say), so a full run takes minutes: it is opt-in
(``DURABLE_GEN_CONFORMANCE_EMULATOR=1``).

Driving follows AWS's published polling validator: poll the history, answer each new
``CallbackStarted`` event with the first unused matching action after sleeping its ``Delay``,
stop when the execution ends (or, without an expected result, once the expected events match),
or when nothing new happened for ``NO_PROGRESS_SECONDS``.
"""

from __future__ import annotations

import dataclasses
import json
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Final

from durable_gen.aws import lambda_handler
from tests.integration.aws.emulator import (
    TERMINAL_STATUSES,
    CrashInvocation,
    Emulator,
    LambdaEndpoint,
)

from . import handlers
from .matching import (
    callback_name_matches,
    generate_variables,
    match_history,
    match_result,
    parse_callback_actions,
    substitute,
)
from .runner import EMULATOR_ENV_VAR as ENV_VAR
from .runner import FUNCTION_NAME, Result, captured_logs, check_logs, check_published
from .suite import Requirement

__all__ = [
    "ENV_VAR",
    "GAP_NAMES",
    "EmulatorSession",
    "emulator_session",
    "explain",
    "match_emulated_history",
    "run_emulator",
    "without_crash_completion",
]

POLL_SECONDS: Final = 0.05
NO_PROGRESS_SECONDS: Final = 12.0
MAX_SECONDS: Final = 60.0


#: How a missing field reads in ``match_history``'s messages and in AWS's history matcher's.
_MISSING: Final = "(?:missing|key missing in actual event)"

#: Mismatches the emulator (aws-durable-execution-sdk-python-testing 1.4.0) causes whatever the
#: SDK does: (code, pattern of a matcher message, the gap, suites the pattern applies to).
GAPS: Final[tuple[tuple[str, re.Pattern[str], str, frozenset[str] | None], ...]] = (
    (
        "A",
        re.compile(rf"\.InvocationCompletedDetails: {_MISSING}$"),
        "drops InvocationCompletedDetails",
        None,
    ),
    (
        "B",
        re.compile(rf"StepSucceededDetails\.RetryDetails: {_MISSING}$"),
        "writes no RetryDetails on StepSucceeded",
        None,
    ),
    (
        "C",
        re.compile(rf"CallbackStartedDetails\.(Timeout|HeartbeatTimeout): {_MISSING}$"),
        "writes no Timeout/HeartbeatTimeout in CallbackStarted",
        None,
    ),
    (
        "D",
        re.compile(rf"\.StepSucceededDetails\.Result(\.Payload)?: {_MISSING}$"),
        "drops the state payload of a wait-for-condition polling event",
        frozenset({"wait_for_condition"}),
    ),
    (
        "E",
        re.compile(rf"ChainedInvokeStartedDetails\.ExecutedVersion: {_MISSING}$"),
        "writes no ExecutedVersion in ChainedInvokeStarted",
        None,
    ),
    (
        "F",
        re.compile(rf"ChainedInvokeStartedDetails\.TenantId: {_MISSING}$"),
        "omits TenantId in ChainedInvokeStarted",
        None,
    ),
)
CRASH_GAP: Final = ("G", "writes no InvocationCompleted for a crashed invocation (EventIds shift)")
#: Gap code -> description, for reports.
GAP_NAMES: Final = {code: name for code, _, name, _ in GAPS} | {CRASH_GAP[0]: CRASH_GAP[1]}
#: The mismatch ``run_emulator`` reports (once) for gap G, instead of the shifted events.
_CRASH_GAP_ERROR: Final = "EventId={}: no InvocationCompleted for the crashed invocation (gap G)"
_CRASH_GAP_PATTERN: Final = re.compile(r"^EventId=\d+: no InvocationCompleted for the crashed")


def without_crash_completion(req: Requirement, events: list[dict[str, Any]]) -> Requirement | None:
    """``req`` as the emulator's history of it reads when gap G shows, or None when it does not.

    For a requirement whose invocation crashes, when the actual event at the crashed
    invocation's ``InvocationCompleted`` is something else, the expectation without that event
    and with every later ``EventId`` one lower: what the history must then match, so that a
    mismatch after the crash is still found rather than put down to the shift.
    """
    crash_at = _crash_event_id(req)
    if crash_at is None:
        return None
    actual = next((e for e in events if e.get("EventId") == crash_at), None)
    if actual is not None and actual.get("EventType") == "InvocationCompleted":
        return None
    shifted = []
    for event in req.expected_history:
        event_id = int(event["EventId"])
        if event_id == crash_at:
            continue
        shifted.append({**event, "EventId": event_id - 1} if event_id > crash_at else dict(event))
    data = {**req.data, "ExpectedExecutionHistory": shifted}
    return dataclasses.replace(req, data=data)


def match_emulated_history(
    req: Requirement, events: list[dict[str, Any]], variables: dict[str, Any]
) -> tuple[Requirement, list[str]]:
    """``match_history`` of the emulator's ``events``, gap G told apart from the rest.

    Returns the requirement the history was matched against (``without_crash_completion``'s
    when gap G shows, which the other checks must use too) and the mismatches: gap G's once,
    then what the shifted expectation still finds.
    """
    shifted = without_crash_completion(req, events)
    errors: list[str] = []
    if shifted is not None:
        errors.append(_CRASH_GAP_ERROR.format(_crash_event_id(req)))
        req = shifted
    return req, errors + match_history(req.expected_history, events, variables)


def _crash_event_id(req: Requirement) -> int | None:
    """The EventId of the crashed invocation's ``InvocationCompleted`` (crash requirements)."""
    if "Runtime.ExitError" not in req.invocations + req.handler:
        return None
    return min(
        (
            int(event["EventId"])
            for event in req.expected_history
            if event.get("EventType") == "InvocationCompleted"
        ),
        default=None,
    )


#: The EventId a mismatch is about, in ``match_history``'s wording or AWS's history matcher's.
_EVENT_ID: Final = re.compile(r"^(?:EventId=(\d+)\b|AWS's history matcher: Event\[EventId=(\d+)\])")


def _event_id(error: str) -> int | None:
    found = _EVENT_ID.match(error)
    return next((int(g) for g in found.groups() if g is not None), None) if found else None


def _is_polling_event(req: Requirement, event_id: int | None) -> bool:
    """Whether the expected event ``event_id`` is a wait-for-condition check that polls again:
    a ``StepSucceeded`` followed by another ``StepStarted`` of the same operation."""
    history = list(req.expected_history)
    at = next((i for i, e in enumerate(history) if e.get("EventId") == event_id), None)
    if at is None or history[at].get("EventType") != "StepSucceeded":
        return False
    return any(
        e.get("EventType") == "StepStarted" and e.get("Id") == history[at].get("Id")
        for e in history[at + 1 :]
    )


def explain(req: Requirement, errors: list[str]) -> tuple[list[str], list[str]]:
    """Split matcher errors into known emulator gaps (their codes, once each) and the rest."""
    gaps: list[str] = []
    rest: list[str] = []
    for error in errors:
        gap = next(
            (
                code
                for code, pattern, _, suites in GAPS
                if (suites is None or req.suite in suites) and pattern.search(error)
            ),
            None,
        )
        if gap == "D" and not _is_polling_event(req, _event_id(error)):
            gap = None  # a terminal check keeps its state on the emulator too
        if gap is None and _CRASH_GAP_PATTERN.match(error):
            gap = CRASH_GAP[0]
        if gap is None:
            rest.append(error)
        elif gap not in gaps:
            gaps.append(gap)
    return gaps, rest


class EmulatorSession:
    """One emulator process and the Lambda endpoint it invokes, for many requirements."""

    def __init__(
        self,
        emulator: Emulator,
        endpoint: LambdaEndpoint,
        functions: dict[str, Callable[..., Any]] | None = None,
    ) -> None:
        self.emulator = emulator
        self.endpoint = endpoint
        self.runs = 0
        for name, fn in (functions if functions is not None else handlers.functions()).items():
            endpoint.register(name, _crash_aware(lambda_handler(fn, client=emulator.client)))


@contextmanager
def emulator_session(
    *, skip_time: bool = False, functions: dict[str, Callable[..., Any]] | None = None
) -> Iterator[EmulatorSession]:
    """Start the endpoint and the emulator, with the invoke targets configured.

    The targets are ours (``handlers.functions()``) and ``functions`` (the outsider handlers'
    targets, say). Real time by default: with ``--skip-time`` a timer can fire before the
    invocation that started it has ended, which moves ``InvocationCompleted`` events and fails
    requirements for a reason that is neither the SDK's nor the service's.
    """
    every = handlers.functions() | (functions or {})
    targets = {name: {"DurableConfig": {"ExecutionTimeout": 300}} for name in every}
    with LambdaEndpoint() as endpoint:
        emulator = Emulator(
            endpoint.url,
            skip_time=skip_time,
            function_configs=targets,
            retry_backoff_seconds=0.2,
        )
        with emulator.launch():
            yield EmulatorSession(emulator, endpoint, every)


def _crash_aware(handler: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """A crash (``SystemExit``) becomes the endpoint's crashed-runtime answer."""

    def serve(event: Any, context: Any) -> Any:
        try:
            return handler(event, context)
        except SystemExit as exc:
            raise CrashInvocation() from exc

    return serve


def run_emulator(
    req: Requirement,
    session: EmulatorSession,
    function: Callable[[Any, Any], Any] | None = None,
) -> Result:
    """Run ``req`` through the emulator; ``skipped`` when its handler is not written.

    ``function`` replaces durable_gen's handler with any Lambda handler (AWS's SDK's, to see what
    the emulator does with it).
    """
    emu = session.emulator
    if function is None:
        handler = handlers.handler_for(req.suite, req.key)
        if handler is None:
            return Result("skipped", ["handler not written"])
        function = lambda_handler(
            handler.workflow,
            client=emu.client,
            checkpointing=handler.checkpointing,
            plugins=handler.plugins(),
        )
    began = time.perf_counter()
    handlers.reset()
    session.runs += 1
    name = f"{FUNCTION_NAME}-{session.runs}"
    session.endpoint.register(name, _crash_aware(function))
    variables = generate_variables(req.variables)
    actions = parse_callback_actions(req.callback_actions, variables)
    errors: list[str] = []
    settled: set[str] = set()
    used: set[int] = set()
    with captured_logs() as messages:
        arn = emu.start(name, raw_input=json.dumps(substitute(req.input, variables)))
        events: list[dict[str, Any]] = []
        last_change = time.monotonic()
        deadline = last_change + MAX_SECONDS
        while True:
            time.sleep(POLL_SECONDS)
            current = emu.history(arn)
            if len(current) != len(events):
                last_change = time.monotonic()
            events = current
            status = emu.describe(arn).get("Status")
            if status in TERMINAL_STATUSES:
                break
            now = time.monotonic()
            if now - last_change > NO_PROGRESS_SECONDS or now > deadline:
                if req.expected_result:
                    errors.append(f"the execution is still {status} with no progress")
                break
            for event in events:
                if event["EventType"] != "CallbackStarted":
                    continue
                callback_id = event.get("CallbackStartedDetails", {}).get("CallbackId", "")
                if callback_id in settled:
                    continue
                index = next(
                    (
                        i
                        for i, action in enumerate(actions)
                        if i not in used
                        and callback_name_matches(
                            action.callback_name, event.get("Name"), variables
                        )
                    ),
                    None,
                )
                if index is None:
                    settled.add(callback_id)
                    if actions:
                        errors.append(f"no CallbackAction matches callback {event.get('Name')!r}")
                    continue
                used.add(index)
                action = actions[index]
                if action.operation != "heartbeat":
                    settled.add(callback_id)
                time.sleep(action.delay_seconds)
                try:
                    _send(emu, callback_id, action)
                except Exception as exc:  # the published runner records a failed send
                    errors.append(f"sending {action.operation} failed: {exc}")
            if not req.expected_result:
                # history-only requirement: done once the expected events are there (known
                # emulator gaps aside)
                expected = without_crash_completion(req, events) or req
                _, rest = explain(
                    req, match_history(expected.expected_history, events, dict(variables))
                )
                if not rest:
                    break
        session.emulator.stop_unfinished()
    events = emu.history(arn)
    info = emu.describe(arn)
    generated = dict(variables)
    req, matched = match_emulated_history(req, events, variables)
    errors += matched
    errors += match_result(
        req.expected_result, info.get("Status"), info.get("Result"), info.get("Error"), variables
    )
    errors += check_logs(req, messages, arn, variables)
    errors += check_published(req, events, info.get("Status"), info.get("Result"), generated)
    return Result(
        "failed" if errors else "passed",
        errors,
        time.perf_counter() - began,
        events,
        info.get("Status"),
    )


def _send(emu: Emulator, callback_id: str, action: Any) -> None:
    client = emu.client
    if action.operation == "success":
        kwargs: dict[str, Any] = {"CallbackId": callback_id}
        result = action.success_result()
        if result is not None:
            kwargs["Result"] = result
        client.send_durable_execution_callback_success(**kwargs)
    elif action.operation == "failure":
        kwargs = {"CallbackId": callback_id}
        error = action.failure_error()
        if error is not None:
            kwargs["Error"] = error
        client.send_durable_execution_callback_failure(**kwargs)
    else:
        client.send_durable_execution_callback_heartbeat(CallbackId=callback_id)
