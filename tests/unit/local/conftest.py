"""Fixtures of the embedded engine's tests: a virtual clock and a service using it."""

from __future__ import annotations

import pytest

from durable_gen.local import LocalService, VirtualClock

from .harness import T0


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(start_ms=T0)


@pytest.fixture
def svc(clock: VirtualClock) -> LocalService:
    return LocalService(clock=clock)
