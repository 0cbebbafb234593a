"""Signatures written out in the docs match the code: names, order, defaults, and completeness.

A reader copies ``Worker(db, *, functions=None, poll=0.5, ...)`` into a call or a mock, so each
signature the docs spell out is checked against ``inspect.signature``: every parameter named
exists (positional ones in the documented order) with the documented default, and a signature
the docs give in full names every parameter (a ``...`` of its own marks one given in part).
"""

from __future__ import annotations

import ast
import importlib
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import durable_gen as dg
import durable_gen.runtime as rt
from durable_gen import local, otel, telemetry, testing
from durable_gen.testing import strategies

ROOT = Path(__file__).resolve().parents[2]

#: (page, where the signature starts, the object it describes)
SIGNATURES: list[tuple[str, str, Callable[..., Any]]] = [
    ("guide.md", "`Retry(max_attempts=", dg.Retry),
    ("guide.md", "`WaitForCallback(submitter, name=", dg.WaitForCallback),
    ("guide.md", "`Invoke(function_name, payload=", dg.Invoke),
    ("guide.md", "`WaitForCondition(check, initial_state=", dg.WaitForCondition),
    ("guide.md", "`WaitStrategy(until=", dg.WaitStrategy),
    ("guide.md", "`Child(workflow, args=", dg.Child),
    ("guide.md", "`Completion(min_successful=", dg.Completion),
    ("guide.md", "`run(workflow, input, functions=", dg.run),
    ("guide.md", "`durable_gen.runtime.invoke(workflow, event, service,", rt.invoke),
    ("cli.md", "`Worker(db, *, functions=", local.Worker),
    ("cli.md", "`SqliteStore(path, synchronous=", local.SqliteStore),
    ("cli.md", "`register(fn, *, name=", local.Worker.register),
    ("cli.md", "`run(*, once=", local.Worker.run),
    ("cli.md", "`drive(execution_arn, *,", local.Worker.drive),
    ("embedding.md", "`rt.invoke(workflow, event, service, *,", rt.invoke),
    ("engine.md", "LocalService(*, store=", local.LocalService),
    ("engine.md", "`register_function(", local.register_function),
    ("engine.md", "`start(function_name, input_payload=", local.LocalService.start),
    ("engine.md", "`run(execution_arn, *, until=", local.LocalService.run),
    ("engine.md", "`stop(execution_arn, error=", local.LocalService.stop),
    ("engine.md", "`list_executions(status=", local.LocalService.list_executions),
    (
        "engine.md",
        "`send_callback_success(callback_id, result=",
        local.LocalService.send_callback_success,
    ),
    (
        "engine.md",
        "`send_callback_failure(callback_id, error=",
        local.LocalService.send_callback_failure,
    ),
    ("engine.md", "`PostgresStore(url, *,", local.PostgresStore),
    ("engine.md", "`open_store(url, *,", local.open_store),
    ("engine.md", "`Worker(db, *, ..., patience=", local.Worker),
    ("engine.md", "`VirtualClock(start_ms=", local.VirtualClock),
    ("observability.md", "`OpenTelemetryPlugin(tracer_provider=", otel.OpenTelemetryPlugin),
    ("observability.md", "`TelemetryPlugin(sink=", telemetry.TelemetryPlugin),
    ("testing.md", "`operations(name=None", testing.DurableRun.operations),
    ("testing.md", "`operation(name, type=", testing.DurableRun.operation),
    ("testing.md", "`programs(kinds=", strategies.programs),
    ("testing.md", "`crash_schedules(max_point=", strategies.crash_schedules),
]


def _documented(page: str, start: str) -> str:
    """The parameter list written after ``start`` on ``page`` (up to the matching paren)."""
    text = (ROOT / "docs" / page).read_text()
    at = text.index(start)
    i = text.index("(", at) + 1
    depth = 1
    j = i
    while depth:
        depth += {"(": 1, ")": -1}.get(text[j], 0)
        j += 1
    return " ".join(text[i : j - 1].split())


def _split(params: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for ch in params:
        depth += {"(": 1, "[": 1, "{": 1, ")": -1, "]": -1, "}": -1}.get(ch, 0)
        if ch == "," and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += ch
    if current.strip():
        parts.append(current.strip())
    return parts


def _default(text: str) -> Any:
    env = {"Exception": Exception, "None": None, "True": True, "False": False}
    return eval(compile(ast.parse(text, mode="eval"), "<doc>", "eval"), env)


def _check(where: str, written: str, obj: Callable[..., Any]) -> None:
    """``written`` (a parameter list from the docs) describes ``obj``'s signature."""
    actual = {
        name: p
        for name, p in inspect.signature(obj).parameters.items()
        if name != "self"
        and not name.startswith("_")
        and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    }
    parts = _split(written)
    names: list[str] = []
    for part in parts:
        if part in ("*", "...") or part.startswith("*"):
            continue
        name, eq, default = part.partition("=")
        name = name.strip()
        assert name in actual, f"{where}...) names {name!r}; the code has {list(actual)}"
        names.append(name)
        default = default.strip()
        if eq and default and default != "...":
            expected = actual[name].default
            assert expected is not inspect.Parameter.empty, f"{where}: {name} has no default"
            assert _default(default) == expected, f"{where}: {name}={default}; code: {expected!r}"
        if eq and default:
            assert actual[name].default is not inspect.Parameter.empty, (
                f"{where}: {name} is written with a default, the code requires it"
            )
    positional = [n for n in names if actual[n].kind is not inspect.Parameter.KEYWORD_ONLY]
    order = [n for n in actual if n in positional]
    assert positional == order, f"{where}...) lists {positional}; the code has {order}"
    if "..." not in parts:
        missing = [n for n in actual if n not in names]
        assert not missing, f"{where}...) leaves out {missing} (or write ... for them)"


@pytest.mark.parametrize(
    ("page", "start", "obj"), SIGNATURES, ids=[f"{p}:{s.strip('`(')}" for p, s, _ in SIGNATURES]
)
def test_documented_signature_matches(page: str, start: str, obj: Callable[..., Any]) -> None:
    _check(f"{page}: {start}", _documented(page, start), obj)


MODULES = [
    "durable_gen",
    "durable_gen.runtime",
    "durable_gen.local",
    "durable_gen.testing",
    "durable_gen.testing.strategies",
    "durable_gen.aws",
    "durable_gen.plugins",
    "durable_gen.otel",
    "durable_gen.telemetry",
]
#: Public names api.md's "Signatures" leaves to their pages: type aliases and protocols.
NOT_CALLED = {
    "Workflow",
    "CheckpointMode",
    "Action",
    "Outcome",
    "HistorySource",
    "ReplayStatus",
    "Node",
    "Program",
    "OtelView",
    "InvocationHandler",
    "Serdes",
    "DurableService",
    "ExecutionStore",
    "Clock",
    "logger",
}


def _api_sections() -> dict[str, dict[str, str]]:
    """api.md's "Signatures": module -> name -> the parameter list written for it."""
    text = (ROOT / "docs" / "api.md").read_text().split("\n## Signatures\n", 1)[1]
    sections: dict[str, dict[str, str]] = {}
    current: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("### `"):
            current = sections.setdefault(line.strip("#` "), {})
        elif line.startswith("- `"):
            name, _, rest = line[3:].partition("(")
            current[name] = rest.split(")`", 1)[0]
    return sections


@pytest.mark.parametrize("module_name", MODULES)
def test_api_md_gives_every_public_callable_its_signature(module_name: str) -> None:
    module = importlib.import_module(module_name)
    documented = _api_sections().get(module_name, {})
    expected = [
        name
        for name in module.__all__
        if not name.startswith("_")
        and name not in NOT_CALLED
        and callable(getattr(module, name))
        and not (
            isinstance(getattr(module, name), type)
            and issubclass(getattr(module, name), BaseException)
        )
    ]
    missing = [name for name in expected if name not in documented]
    assert not missing, f"docs/api.md, Signatures, {module_name}: add {missing}"
    for name, written in documented.items():
        assert name in module.__all__, f"docs/api.md lists {module_name}.{name}, not public"
        _check(f"api.md: {module_name}.{name}(", written, getattr(module, name))


def test_api_md_values() -> None:
    from durable_gen import telemetry as t

    assert (dg.AT_LEAST_ONCE, dg.AT_MOST_ONCE) == ("at_least_once", "at_most_once")
    assert isinstance(dg.logger, dg.ReplayAwareLogger) and dg.logger.name == "durable_gen.workflow"
    assert (t.RECORD_TYPE, t.SCHEMA_VERSION) == ("DurableExecutionTelemetry", "1.0")


def test_every_listed_signature_is_on_its_page() -> None:
    for page, start, _ in SIGNATURES:
        assert start in (ROOT / "docs" / page).read_text(), (page, start)
