"""AWS's conformance requirements, run against durable_gen on the embedded engine.

One test per requirement (plugin requirements excepted: they describe SDK plugin hooks that
durable_gen does not have). A requirement whose handler is not written yet is skipped; one that
fails because of a known durable_gen bug is a strict xfail (see ``known_failures.py``).
"""

from __future__ import annotations

import pytest

from .known_failures import EMBEDDED
from .runner import run_embedded
from .suite import Requirement, load_requirements

PLUGIN_SUITE = "plugin"


def _params() -> list[object]:
    params: list[object] = []
    for req in load_requirements():
        if req.suite == PLUGIN_SUITE:
            continue
        marks = []
        reason = EMBEDDED.get(str(req))
        if reason is not None:
            marks.append(pytest.mark.xfail(strict=True, reason=reason))
        params.append(pytest.param(req, id=str(req), marks=marks))
    return params


@pytest.mark.parametrize("req", _params())
def test_embedded_engine(req: Requirement) -> None:
    result = run_embedded(req)
    if result.status == "skipped":
        pytest.skip(result.reason)
    assert result.status == "passed", f"{req}: {req.description}\n  " + "\n  ".join(result.errors)
