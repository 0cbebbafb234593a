"""Tests of the requirement loader and of the history/result matching rules."""

from __future__ import annotations

import copy
import importlib
import json
import random
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from . import suite
from .matching import (
    CallbackAction,
    callback_name_matches,
    generate_variables,
    in_execution_scope,
    match_history,
    match_logs,
    match_result,
    parse_callback_actions,
    parse_log_line,
    substitute,
)

# ---------------------------------------------------------------------------------------------
# Fixtures and helpers
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def requirements() -> list[suite.Requirement]:
    return suite.load_requirements()


def _event(event_id: int, event_type: str, **fields: Any) -> dict[str, Any]:
    return {"EventId": event_id, "EventType": event_type, "EventTimestamp": "t", **fields}


def _step_history(result_payload: str = '"Hello, World!"') -> list[dict[str, Any]]:
    return [
        _event(1, "ExecutionStarted", ExecutionStartedDetails={"Input": {"Payload": '"World"'}}),
        _event(2, "StepStarted", SubType="Step", Id="abc", Name="greet", StepStartedDetails={}),
        _event(
            3,
            "StepSucceeded",
            SubType="Step",
            Id="abc",
            Name="greet",
            StepSucceededDetails={"Result": {"Payload": result_payload, "Truncated": False}},
        ),
        _event(4, "InvocationCompleted", InvocationCompletedDetails={"RequestId": "r-1"}),
        _event(
            5,
            "ExecutionSucceeded",
            ExecutionSucceededDetails={"Result": {"Payload": result_payload}},
        ),
    ]


_REGEX_CANDIDATES = ("3", "10", "wrapped", "errors.TransientError")


def _materialize(value: Any, bindings: dict[str, Any], top: bool = False) -> Any:
    """Build an actual value that the expected ``value`` accepts (placeholders get fresh values)."""
    if isinstance(value, dict):
        if not value:
            return {"Filled": "by the test"}
        out = {key: _materialize(item, bindings) for key, item in value.items()}
        if top:
            out["NotListedInRequirement"] = "ignored"
        return out
    if isinstance(value, list):
        return [_materialize(item, bindings) for item in value]
    if not isinstance(value, str):
        return value
    if value == "*":
        return "anything"
    if value.startswith("${/") and value.endswith("/}"):
        pattern = value[3:-2]
        for candidate in _REGEX_CANDIDATES:
            if re.search(pattern, candidate):
                return candidate
        raise AssertionError(f"no test value matches {value}")
    if value.startswith("${") and value.endswith("}"):
        name = value[2:-1]
        if name not in bindings:
            bindings[name] = f"{name.lower()}-value"
        return bindings[name]
    return substitute(value, bindings)


def _actual_history(
    req: suite.Requirement, seed: int = 7
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    variables = generate_variables(req.variables, random.Random(seed))
    scratch = dict(variables)
    actual = [_materialize(event, scratch, top=True) for event in req.expected_history]
    return actual, variables


def _shifted(actual: list[dict[str, Any]], at: int) -> list[dict[str, Any]]:
    """Insert one extra event at EventId ``at``; later events move up by one."""
    out: list[dict[str, Any]] = []
    for event in actual:
        moved = dict(event)
        if moved["EventId"] >= at:
            moved["EventId"] += 1
        out.append(moved)
    out.append(_event(at, "StepStarted", SubType="Step", Id="extra", StepStartedDetails={}))
    return out


# ---------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------


def test_loads_all_requirements_with_expected_suite_counts(
    requirements: list[suite.Requirement],
) -> None:
    assert len(requirements) == 155
    counts: dict[str, int] = {}
    for req in requirements:
        counts[req.suite] = counts.get(req.suite, 0) + 1
    assert counts == dict(suite.EXPECTED_SUITE_COUNTS)
    assert len({req.key for req in requirements}) == len(requirements)
    assert [r.sort_key for r in requirements] == sorted(r.sort_key for r in requirements)


def test_every_requirement_is_well_formed(requirements: list[suite.Requirement]) -> None:
    for req in requirements:
        assert req.path.is_file(), req
        assert req.handler and req.invocations and req.description, req
        assert "Input" in req.data, req
        history = req.expected_history
        assert history, req
        for event in history:
            assert isinstance(event.get("EventId"), int), (req, event)
            assert isinstance(event.get("EventType"), str), (req, event)
        if req.expected_result is not None:
            assert req.expected_status in {"SUCCEEDED", "FAILED"}, req


def test_requirement_accessors() -> None:
    retry = suite.load_requirement("1-13")
    assert (retry.suite, retry.key, str(retry)) == ("step", "1-13", "step/1-13")
    assert retry.default_retry_parameters == {
        "MaxAttempts": 6,
        "InitialDelay": "5s",
        "MaxDelay": "60s",
        "BackoffRate": 2,
        "Jitter": "FULL",
    }
    assert not retry.is_async
    assert retry.expected_status == "SUCCEEDED"

    heartbeat = suite.load_requirement("callback/4-5")
    assert heartbeat.is_async
    assert [a["Operation"] for a in heartbeat.callback_actions] == ["heartbeat", "success"]
    assert heartbeat.variables == {"CB_NAME": "${GEN_STR:10}", "CB_PAYLOAD": "${GEN_STR:12}"}
    assert heartbeat.input == "${CB_NAME}"

    assert suite.load_requirement("2-4").expected_result is None
    assert suite.load_requirement("1-7").optional
    assert suite.load_requirement("1-7").expected_logs
    assert [r.key for r in suite.load_requirements(["wait"])] == [f"2-{i}" for i in range(1, 6)]
    with pytest.raises(KeyError):
        suite.load_requirement("wait/1-1")


def test_cached_wheel_matches_pinned_checksum() -> None:
    wheel = suite.ensure_wheel()
    assert wheel.name == suite.WHEEL_FILENAME
    assert suite._sha256(wheel) == suite.WHEEL_SHA256


def test_local_wheel_override_is_verified(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    good = suite.ensure_wheel()
    monkeypatch.setenv(suite.WHEEL_ENV_VAR, str(good))
    assert suite.ensure_wheel(tmp_path / "ok") == tmp_path / "ok" / suite.WHEEL_FILENAME

    corrupt = tmp_path / "corrupt.whl"
    corrupt.write_bytes(b"not the wheel")
    monkeypatch.setenv(suite.WHEEL_ENV_VAR, str(corrupt))
    with pytest.raises(suite.SuiteUnavailableError, match="checksum mismatch"):
        suite.ensure_wheel(tmp_path / "bad")
    assert not (tmp_path / "bad" / suite.WHEEL_FILENAME).exists()

    monkeypatch.setenv(suite.WHEEL_ENV_VAR, str(tmp_path / "missing.whl"))
    with pytest.raises(suite.SuiteUnavailableError, match=suite.WHEEL_ENV_VAR):
        suite.ensure_wheel(tmp_path / "missing")


def test_download_failure_explains_how_to_proceed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(suite.WHEEL_ENV_VAR, raising=False)
    monkeypatch.setattr(sys, "executable", str(tmp_path / "no-such-python"))
    with pytest.raises(suite.SuiteUnavailableError) as info:
        suite.ensure_wheel(tmp_path / "cache")
    message = str(info.value)
    assert "PyPI must be reachable" in message
    assert suite.WHEEL_ENV_VAR in message


# ---------------------------------------------------------------------------------------------
# History rules
# ---------------------------------------------------------------------------------------------


def test_placeholder_binds_on_first_use_and_must_stay_equal() -> None:
    expected = [
        {"EventId": 2, "EventType": "StepStarted", "Id": "${ID1}"},
        {"EventId": 3, "EventType": "StepSucceeded", "Id": "${ID1}"},
    ]
    bindings: dict[str, Any] = {}
    assert match_history(expected, _step_history(), bindings) == []
    assert bindings == {"ID1": "abc"}

    actual = _step_history()
    actual[2]["Id"] = "other"
    errors = match_history(expected, actual)
    assert len(errors) == 1
    assert "EventId=3" in errors[0] and "${ID1}" in errors[0]


def test_distinct_placeholders_may_share_a_value() -> None:
    expected = [
        {"EventId": 2, "Id": "${ID1}"},
        {"EventId": 3, "Id": "${ID2}"},
    ]
    assert match_history(expected, _step_history()) == []


def test_prebound_variable_must_equal_actual_value() -> None:
    expected = [{"EventId": 2, "Name": "${CB_NAME}"}]
    assert match_history(expected, _step_history(), {"CB_NAME": "greet"}) == []
    assert match_history(expected, _step_history(), {"CB_NAME": "other"}) != []


def test_references_inside_strings_are_substituted_before_comparing() -> None:
    expected = [
        {"EventId": 3, "StepSucceededDetails": {"Result": {"Payload": '"Hello, ${WHO}!"'}}},
    ]
    assert match_history(expected, _step_history(), {"WHO": "World"}) == []
    assert match_history(expected, _step_history(), {"WHO": "Kiro"}) != []
    # An unbound reference stays literal and therefore does not match.
    assert match_history(expected, _step_history()) != []


def test_placeholder_bound_in_history_feeds_later_literals() -> None:
    expected = [
        {"EventId": 2, "Name": "${N}"},
        {"EventId": 4, "InvocationCompletedDetails": {"RequestId": "r-1"}},
        {"EventId": 5, "ExecutionSucceededDetails": {"Result": {"Payload": '"Hello, World!"'}}},
        {"EventId": 3, "Name": "prefix ${N}"},
    ]
    errors = match_history(expected, _step_history())
    assert errors == ["EventId=3.Name: expected 'prefix greet', got 'greet'"]


def test_regex_is_searched_in_the_string_form_of_the_value() -> None:
    def history(delay: Any, error_type: str) -> list[dict[str, Any]]:
        return [
            _event(
                3,
                "StepFailed",
                StepFailedDetails={
                    "Error": {"Payload": {"ErrorType": error_type, "ErrorMessage": "boom"}},
                    "RetryDetails": {"CurrentAttempt": 1, "NextAttemptDelaySeconds": delay},
                },
            )
        ]

    expected = [
        {
            "EventId": 3,
            "StepFailedDetails": {
                "Error": {"Payload": {"ErrorType": "${/.*TransientError$/}"}},
                "RetryDetails": {"NextAttemptDelaySeconds": "${/^[0-5]$/}"},
            },
        }
    ]
    assert match_history(expected, history(3, "app.TransientError")) == []
    assert len(match_history(expected, history(7, "app.TransientError"))) == 1
    assert len(match_history(expected, history(3, "TransientErrorX"))) == 1
    # A regex is not a placeholder: nothing gets bound.
    bindings: dict[str, Any] = {}
    match_history(expected, history(3, "TransientError"), bindings)
    assert bindings == {}


def test_wildcard_requires_the_key_to_be_present() -> None:
    expected = [{"EventId": 4, "EventTimestamp": "*", "InvocationCompletedDetails": "*"}]
    assert match_history(expected, _step_history()) == []
    actual = _step_history()
    del actual[3]["InvocationCompletedDetails"]
    errors = match_history(expected, actual)
    assert errors == ["EventId=4.InvocationCompletedDetails: missing"]


def test_empty_mapping_requires_the_key_to_be_present() -> None:
    expected = [{"EventId": 2, "StepStartedDetails": {}}, {"EventId": 4, "Name": {}}]
    actual = _step_history()
    errors = match_history(expected, actual)
    assert errors == ["EventId=4.Name: missing"]
    # Any value is accepted once present, even a non-mapping.
    actual[3]["Name"] = None
    assert match_history(expected, actual) == []


def test_nested_keys_are_required_even_when_their_value_is_wildcard() -> None:
    expected = [
        {
            "EventId": 3,
            "EventType": "StepFailed",
            "StepFailedDetails": {"Error": {"Payload": {"ErrorMessage": "*", "ErrorType": "*"}}},
        }
    ]
    actual = [_event(3, "StepFailed", StepFailedDetails={"Error": {"Payload": {}}})]
    assert match_history(expected, actual) == [
        "EventId=3 (StepFailed).StepFailedDetails.Error.Payload.ErrorMessage: missing",
        "EventId=3 (StepFailed).StepFailedDetails.Error.Payload.ErrorType: missing",
    ]


def test_extra_keys_and_unlisted_events_are_ignored() -> None:
    expected = [
        {"EventId": 2, "EventType": "StepStarted", "SubType": "Step"},
        {"EventId": 4, "EventType": "InvocationCompleted"},
    ]
    actual = _step_history()
    actual[1]["ParentId"] = "parent"
    actual[1]["Surprise"] = {"deep": [1, 2, 3]}
    assert match_history(expected, actual) == []


def test_shifted_event_ids_fail() -> None:
    expected = [
        {"EventId": 2, "EventType": "StepStarted", "Id": "${ID1}"},
        {"EventId": 3, "EventType": "StepSucceeded", "Id": "${ID1}"},
        {"EventId": 4, "EventType": "InvocationCompleted"},
    ]
    actual = _step_history()
    assert match_history(expected, actual) == []
    errors = match_history(expected, _shifted(actual, 3))
    assert any("EventId=3 (StepSucceeded).EventType" in e for e in errors)
    assert any("EventId=4 (InvocationCompleted).EventType" in e for e in errors)


def test_missing_event_fails() -> None:
    expected: list[dict[str, Any]] = [
        {"EventId": 9, "EventType": "WaitSucceeded"},
        {"EventType": "WaitStarted"},
    ]
    errors = match_history(expected, _step_history())
    assert len(errors) == 2
    assert errors[0] == "EventId=9 (WaitSucceeded): no actual event with this EventId"
    assert errors[1].startswith("expected event without EventId")


def test_lists_compare_element_by_element() -> None:
    expected = [{"EventId": 1, "Trace": ["a", "${X}", "*"]}]
    assert match_history(expected, [{"EventId": 1, "Trace": ["a", "b", 3]}]) == []
    assert match_history(expected, [{"EventId": 1, "Trace": ["a", "b"]}]) == [
        "EventId=1.Trace: expected 3 items, got 2"
    ]
    assert match_history(expected, [{"EventId": 1, "Trace": ["z", "b", 3]}]) == [
        "EventId=1.Trace[0]: expected 'a', got 'z'"
    ]


def test_payloads_compare_as_json_strings_not_values() -> None:
    expected = [{"EventId": 3, "StepSucceededDetails": {"Result": {"Payload": '"Hello, World!"'}}}]
    assert match_history(expected, _step_history('"Hello, World!"')) == []
    assert match_history(expected, _step_history("Hello, World!")) != []

    as_object = [{"EventId": 3, "StepSucceededDetails": {"Result": {"Payload": '{"a": 1}'}}}]
    assert match_history(as_object, _step_history('{"a": 1}')) == []
    assert match_history(as_object, _step_history('{"a":1}')) != []


def test_error_payloads_are_mappings() -> None:
    expected = [
        {
            "EventId": 4,
            "CallbackFailedDetails": {
                "Error": {"Payload": {"ErrorType": "RejectedError", "ErrorMessage": "not approved"}}
            },
        }
    ]
    actual = [
        _event(
            4,
            "CallbackFailed",
            CallbackFailedDetails={
                "Error": {
                    "Payload": {"ErrorType": "RejectedError", "ErrorMessage": "not approved"},
                    "Truncated": False,
                }
            },
        )
    ]
    assert match_history(expected, actual) == []
    actual[0]["CallbackFailedDetails"]["Error"]["Payload"]["ErrorMessage"] = "approved"
    assert len(match_history(expected, actual)) == 1


def test_literal_type_mismatch_fails() -> None:
    expected = [{"EventId": 4, "WaitStartedDetails": {"Duration": 2}}]
    assert match_history(expected, [{"EventId": 4, "WaitStartedDetails": {"Duration": 2}}]) == []
    assert match_history(expected, [{"EventId": 4, "WaitStartedDetails": {"Duration": "2"}}])


# ---------------------------------------------------------------------------------------------
# Result rules
# ---------------------------------------------------------------------------------------------


def test_result_status_is_checked_first() -> None:
    expected = {"ExecutionStatus": "SUCCEEDED", "Result": "x"}
    errors = match_result(expected, "FAILED", None, {"ErrorType": "Boom"}, {})
    assert len(errors) == 1
    assert "SUCCEEDED" in errors[0] and "FAILED" in errors[0] and "Boom" in errors[0]


def test_result_is_json_decoded_once_and_compared_after_substitution() -> None:
    expected = {"ExecutionStatus": "SUCCEEDED", "Result": "Hello, ${INPUT_1}!"}
    assert match_result(expected, "SUCCEEDED", '"Hello, ab12!"', None, {"INPUT_1": "ab12"}) == []
    assert match_result(expected, "SUCCEEDED", '"Hello, zz!"', None, {"INPUT_1": "ab12"})

    nested = {"ExecutionStatus": "SUCCEEDED", "Result": {"user": {"tags": ["a"]}, "count": 2}}
    assert match_result(nested, "SUCCEEDED", '{"count":2,"user":{"tags":["a"]}}', None, None) == []

    # The expected value is the decoded form: a JSON string inside the result stays a string.
    doubly = {"ExecutionStatus": "SUCCEEDED", "Result": '"HELLO"'}
    assert match_result(doubly, "SUCCEEDED", json.dumps('"HELLO"'), None, None) == []
    assert match_result(doubly, "SUCCEEDED", '"HELLO"', None, None)


def test_result_edge_cases() -> None:
    null = {"ExecutionStatus": "SUCCEEDED", "Result": None}
    assert match_result(null, "SUCCEEDED", None, None, None) == []
    assert match_result(null, "SUCCEEDED", "null", None, None) == []
    assert match_result(null, "SUCCEEDED", '""', None, None)
    # Non-JSON results are compared as the raw string.
    raw = {"ExecutionStatus": "SUCCEEDED", "Result": "HELLO CHILD"}
    assert match_result(raw, "SUCCEEDED", "HELLO CHILD", None, None) == []
    # Without a Result key only the status is checked; failures never compare results.
    assert match_result({"ExecutionStatus": "SUCCEEDED"}, "SUCCEEDED", '"x"', None, None) == []
    assert match_result({"ExecutionStatus": "FAILED", "Result": 1}, "FAILED", None, None, {}) == []
    # No ExpectedResult at all (history-only requirements).
    assert match_result(None, "RUNNING", None, None, None) == []
    # Wildcards have no meaning here.
    assert match_result({"ExecutionStatus": "SUCCEEDED", "Result": "*"}, "SUCCEEDED", "1", None, {})


# ---------------------------------------------------------------------------------------------
# Variables, substitution and callback actions
# ---------------------------------------------------------------------------------------------


def test_generate_variables() -> None:
    spec = {"A": "${GEN_STR:8}", "B": "${GEN_STR:12}", "C": "literal ${A}", "D": 5}
    values = generate_variables(spec)
    assert len(values["A"]) == 8 and len(values["B"]) == 12
    assert all(ch.isdigit() or ("a" <= ch <= "z") for ch in values["A"] + values["B"])
    assert values["C"] == "literal ${A}"
    assert values["D"] == "5"
    assert generate_variables(spec, random.Random(1)) == generate_variables(spec, random.Random(1))
    assert generate_variables(None) == {}


def test_substitute_input() -> None:
    bindings = {"NAME_1": "n1", "INPUT_1": "i1"}
    raw = {"name": "${NAME_1}", "payload": ["${INPUT_1}", 3, None], "other": "${UNKNOWN}"}
    assert substitute(raw, bindings) == {
        "name": "n1",
        "payload": ["i1", 3, None],
        "other": "${UNKNOWN}",
    }
    assert substitute("${INPUT_1}", bindings) == "i1"
    assert substitute(None, bindings) is None
    assert substitute("${INPUT_1}", {}) == "${INPUT_1}"


def test_callback_actions() -> None:
    raw: list[dict[str, Any]] = [
        {"CallbackName": "${CB}", "Operation": "heartbeat"},
        {"CallbackName": "${CB}", "Operation": "Success", "Payload": "${P}", "Delay": 1},
        {"CallbackName": "*", "Operation": "failure", "Payload": {"ErrorType": "E", "X": 1}},
        {"CallbackName": "*", "Operation": "success", "Payload": {"status": "approved"}},
    ]
    actions = parse_callback_actions(raw, {"CB": "cb1", "P": "pay"})
    assert actions[0] == CallbackAction("cb1", "heartbeat")
    assert actions[1] == CallbackAction("cb1", "success", "pay", 1.0)
    assert actions[1].success_result() == b'"pay"'
    assert actions[2].failure_error() == {"ErrorType": "E"}
    assert actions[3].success_result() == b'{"status": "approved"}'
    assert actions[0].success_result() is None
    with pytest.raises(ValueError):
        parse_callback_actions([{"CallbackName": "x", "Operation": "cancel"}], None)


def test_callback_name_matching() -> None:
    assert callback_name_matches("*", None)
    assert callback_name_matches("${CB}", "abc", {"CB": "abc"})
    assert not callback_name_matches("${CB}", "abd", {"CB": "abc"})
    assert callback_name_matches("${/^app/}", "approval")
    assert not callback_name_matches("approval", None)


# ---------------------------------------------------------------------------------------------
# The whole corpus
# ---------------------------------------------------------------------------------------------


def test_log_expectations() -> None:
    lines = ["[INFO] Greeting step started for: abc", "[INFO] done", "[INFO] abc again"]
    variables = {"INPUT_1": "abc"}
    assert match_logs(None, lines, variables) == []
    assert match_logs([{"match": {"message": "/${INPUT_1}/"}, "count": 2}], lines, variables) == []
    assert match_logs([{"match": {"message": "[INFO] done"}, "count": 1}], lines, variables) == []
    assert match_logs([{"match": {"message": "/\\[ERROR\\]/"}, "count": 0}], lines, {}) == []
    wrong = match_logs([{"match": {"message": "/${INPUT_1}/"}, "count": 1}], lines, variables)
    assert wrong == ["logs matching message='/abc/': expected 1, found 2"]
    bounds = [{"match": {"message": "/abc/"}, "min_count": 3, "max_count": 1}]
    assert len(match_logs(bounds, lines, {})) == 2
    assert (
        match_logs([{"match": {"message": "/abc/"}, "count": 2, "max_count": 1}], lines, {}) == []
    )
    assert match_logs([{"match": {"level": "INFO"}}], lines, {})  # plain lines have no level
    assert match_logs([{"match": {"message": "/nothing/"}}], lines, {})  # at least one by default
    assert match_logs([{"match": {}}], lines, {})  # malformed
    assert match_logs([{"match": {"message": "x"}, "after": "y"}], lines, {})  # malformed


def test_log_fields_and_anchors() -> None:
    lines = [
        json.dumps({"plugin": "P", "hook": "start", "first": True, "n": 1, "op": "abc"}),
        "[INFO] body of abc",
        json.dumps({"plugin": "P", "hook": "end", "status": "SUCCEEDED", "n": 1.0}),
        "{not json",
    ]
    start = {"plugin": "P", "hook": "start"}
    assert parse_log_line(lines[3]) == {"message": "{not json"}
    assert (
        match_logs(
            [{"match": {**start, "first": True, "op": "${ID1}"}, "count": 1}], lines, {"ID1": "abc"}
        )
        == []
    )
    assert match_logs([{"match": {**start, "first": 1}}], lines, {})  # a bool only matches a bool
    assert match_logs([{"match": {"hook": "end", "n": 1}, "count": 1}], lines, {}) == []
    assert match_logs([{"match": {"hook": "/^st/"}, "count": 1}], lines, {}) == []
    ordered = [
        {"match": {"message": "/body/"}, "after": start, "before": [{"hook": "end"}]},
        {"match": {"hook": "end"}, "after": [start, {"message": "/body/"}]},
    ]
    assert match_logs(ordered, lines, {}) == []
    reversed_ = [{"match": {"hook": "start"}, "after": {"hook": "end"}}]
    assert match_logs(reversed_, lines, {}) == [
        "logs matching hook='start': expected every match after hook='end' (lines out of order)"
    ]
    dangling = [{"match": {"hook": "start"}, "after": {"hook": "missing"}}]
    assert match_logs(dangling, lines, {}) == [
        "logs matching hook='start': after anchor hook='missing' matched no line"
    ]
    # No own match: only the count is reported, ordering is vacuous.
    assert len(match_logs([{"match": {"hook": "x"}, "before": start}], lines, {})) == 1


def test_execution_scope() -> None:
    mine = json.dumps({"plugin": "P", "durableExecutionArn": "arn:1"})
    legacy = json.dumps({"plugin": "P", "executionArn": "arn:1"})
    other = json.dumps({"plugin": "P", "durableExecutionArn": "arn:2"})
    unstamped = json.dumps({"plugin": "P"})
    nested = json.dumps({"message": json.dumps({"durableExecutionArn": "arn:1"})})
    lines = ["[INFO] step ran", mine, legacy, other, unstamped, nested, '{"durableExecutionArn"']
    assert in_execution_scope(lines, "arn:1") == [mine, legacy]


def test_each_requirement_accepts_a_history_built_from_it(
    requirements: list[suite.Requirement],
) -> None:
    for req in requirements:
        actual, variables = _actual_history(req)
        bindings = dict(variables)
        assert match_history(req.expected_history, actual, bindings) == [], req
        first_id = min(e["EventId"] for e in req.expected_history)
        assert match_history(req.expected_history, _shifted(actual, first_id), dict(variables)), req
        last_id = max(e["EventId"] for e in req.expected_history)
        assert match_history(req.expected_history, _shifted(actual, last_id), dict(variables)), req


def _variants(actual: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    yield actual
    for index, event in enumerate(actual):
        yield _shifted(actual, event["EventId"])
        for key in list(event):
            if key == "EventId":
                continue
            dropped = copy.deepcopy(actual)
            del dropped[index][key]
            yield dropped
        if "Id" in event:
            renamed = copy.deepcopy(actual)
            renamed[index]["Id"] = "renamed"
            yield renamed
        retyped = copy.deepcopy(actual)
        retyped[index]["EventType"] = "Other"
        yield retyped


def _reference_modules() -> tuple[ModuleType, ModuleType]:
    root = str(suite.ensure_unpacked())
    sys.path.insert(0, root)
    try:
        history = importlib.import_module(f"{suite.PACKAGE_DIR}.history")
        variables = importlib.import_module(f"{suite.PACKAGE_DIR}.variables")
    except Exception as exc:  # pragma: no cover - depends on the published code
        pytest.skip(f"the published matcher does not import here: {exc!r}")
    finally:
        sys.path.remove(root)
    return history, variables


def test_agrees_with_the_published_matcher(requirements: list[suite.Requirement]) -> None:
    history, variables_module = _reference_modules()
    checked = 0
    for req in requirements:
        actual, variables = _actual_history(req)
        for variant in _variants(actual):
            ours = dict(variables)
            our_errors = match_history(req.expected_history, variant, ours)
            context = variables_module.PlaceholderContext()
            for name, value in variables.items():
                context.bind(name, value)
            theirs = history.EventHistoryMatcher(context=context).match(
                req.expected_history, variant
            )
            assert (not our_errors) == theirs.success, (req, our_errors, theirs.errors)
            assert len(our_errors) == len(theirs.errors), (req, our_errors, theirs.errors)
            assert ours == theirs.resolved_placeholders, req
            checked += 1
    assert checked > 5000


def _log_pool(req: suite.Requirement, variables: dict[str, Any]) -> list[str]:
    """Lines that satisfy each matcher of ``req``'s ExpectedLogs, and some that satisfy none."""

    def text(value: Any) -> Any:
        value = substitute(value, variables)
        if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == "/":
            return re.sub(r"\\(.)", r"\1", value[1:-1]).strip("^$")
        return value

    pool = ["[INFO] unrelated", json.dumps({"plugin": "OTHER", "hook": "x"})]
    for entry in req.expected_logs:
        for matcher in [
            entry["match"],
            *_as_list(entry.get("after")),
            *_as_list(entry.get("before")),
        ]:
            if set(matcher) == {"message"}:
                pool.append(f"[INFO] {text(matcher['message'])}")
            else:
                pool.append(json.dumps({key: text(value) for key, value in matcher.items()}))
    return pool


def _as_list(raw: Any) -> list[Any]:
    return [] if raw is None else [raw] if isinstance(raw, dict) else list(raw)


def test_log_matching_agrees_with_the_published_validator(
    requirements: list[suite.Requirement],
) -> None:
    from .runner import published_log_checker

    try:
        cloudwatch, variables_module = published_log_checker()
    except Exception as exc:  # pragma: no cover - depends on the published code
        pytest.skip(f"the published log validator does not import here: {exc!r}")
    rng = random.Random(7)
    checked = 0
    for req in requirements:
        if not req.expected_logs:
            continue
        variables = generate_variables(req.variables)
        variables.setdefault("ID1", "op-1")
        pool = _log_pool(req, variables)
        for _ in range(300):
            lines = [rng.choice(pool) for _ in range(rng.randint(0, 9))]
            ours = match_logs(req.expected_logs, lines, variables)
            context = variables_module.PlaceholderContext()
            for name, value in variables.items():
                context.bind(name, value)
            events = [
                {"message": line, "timestamp": i, "ingestionTime": i}
                for i, line in enumerate(lines)
            ]
            theirs = cloudwatch.CloudWatchLogValidator().validate(
                req.expected_logs, events, context
            )
            assert (not ours) == theirs.success, (req, lines, ours, theirs.errors)
            assert len(ours) == len(theirs.errors), (req, lines, ours, theirs.errors)
            checked += 1
    assert checked >= 12 * 300


def test_the_published_validators_judge_every_run_too(
    requirements: list[suite.Requirement],
) -> None:
    """``check_published`` (run after our own checks on both engines) applies AWS's history
    matcher and result validator: a wrong result, status or event fails there as well."""
    from .runner import check_published

    req = next(r for r in requirements if str(r) == "step/1-1")
    actual, variables = _actual_history(req)
    assert check_published(req, actual, "SUCCEEDED", '"Hello, World!"', variables) == []
    wrong_result = check_published(req, actual, "SUCCEEDED", '"Hello"', variables)
    assert wrong_result and wrong_result[0].startswith("AWS's result validator: ")
    wrong_status = check_published(req, actual, "FAILED", None, variables)
    assert wrong_status and "ExecutionStatus" in wrong_status[0]
    retyped = copy.deepcopy(actual)
    retyped[1]["EventType"] = "StepFailed"
    wrong_event = check_published(req, retyped, "SUCCEEDED", '"Hello, World!"', variables)
    assert wrong_event and wrong_event[0].startswith("AWS's history matcher: ")
