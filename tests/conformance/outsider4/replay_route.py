"""Each requirement's history read back by the replay tools (docs/testing.md).

The requirement runs on a fresh engine as ``run_embedded`` runs it; then:

- ``operations_from_events(get_history(arn))`` must equal ``get_operations(arn)``, as "Rebuilt
  from events, the operations equal what GetDurableExecutionState returns" says;
- ``replay(handler, {"Events": ...})`` must be ``ok`` and end as the execution did (the recipe
  of docs/testing.md): the same result as JSON when it succeeded, a failure when it failed
  (whose error type ``replay`` compares itself: under AWS's name in ``payload_format="aws"``).

It runs in both payload formats.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Literal

import msgspec

import durable_gen as dg
from durable_gen.local import LocalService, VirtualClock
from durable_gen.local._run import register_function
from durable_gen.testing import load_history, operations_from_events, replay

from ..matching import generate_variables, parse_callback_actions, substitute
from ..runner import FUNCTION_NAME, _drive, captured_logs
from ..suite import Requirement


def check_replay(
    req: Requirement,
    workflow: Callable[..., Any],
    functions: dict[str, Any],
    reset: Callable[[], None],
    *,
    checkpointing: dg.CheckpointMode = "step",
    plugins: Callable[[], list[dg.Plugin]] = list,
    payload_format: Literal["json", "aws"] = "json",
) -> list[str]:
    """What the replay tools get wrong about ``req``'s history; empty when nothing."""
    variables = generate_variables(req.variables)
    clock = VirtualClock(auto_advance=False)
    engine = LocalService(clock=clock)
    engine.register(
        FUNCTION_NAME,
        dg.make_handler(
            workflow,
            engine,
            checkpointing=checkpointing,
            plugins=plugins(),
            payload_format=payload_format,
        ),
    )
    for name, fn in functions.items():
        register_function(engine, name, fn, payload_format=payload_format)
    reset()
    with captured_logs():
        arn = engine.start(FUNCTION_NAME, json.dumps(substitute(req.input, variables)))
        _drive(engine, clock, arn, parse_callback_actions(req.callback_actions, variables), {})
    problems: list[str] = []
    state = {op.id: msgspec.to_builtins(op) for op in engine.get_operations(arn)}
    events = [msgspec.to_builtins(event) for event in engine.get_history(arn)]
    rebuilt = {op.id: msgspec.to_builtins(op) for op in operations_from_events(events)}
    if rebuilt != state:
        differing = sorted(
            k for k in state.keys() | rebuilt.keys() if state.get(k) != rebuilt.get(k)
        )
        problems.append(f"operations rebuilt from events differ from the state: {differing}")
    source = {"Events": events}
    reset()
    with captured_logs():
        report = replay(workflow, source)
    recorded = load_history(source)
    if not report.ok:
        problems.append(f"replay: {report.status}: {report.message}")
    elif recorded.status == "SUCCEEDED":
        assert recorded.result is not None
        replayed = json.loads(dg.JsonSerdes().serialize(report.result))
        if report.outcome != "succeeded" or replayed != json.loads(recorded.result):
            problems.append(f"replay: {report.outcome} {replayed!r}, recorded {recorded.result}")
    elif recorded.status == "FAILED" and report.outcome != "failed":
        problems.append(f"replay: {report.outcome}, recorded {recorded.error}")
    return problems
