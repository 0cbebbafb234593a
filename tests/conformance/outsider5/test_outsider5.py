"""The fifth outsider handler set through ``run_embedded`` and AWS's published checks."""

from __future__ import annotations

import pytest

from ..runner import run_embedded
from ..suite import Requirement, load_requirements
from . import handlers


def _requirements() -> list[Requirement]:
    try:
        return [r for r in load_requirements() if r.key in handlers.HANDLERS]
    except Exception as exc:  # offline without the wheel
        pytest.skip(f"conformance requirements unavailable: {exc}", allow_module_level=True)
        raise


@pytest.mark.parametrize("req", _requirements(), ids=lambda r: f"{r.suite}/{r.key}")
def test_outsider5(req: Requirement) -> None:
    handlers.reset()
    result = run_embedded(req, handlers.HANDLERS[req.key], handlers.FUNCTIONS)
    assert result.status == "passed", "\n".join(result.errors)
