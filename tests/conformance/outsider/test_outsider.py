"""The outsider handlers (written from the docs alone) pass AWS's requirements.

Each runs through the same runner and checks as ours (``../runner.py``): history, result,
logs and AWS's own log validator. A failure here means the docs describe something the library
no longer does, or a handler written as the docs say no longer meets the requirement.
"""

from __future__ import annotations

import pytest

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
