"""AWS's conformance requirements, run against durable_gen.

One test per requirement. ``test_embedded_engine`` runs each on the embedded engine (the plugin
requirements with their plugins, checking the JSON records they print): a requirement whose
handler is not written yet is skipped; one that fails because of a known durable_gen bug is a
strict xfail (see ``known_failures.py``).

``test_aws_emulator`` runs the same handlers through ``durable_gen.aws.lambda_handler`` against
AWS's emulator, in real time (minutes), only with ``DURABLE_GEN_CONFORMANCE_EMULATOR=1``. A
requirement whose only mismatches are known emulator gaps is an xfail naming them; any other
mismatch fails. The plugin requirements are not run there: ``durable_gen.aws.lambda_handler``
takes no ``plugins=``.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from .conftest import GAPS_XFAIL
from .known_failures import EMBEDDED, EMULATOR
from .runner import run_embedded
from .suite import Requirement, load_requirements

PLUGIN_SUITE = "plugin"


def _params(known: dict[str, str] | None, *, plugins: bool) -> list[Any]:
    params: list[Any] = []
    for req in load_requirements():
        if req.suite == PLUGIN_SUITE and not plugins:
            continue
        marks = []
        reason = (known or {}).get(str(req))
        if reason is not None:
            marks.append(pytest.mark.xfail(strict=True, reason=reason))
        params.append(pytest.param(req, id=str(req), marks=marks))
    return params


@pytest.mark.parametrize("req", _params(EMBEDDED, plugins=True))
def test_embedded_engine(req: Requirement) -> None:
    result = run_embedded(req)
    if result.status == "skipped":
        pytest.skip(result.reason)
    assert result.status == "passed", f"{req}: {req.description}\n  " + "\n  ".join(result.errors)


@pytest.mark.parametrize("req", _params(EMULATOR, plugins=True))
def test_aws_emulator(req: Requirement, emulator: Any) -> None:
    from .emulator_runner import GAP_NAMES, explain, run_emulator

    result = run_emulator(req, emulator)
    if result.status == "skipped":
        pytest.skip(result.reason)
    if result.status == "passed":
        return
    gaps, rest = explain(req, result.errors)
    assert not rest, f"{req}: {req.description}\n  " + "\n  ".join(rest)
    pytest.xfail(GAPS_XFAIL + " " + "; ".join(GAP_NAMES[code] for code in gaps))


#: One requirement per known emulator gap (1-7 for its logs too): requirement -> gap it shows.
SAME_GAPS = {
    "step/1-1": "A",
    "step/1-7": "A",
    "step/1-11": "B",
    "callback/4-3": "C",
    "wait_for_condition/6-1": "D",
    "invoke/5-1": "E",
    "invoke/5-8": "F",
    "step/1-17": "G",
}
#: AWS's SDK ends the invocation that starts a chained invoke later than durable_gen does, so on
#: the emulator the echo target's ChainedInvokeSucceeded may come before that InvocationCompleted
#: (EventIds 3 and 4 swap): a race of the emulator's timing, not of the history either SDK writes.
_INVOKE_RACE = re.compile(
    r"^(?:EventId=[34] \((InvocationCompleted|ChainedInvokeSucceeded)\)"
    r"|AWS's history matcher: Event\[EventId=[34]\])"
)


@pytest.mark.parametrize("key", list(SAME_GAPS))
def test_aws_sdk_meets_the_same_emulator_gaps(key: str, emulator: Any) -> None:
    """AWS's SDK through the same emulator and checks: the same gaps, and nothing else.

    So a requirement that durable_gen fails there "only by known gaps" is one the emulator fails
    for AWS's own SDK too (every gap, one requirement each), and the logs both write pass AWS's
    validator.
    """
    from .aws_sdk_handlers import lambda_function
    from .emulator_runner import explain, run_emulator

    req = next(r for r in load_requirements() if str(r) == key)
    ours = run_emulator(req, emulator)
    theirs = run_emulator(req, emulator, lambda_function(key, emulator.emulator.client))
    our_gaps, our_rest = explain(req, ours.errors)
    their_gaps, their_rest = explain(req, theirs.errors)
    if req.suite == "invoke":
        their_rest = [error for error in their_rest if not _INVOKE_RACE.match(error)]
    assert not their_rest, f"AWS's SDK on {key}: " + "\n  ".join(their_rest)
    assert not our_rest, f"durable_gen on {key}: " + "\n  ".join(our_rest)
    assert SAME_GAPS[key] in our_gaps
    assert sorted(our_gaps) == sorted(their_gaps)
