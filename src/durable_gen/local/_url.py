"""``open_store``: a database store from a URL or a path (``--db``, ``DURABLE_GEN_DB``).

``postgresql://...`` (or ``postgres://...``) opens a ``PostgresStore``; ``sqlite:///path``
(three slashes and a relative path, four for an absolute one) or a plain path opens a
``SqliteStore``. Any other ``scheme://`` is refused with the ones that work.
"""

from __future__ import annotations

import os
import re
from typing import Any

from .._arguments import checked
from .._errors import ValidationError
from ._dbstore import DatabaseStore, check_location
from ._sqlite import Synchronous

__all__ = ["open_store"]

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
#: The schemes of database URLs, written without ``//``: a typo, not a file's name.
_LOOKALIKE = re.compile(r"^(sqlite3?|postgres(?:ql)?|file):(?!//)", re.IGNORECASE)


@checked
def open_store(
    url: str | os.PathLike[str],
    *,
    timeout: float = 5.0,
    lease_seconds: float = 30.0,
    synchronous: Synchronous | None = None,
    pool_size: int | None = None,
) -> DatabaseStore:
    """Open the store that ``url`` names.

    Args:
        url: ``postgresql://user@host:5432/dbname``, ``sqlite:///relative.db``,
            ``sqlite:////absolute.db``, or a path to a SQLite file.
        timeout: Seconds to wait for a lock (or a connection) before ``StoreError``.
        lease_seconds: How long an invocation's lease lasts without renewal.
        synchronous: SQLite only: ``"FULL"`` (default) or ``"NORMAL"``.
        pool_size: Postgres only: the most connections the store opens.

    Raises:
        ValidationError: the URL is empty or its scheme is unknown, or an option is invalid
            or does not apply to its database.
        StoreError: the database cannot be opened.
    """
    text = check_location(url, "the database")
    match = _SCHEME.match(text)
    scheme = match.group(1).lower() if match else None
    if scheme in ("postgresql", "postgres"):
        if synchronous is not None:
            raise ValidationError(
                "synchronous applies to SQLite only; Postgres commits are as durable as the "
                "server's synchronous_commit setting"
            )
        from ._postgres import PostgresStore

        options: dict[str, Any] = {"timeout": timeout, "lease_seconds": lease_seconds}
        if pool_size is not None:
            options["pool_size"] = pool_size
        return PostgresStore(text, **options)
    if pool_size is not None:
        raise ValidationError("pool_size applies to Postgres only")
    if scheme == "sqlite":
        rest = text[len("sqlite://") :]
        if not rest.startswith("/") or rest == "/":
            raise ValidationError(
                f"a SQLite URL is sqlite:///relative/path.db or sqlite:////absolute/path.db, "
                f"got {text!r}"
            )
        if "?" in rest:
            # sqlite:///app.db?mode=ro would be a new database in a file named so
            raise ValidationError(
                f"a SQLite URL takes no ?parameters, got {text!r}: give the file alone "
                f"(sqlite:///{rest[1:].partition('?')[0]}); the store's options are "
                "timeout= and synchronous= (--lock-timeout on the command line)"
            )
        text = rest[1:]
    elif scheme is None and (lookalike := _LOOKALIKE.match(text)):
        # `sqlite:app.db`, `postgresql:/db`, `file:app.db` (SQLite's own URI form): a URL
        # written without its slashes would otherwise be a new SQLite file of that name
        raise ValidationError(
            f"{text!r} looks like a {lookalike.group(1)}: URL without its '//': write "
            "sqlite:///relative.db, sqlite:////absolute.db, "
            "postgresql://user@host/dbname, or a plain path (./name if a file is really "
            "named so)"
        )
    elif scheme is not None:
        raise ValidationError(
            f"unknown database URL {text!r}: use postgresql://user@host/dbname, "
            "sqlite:///path.db, or a path to a SQLite file"
        )
    from ._sqlite import SqliteStore

    return SqliteStore(
        text,
        timeout=timeout,
        lease_seconds=lease_seconds,
        synchronous="FULL" if synchronous is None else synchronous,
    )
