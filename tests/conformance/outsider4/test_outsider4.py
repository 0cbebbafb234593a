"""The fourth outsider handler set, judged by our matchers and AWS's published validators.

Every requirement runs by three routes, each in the three checkpointing modes (the docs
promise one history in every mode; 3-12 asks for ``"eager"``, see ``handlers.CHECKPOINTING``):

- ``memory``: ``run_embedded`` on a fresh in-memory engine (the repository's runner);
- ``sqlite``: the same runner on a ``SqliteStore`` in a fresh database file;
- ``testrunner``: ``durable_gen.testing.TestRunner`` driven as docs/testing.md describes
  (``testrunner_route.py``), whose history and result go through the same checks.

Each also runs wrapped in a virtual child context at the root (``dg.Child(handler, (input,),
virtual=True)``), which the docs say records nothing: the requirement must still pass, and the
history must have the same events, subtypes and parents as the handler's own.

The requirements that send no callback answers (but those needing a mode of their own and the
plugin suite, whose plugins are per requirement) also run all together in one database, one
``Worker`` running every execution at once (``run_fleet``), each history judged on its own.

The requirements that send no callback answers also run with ``dg.run(..., skip_time=True)``,
whose result (or ``ExecutionFailedError``) must be the requirement's final state.

They run on a ``PostgresStore`` as well (the throwaway cluster of ``tests/postgres``; skipped,
with the session's warning, where no Postgres server binaries are installed).

A sample of them (every suite the command line can run, without callback answers, invoke
targets or plugins) runs with ``durable-gen run ... --skip-time`` and ``durable-gen history
--json`` (``cli_route.py``); every one of the 107 eligible passes that way, the sample keeps
the test fast.

Each history is also read back by the replay tools (``replay_route.py``): the operations
rebuilt from its events must equal the engine's state, and ``replay`` must end as the
execution did.

With ``DURABLE_GEN_CONFORMANCE_EMULATOR=1`` they also run as Lambda functions
(``durable_gen.aws.lambda_handler``) through AWS's emulator, where only its known gaps may fail
them.

They also run through a SQLite ``Worker`` with ``skip_time=True`` (``worker_route.py``), in
the ``"step"`` and ``"batch"`` modes, but for the few whose callback answers need time to pass
(``worker_route.SKIPPED``).
"""

from __future__ import annotations

import inspect
import json
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import msgspec
import pytest

import durable_gen as dg
from durable_gen.local import SqliteStore

from ..handlers import Handler
from ..matching import generate_variables, match_result, substitute
from ..runner import captured_logs, run_embedded
from ..suite import Requirement, load_requirements
from . import handlers
from .cli_route import run_with_cli
from .replay_route import check_replay
from .testrunner_route import run_with_test_runner
from .worker_route import SKIPPED, run_fleet, run_with_worker

MODES = ("step", "eager", "batch")
ROUTES = ("memory", "sqlite", "testrunner")


def _requirements() -> list[Requirement]:
    return sorted(load_requirements(), key=lambda r: r.sort_key)


@pytest.fixture(scope="module")
def requirements() -> dict[str, Requirement]:
    return {req.key: req for req in _requirements()}


def test_every_requirement_has_a_handler(requirements: dict[str, Requirement]) -> None:
    assert sorted(requirements) == sorted(handlers.HANDLERS)


def _keys() -> list[str]:
    try:
        return [req.key for req in _requirements()]
    except Exception:  # the wheel cannot be fetched: the fixture reports it
        return sorted(handlers.HANDLERS)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("key", _keys())
def test_requirement(
    key: str, route: str, mode: str, requirements: dict[str, Requirement], tmp_path: Path
) -> None:
    req = requirements[key]
    workflow = handlers.HANDLERS[key]
    checkpointing = handlers.CHECKPOINTING.get(key, mode)
    plugins = handlers.PLUGINS.get(key, list)
    handlers.reset()
    if route == "testrunner":
        result = run_with_test_runner(
            req, workflow, handlers.FUNCTIONS, checkpointing=checkpointing, plugins=plugins
        )
    else:
        store = SqliteStore(tmp_path / "conformance.db") if route == "sqlite" else None
        result = run_embedded(
            req,
            Handler(workflow, checkpointing=checkpointing, plugins=plugins),
            handlers.FUNCTIONS,
            store=store,
        )
    assert result.status == "passed", result.reason


def _with_answers() -> set[str]:
    try:
        return {req.key for req in _requirements() if req.callback_actions}
    except Exception:  # the wheel cannot be fetched: the fixture reports it
        return set()


_WITH_ANSWERS = _with_answers()


def _keys_for_workers() -> list[str]:
    return [key for key in _keys() if key not in SKIPPED]


@pytest.mark.parametrize("mode", ["step", "batch"])
@pytest.mark.parametrize("key", _keys_for_workers())
def test_requirement_on_a_worker(
    key: str, mode: str, requirements: dict[str, Requirement], tmp_path: Path
) -> None:
    handlers.reset()
    result = run_with_worker(
        requirements[key],
        handlers.HANDLERS[key],
        handlers.FUNCTIONS,
        tmp_path / "worker.db",
        checkpointing=handlers.CHECKPOINTING.get(key, mode),
        plugins=handlers.PLUGINS.get(key, list),
    )
    assert result.status == "passed", result.reason


def _in_a_virtual_child(workflow: Callable[..., Any]) -> Callable[..., Any]:
    """``workflow`` run as a virtual child of a root that takes the same input type."""

    def root(value: Any) -> dg.Workflow[Any]:
        return (yield dg.Child(workflow, (value,), virtual=True))

    hints = typing.get_type_hints(workflow)
    [parameter] = inspect.signature(workflow).parameters
    if parameter in hints:  # the input is decoded into the type the handler declares
        root.__annotations__ = {"value": hints[parameter], "return": dg.Workflow[Any]}
    return root


def _shape(history: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [
        (event["EventType"], event.get("SubType"), "ParentId" in event)
        for event in history
        if not event["EventType"].startswith("Execution")
    ]


@pytest.mark.parametrize("mode", ["step", "batch"])
@pytest.mark.parametrize("key", _keys())
def test_requirement_in_a_virtual_child(
    key: str, mode: str, requirements: dict[str, Requirement]
) -> None:
    req = requirements[key]
    checkpointing = handlers.CHECKPOINTING.get(key, mode)
    plugins = handlers.PLUGINS.get(key, list)
    handlers.reset()
    plain = run_embedded(
        req, Handler(handlers.HANDLERS[key], checkpointing, plugins), handlers.FUNCTIONS
    )
    handlers.reset()
    wrapped = run_embedded(
        req,
        Handler(_in_a_virtual_child(handlers.HANDLERS[key]), checkpointing, plugins),
        handlers.FUNCTIONS,
    )
    assert wrapped.status == "passed", wrapped.reason
    assert _shape(wrapped.history) == _shape(plain.history)


@pytest.mark.parametrize("key", _keys())
def test_requirement_on_aws_emulator(
    key: str, requirements: dict[str, Requirement], emulator: Any
) -> None:
    from durable_gen.aws import lambda_handler

    from ..conftest import GAPS_XFAIL
    from ..emulator_runner import GAP_NAMES, explain, run_emulator

    req = requirements[key]
    handlers.reset()
    function = lambda_handler(
        handlers.HANDLERS[key],
        client=emulator.emulator.client,
        checkpointing=handlers.CHECKPOINTING.get(key, "step"),
        plugins=handlers.PLUGINS.get(key, list)(),
    )
    result = run_emulator(req, emulator, function)
    if result.status == "passed":
        return
    gaps, rest = explain(req, result.errors)
    assert not rest, "\n  ".join(rest)
    pytest.xfail(GAPS_XFAIL + " " + "; ".join(GAP_NAMES[code] for code in gaps))


@pytest.mark.parametrize("key", [key for key in _keys() if key not in _WITH_ANSWERS])
def test_requirement_with_dg_run(key: str, requirements: dict[str, Requirement]) -> None:
    req = requirements[key]
    variables = generate_variables(req.variables)
    handlers.reset()
    try:
        with captured_logs():
            value = dg.run(
                handlers.HANDLERS[key],
                substitute(req.input, variables),
                functions=handlers.FUNCTIONS,
                skip_time=True,
                checkpointing=handlers.CHECKPOINTING.get(key, "step"),
                plugins=handlers.PLUGINS.get(key, list)(),
            )
    except dg.ExecutionFailedError:
        status, result = "FAILED", None
    else:
        status, result = "SUCCEEDED", json.dumps(msgspec.to_builtins(value))
    assert match_result(req.expected_result, status, result, None, variables) == []


@pytest.mark.parametrize("mode", ["step", "batch"])
def test_requirements_together_on_one_worker(
    mode: str, requirements: dict[str, Requirement], tmp_path: Path
) -> None:
    chosen = [
        req
        for key, req in sorted(requirements.items(), key=lambda kv: kv[1].sort_key)
        if key not in _WITH_ANSWERS and key not in handlers.CHECKPOINTING and req.suite != "plugin"
    ]
    handlers.reset()
    results = run_fleet(
        chosen, handlers.HANDLERS, handlers.FUNCTIONS, tmp_path / "fleet.db", checkpointing=mode
    )
    assert len(results) == len(chosen) > 100
    failed = {key: result.reason for key, result in results.items() if result.status != "passed"}
    assert failed == {}


@pytest.mark.parametrize("payload_format", ["json", "aws"])
@pytest.mark.parametrize("key", _keys())
def test_history_reads_back(
    key: str, payload_format: Literal["json", "aws"], requirements: dict[str, Requirement]
) -> None:
    problems = check_replay(
        requirements[key],
        handlers.HANDLERS[key],
        handlers.FUNCTIONS,
        handlers.reset,
        checkpointing=handlers.CHECKPOINTING.get(key, "step"),
        plugins=handlers.PLUGINS.get(key, list),
        payload_format=payload_format,
    )
    assert problems == []


#: One requirement or two per kind of history the command line records.
CLI_SAMPLE = ("1-7", "1-12", "1-17", "2-3", "3-11", "3-12", "4-11", "6-9", "7-7", "8-14", "9-16")


@pytest.mark.parametrize("key", CLI_SAMPLE)
def test_requirement_with_the_command_line(
    key: str, requirements: dict[str, Requirement], tmp_path: Path
) -> None:
    result = run_with_cli(
        requirements[key],
        handlers.HANDLERS[key],
        tmp_path / "cli.db",
        checkpointing=handlers.CHECKPOINTING.get(key, "step"),
    )
    assert result.status == "passed", result.reason


@pytest.mark.parametrize("key", _keys())
def test_requirement_on_postgres(
    key: str, requirements: dict[str, Requirement], postgres_factory: Callable[..., Any]
) -> None:
    handlers.reset()
    result = run_embedded(
        requirements[key],
        Handler(
            handlers.HANDLERS[key],
            checkpointing=handlers.CHECKPOINTING.get(key, "step"),
            plugins=handlers.PLUGINS.get(key, list),
        ),
        handlers.FUNCTIONS,
        store=postgres_factory(),
    )
    assert result.status == "passed", result.reason
