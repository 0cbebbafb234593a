"""``make_handler(..., portal=, pool=)`` as docs/embedding.md gives them, with the mistakes a
host makes: an executor or a portal given itself instead of a function returning it, or a
function returning something else. Each is a ``ValidationError`` that says what to pass."""

from __future__ import annotations

import concurrent.futures as cf
import itertools
import threading
from typing import Any

import pytest
from anyio.from_thread import start_blocking_portal

import durable_gen as dg
from durable_gen import runtime as rt
from tests.unit.embedding_runtimes import start_store


class DictService:
    def __init__(self) -> None:
        self.store = start_store("null", 0)
        self.tokens = (f"token-{n}" for n in itertools.count())
        self.token = ""

    def event(self) -> rt.InvocationInput:
        self.token = next(self.tokens)
        state = rt.ExecutionState(operations=list(self.store.values()))
        return rt.InvocationInput(
            durable_execution_arn="arn:handler",
            checkpoint_token=self.token,
            initial_execution_state=state,
        )

    def checkpoint(
        self, execution_arn: str, checkpoint_token: str, updates: list[rt.OperationUpdate]
    ) -> rt.CheckpointResponse:
        assert checkpoint_token == self.token
        applied = rt.apply_updates(self.store, updates, now_ms=0)
        self.token = next(self.tokens)
        changed = rt.ExecutionState(operations=applied.operations)
        return rt.CheckpointResponse(checkpoint_token=self.token, new_execution_state=changed)

    def get_state(
        self, execution_arn: str, checkpoint_token: str, marker: str
    ) -> rt.ExecutionState:
        return rt.ExecutionState(operations=[])


threads: set[str] = set()


@dg.step
def sync_step(i: int) -> int:
    threads.add(threading.current_thread().name)
    return i


@dg.step
async def async_step(i: int) -> int:
    threads.add("async")
    return i


def workflow(_: object) -> Any:
    synced = yield dg.Map(sync_step, [1, 2, 3], name="sync")
    awaited = yield dg.Map(async_step, [1, 2], name="async")
    return [synced.results(), awaited.results()]


def test_a_host_runs_the_steps_in_its_own_pool_and_loop() -> None:
    threads.clear()
    with (
        cf.ThreadPoolExecutor(3, thread_name_prefix="host-pool") as pool,
        start_blocking_portal() as portal,
    ):
        service = DictService()
        handler = rt.make_handler(workflow, service, portal=lambda: portal, pool=lambda: pool)
        assert handler(service.event()).result == "[[1,2,3],[1,2]]"
    assert "async" in threads and any(name.startswith("host-pool") for name in threads)


@pytest.mark.parametrize(
    "options",
    [{"pool": cf.ThreadPoolExecutor(1)}, {"portal": 5}, {"pool": "pool"}],
    ids=["an-executor-itself", "a-number", "a-str"],
)
def test_a_portal_or_pool_that_is_not_a_function_is_refused_where_the_handler_is_made(
    options: dict[str, Any],
) -> None:
    with pytest.raises(dg.ValidationError, match="function"):
        rt.make_handler(workflow, DictService(), **options)


@pytest.mark.parametrize("name", ["pool", "portal"])
def test_a_portal_or_pool_function_returning_something_else_is_a_validation_error(
    name: str,
) -> None:
    service = DictService()
    handler = rt.make_handler(workflow, service, **{name: lambda: 5})
    with pytest.raises(dg.ValidationError, match=name):
        handler(service.event())


@pytest.mark.parametrize("time_left", ["5", float("nan"), True, [1]], ids=str)
def test_a_time_left_that_is_not_a_number_of_seconds_is_a_validation_error(
    time_left: Any,
) -> None:
    import anyio

    service = DictService()
    with pytest.raises(dg.ValidationError, match="time_left"):
        rt.invoke(workflow, service.event(), service, time_left=time_left)
    with pytest.raises(dg.ValidationError, match="time_left"):
        anyio.run(lambda: rt.invoke_async(workflow, service.event(), service, time_left=time_left))
    assert list(service.store) == ["exec"]  # nothing recorded
