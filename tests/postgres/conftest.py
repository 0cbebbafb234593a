"""Fixtures of the Postgres store's tests: ``svc`` is a ``LocalService`` on a ``PostgresStore``.

So the engine's own tests, imported by ``test_engine_on_postgres``, run once more against a
real server (one new database per test).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from durable_gen.local import LocalService, VirtualClock

from ..unit.local.harness import T0


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(start_ms=T0)


@pytest.fixture
def svc(clock: VirtualClock, postgres_factory: Callable[..., object]) -> LocalService:
    return LocalService(clock=clock, store=postgres_factory())  # type: ignore[arg-type]
