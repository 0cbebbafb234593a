"""A failed ``WaitForCallback`` raises what failed inside it, with the type recorded there, in
both payload formats, on the first run and on every replay (guide: "CallbackFailedError carries
what the sender sent"; migration.md: "error_type is the type recorded on the callback").

Under ``payload_format="aws"`` the WaitForCallback context itself is recorded under AWS's
exception path (``...exceptions.CallbackExternalError``), as AWS's SDK records it; the
workflow read that path as ``error_type``, so the sender's type (``Rejected``) was lost, and
a heartbeat timeout could not be told from the overall timeout, a result that did not fit
``result_type=`` read ``...SerDesError`` for ``SerializationError``. An execution AWS's SDK
recorded reads the callback's type the same way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import durable_gen as dg
from durable_gen.testing import TestRunner, load_history, replay

FIXTURES = Path(__file__).resolve().parents[1] / "interop" / "fixtures"


class Unreachable(Exception):
    pass


def submit(callback_id: str) -> None:
    pass


@dataclass
class Approval:
    approved: bool


@dg.step(retry=dg.Retry.never())
def submit_fails(callback_id: str) -> None:
    raise Unreachable("mail server down")


CASES: dict[str, tuple[Any, dict[str, Any], str]] = {
    # submitter, options, what happens to the callback
    "sender-failure": (submit, {}, "fail"),
    "overall-timeout": (submit, {"timeout": 60}, "timeout"),
    "heartbeat-timeout": (submit, {"timeout": 600, "heartbeat_timeout": 30}, "timeout"),
    "submitter-failure": (submit_fails, {}, "none"),
    "unreadable-result": (submit, {"result_type": Approval}, "misfit"),
}
EXPECTED: dict[str, dict[str, tuple[str, str]]] = {
    "json": {
        "sender-failure": ("CallbackFailedError", "Rejected"),
        "overall-timeout": ("CallbackTimeoutError", "Callback.Timeout"),
        "heartbeat-timeout": ("CallbackTimeoutError", "Callback.Heartbeat"),
        "submitter-failure": ("CallbackFailedError", "Unreachable"),
        "unreadable-result": ("CallbackFailedError", "SerializationError"),
    },
    "aws": {
        "sender-failure": ("CallbackFailedError", "Rejected"),
        "overall-timeout": ("CallbackTimeoutError", "Callback.Timeout"),
        "heartbeat-timeout": ("CallbackTimeoutError", "Callback.Heartbeat"),
        # a step's own failure under "aws": its module-qualified class name (lambda.md)
        "submitter-failure": ("CallbackFailedError", f"{__name__}.Unreachable"),
        "unreadable-result": ("CallbackFailedError", "SerializationError"),
    },
}


@pytest.mark.parametrize("payload_format", ["json", "aws"])
@pytest.mark.parametrize("case", CASES)
def test_the_workflow_reads_the_type_recorded_inside_on_every_run(
    case: str, payload_format: Any
) -> None:
    submitter, options, answer = CASES[case]
    seen: list[tuple[str, str | None, str | None, str | None]] = []

    def workflow(_: None) -> dg.Workflow[str]:
        try:
            yield from dg.WaitForCallback(submitter, name="approval", **options)
        except dg.CallbackError as exc:
            seen.append((type(exc).__name__, exc.error_type, exc.error_message, exc.error_data))
        yield from dg.Wait(seconds=1, name="replay-after-this")
        return "caught"

    runner = TestRunner(payload_format=payload_format)
    run = runner.run(workflow, None)
    if answer == "fail":
        run.send_callback_failure(
            "approval", error_type="Rejected", error_message="no", error_data='{"code": 7}'
        )
    elif answer == "misfit":
        run.send_callback_success("approval", {"approved": "maybe"})
    runner.run_until_idle(include_callback_timeouts=answer == "timeout")
    assert run.result() == "caught"
    report = replay(workflow, run.export())
    assert report.ok, report.message
    assert len(seen) >= 3  # the first run, the replay after the wait, the replayer's
    kind, error_type = EXPECTED[payload_format][case]
    assert {(k, t) for k, t, _, _ in seen} == {(kind, error_type)}, seen
    if answer == "fail":
        assert {(m, d) for _, _, m, d in seen} == {("no", '{"code": 7}')}


def test_the_context_keeps_awss_exception_path_in_aws_format() -> None:
    """What AWS's SDK reads back is unchanged: the context's record names its exception."""

    def workflow(_: None) -> dg.Workflow[None]:
        yield from dg.WaitForCallback(submit, name="approval")

    runner = TestRunner(payload_format="aws")
    run = runner.run(workflow, None)
    run.send_callback_failure("approval", error_type="Rejected", error_message="no")
    runner.run_until_idle()
    context = run.operation("approval")
    assert context is not None and context.error is not None
    assert context.error.error_type == (
        "aws_durable_execution_sdk_python.exceptions.CallbackExternalError"
    )


def test_an_execution_awss_sdk_recorded_reads_the_senders_type() -> None:
    """AWS's SDK recorded the callback as failed with the sender's ``Rejected`` and its
    wait-for-callback context under its ``CallbackExternalError`` path."""
    state = json.loads((FIXTURES / "wait_for_callback_failure.state.json").read_text())
    seen: list[str | None] = []

    def wait_for_callback_failure(_: Any) -> dg.Workflow[str]:
        try:
            return (yield from dg.WaitForCallback(submit, name="approval"))
        except dg.CallbackFailedError as exc:
            seen.append(exc.error_type)
            raise

    report = replay(wait_for_callback_failure, load_history({"Operations": state["Operations"]}))
    assert seen == ["Rejected"], report.message


@pytest.mark.parametrize(
    ("case", "recorded"),
    [
        ("sender-failure", "CallbackExternalError"),
        ("overall-timeout", "CallbackTimeoutError"),
        ("heartbeat-timeout", "CallbackTimeoutError"),
        ("submitter-failure", "CallbackSubmitterError"),
        # AWS's SDK raises its SerDesError for a result it cannot read, and records it where
        # it escapes (differential pair wait_for_callback_result_unreadable)
        ("unreadable-result", "SerDesError"),
    ],
)
def test_uncaught_in_aws_format_the_execution_records_awss_exception(
    case: str, recorded: str
) -> None:
    """The execution's error is what AWS's SDK records for the same failure, and the replayer
    matches it with the error the workflow raises."""
    submitter, options, answer = CASES[case]

    def workflow(_: None) -> dg.Workflow[None]:
        yield from dg.WaitForCallback(submitter, name="approval", **options)

    runner = TestRunner(payload_format="aws")
    run = runner.run(workflow, None)
    if answer == "fail":
        run.send_callback_failure("approval", error_type="Rejected", error_message="no")
    elif answer == "misfit":
        run.send_callback_success("approval", {"approved": "maybe"})
    runner.run_until_idle(include_callback_timeouts=answer == "timeout")
    assert run.status == "FAILED"
    assert run.error is not None
    assert run.error.error_type == f"aws_durable_execution_sdk_python.exceptions.{recorded}"
    report = replay(workflow, run.export())
    assert report.ok and report.outcome == "failed", report.message
