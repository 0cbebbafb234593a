"""durable_gen replays what AWS's Python SDK recorded: every history, final state and prefix.

The fixtures were recorded by AWS's SDK on AWS's emulator (``record.py``); each case is replayed
against its durable_gen equivalent in ``workflows.py``. A case that needs a feature durable_gen
does not have yet is an expected failure whose reason names the feature; the condition is
checked against durable_gen itself (``_support.FEATURES``), so once the feature lands the case
must pass. The session summary prints the counts (``interop: ...``).
"""

from __future__ import annotations

import json

import pytest

from durable_gen.testing import replay

from . import _support as s
from .workflows import CASES

ENVELOPE = ("envelope",)
#: Payloads in AWS's envelope reach the result: dict/list results and batch results.
_ENVELOPE_CASES = {
    "step_shapes",
    "wait_for_condition_dict_state",
    "child_context",
    "map_basic",
    "map_unnamed",
    "map_item_namer",
    "map_tolerated_failures",
    "map_first_failure",
    "map_min_successful",
    "map_failure_raised",
    "parallel_basic",
    "parallel_tolerated_failure",
    "parallel_named_branches",
    "nested_batches",
    "map_failure_percentage",
    "parallel_min_successful",
    "child_in_map",
    "invoke_in_parallel",
}
#: An in-flight wait-for-callback meets AWS's names of its callback and submitter.
_NAMES_IN_FLIGHT = {
    "wait_for_callback_success",
    "wait_for_callback_unnamed",
    "wait_for_callback_timeout_caught",
    "wait_for_callback_failure",
    "wait_for_callback_submitter_fails",
    "wait_for_callback_in_child",
    "wait_for_callback_decorated",
}
#: Envelope cases whose prefixes all replay today: the envelope is read only once the batch or
#: context completed, and some prefixes cut before that.
_ENVELOPE_ONLY_WHOLE = {"step_shapes", "child_context"}
_ENVELOPE_ONLY_WHOLE |= {"wait_for_condition_dict_state"}


def needs(case: str, kind: str) -> tuple[str, ...]:
    """The features a replay of ``case`` (``history``, ``state`` or ``prefixes``) needs."""
    out: list[str] = []
    if case in _ENVELOPE_CASES and not (kind == "prefixes" and case in _ENVELOPE_ONLY_WHOLE):
        out.append("envelope")
    if case in _NAMES_IN_FLIGHT and kind == "prefixes":
        out.append("names")
    if case == "wait_for_condition_unnamed":
        out.append("default_names")
    return tuple(out)


def _param(case: str, kind: str) -> object:
    reasons = s.missing(needs(case, kind))
    marks = [pytest.mark.xfail(reason="; ".join(reasons), strict=True)] if reasons else []
    return pytest.param(case, id=case, marks=marks)


@pytest.mark.parametrize("case", [_param(c, "history") for c in CASES])
def test_history_replays(case: str) -> None:
    recorded = s.fixture(case, "history")
    report = replay(CASES[case].workflow, s.FIXTURES / f"{case}.history.json")
    problem = s.judge_final(report, recorded, state=False, case=CASES[case])
    s.COUNTS["histories"].update(total=1, clean=problem is None)
    assert problem is None, problem


@pytest.mark.parametrize("case", [_param(c, "state") for c in CASES])
def test_final_state_replays(case: str) -> None:
    recorded = s.fixture(case, "history")
    report = replay(CASES[case].workflow, s.FIXTURES / f"{case}.state.json")
    problem = s.judge_final(report, recorded, state=True, case=CASES[case])
    s.COUNTS["states"].update(total=1, clean=problem is None)
    assert problem is None, problem


@pytest.mark.parametrize("case", [_param(c, "prefixes") for c in CASES])
def test_every_prefix_replays(case: str) -> None:
    recorded = s.fixture(case, "history")
    problems = []
    for label, data in s.prefixes(case):
        problem = s.judge_prefix(replay(CASES[case].workflow, data), recorded)
        s.COUNTS["prefixes"].update(total=1, clean=problem is None)
        if problem is not None:
            problems.append(f"{label}: {problem}")
    assert not problems, "\n".join(problems)


def test_cases_that_differ_by_design_do_differ() -> None:
    for key, case in CASES.items():
        if case.differs is None:
            continue
        recorded = s.fixture(key, "history")
        assert json.loads(recorded["Result"]) != case.result, key
        assert case.result is not None, key


def test_every_case_has_fixtures() -> None:
    for case in CASES:
        for kind in ("history", "state"):
            assert (s.FIXTURES / f"{case}.{kind}.json").is_file(), f"{case}.{kind}.json"
    recorded = {p.name.split(".")[0] for p in s.FIXTURES.glob("*.json")}
    assert recorded == set(CASES), "fixtures without a case (re-record or delete them)"


def test_every_case_has_an_aws_handler() -> None:
    pytest.importorskip("aws_durable_execution_sdk_python")
    from .aws_corpus import HANDLERS

    assert set(HANDLERS) == set(CASES)
