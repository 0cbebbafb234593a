"""Round-9 crash trials on Postgres: a checkpoint recorded whose reply was lost, and a host
whose wall clock steps while its worker runs (the server's clock is the one that counts)."""

from __future__ import annotations

import time
from collections.abc import Sequence

import pytest

import durable_gen as dg
from durable_gen.local import Worker
from durable_gen.local._dbstore import StoreUnavailableError
from durable_gen.local._postgres import PostgresStore
from durable_gen.local._store import Change

from ..soak.test_crash_round9 import LOSSES, RAN, order


def _losing(status: str, name: str) -> type[PostgresStore]:
    """A PostgresStore whose first commit that writes step ``name`` as ``status`` is recorded
    and then fails as if the connection had gone while the server acknowledged it."""

    class LosingStore(PostgresStore):
        lost = 0
        _arm = False

        def commit(self, changes: Sequence[Change]) -> None:
            if self.lost == 0 and any(
                op.name == name and op.status == status
                for change in changes
                for op in change.operations
            ):
                self._arm = True
            super().commit(changes)

        def _exit(self, *, commit: bool) -> None:
            super()._exit(commit=commit)
            if self._depth == 0 and self._arm:
                self._arm = False
                if commit:
                    self.lost += 1
                    raise StoreUnavailableError(
                        "the connection to the database was lost as it acknowledged the commit"
                    )

    return LosingStore


@pytest.mark.parametrize(("status", "name"), LOSSES, ids=[f"{n}-{s}" for s, n in LOSSES])
def test_a_checkpoint_recorded_whose_reply_was_lost_goes_on_on_postgres(
    postgres_url: str, status: str, name: str
) -> None:
    RAN.clear()
    lines: list[str] = []
    store = _losing(status, name)(postgres_url)
    try:
        with Worker(store, log=lines.append) as worker:
            arn = worker.service.start(worker.register(order), "7")
            record = worker.drive(arn)
            events = [e.event_type for e in worker.service.get_history(arn)]
    finally:
        store.close()
    assert store.lost == 1, lines
    assert record.status == "SUCCEEDED", (record.error, lines)
    assert record.result == '["paid 7","shipped (paid 7)"]'
    assert RAN == ["pay", "ship"]
    assert events.count("InvocationCompleted") == 1 and "StepFailed" not in events, events


@dg.workflow
def pause(_: None):  # type: ignore[no-untyped-def]
    yield dg.Wait(seconds=600, name="pause")
    return "done"


def test_a_hosts_wall_clock_stepping_ahead_does_not_end_a_wait_early_on_postgres(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker measured the server's clock when it opened the store; an hour's step of its
    host's clock afterwards must not move what it takes for the server's time."""
    with Worker(postgres_url) as worker:
        arn = worker.service.start(worker.register(pause), None)
        worker.run(once=True)  # runs what is due: the execution now waits on its timer
        assert "WaitStarted" in [e.event_type for e in worker.service.get_history(arn)]
        before = worker.service.clock.now_ms()
        real, real_ns = time.time, time.time_ns
        monkeypatch.setattr(time, "time", lambda: real() + 3600)
        monkeypatch.setattr(time, "time_ns", lambda: real_ns() + 3600 * 10**9)
        after = worker.service.clock.now_ms()
        assert after - before < 60_000, after - before  # still the server's time
        worker.run(once=True)  # nothing is due on the server's clock
        record = worker.service.get_execution(arn)
        events = [e.event_type for e in worker.service.get_history(arn)]
        monkeypatch.undo()
    assert record.status == "RUNNING"  # the wait has 10 minutes to go
    assert "WaitSucceeded" not in events, events
