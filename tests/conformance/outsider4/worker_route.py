"""Run a requirement through a SQLite ``Worker`` (``durable_gen.local.Worker``), as a fleet does.

Written from docs/cli.md and docs/engine.md: the workflow is registered with the worker (by
its import path), the execution started through ``worker.service`` with the requirement's
input, and ``worker.drive(arn)`` runs it with ``skip_time=True`` until it ends. Only the
requirements without ``CallbackActions`` run this way: under skip_time a wait ends at once,
so an answer sent "during a wait" would land at another point of the history than the
requirement's real-time schedule puts it. The verdict is ``run_embedded``'s: our matchers and
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

from ..matching import generate_variables, match_history, match_result, substitute
from ..runner import Result, captured_logs, check_logs, check_published
from ..suite import Requirement


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
        record = worker.service.get_execution(arn)
        history = [msgspec.to_builtins(event) for event in worker.service.get_history(arn)]
    errors = match_history(req.expected_history, history, variables)
    error = msgspec.to_builtins(record.error) if record.error is not None else None
    errors += match_result(req.expected_result, record.status, record.result, error, variables)
    errors += check_logs(req, lines, arn, variables)
    errors += check_published(req, history, record.status, record.result, generated)
    return Result("failed" if errors else "passed", errors, 0.0, history, record.status)
