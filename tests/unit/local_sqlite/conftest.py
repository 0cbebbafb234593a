"""Fixtures of the SQLite store's tests: stores in a temporary directory, closed afterwards.

``svc`` here is a ``LocalService`` on a ``SqliteStore``, so the engine's own tests, imported
by ``test_engine_on_sqlite``, run once more against the database.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from durable_gen.local import LocalService, MemoryStore, SqliteStore, VirtualClock
from durable_gen.local._store import ExecutionStore

from ..local.harness import T0

StoreFactory = Callable[[], ExecutionStore]


@pytest.fixture
def sqlite_factory(tmp_path: Path) -> Iterator[Callable[..., SqliteStore]]:
    """Open ``SqliteStore``s on one database file; all are closed at teardown."""
    opened: list[SqliteStore] = []

    def open_store(**kwargs: object) -> SqliteStore:
        store = SqliteStore(tmp_path / "durable.db", **kwargs)  # type: ignore[arg-type]
        opened.append(store)
        return store

    yield open_store
    for store in opened:
        store.close()


@pytest.fixture(params=["memory", "sqlite"])
def new_store(
    request: pytest.FixtureRequest, sqlite_factory: Callable[..., SqliteStore]
) -> StoreFactory:
    """A factory of empty stores of each kind (the contract holds for both)."""
    if request.param == "memory":
        return MemoryStore
    return sqlite_factory


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(start_ms=T0)


@pytest.fixture
def svc(clock: VirtualClock, sqlite_factory: Callable[..., SqliteStore]) -> LocalService:
    return LocalService(clock=clock, store=sqlite_factory())
