"""Clocks: virtual time moves only when told (or when the engine skips); real time is real."""

from __future__ import annotations

import threading
import time

import pytest

from durable_gen._errors import ValidationError
from durable_gen.local import Clock, RealClock, VirtualClock
from durable_gen.local._clock import DEFAULT_VIRTUAL_START_MS


def test_virtual_clock_moves_when_told() -> None:
    clock = VirtualClock(start_ms=1000)
    assert clock.now_ms() == 1000
    clock.advance(1.5)
    assert clock.now_ms() == 2500
    clock.advance_to(10_000)
    clock.advance_to(5)  # never back
    assert clock.now_ms() == 10_000
    with pytest.raises(ValidationError, match="cannot go back"):
        clock.advance(-1)
    with pytest.raises(ValidationError):
        VirtualClock(start_ms=-1)
    assert VirtualClock().now_ms() == DEFAULT_VIRTUAL_START_MS
    assert "VirtualClock(start_ms=10000" in repr(clock)


def test_virtual_clock_wait_jumps_or_refuses() -> None:
    condition = threading.Condition()
    clock = VirtualClock(start_ms=0)
    with condition:
        assert clock.wait(condition, 60_000) is True
    assert clock.now_ms() == 60_000
    stuck = VirtualClock(start_ms=0, auto_advance=False)
    with condition:
        assert stuck.wait(condition, 60_000) is False
    assert stuck.now_ms() == 0


def test_real_clock() -> None:
    clock = RealClock()
    assert abs(clock.now_ms() - time.time() * 1000) < 1000
    condition = threading.Condition()
    start = time.monotonic()
    with condition:
        assert clock.wait(condition, clock.now_ms() + 50) is True
        assert clock.wait(condition, clock.now_ms() - 50) is True  # past: returns at once
    assert 0.03 < time.monotonic() - start < 2
    assert repr(clock) == "RealClock()"


def test_real_clock_wait_wakes_up_when_notified() -> None:
    clock = RealClock()
    condition = threading.Condition()

    def poke() -> None:
        time.sleep(0.05)
        with condition:
            condition.notify_all()

    thread = threading.Thread(target=poke)
    start = time.monotonic()
    with condition:
        thread.start()
        clock.wait(condition, clock.now_ms() + 10_000)
    thread.join()
    assert time.monotonic() - start < 5


def test_both_are_clocks() -> None:
    assert isinstance(RealClock(), Clock) and isinstance(VirtualClock(), Clock)
