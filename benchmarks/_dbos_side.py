"""DBOS Transact's side of ``benchmarks.fleet``: the same workflows, on SQLite and on Postgres.

Imported only when ``dbos`` is installed (``pip install -e '.[bench]'``). DBOS is a process-wide
singleton: ``launched(url)`` configures and launches it on a system database and destroys it
afterwards, keeping the registered workflows for the next configuration.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from dbos import DBOS, DBOSConfig

__all__ = ["launched", "sequential", "short"]


@DBOS.step()
def increment(x: int) -> int:
    return x + 1


@DBOS.workflow()
def sequential(n: int) -> int:
    x = 0
    for _ in range(n):
        x = increment(x)
    return x


@DBOS.workflow()
def short(x: int) -> int:
    return increment(increment(x))


def _sqlite_engine(url: str) -> Any:
    """A SQLAlchemy engine on the SQLite file with WAL and ``synchronous=FULL``, as ours."""
    engine = sa.create_engine(url)

    @sa.event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.close()

    return engine


@contextmanager
def launched(url: str) -> Iterator[None]:
    """DBOS launched on the system database at ``url`` (``sqlite:///...`` or Postgres)."""
    config: DBOSConfig = {"name": "dg-bench", "system_database_url": url, "log_level": "ERROR"}
    if url.startswith("sqlite"):
        config["system_database_engine"] = _sqlite_engine(url)
    logging.getLogger("dbos").setLevel(logging.ERROR)
    DBOS(config=config)
    DBOS.launch()
    try:
        yield
    finally:
        DBOS.destroy(destroy_registry=False)
