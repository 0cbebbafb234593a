"""Run a requirement through ``durable_gen.testing.TestRunner`` instead of the engine runner.

Written from docs/testing.md: a ``TestRunner(skip_time=False)`` whose clock moves only with
``advance(seconds)`` / ``advance_to_next_timer()``; callbacks answered by id with the runner's
``send_callback_*``; the history read with ``DurableRun.history()``. The verdict is the same
as ``run_embedded``'s: our matchers and AWS's published validators on the same history, final
state and log lines.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

import durable_gen as dg
from durable_gen.testing import TestRunner

from ..matching import (
    CallbackAction,
    callback_name_matches,
    generate_variables,
    match_history,
    match_result,
    parse_callback_actions,
    substitute,
)
from ..runner import Result, captured_logs, check_logs, check_published
from ..suite import Requirement

MAX_ROUNDS = 10_000


def run_with_test_runner(
    req: Requirement,
    workflow: Callable[..., Any],
    functions: dict[str, Any],
    *,
    checkpointing: dg.CheckpointMode = "step",
    plugins: Callable[[], list[dg.Plugin]] = list,
) -> Result:
    variables = generate_variables(req.variables)
    generated = dict(variables)
    runner = TestRunner(
        skip_time=False, functions=functions, checkpointing=checkpointing, plugins=plugins()
    )
    actions = parse_callback_actions(req.callback_actions, variables)
    errors: list[str] = []
    with captured_logs() as lines:
        run = runner.start(workflow, substitute(req.input, variables))
        runner.run_until_idle()
        _drive(runner, run, actions, variables, errors)
    history = [msgspec.to_builtins(event) for event in run.history()]
    record = run.record
    errors += match_history(req.expected_history, history, variables)
    error = msgspec.to_builtins(record.error) if record.error is not None else None
    errors += match_result(req.expected_result, record.status, record.result, error, variables)
    errors += check_logs(req, lines, run.arn, variables)
    errors += check_published(req, history, record.status, record.result, generated)
    return Result("failed" if errors else "passed", errors, 0.0, history, record.status)


def _drive(
    runner: TestRunner,
    run: Any,
    actions: list[CallbackAction],
    variables: dict[str, Any],
    errors: list[str],
) -> None:
    settled: set[str] = set()
    used: set[int] = set()
    for _ in range(MAX_ROUNDS):
        if run.done:
            return
        fresh = [
            e
            for e in run.history()
            if e.event_type == "CallbackStarted"
            and (e.callback_started_details or {}).get("CallbackId") not in settled
        ]
        if fresh:
            for event in fresh:
                callback_id = event.callback_started_details["CallbackId"]
                index = next(
                    (
                        i
                        for i, a in enumerate(actions)
                        if i not in used
                        and callback_name_matches(a.callback_name, event.name, variables)
                    ),
                    None,
                )
                if index is None:
                    settled.add(callback_id)
                    continue
                used.add(index)
                action = actions[index]
                if action.operation != "heartbeat":
                    settled.add(callback_id)
                if action.delay_seconds > 0:
                    runner.advance(action.delay_seconds)
                if action.operation == "success":
                    raw = action.success_result()  # the sender's JSON text, sent as is
                    if raw is None:
                        runner.send_callback_success(callback_id)
                    else:
                        runner.send_callback_success(callback_id, payload=raw.decode())
                elif action.operation == "failure":
                    failure = action.failure_error() or {}
                    runner.send_callback_failure(
                        callback_id, failure.get("ErrorType"), failure.get("ErrorMessage")
                    )
                else:
                    runner.send_callback_heartbeat(callback_id)
                runner.run_until_idle()
            continue
        if not runner.advance_to_next_timer():
            return
        runner.run_until_idle()
    errors.append(f"the execution did not settle after {MAX_ROUNDS} rounds")
