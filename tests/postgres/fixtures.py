"""pytest fixtures for a real Postgres server: one cluster per session, a database per test.

With no server binaries (or no psycopg) the tests that need them are skipped, and the session
ends with a warning that says so (see ``tests/conftest.py``). Set
``DURABLE_GEN_REQUIRE_POSTGRES=1`` to make that an error instead.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest

from .server import Cluster, find_bindir

#: Why the Postgres tests were skipped, for the terminal summary; empty when they ran.
SKIPPED: list[str] = []


def _unavailable(reason: str) -> None:
    if os.environ.get("DURABLE_GEN_REQUIRE_POSTGRES") == "1":
        pytest.fail(f"Postgres tests cannot run: {reason}", pytrace=False)
    if not SKIPPED:
        SKIPPED.append(reason)
    pytest.skip(f"Postgres tests skipped: {reason}")


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[Cluster]:
    """A throwaway Postgres cluster on 127.0.0.1, removed at the end of the session."""
    try:
        import psycopg  # noqa: F401
        import psycopg_pool  # noqa: F401
    except ImportError:
        _unavailable("psycopg is not installed (pip install -e '.[test]')")
    bindir = find_bindir()
    if bindir is None:
        _unavailable(
            "no Postgres server binaries (initdb, pg_ctl) found; install postgresql-15 "
            "(apt-get install postgresql-15) or set DURABLE_GEN_PG_BIN"
        )
    assert bindir is not None
    cluster = Cluster(bindir)
    try:
        yield cluster
    finally:
        cluster.remove()


@pytest.fixture
def postgres_url(postgres_cluster: Cluster) -> str:
    """The URL of a new, empty database on the session's cluster."""
    return postgres_cluster.create_database()


@pytest.fixture(scope="session")
def postgres_shared_db(postgres_cluster: Cluster) -> str:
    """One database with the store's schema, emptied before each test that uses it."""
    from durable_gen.local._postgres import PostgresStore

    url = postgres_cluster.create_database("dg_shared")
    PostgresStore(url).close()
    return url


@pytest.fixture
def postgres_factory(postgres_shared_db: str) -> Iterator[Callable[..., object]]:
    """Open ``PostgresStore``s on one empty database; all are closed at teardown.

    The database is shared by the session and emptied first (faster than a new database
    per test); tests that need a database of their own use ``postgres_url``.
    """
    import psycopg

    from durable_gen.local._postgres import PostgresStore

    with psycopg.connect(postgres_shared_db, autocommit=True) as conn:
        conn.execute(
            "TRUNCATE executions, operations, events, callbacks, tasks, workflows RESTART IDENTITY"
        )
    opened: list[PostgresStore] = []

    def open_store(**kwargs: object) -> PostgresStore:
        store = PostgresStore(postgres_shared_db, **kwargs)  # type: ignore[arg-type]
        opened.append(store)
        return store

    yield open_store
    for store in opened:
        store.close()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """End the session with a loud warning when the Postgres tests could not run."""
    if SKIPPED:
        terminalreporter.section("Postgres tests SKIPPED", sep="!", red=True, bold=True)
        terminalreporter.write_line(
            f"WARNING: the Postgres store was not tested: {SKIPPED[0]}", red=True, bold=True
        )
