"""Under ``payload_format="aws"`` a failure with one of durable_gen's own errors is recorded by
its public name, ``durable_gen.ValidationError``, not ``durable_gen._errors.ValidationError``
(a private module that a dashboard, an alert or a history diff would otherwise show)."""

from __future__ import annotations

import pytest

import durable_gen as dg
from durable_gen._failure import aws_error_type, same_error_type
from durable_gen.testing import TestRunner, replay


@dg.workflow
def zero_concurrency(_: None):
    batch = yield dg.Parallel([lambda: "a"], max_concurrency=0)  # a ValidationError in the body
    return batch.results()


@dg.workflow
def bad_yield(_: None):
    yield 5  # a WorkflowDefinitionError


@pytest.mark.parametrize(
    ("workflow", "name"),
    [(zero_concurrency, "ValidationError"), (bad_yield, "WorkflowDefinitionError")],
)
def test_the_execution_error_has_the_public_name(workflow: object, name: str) -> None:
    run = TestRunner(payload_format="aws").run(workflow, None)  # type: ignore[call-overload]
    assert run.status == "FAILED"
    assert run.error is not None
    assert run.error.error_type == f"durable_gen.{name}"
    assert replay(workflow, run.export()).ok  # type: ignore[arg-type]


def test_every_public_error_is_named_from_the_package() -> None:
    for name in (
        "ValidationError",
        "ArgumentError",
        "WorkflowDefinitionError",
        "InvalidInputError",
    ):
        exc = getattr(dg, name)("boom")
        assert aws_error_type(exc) == f"durable_gen.{name}"


def test_a_history_recorded_under_the_private_name_still_matches() -> None:
    """Histories recorded by earlier versions named the private module."""
    exc = dg.ValidationError("max_concurrency must be at least 1")
    assert same_error_type("durable_gen._errors.ValidationError", exc)
    assert same_error_type("durable_gen.ValidationError", exc)
    assert same_error_type("ValidationError", exc)
    assert not same_error_type("durable_gen._errors.ArgumentError", exc)


def test_a_users_exception_keeps_its_own_module() -> None:
    class Declined(Exception):
        pass

    assert aws_error_type(Declined("no")) == f"{__name__}.{Declined.__qualname__}"
