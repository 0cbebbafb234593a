"""Round-13 crash trials on Postgres: ``Map`` items and a child workflow waiting on callbacks
answered by the command line and the Python API while ``--concurrency`` workers die, with
``stop`` of an execution and of a child; timers coming due across kills and a blackout of
every worker; workers, ``run`` and ``start`` SIGKILLed while they create the tables and write
(see ``tests/soak/test_crash_round13.py`` for the checks)."""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import durable_gen as dg

from ..soak.test_crash_round13 import (
    SEEDS,
    Trial,
    callbacks_trial,
    commands_trial,
    racing_answers_trial,
    stop_pairs_trial,
    timers_trial,
)


def test_map_items_and_a_child_wait_on_callbacks_while_workers_die_on_postgres(
    tmp_path: Path, postgres_url: str
) -> None:
    callbacks_trial(Trial(tmp_path, SEEDS[-1], postgres_url))


def test_timers_come_due_across_kills_and_a_blackout_on_postgres(
    tmp_path: Path, postgres_url: str
) -> None:
    timers_trial(Trial(tmp_path, SEEDS[-1], postgres_url))


def test_workers_run_and_start_killed_while_they_create_the_tables_on_postgres(
    tmp_path: Path, postgres_url: str
) -> None:
    commands_trial(Trial(tmp_path, SEEDS[-1], postgres_url), random.Random(SEEDS[-1]))


def test_one_callback_answered_by_four_processes_at_once_on_postgres(
    tmp_path: Path, postgres_url: str
) -> None:
    racing_answers_trial(Trial(tmp_path, SEEDS[-1], postgres_url), random.Random(SEEDS[-1]))


def test_a_parent_and_its_child_stopped_at_once_by_two_commands_on_postgres(
    tmp_path: Path, postgres_url: str
) -> None:
    stop_pairs_trial(Trial(tmp_path, SEEDS[-1], postgres_url), pairs=8)


# --- a stop and a child's end take the rows of a parent and its child in one order ---------------


def _kid(_: object):  # type: ignore[no-untyped-def]
    handle = yield dg.CreateCallback(name="never")
    return (yield handle)


def _parent(_: object):  # type: ignore[no-untyped-def]
    return (yield dg.Invoke("kid", None, name="kid"))


@pytest.mark.parametrize(
    ("method", "want"),
    [("stop", "STOPPED"), ("waiting_on", "list"), ("is_progressing", False), ("run", "RUNNING")],
)
def test_a_stop_or_query_of_the_parent_does_not_deadlock_with_its_child_ending(
    postgres_url: str, method: str, want: object
) -> None:
    """A child that ends locks its own row, then its parent's (its invoke ends with it); a
    stop of the parent, a question about what it waits on (which ``show`` and ``run`` ask) or
    a ``run`` of it (as ``durable-gen run`` drives it) running meanwhile must take them in that
    order too, or the server breaks the deadlock by failing one (``durable-gen stop`` then
    exits 1 with "locked", the parent left RUNNING)."""
    import psycopg

    from durable_gen.local import LocalService, PostgresStore, VirtualClock, register_function

    with PostgresStore(postgres_url) as store, PostgresStore(postgres_url) as other:
        service = LocalService(store=store)
        register_function(service, "parent", _parent)
        register_function(service, "kid", _kid)
        parent = service.start("parent", "null")
        assert service.run(parent).status == "RUNNING"
        (child,) = [ex.arn for ex in service.list_executions() if ex.parent_arn == parent]
        answers: list[Any] = []

        def ask() -> None:
            try:
                engine = LocalService(store=other, clock=VirtualClock(auto_advance=False))
                if method == "run":
                    register_function(engine, "parent", _parent)
                    register_function(engine, "kid", _kid)
                answers.append(getattr(engine, method)(parent))
            except Exception as exc:  # reported below
                answers.append(exc)

        with psycopg.connect(postgres_url) as conn:
            # what a worker ending the child does: its row first, then its parent's
            conn.execute("SELECT 1 FROM executions WHERE arn = %s FOR UPDATE", (child,))
            thread = threading.Thread(target=ask)
            thread.start()
            time.sleep(0.5)  # the other transaction is waiting for a row now
            conn.execute("SET LOCAL lock_timeout = '10s'")
            conn.execute("SELECT 1 FROM executions WHERE arn = %s FOR UPDATE", (parent,))
            conn.commit()
            thread.join(30)
        (answer,) = answers
        if method in ("stop", "run"):
            assert answer.status == want
            assert service.get_execution(child).status == want
        elif method == "waiting_on":
            assert [line.split()[0] for line in answer] == ["invoke"], answer
        else:
            assert answer is want
