"""``open_store`` picks the store a URL names; ``Worker`` runs executions on Postgres."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from durable_gen._errors import StoreError, ValidationError
from durable_gen.local import SqliteStore, Worker
from durable_gen.local._postgres import PostgresStore
from durable_gen.local._url import open_store

from . import flows
from .server import Cluster


def test_paths_and_sqlite_urls_open_sqlite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with open_store(tmp_path / "a.db") as store:
        assert isinstance(store, SqliteStore) and store.path == tmp_path / "a.db"
    with open_store("sqlite:///rel.db", synchronous="NORMAL") as store:
        assert isinstance(store, SqliteStore) and store.path.resolve() == tmp_path / "rel.db"
    with open_store(f"sqlite:///{tmp_path}/abs.db") as store:
        assert isinstance(store, SqliteStore) and store.path == tmp_path / "abs.db"
    assert (tmp_path / "abs.db").exists()


def test_postgres_urls_open_postgres(postgres_url: str) -> None:
    with open_store(postgres_url, lease_seconds=7, pool_size=2) as store:
        assert isinstance(store, PostgresStore) and store.lease_ms == 7000
    with open_store(postgres_url.replace("postgresql://", "postgres://")) as store:
        assert isinstance(store, PostgresStore)


def test_bad_urls_and_options_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="unknown database URL"):
        open_store("mysql://host/db")
    with pytest.raises(ValidationError, match="sqlite:///relative"):
        open_store("sqlite://host/x.db")
    with pytest.raises(ValidationError, match="SQLite only"):
        open_store("postgresql://127.0.0.1/x", synchronous="FULL")
    with pytest.raises(ValidationError, match="Postgres only"):
        open_store(tmp_path / "x.db", pool_size=3)


def test_a_worker_runs_executions_on_postgres(postgres_url: str) -> None:
    with Worker(postgres_url) as worker:
        name = worker.register(flows.adder)
        arn = worker.service.start(name, "10")
        record = worker.drive(arn)
    assert record.status == "SUCCEEDED" and record.result == "45"


def test_workers_share_a_database_and_each_execution_runs_once(postgres_url: str) -> None:
    with Worker(postgres_url) as starter:
        name = starter.register(flows.adder)
        arns = [starter.service.start(name, str(n)) for n in range(12)]
    workers = [Worker(postgres_url, poll=0.05) for _ in range(3)]
    threads = [threading.Thread(target=w.run) for w in workers]
    for thread in threads:
        thread.start()
    try:
        with Worker(postgres_url) as reader:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                records = [reader.service.get_execution(arn) for arn in arns]
                if all(r.is_terminal for r in records):
                    break
                time.sleep(0.05)
            for n, arn in enumerate(arns):
                record = reader.service.get_execution(arn)
                assert record.status == "SUCCEEDED" and record.result == str(sum(range(n)))
                history = reader.service.get_history(arn)
                assert sum(e.event_type == "StepStarted" for e in history) == n
    finally:
        for w in workers:
            w.stop()
        for thread in threads:
            thread.join()
        for w in workers:
            w.close()


def test_a_sleeping_worker_wakes_when_work_arrives(postgres_url: str) -> None:
    with Worker(postgres_url) as starter:
        name = starter.register(flows.adder)
        worker = Worker(postgres_url, poll=30)  # would not look again for 30 s
        thread = threading.Thread(target=worker.run)
        thread.start()
        try:
            time.sleep(0.5)  # asleep now
            started = time.monotonic()
            arn = starter.service.start(name, "3")
            while not starter.service.get_execution(arn).is_terminal:
                assert time.monotonic() - started < 10, "the worker did not wake"
                time.sleep(0.02)
            assert starter.service.get_execution(arn).result == "3"
        finally:
            stopping = time.monotonic()
            worker.stop()
            thread.join(timeout=35)
            worker.close()
    assert time.monotonic() - stopping < 5  # stop() does not wait out the poll


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_released_leases_are_due_again_at_once(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    from durable_gen.local._store import Change

    from ..unit.local_sqlite.test_store_contract import create

    url = request.getfixturevalue("postgres_url") if kind == "postgres" else tmp_path / "x.db"
    with open_store(url) as store, open_store(url) as other:
        ex = create(store)
        ex.invoking, ex.token = True, "tok"
        store.commit([Change(ex)])
        assert other.next_task() is None  # held
        assert other.release_leases() == 0  # not other's to give
        assert store.release_leases() == 1
        task = other.next_task()
        assert task is not None and task.kind == "invocation" and task.arn == "arn:1"
        loaded = other.load("arn:1")
        assert loaded is not None and not loaded.invoking and loaded.token is None


def test_a_worker_rides_out_a_database_restart(postgres_cluster: Cluster) -> None:
    url = postgres_cluster.create_database("ride")
    lines: list[str] = []
    with Worker(url, poll=0.05, log=lines.append) as worker:
        name = worker.register(flows.slow_adder)
        arn = worker.service.start(name, "60")
        thread = threading.Thread(target=worker.run)
        thread.start()
        try:
            time.sleep(0.4)  # well inside the run
            postgres_cluster.restart("immediate")
            restarted_ms = time.time() * 1000
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    record = worker.service.get_execution(arn)
                except StoreError:
                    record = None
                if record is not None and record.is_terminal:
                    break
                time.sleep(0.05)
        finally:
            worker.stop()
            thread.join()
        history = worker.service.get_history(arn)
    assert record is not None and record.status == "SUCCEEDED", lines
    assert record.result == str(sum(range(60)))
    assert record.end_timestamp is not None and record.end_timestamp > restarted_ms
    succeeded = [e.id for e in history if e.event_type == "StepSucceeded"]
    assert len(succeeded) == len(set(succeeded)) == 60


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_a_concurrent_worker_drives_several_executions_at_once(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue("postgres_url") if kind == "postgres" else tmp_path / "c.db"
    with Worker(url) as starter:
        name = starter.register(flows.napper)
        arns = [starter.service.start(name, "0.3") for _ in range(8)]
        started = time.monotonic()
        with Worker(url, concurrency=4, poll=0.05) as worker:
            worker.run(once=True)
        elapsed = time.monotonic() - started
        records = [starter.service.get_execution(arn) for arn in arns]
        histories = [starter.service.get_history(arn) for arn in arns]
    assert all(r.status == "SUCCEEDED" and r.result == "[0,1,2]" for r in records)
    for history in histories:  # each step ran once
        assert sum(e.event_type == "StepStarted" for e in history) == 3
    # One at a time: 8 x 3 x 0.3 s = 7.2 s; four at a time about a quarter of it.
    assert elapsed < 5, elapsed


def test_concurrency_is_checked(tmp_path: Path) -> None:
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValidationError, match="concurrency"):
            Worker(tmp_path / "x.db", concurrency=bad)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="skip_time"):
        Worker(tmp_path / "x.db", concurrency=2, skip_time=True)


@pytest.mark.parametrize("store", ["sqlite", "postgres"])
def test_the_same_named_start_at_once_from_many_connections_gives_one_execution(
    store: str, tmp_path: Path, postgres_url: str
) -> None:
    from durable_gen.local import LocalService
    from durable_gen.runtime import make_handler

    url = str(tmp_path / "race.db") if store == "sqlite" else postgres_url
    open_store(url).close()  # the schema, before the race
    barrier = threading.Barrier(8)
    answers: list[str] = []

    def start(name: str) -> None:
        with open_store(url) as own:
            svc = LocalService(store=own)
            svc.register("quick", make_handler(flows.adder, svc))
            barrier.wait()
            try:
                answers.append(svc.start("quick", "1", execution_name=name))
            except Exception as exc:
                answers.append(f"{type(exc).__name__}: {exc}")

    for round_ in range(3):
        answers.clear()
        threads = [threading.Thread(target=start, args=(f"once-{round_}",)) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(set(answers)) == 1, answers
        assert answers[0].startswith("arn:"), answers


def test_the_worker_command_waits_for_a_server_that_is_not_up_yet(
    postgres_cluster: Cluster,
) -> None:
    # Workers and their database often start together: the command retries as a running
    # worker does (60 s), rather than giving up after one --lock-timeout.
    url = postgres_cluster.create_database("late")
    with Worker(url) as starter:  # remembers the workflow for the command's worker
        arn = starter.service.start(starter.register(flows.adder), "5")
    env = {k: v for k, v in os.environ.items() if k != "DURABLE_GEN_DB"}
    command = [sys.executable, "-m", "durable_gen.cli", "worker", "--db", url]
    postgres_cluster.stop("fast")
    try:
        worker = subprocess.Popen(
            [*command, "--lock-timeout", "0.5", "--poll", "0.1"],
            cwd=Path(__file__).resolve().parents[2],  # where ``tests.postgres.flows`` imports
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(3)  # six lock timeouts
        assert worker.poll() is None, "the worker gave up while the server was down"
    finally:
        postgres_cluster.start()
    try:
        with Worker(url) as watcher:
            deadline = time.monotonic() + 60
            while watcher.service.get_execution(arn).status == "RUNNING":
                assert time.monotonic() < deadline
                time.sleep(0.1)
            assert watcher.service.get_execution(arn).result == str(sum(range(5)))
        worker.send_signal(signal.SIGTERM)
        worker.wait(30)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
        assert worker.stderr is not None
        err = worker.stderr.read()
        worker.stderr.close()
    assert worker.returncode == 0, err
    assert "cannot connect to the database" in err and "; retrying" in err, err


def test_a_concurrency_the_server_has_no_connections_for_is_refused_at_once(
    postgres_url: str,
) -> None:
    # The test cluster allows 300 connections; 1,000 threads would want about 2,000.
    # (Threads earlier tests of this process left lingering are not this worker's.)
    threads_before = threading.active_count()
    with Worker(postgres_url, concurrency=1000) as worker:
        started = time.monotonic()
        with pytest.raises(StoreError) as caught:
            worker.run(once=True)
        assert time.monotonic() - started < 5  # not one pool timeout after another
    message = str(caught.value)
    assert "concurrency 1000 needs about" in message and "max_connections" in message
    assert threading.active_count() < threads_before + 50  # no thread was started for it
    with Worker(postgres_url, concurrency=4) as worker:  # within the limit: runs
        worker.run(once=True)
