"""The emulator gap of crashed invocations (G) explains the missing event and nothing else.

AWS's emulator writes no ``InvocationCompleted`` for a crashed invocation, so every later
``EventId`` is one lower than the requirement says. The emulator run matches such a history
against the requirement without that event, later ids shifted down: a history that is right
but for the gap shows gap G alone, and a wrong event after the crash is still a failure.
"""

from __future__ import annotations

from typing import Any

from .emulator_runner import explain, match_emulated_history, without_crash_completion
from .suite import load_requirement
from .test_matching import _actual_history


def _as_the_emulator_writes(key: str) -> tuple[Any, list[dict[str, Any]], dict[str, Any]]:
    req = load_requirement(key)
    actual, variables = _actual_history(req)
    crashed = min(e["EventId"] for e in actual if e["EventType"] == "InvocationCompleted")
    events = [
        {**e, "EventId": e["EventId"] - 1} if e["EventId"] > crashed else e
        for e in actual
        if e["EventId"] != crashed
    ]
    return req, events, variables


def _errors(req: Any, events: list[dict[str, Any]], variables: dict[str, Any]) -> list[str]:
    return match_emulated_history(req, events, dict(variables))[1]


def test_a_history_right_but_for_the_missing_crash_event_shows_gap_g_alone() -> None:
    for key in ("1-17", "1-18", "3-12"):
        req, events, variables = _as_the_emulator_writes(key)
        assert explain(req, _errors(req, events, variables)) == (["G"], []), key


def test_a_wrong_event_after_the_crash_is_not_put_down_to_gap_g() -> None:
    req, events, variables = _as_the_emulator_writes("1-18")
    wrong = [
        {
            **e,
            "StepSucceededDetails": {
                **e["StepSucceededDetails"],
                "Result": {"Payload": '"another result"'},
            },
        }
        if e["EventType"] == "StepSucceeded"
        else e
        for e in events
    ]
    gaps, rest = explain(req, _errors(req, wrong, variables))
    assert gaps == ["G"]
    assert rest and all("StepSucceededDetails" in error for error in rest), rest


def test_a_history_with_the_crash_event_is_matched_as_the_requirement_says() -> None:
    req = load_requirement("1-17")
    actual, _ = _actual_history(req)
    assert without_crash_completion(req, actual) is None
    assert without_crash_completion(load_requirement("1-1"), actual) is None


def test_gap_d_excuses_the_state_of_a_polling_check_only() -> None:
    req = load_requirement("6-1")  # checks at EventIds 3 and 6 poll again, 9 is the last
    missing = "EventId={} (StepSucceeded).StepSucceededDetails.Result: missing"
    assert explain(req, [missing.format(3), missing.format(6)]) == (["D"], [])
    theirs = (
        "AWS's history matcher: Event[EventId=6].StepSucceededDetails.Result.Payload: "
        "key missing in actual event"
    )
    assert explain(req, [theirs]) == (["D"], [])
    assert explain(req, [missing.format(9)]) == ([], [missing.format(9)])
