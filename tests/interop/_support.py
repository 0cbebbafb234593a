"""Judging a replay of an AWS-recorded fixture, the features it needs, and the counts.

A replay is *clean* when:

* a whole history (``<case>.history.json``): the replayer says ``ok``, and the workflow ends as
  the recorded execution did (SUCCEEDED with an equal result, FAILED with an error type that
  names the same failure, or still waiting);
* the final ``GetDurableExecutionState`` (``<case>.state.json``): the same, except that the
  state was read before the service recorded the outcome, so a FAILED execution must fail
  again as a prefix must (below);
* a prefix (the events cut after each event, and the state each invocation started from):
  the replayer says ``ok`` or ``incomplete`` (the code asks for work the history has not yet
  recorded), or the workflow raises the very failure the execution went on to record (the
  replayer calls that ``failed``: it cannot know the execution failed later).
"""

from __future__ import annotations

import json
from collections import Counter
from functools import cache
from pathlib import Path
from typing import Any

import durable_gen as dg
from durable_gen._failure import same_error_type
from durable_gen._wire import Operation
from durable_gen.testing import ReplayReport, replay

from .workflows import Case

FIXTURES = Path(__file__).parent / "fixtures"

#: Tallies for the session summary: kind -> Counter(clean=, total=).
COUNTS: dict[str, Counter[str]] = {
    "histories": Counter(),
    "states": Counter(),
    "prefixes": Counter(),
    "accepted by AWS's SDK": Counter(),
}


def fixture(case: str, kind: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{case}.{kind}.json").read_text())
    return data


def judge_final(
    report: ReplayReport, recorded: dict[str, Any], *, state: bool, case: Case
) -> str | None:
    """Why a whole-history replay is not clean, or None when it is."""
    status = recorded["Status"]
    if status == "SUCCEEDED":
        if report.status != "ok" or report.outcome != "succeeded":
            return f"expected it to return; {report}"
        expected = json.loads(recorded["Result"]) if recorded.get("Result") else None
        if case.differs is not None:  # by design: the workflow's own result is compared
            expected = case.result
        if report.result != expected:
            return f"returned {report.result!r}, the execution recorded {expected!r}"
        return None
    if status == "FAILED":
        if report.outcome != "failed":
            return f"expected it to fail; {report}"
        if not state:
            # an ``ok`` verdict means the replayer matched the recorded error type
            return None if report.status == "ok" else str(report)
        return judge_prefix(report, recorded)
    return None if report.status == "ok" else str(report)


def judge_prefix(report: ReplayReport, recorded: dict[str, Any]) -> str | None:
    """Why an in-flight replay is not clean, or None when it is."""
    if report.ok:
        return None
    failure = report.exception
    if (
        report.status == "failed"
        and recorded["Status"] == "FAILED"
        and failure is not None
        and not isinstance(failure, dg.InvalidInputError)
        and same_error_type((recorded.get("Error") or {}).get("ErrorType"), failure)
    ):
        return None
    return str(report)


def prefixes(case: str) -> list[tuple[str, Any]]:
    """Every in-flight shape of the case: its events cut after each event, and each
    invocation's initial operations."""
    history = fixture(case, "history")
    events = history["Events"]
    arn = history["DurableExecutionArn"]
    out: list[tuple[str, Any]] = [
        (f"events[:{n}]", {"DurableExecutionArn": arn, "Events": events[:n]})
        for n in range(1, len(events))
    ]
    state = fixture(case, "state")
    for i, ops in enumerate(state["InvocationStates"]):
        out.append((f"invocation {i + 1}", {"DurableExecutionArn": arn, "Operations": ops}))
    return out


# --- what durable_gen supports today (the xfail conditions) ------------------------------------


def _execution(payload: str = "{}") -> dict[str, Any]:
    return {
        "Id": "probe",
        "Type": "EXECUTION",
        "Status": "STARTED",
        "ExecutionDetails": {"InputPayload": payload},
    }


def _first_step(_event: Any):  # type: ignore[no-untyped-def]
    return (yield dg.Step(lambda: None, name="probe"))


@cache
def reads_aws_envelope() -> bool:
    """Whether replay decodes a step result written in AWS's typed envelope."""
    from durable_gen._ids import operation_id

    step = {
        "Id": operation_id(None, 1),
        "Type": "STEP",
        "SubType": "Step",
        "Name": "probe",
        "Status": "SUCCEEDED",
        "StepDetails": {"Result": '{"t":"m","v":{"a":{"t":"i","v":1}}}'},
    }
    report = replay(_first_step, {"Operations": [_execution(), step]})
    return report.outcome == "succeeded" and report.result == {"a": 1}


def _asks(workflow: Any) -> list[str]:
    return replay(workflow, {"Operations": [_execution()]}).next_commands


def _wait_for_callback(_event: Any):  # type: ignore[no-untyped-def]
    return (yield dg.WaitForCallback(lambda _id: None, name="x"))


def _check(state: int) -> int:
    return state + 1


def _wait_for_condition(_event: Any):  # type: ignore[no-untyped-def]
    return (yield dg.WaitForCondition(_check, 0, wait_strategy=lambda s, a: dg.WaitDecision.done()))


@cache
def names_inner_operations_as_aws() -> bool:
    """Whether ``WaitForCallback(name="x")`` records AWS's ``"x create callback id"``."""
    return any("name='x create callback id'" in c for c in _asks(_wait_for_callback))


@cache
def default_names_as_aws() -> bool:
    """Whether an undecorated ``WaitForCondition`` check gives no default name, as on AWS."""
    asked = _asks(_wait_for_condition)
    return bool(asked) and "name=" not in asked[0]


FEATURES = {
    "envelope": (
        reads_aws_envelope,
        "AWS's typed payload envelope is not decoded yet (issue 16, item 1)",
    ),
    "names": (
        names_inner_operations_as_aws,
        "WaitForCallback's inner callback and submitter are not named as AWS names them yet "
        "(issue 16, item 2)",
    ),
    "default_names": (
        default_names_as_aws,
        "default names are taken from any function, AWS takes them only from its decorated "
        "functions (issue 16, item 2)",
    ),
}


def missing(needs: tuple[str, ...]) -> list[str]:
    """The reasons of the features in ``needs`` that durable_gen lacks today."""
    return [FEATURES[n][1] for n in needs if not FEATURES[n][0]()]


def operations(data: dict[str, Any]) -> list[Operation]:
    from durable_gen.testing import load_history

    return load_history(data).operations
