"""The Map / Parallel / saga corpus (``batch_corpus.py``) on every embedded engine.

Each program runs on the in-memory engine, on SQLite and through ``lambda_handler``, and must
give the result the guide promises, the same everywhere; a completion policy must not have run
the items after the one that decided the batch; ``assert_deterministic`` must pass (a correct
workflow is never reported), and ``replay`` must replay each recorded history.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

import durable_gen as dg
import durable_gen.runtime as rt
from durable_gen.aws import lambda_handler
from durable_gen.local import LocalService, MemoryStore, SqliteStore, VirtualClock
from durable_gen.testing import assert_deterministic, replay

from . import batch_corpus as corpus

Engine = Callable[[Any, Path], tuple[LocalService, str]]


def _memory(workflow: Any, tmp_path: Path) -> tuple[LocalService, str]:
    engine = LocalService(store=MemoryStore(), clock=VirtualClock())
    return engine, _start(engine, rt.make_handler(workflow, engine))


def _sqlite(workflow: Any, tmp_path: Path) -> tuple[LocalService, str]:
    engine = LocalService(store=SqliteStore(str(tmp_path / "corpus.db")), clock=VirtualClock())
    return engine, _start(engine, rt.make_handler(workflow, engine))


def _lambda(workflow: Any, tmp_path: Path) -> tuple[LocalService, str]:
    engine = LocalService(clock=VirtualClock())
    handler = lambda_handler(workflow, service=engine)

    def durable(event: rt.InvocationInput) -> rt.InvocationOutput:
        return msgspec.convert(handler(msgspec.to_builtins(event), None), rt.InvocationOutput)

    return engine, _start(engine, durable)


def _start(engine: LocalService, handler: Any) -> str:
    engine.register("corpus", handler)
    arn = engine.start("corpus", "null")
    engine.run(arn)
    return arn


ENGINES: dict[str, Engine] = {"memory": _memory, "sqlite": _sqlite, "lambda": _lambda}


@pytest.fixture(autouse=True)
def _clean() -> Iterator[None]:
    corpus.RAN.clear()
    logging.disable(logging.WARNING)  # failed attempts are logged at WARNING
    yield
    logging.disable(logging.NOTSET)


def _succeeded(engine: LocalService, arn: str) -> Any:
    record = engine.get_execution(arn)
    assert record.status == "SUCCEEDED", record.error
    assert record.result is not None
    return json.loads(record.result)


def _ran_items(items: list[int], statuses: str) -> list[Any]:
    """The step bodies a one-at-a-time batch ran: exactly its SUCCEEDED and FAILED items."""
    return sorted((x for x, s in zip(items, statuses, strict=True) if s in "SF"), key=repr)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(
    ("items", "max_concurrency", "completion", "statuses", "reason"),
    [pytest.param(*case[1:], id=case[0]) for case in corpus.MAP_POLICIES],
)
def test_map_completion_policies(
    engine: str,
    items: list[int],
    max_concurrency: int | None,
    completion: dg.Completion | None,
    statuses: str,
    reason: str,
    tmp_path: Path,
) -> None:
    service, arn = ENGINES[engine](corpus.map_program(items, max_concurrency, completion), tmp_path)
    assert _succeeded(service, arn) == corpus._expect(items, statuses, reason)
    if max_concurrency == 1:
        assert corpus.sorted_ran() == _ran_items(items, statuses)


@pytest.mark.parametrize("engine", ["memory", "sqlite"])
@pytest.mark.parametrize(
    ("values", "max_concurrency", "completion", "statuses", "reason"),
    [pytest.param(*case[1:], id=case[0]) for case in corpus.MAP_POLICIES],
)
def test_parallel_completion_policies(
    engine: str,
    values: list[int],
    max_concurrency: int | None,
    completion: dg.Completion | None,
    statuses: str,
    reason: str,
    tmp_path: Path,
) -> None:
    workflow = corpus.parallel_program(values, max_concurrency, completion)
    service, arn = ENGINES[engine](workflow, tmp_path)
    expected = corpus._expect(values, statuses, reason, prefix="parallel-branch")
    assert _succeeded(service, arn) == expected
    if max_concurrency == 1:
        assert corpus.sorted_ran() == _ran_items(values, statuses)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(
    ("workflow", "expected", "ran"), [pytest.param(*case[1:], id=case[0]) for case in corpus.OTHERS]
)
def test_shapes_results_and_sagas(
    engine: str, workflow: Any, expected: Any, ran: list[Any] | None, tmp_path: Path
) -> None:
    service, arn = ENGINES[engine](workflow, tmp_path)
    assert _succeeded(service, arn) == expected
    if ran is not None:
        assert corpus.sorted_ran() == ran
    assert replay(workflow, service.get_operations(arn)).ok


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(
    ("workflow", "error_type", "message"),
    [pytest.param(*case[1:], id=case[0]) for case in corpus.FAILING],
)
def test_failing_programs(
    engine: str, workflow: Any, error_type: str, message: str, tmp_path: Path
) -> None:
    service, arn = ENGINES[engine](workflow, tmp_path)
    record = service.get_execution(arn)
    assert record.status == "FAILED"
    assert record.error is not None
    assert (record.error.error_type, record.error.error_message) == (error_type, message)


@pytest.mark.parametrize(
    ("items", "max_concurrency", "completion", "statuses", "reason"),
    [pytest.param(*case[1:], id=case[0]) for case in corpus.MAP_POLICIES if case[1]],
)
def test_map_policies_survive_crashes(
    items: list[int],
    max_concurrency: int | None,
    completion: dg.Completion | None,
    statuses: str,
    reason: str,
) -> None:
    assert_deterministic(
        corpus.map_program(items, max_concurrency, completion), None, random_runs=1
    )


@pytest.mark.parametrize(
    "workflow",
    [
        pytest.param(case[1], id=case[0])
        for case in corpus.OTHERS + corpus.FAILING
        if not case[0].startswith("thousands")
    ],
)
def test_shapes_and_sagas_survive_crashes(workflow: Any) -> None:
    assert_deterministic(workflow, None, random_runs=2)


# --- a recorded batch replayed by changed code (versioning.md) --------------------------------


def _recorded_map(**options: Any) -> Any:
    @dg.workflow
    def program(_: Any) -> dg.Workflow[Any]:
        batch = yield from dg.Map(corpus.double, options.pop("items", [1, 2, 3]), **options)
        return batch.all_results()

    return program


@pytest.mark.parametrize(
    ("changed", "ok", "said"),
    [
        pytest.param({}, True, None, id="same"),
        pytest.param({"items": [4, 5, 6]}, True, None, id="other-values"),
        pytest.param({"max_concurrency": 1}, True, None, id="concurrency"),
        pytest.param({"completion": dg.Completion.first_successful()}, True, None, id="policy"),
        pytest.param(
            {"items": [1, 2, 3, 4]},
            False,
            "recorded unnamed Map with 3 items, the code asks for unnamed Map with 4 items",
            id="more-items",
        ),
        pytest.param({"items": [1, 2]}, False, "unnamed Map with 2 items", id="fewer-items"),
        pytest.param(
            {"item_namer": lambda item, index: f"i{index}"},
            False,
            "unnamed Map item 0 named 'map-item-0'",
            id="namer",
        ),
        pytest.param({"nesting": "flat"}, False, "unnamed Map with nesting='flat'", id="flat"),
        pytest.param({"name": "ship"}, False, "name", id="named"),
    ],
)
def test_a_recorded_map_replays_only_the_same_shape(
    changed: dict[str, Any], ok: bool, said: str | None, tmp_path: Path
) -> None:
    service, arn = _memory(_recorded_map(), tmp_path)
    report = replay(_recorded_map(**changed), service.get_operations(arn))
    assert report.ok is ok, report.message
    if said is not None:
        assert said in report.message
        assert "None" not in (report.divergence.recorded if report.divergence else "")
