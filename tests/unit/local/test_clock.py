"""Clocks: virtual time moves only when told (or when the engine skips); real time is real."""

from __future__ import annotations

import json
import pathlib
import threading
import time

import pytest

import durable_gen as dg
from durable_gen._errors import ValidationError
from durable_gen.local import Clock, LocalService, RealClock, VirtualClock, Worker
from durable_gen.local._clock import DEFAULT_VIRTUAL_START_MS
from durable_gen.runtime import make_handler


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


# --- Now() reads the engine's clock --------------------------------------------------------------


def _an_hour_apart(_: object) -> dg.Workflow[list[float]]:
    before = yield from dg.Now()
    yield from dg.Wait(seconds=3600, name="an hour")
    after = yield from dg.Now()
    return [before.timestamp(), (after - before).total_seconds()]


def test_now_moves_with_the_waits_of_run_skip_time() -> None:
    # Before, Now() read the wall clock while the wait ran on the virtual one: an hour apart,
    # it had moved by a millisecond.
    before = time.time()
    start, elapsed = dg.run(_an_hour_apart, None, skip_time=True)
    assert elapsed == 3600.0
    assert before - 1 <= start <= time.time()  # virtual time starts at the date of the run


def test_now_reads_the_clock_of_the_engine_a_handler_is_made_for() -> None:
    clock = VirtualClock(start_ms=1_800_000_000_000)
    service = LocalService(clock=clock)  # as in docs/engine.md: no clock= for make_handler
    service.register("an-hour", make_handler(_an_hour_apart, service))
    record = service.run(service.start("an-hour"))
    assert record.status == "SUCCEEDED"
    assert json.loads(record.result or "") == [1_800_000_000.0, 3600.0]


def test_now_on_a_skip_time_worker_moves_with_its_waits(tmp_path: pathlib.Path) -> None:
    with Worker(tmp_path / "d.db", skip_time=True, log=lambda line: None) as worker:
        name = worker.register(_an_hour_apart)
        arn = worker.service.start(name)
        worker.run(once=True)
        record = worker.service.get_execution(arn)
    assert record.status == "SUCCEEDED"
    assert json.loads(record.result or "")[1] == 3600.0


def test_the_drivers_read_the_service_clock_or_the_wall_clock() -> None:
    from durable_gen._driver import service_clock

    class OwnClock:  # a Clock of one's own: now_ms() and wait() only
        def now_ms(self) -> int:
            return 1_234_567

        def wait(self, condition: threading.Condition, deadline_ms: int) -> bool:
            return False

    class Service:
        clock = OwnClock()

    assert service_clock(object()) is time.time
    assert service_clock(Service())() == 1_234.567
    virtual = LocalService(clock=VirtualClock(start_ms=5_500))
    assert service_clock(virtual)() == 5.5
    before = time.time()
    assert before <= service_clock(LocalService())() <= time.time()  # microseconds kept


def test_a_service_attribute_named_clock_that_reads_no_number_is_not_taken() -> None:
    """A service of one's own may call anything ``clock``: a datetime factory, a broken clock.
    ``Now()`` then reads the wall clock instead of recording what that returns."""
    import datetime

    from durable_gen._driver import service_clock

    class DatetimeService:
        clock = datetime.datetime  # clock.now() is a datetime, not epoch seconds

    class Broken:
        def now(self) -> float:
            raise RuntimeError("not wired")

    class BrokenService:
        clock = Broken()

    assert service_clock(DatetimeService()) is time.time
    assert service_clock(BrokenService()) is time.time
