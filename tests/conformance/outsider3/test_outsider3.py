"""The third outsider set (written from the docs alone) passes AWS's requirements.

Every handler runs through the same runner and checks as ours (``../runner.py``: history,
result, logs, and AWS's own validators), in the default ``"step"`` checkpointing mode and in
``"eager"`` and ``"batch"``: lambda.md promises the same history in every mode, apart from what
a crash loses in batch mode (3-12 crashes with its step's START not yet sent). The variants
(``variants.py``) are the same requirements written another way the docs allow. With
``DURABLE_GEN_CONFORMANCE_EMULATOR=1`` the handlers also run through
``durable_gen.aws.lambda_handler`` and AWS's emulator, where only its known gaps may fail them.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from durable_gen import CheckpointMode

from ..conftest import GAPS_XFAIL
from ..handlers import Handler
from ..runner import run_embedded
from ..suite import Requirement, load_requirements
from . import handlers, variants

#: Requirements whose history depends on the mode by design: batch mode sends a step's START
#: with its outcome, so a crash during the step leaves no StepStarted (lambda.md).
_MODE_BOUND: dict[str, frozenset[str]] = {"batch": frozenset({"child/3-12"})}


def _requirements(keys: Any) -> list[Requirement]:
    by_key = {str(req): req for req in load_requirements()}
    return [by_key[key] for key in keys]


def _run(req: Requirement, handler: Handler) -> None:
    handlers.reset()
    result = run_embedded(req, handler, handlers.FUNCTIONS)
    assert result.status == "passed", f"{req}: {req.description}\n  " + "\n  ".join(result.errors)


def test_every_requirement_has_a_handler() -> None:
    assert set(handlers.HANDLERS) == {str(req) for req in load_requirements()}


@pytest.mark.parametrize("mode", ["step", "eager", "batch"])
@pytest.mark.parametrize("req", _requirements(handlers.HANDLERS), ids=str)
def test_outsider3_handler(req: Requirement, mode: CheckpointMode) -> None:
    if str(req) in _MODE_BOUND.get(mode, ()):
        pytest.skip(f"{req}'s history depends on the {mode} mode by design")
    _run(req, dataclasses.replace(handlers.HANDLERS[str(req)], checkpointing=mode))


@pytest.mark.parametrize("req", _requirements(variants.HANDLERS), ids=str)
def test_outsider3_variant(req: Requirement) -> None:
    _run(req, variants.HANDLERS[str(req)])


@pytest.mark.parametrize("req", _requirements(handlers.HANDLERS), ids=str)
def test_outsider3_handler_on_aws_emulator(req: Requirement, emulator: Any) -> None:
    """The same handlers through ``durable_gen.aws.lambda_handler`` and AWS's emulator: only
    the emulator's known gaps may fail them."""
    _run_on_emulator(req, handlers.HANDLERS[str(req)], emulator)


@pytest.mark.parametrize("req", _requirements(variants.HANDLERS), ids=str)
def test_outsider3_variant_on_aws_emulator(req: Requirement, emulator: Any) -> None:
    _run_on_emulator(req, variants.HANDLERS[str(req)], emulator)


def _run_on_emulator(req: Requirement, handler: Handler, emulator: Any) -> None:
    from durable_gen.aws import lambda_handler

    from ..emulator_runner import GAP_NAMES, explain, run_emulator

    handlers.reset()
    function = lambda_handler(
        handler.workflow,
        client=emulator.emulator.client,
        checkpointing=handler.checkpointing,
        plugins=handler.plugins(),
    )
    result = run_emulator(req, emulator, function)
    if result.status == "passed":
        return
    gaps, rest = explain(req, result.errors)
    assert not rest, f"{req}: {req.description}\n  " + "\n  ".join(rest)
    pytest.xfail(GAPS_XFAIL + " " + "; ".join(GAP_NAMES[code] for code in gaps))
