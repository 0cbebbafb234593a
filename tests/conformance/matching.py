"""Comparison rules of the conformance requirements, re-implemented for our test runs.

The behaviour follows the published runner (release 1.0.0) so that a history accepted here is
accepted there:

History (``match_history``)
  * Expected events are looked up in the actual history by ``EventId``. Actual events that no
    expected event names are ignored, as are keys of an actual event that the expected event does
    not list.
  * A key listed in an expected mapping must exist in the actual mapping, whatever its value.
  * ``'*'`` accepts any value; ``{}`` accepts any value (only presence is required).
  * A value that is exactly ``${NAME}`` binds ``NAME`` to the actual value on first use (or when
    pre-bound through ``Variables``) and must be equal to it everywhere afterwards. Distinct names
    are not required to have distinct values.
  * A value that is exactly ``${/regex/}`` is searched (``re.search``) in ``str(actual)``.
  * Lists must have the same length and match element by element.
  * Anything else is compared with ``==`` after replacing already bound ``${NAME}`` references
    inside strings. Payloads are therefore compared as the JSON *strings* the service stores
    (``'"hello"'``), never decoded; error payloads are mappings (``ErrorType``,
    ``ErrorMessage``, ...).

Result (``match_result``)
  * ``ExecutionStatus`` (when given) must equal the actual status; nothing else is checked unless
    the execution SUCCEEDED. The error of a failed execution is not compared.
  * If ``Result`` is listed, the actual result string is ``json.loads``-ed once (kept as a raw
    string when it is not JSON; ``None`` when absent) and compared with ``==`` against the expected
    value after substituting bound ``${NAME}`` references. No wildcards or regexes apply here.

Logs (``match_logs``)
  * A line holding a JSON object is matched by its top-level fields, any other line only by
    ``message`` (the line). ``match`` fields are ANDed; ``/regex/`` values are searched, other
    strings compared stripped, booleans and numbers by value.
  * ``count`` / ``min_count`` / ``max_count`` bound the matches over the whole run (at least one
    when none is given); ``before`` / ``after`` anchors order all matches against all lines an
    anchor matches, and an anchor matching nothing is an error.
  * ``in_execution_scope`` drops JSON records not stamped with the execution's ARN, as the
    published runner's execution-scoped CloudWatch query does.
"""

from __future__ import annotations

import json
import random
import re
import secrets
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "CallbackAction",
    "callback_name_matches",
    "generate_variables",
    "in_execution_scope",
    "match_history",
    "match_logs",
    "match_result",
    "parse_callback_actions",
    "parse_log_line",
    "substitute",
]

Bindings = dict[str, Any]

# A whole value of the form ${...}; checked after the regex form.
_PLACEHOLDER_RE = re.compile(r"^\$\{(.+)\}$")
# A whole value of the form ${/pattern/}.
_REGEX_RE = re.compile(r"^\$\{/(.+)/\}$")
# References substituted inside strings once bound.
_REFERENCE_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
# Variable generator, e.g. ${GEN_STR:8}.
_GEN_STR_RE = re.compile(r"^\$\{GEN_STR:(\d+)\}$")
_GEN_ALPHABET = string.ascii_lowercase + string.digits

WILDCARD = "*"


# ---------------------------------------------------------------------------------------------
# Variables and substitution
# ---------------------------------------------------------------------------------------------


def generate_variables(
    spec: Mapping[str, Any] | None, rng: random.Random | None = None
) -> Bindings:
    """Resolve a requirement's ``Variables`` block into concrete bindings.

    ``${GEN_STR:N}`` becomes N random characters from ``[a-z0-9]``; any other string is bound
    literally (without substitution); non-string values are bound as ``str(value)``.
    """
    bindings: Bindings = {}
    for name, value in (spec or {}).items():
        if not isinstance(value, str):
            bindings[name] = str(value)
            continue
        gen = _GEN_STR_RE.match(value)
        if gen is None:
            bindings[name] = value
            continue
        length = int(gen.group(1))
        if rng is None:
            bindings[name] = "".join(secrets.choice(_GEN_ALPHABET) for _ in range(length))
        else:
            bindings[name] = "".join(rng.choice(_GEN_ALPHABET) for _ in range(length))
    return bindings


def substitute(data: Any, bindings: Mapping[str, Any] | None) -> Any:
    """Replace bound ``${NAME}`` references in strings, recursively through dicts and lists.

    Unbound references are left untouched; dict keys are not rewritten; bound values are
    inserted with ``str()``.
    """
    if not bindings:
        return data
    if isinstance(data, str):
        return _substitute_str(data, bindings)
    if isinstance(data, dict):
        return {key: substitute(value, bindings) for key, value in data.items()}
    if isinstance(data, list):
        return [substitute(item, bindings) for item in data]
    return data


def _substitute_str(text: str, bindings: Mapping[str, Any]) -> str:
    def repl(m: re.Match[str]) -> str:
        name = m.group(1)
        return str(bindings[name]) if name in bindings else m.group(0)

    return _REFERENCE_RE.sub(repl, text)


def _placeholder_name(value: Any) -> str | None:
    if not isinstance(value, str) or _REGEX_RE.match(value):
        return None
    m = _PLACEHOLDER_RE.match(value)
    return m.group(1) if m else None


def _regex(value: Any) -> re.Pattern[str] | None:
    if not isinstance(value, str):
        return None
    m = _REGEX_RE.match(value)
    return re.compile(m.group(1)) if m else None


# ---------------------------------------------------------------------------------------------
# History
# ---------------------------------------------------------------------------------------------


def match_history(
    expected_events: Sequence[Mapping[str, Any]],
    actual_events: Sequence[Mapping[str, Any]],
    variables: Bindings | None = None,
) -> list[str]:
    """Compare a requirement's ``ExpectedExecutionHistory`` with an actual event list.

    ``actual_events`` are shaped like ``GetDurableExecutionHistory`` ``Events``. ``variables``
    holds the bindings made so far (from ``generate_variables``); placeholders bound during the
    comparison are added to it in place, so the same dict can then be passed to
    ``match_result``. Returns human-readable mismatches; an empty list means the history matches.
    """
    bindings: Bindings = variables if variables is not None else {}
    errors: list[str] = []
    by_id: dict[Any, Mapping[str, Any]] = {}
    for event in actual_events:
        event_id = event.get("EventId")
        if event_id is not None:
            by_id[event_id] = event
    for expected in expected_events:
        event_id = expected.get("EventId")
        if event_id is None:
            errors.append(f"expected event without EventId: {dict(expected)!r}")
            continue
        label = f"EventId={event_id}"
        if "EventType" in expected:
            label += f" ({expected['EventType']})"
        actual = by_id.get(event_id)
        if actual is None:
            errors.append(f"{label}: no actual event with this EventId")
            continue
        _match(expected, actual, label, bindings, errors)
    return errors


def _match(expected: Any, actual: Any, path: str, bindings: Bindings, errors: list[str]) -> None:
    if isinstance(expected, dict) and not expected:
        return
    if isinstance(expected, str) and expected == WILDCARD:
        return
    name = _placeholder_name(expected)
    if name is not None:
        if name in bindings:
            if bindings[name] != actual:
                errors.append(
                    f"{path}: ${{{name}}} is bound to {bindings[name]!r} but the value is "
                    f"{actual!r}"
                )
        else:
            bindings[name] = actual
        return
    pattern = _regex(expected)
    if pattern is not None:
        if not pattern.search(str(actual)):
            errors.append(f"{path}: {actual!r} does not match /{pattern.pattern}/")
        return
    if isinstance(expected, dict) and isinstance(actual, Mapping):
        for key, value in expected.items():
            if key not in actual:
                errors.append(f"{path}.{key}: missing")
                continue
            _match(value, actual[key], f"{path}.{key}", bindings, errors)
        return
    if isinstance(expected, list) and isinstance(actual, list):
        if len(expected) != len(actual):
            errors.append(f"{path}: expected {len(expected)} items, got {len(actual)}")
            return
        for index, (exp_item, act_item) in enumerate(zip(expected, actual, strict=True)):
            _match(exp_item, act_item, f"{path}[{index}]", bindings, errors)
        return
    resolved = _substitute_str(expected, bindings) if isinstance(expected, str) else expected
    if resolved != actual:
        errors.append(f"{path}: expected {resolved!r}, got {actual!r}")


# ---------------------------------------------------------------------------------------------
# Result
# ---------------------------------------------------------------------------------------------


def match_result(
    expected_result: Mapping[str, Any] | None,
    status: str | None,
    result_json: str | None,
    error: Mapping[str, Any] | None,
    variables: Bindings | None,
) -> list[str]:
    """Compare a requirement's ``ExpectedResult`` with the final state of an execution.

    ``status``/``result_json``/``error`` are the ``Status``, ``Result`` (a JSON string) and
    ``Error`` of ``GetDurableExecution``. ``error`` is only used to explain a status mismatch.
    """
    if not expected_result:
        return []
    expected_status = expected_result.get("ExecutionStatus")
    if expected_status and status != expected_status:
        detail = f" (error: {dict(error)!r})" if error else ""
        return [f"ExecutionStatus: expected {expected_status!r}, got {status!r}{detail}"]
    if status != "SUCCEEDED" or "Result" not in expected_result:
        return []
    actual: Any = None
    if result_json is not None:
        try:
            actual = json.loads(result_json)
        except (json.JSONDecodeError, TypeError):
            actual = result_json
    expected = substitute(expected_result.get("Result"), variables)
    if actual != expected:
        return [f"Result: expected {expected!r}, got {actual!r}"]
    return []


# ---------------------------------------------------------------------------------------------
# Callback actions
# ---------------------------------------------------------------------------------------------

_CALLBACK_OPERATIONS = frozenset({"success", "failure", "heartbeat"})
_ERROR_KEYS = ("ErrorType", "ErrorMessage", "ErrorData", "StackTrace")


@dataclass(frozen=True)
class CallbackAction:
    """One entry of ``CallbackActions``: what the external system sends, and to which callback.

    The runner answers each new ``CallbackStarted`` event (in history order) with the first
    unused action whose ``callback_name`` matches the event's ``Name`` (see
    ``callback_name_matches``), after sleeping ``delay_seconds``. Every action is used at most
    once; a heartbeat does not settle the callback, so it stays eligible for a later action.
    """

    callback_name: str
    operation: str
    payload: Any = None
    delay_seconds: float = 0.0

    def success_result(self) -> bytes | None:
        """The ``Result`` bytes sent with ``SendDurableExecutionCallbackSuccess``.

        The payload is JSON-encoded with ``json.dumps`` defaults, so a string payload ``abc`` is
        stored as ``"abc"`` and ``{"a": 1}`` as ``{"a": 1}`` (with the space).
        """
        return None if self.payload is None else json.dumps(self.payload).encode("utf-8")

    def failure_error(self) -> dict[str, Any] | None:
        """The ``Error`` object sent with ``SendDurableExecutionCallbackFailure``."""
        if self.payload is None:
            return None
        if not isinstance(self.payload, dict):
            raise ValueError(f"failure payload must be a mapping, got {self.payload!r}")
        error = {key: self.payload[key] for key in _ERROR_KEYS if key in self.payload}
        return error or None


def parse_callback_actions(
    raw: Sequence[Mapping[str, Any]] | None, variables: Mapping[str, Any] | None
) -> list[CallbackAction]:
    """Parse ``CallbackActions`` entries, substituting bound variables in names and payloads."""
    actions: list[CallbackAction] = []
    for entry in raw or []:
        name = entry.get("CallbackName")
        operation = entry.get("Operation")
        if not name or not operation:
            raise ValueError(f"callback action needs CallbackName and Operation: {entry!r}")
        if str(operation).lower() not in _CALLBACK_OPERATIONS:
            raise ValueError(f"unknown callback operation {operation!r}")
        actions.append(
            CallbackAction(
                callback_name=str(substitute(name, variables)),
                operation=str(operation).lower(),
                payload=substitute(entry.get("Payload"), variables),
                delay_seconds=float(entry.get("Delay", 0)),
            )
        )
    return actions


def callback_name_matches(
    pattern: str, event_name: str | None, variables: Mapping[str, Any] | None = None
) -> bool:
    """Whether an action's ``CallbackName`` selects a ``CallbackStarted`` event's ``Name``.

    ``'*'`` selects any callback (including unnamed ones, such as the inner callback of
    ``wait_for_callback``), ``${/regex/}`` is searched in the name, anything else must be equal
    after substitution.
    """
    resolved = str(substitute(pattern, variables))
    name = event_name or ""
    if resolved in (WILDCARD, name):
        return True
    regex = _regex(resolved)
    return regex is not None and regex.search(name) is not None


# ---------------------------------------------------------------------------------------------
# Logs
# ---------------------------------------------------------------------------------------------

_LOG_COUNT_KEYS = ("count", "min_count", "max_count")

#: The top-level fields by which the published runner selects one execution's log records.
ARN_FIELDS = ("durableExecutionArn", "executionArn")


def parse_log_line(line: str) -> dict[str, Any]:
    """A log line as the fields a matcher sees.

    A line holding a JSON object exposes its top-level keys; any other line exposes only
    ``message``, the stripped line (log records render as ``[LEVEL] message``).
    """
    stripped = line.strip()
    if stripped.startswith("{"):
        try:
            parsed = json.loads(stripped)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            return parsed
    return {"message": stripped}


def in_execution_scope(lines: Sequence[str], execution_arn: str) -> list[str]:
    """The lines the published runner would retrieve for ``execution_arn``.

    It reads CloudWatch records with the JSON filter
    ``{ ($.durableExecutionArn = ARN) || ($.executionArn = ARN) }``: only a JSON object whose
    top-level ``durableExecutionArn`` or ``executionArn`` is the execution's ARN is retrieved. A
    plain line (a ``print``, a record in Lambda's text log format), a JSON record without the
    field or one of another execution is not.
    """
    kept = []
    for line in lines:
        fields = parse_log_line(line)
        if set(fields) != {"message"} and any(fields.get(k) == execution_arn for k in ARN_FIELDS):
            kept.append(line)
    return kept


def _value_matches(expected: Any, actual: Any) -> bool:
    if isinstance(expected, str):
        text = str(actual).strip()
        if len(expected) >= 2 and expected.startswith("/") and expected.endswith("/"):
            return re.search(expected[1:-1], text) is not None
        return text == expected.strip()
    if isinstance(expected, bool) or isinstance(actual, bool):
        return expected is actual
    if isinstance(expected, (int, float)) and isinstance(actual, (int, float)):
        return float(expected) == float(actual)
    return str(expected) == str(actual)


def _matching(matcher: Mapping[str, Any], records: Sequence[Mapping[str, Any]]) -> list[int]:
    return [
        i
        for i, record in enumerate(records)
        if all(key in record and _value_matches(want, record[key]) for key, want in matcher.items())
    ]


def _anchors(raw: Any) -> list[Mapping[str, Any]] | None:
    if raw is None:
        return []
    if isinstance(raw, Mapping):
        return [raw]
    if isinstance(raw, list) and all(isinstance(item, Mapping) for item in raw):
        return raw
    return None


def _label(matcher: Mapping[str, Any]) -> str:
    return ", ".join(f"{key}={value!r}" for key, value in matcher.items())


def match_logs(
    expected_logs: Sequence[Mapping[str, Any]] | None,
    messages: Sequence[str],
    variables: Mapping[str, Any] | None,
) -> list[str]:
    """Check a requirement's ``ExpectedLogs`` against the log lines of one execution, in order.

    The published runner reads CloudWatch records; here each line is parsed by
    ``parse_log_line``. An entry's ``match`` maps fields to values, all of which must match
    (after substituting bound ``${NAME}``): a ``/regex/`` string is searched in ``str(value)``,
    another string must equal the stripped value, booleans must be the same boolean, numbers
    equal numbers, anything else equal as ``str``. ``count`` (exact), ``min_count`` and
    ``max_count`` bound the number of matching lines over the whole run; without any of them at
    least one is required. ``after`` (``before``): one matcher or a list; every line the entry
    matches must come after (before) every line each anchor matches, and an anchor matching no
    line is an error. Lines are ordered as emitted (the published runner orders by timestamp
    and treats equal timestamps as concurrent, so it accepts every order accepted here).
    """
    errors: list[str] = []
    records = [parse_log_line(line) for line in messages]
    for raw in expected_logs or []:
        entry = substitute(dict(raw), variables)
        match = entry.get("match")
        after, before = _anchors(entry.get("after")), _anchors(entry.get("before"))
        if not isinstance(match, Mapping) or not match or after is None or before is None:
            errors.append(
                f"log expectation {dict(raw)!r}: 'match' must be a non-empty mapping and "
                "'before'/'after' a mapping or a list of mappings"
            )
            continue
        label = f"logs matching {_label(match)}"
        found = _matching(match, records)
        count, low, high = (entry.get(key) for key in _LOG_COUNT_KEYS)
        if count is None and low is None and high is None:
            low = 1
        if count is not None and len(found) != count:
            errors.append(f"{label}: expected {count}, found {len(found)}")
        if count is None and low is not None and len(found) < low:
            errors.append(f"{label}: expected at least {low}, found {len(found)}")
        if count is None and high is not None and len(found) > high:
            errors.append(f"{label}: expected at most {high}, found {len(found)}")
        for direction, anchors in (("after", after), ("before", before)):
            for anchor in anchors:
                marks = _matching(anchor, records)
                if not marks:
                    errors.append(f"{label}: {direction} anchor {_label(anchor)} matched no line")
                elif found and (
                    found[0] < marks[-1] if direction == "after" else found[-1] > marks[0]
                ):
                    errors.append(
                        f"{label}: expected every match {direction} {_label(anchor)} "
                        "(lines out of order)"
                    )
    return errors
