"""Run a requirement through a SQLite ``Worker`` (``durable_gen.local.Worker``), as a fleet does.

Written from docs/cli.md and docs/engine.md: the workflow is registered with the worker (by
its import path), the execution started through ``worker.service`` with the requirement's
input, and ``worker.drive(arn)`` runs it with ``skip_time=True`` until it ends or waits for a
callback, which is then answered through ``worker.service`` (``send_callback_*``) and driven again.
Under skip_time every timer passes at once, callback timeouts included (docs/cli.md), so the
requirements in ``SKIPPED`` cannot run this way. The verdict is ``run_embedded``'s: our matchers and
AWS's published validators on the same history, final state and log lines.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

import durable_gen as dg
from durable_gen.local import Worker
from durable_gen.runtime import ErrorObject

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

#: Requirements whose schedule needs time to pass between the callback's answers.
SKIPPED = {
    "4-5": "the heartbeat timeout passes before the success is sent (skip_time)",
    "7-13": "the heartbeat timeout passes before the success is sent (skip_time)",
    "4-9": "the answer is sent during a wait, which ends at once under skip_time",
    "4-10": "the answer is sent during a wait, which ends at once under skip_time",
}


def run_with_worker(
    req: Requirement,
    workflow: Callable[..., Any],
    functions: dict[str, Any],
    db: Path,
    *,
    checkpointing: dg.CheckpointMode = "step",
    plugins: Callable[[], list[dg.Plugin]] = list,
) -> Result:
    variables = generate_variables(req.variables)
    generated = dict(variables)
    reported: list[str] = []
    with (
        captured_logs() as lines,
        Worker(
            db,
            functions=functions,
            skip_time=True,
            synchronous="NORMAL",
            checkpointing=checkpointing,
            plugins=plugins(),
            log=reported.append,
        ) as worker,
    ):
        name = worker.register(workflow)
        arn = worker.service.start(name, json.dumps(substitute(req.input, variables)))
        worker.drive(arn)
        _answer(worker, arn, parse_callback_actions(req.callback_actions, variables), variables)
        record = worker.service.get_execution(arn)
        history = [msgspec.to_builtins(event) for event in worker.service.get_history(arn)]
    errors = match_history(req.expected_history, history, variables)
    error = msgspec.to_builtins(record.error) if record.error is not None else None
    errors += match_result(req.expected_result, record.status, record.result, error, variables)
    errors += check_logs(req, lines, arn, variables)
    errors += check_published(req, history, record.status, record.result, generated)
    return Result("failed" if errors else "passed", errors, 0.0, history, record.status)


def _answer(
    worker: Worker, arn: str, actions: list[CallbackAction], variables: dict[str, Any]
) -> None:
    """Answer each new CallbackStarted with the first unused action selecting it, in order."""
    service = worker.service
    settled: set[str] = set()
    used: set[int] = set()
    while service.get_execution(arn).status == "RUNNING":
        fresh = [
            event
            for event in service.get_history(arn)
            if event.event_type == "CallbackStarted"
            and (event.callback_started_details or {}).get("CallbackId") not in settled
        ]
        if not fresh:
            return
        for event in fresh:
            callback_id = str((event.callback_started_details or {})["CallbackId"])
            index = next(
                (
                    i
                    for i, action in enumerate(actions)
                    if i not in used
                    and callback_name_matches(action.callback_name, event.name, variables)
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
            if action.operation == "success":
                raw = action.success_result()
                service.send_callback_success(callback_id, None if raw is None else raw.decode())
            elif action.operation == "failure":
                failure = action.failure_error()
                service.send_callback_failure(
                    callback_id, None if failure is None else msgspec.convert(failure, ErrorObject)
                )
            else:
                service.send_callback_heartbeat(callback_id)
            worker.drive(arn)


def run_fleet(
    reqs: list[Requirement],
    workflows: dict[str, Callable[..., Any]],
    functions: dict[str, Any],
    db: Path,
    *,
    checkpointing: dg.CheckpointMode = "step",
) -> dict[str, Result]:
    """Start an execution of every requirement in one database, then let one ``Worker``
    (``skip_time=True``) run them all together with ``run(once=True)``; judge each history."""
    started: dict[str, tuple[Requirement, str, dict[str, Any], dict[str, Any]]] = {}
    with (
        captured_logs() as lines,
        Worker(
            db,
            functions=functions,
            skip_time=True,
            synchronous="NORMAL",
            checkpointing=checkpointing,
            log=lambda line: None,
        ) as worker,
    ):
        for req in reqs:
            variables = generate_variables(req.variables)
            name = worker.register(workflows[req.key])
            payload = json.dumps(substitute(req.input, variables))
            arn = worker.service.start(name, payload)
            started[req.key] = (req, arn, variables, dict(variables))
        for _ in range(100):
            worker.run(once=True)
            if all(
                worker.service.get_execution(arn).status != "RUNNING"
                for _, arn, _, _ in started.values()
            ):
                break
        ended = {
            key: (
                worker.service.get_execution(arn),
                [msgspec.to_builtins(event) for event in worker.service.get_history(arn)],
            )
            for key, (_, arn, _, _) in started.items()
        }
    results: dict[str, Result] = {}
    for key, (req, arn, variables, generated) in started.items():
        record, history = ended[key]
        errors = match_history(req.expected_history, history, variables)
        error = msgspec.to_builtins(record.error) if record.error is not None else None
        errors += match_result(req.expected_result, record.status, record.result, error, variables)
        errors += check_logs(req, lines, arn, variables)
        errors += check_published(req, history, record.status, record.result, generated)
        results[key] = Result("failed" if errors else "passed", errors, 0.0, history, record.status)
    return results
