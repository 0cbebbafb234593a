"""The outsider handlers (written from the docs alone) pass AWS's requirements.

Each runs through the same runner and checks as ours (``../runner.py``): history, result,
logs and AWS's own log validator. A failure here means the docs describe something the library
no longer does, or a handler written as the docs say no longer meets the requirement.
"""

from __future__ import annotations

from typing import Any

import pytest

from ..conftest import GAPS_XFAIL
from ..runner import run_embedded
from ..suite import Requirement, load_requirements
from . import handlers


def _requirements() -> list[Requirement]:
    by_key = {str(req): req for req in load_requirements()}
    return [by_key[key] for key in handlers.HANDLERS]


def test_every_suite_is_covered() -> None:
    suites = {key.split("/")[0] for key in handlers.HANDLERS}
    assert suites == {req.suite for req in load_requirements()}


@pytest.mark.parametrize("req", _requirements(), ids=str)
def test_outsider_handler(req: Requirement) -> None:
    handlers.reset()
    result = run_embedded(req, handlers.HANDLERS[str(req)], handlers.FUNCTIONS)
    assert result.status == "passed", f"{req}: {req.description}\n  " + "\n  ".join(result.errors)


@pytest.mark.parametrize("req", _requirements(), ids=str)
def test_outsider_handler_on_aws_emulator(req: Requirement, emulator: Any) -> None:
    """The same handlers through ``durable_gen.aws.lambda_handler`` and AWS's emulator: only
    the emulator's known gaps may fail them."""
    from durable_gen.aws import lambda_handler

    from ..emulator_runner import GAP_NAMES, explain, run_emulator

    handler = handlers.HANDLERS[str(req)]
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
