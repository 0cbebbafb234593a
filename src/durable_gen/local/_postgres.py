"""``PostgresStore``: the embedded engine's executions in a Postgres database, shared by a fleet.

It keeps the ``SqliteStore`` contract (see ``_sqlite`` for the rules both follow) on a server
that any number of worker processes on any number of hosts share. What differs, and why:

1.  The engine's lock is a transaction on a connection taken from a pool (``psycopg_pool``).
    Postgres runs transactions side by side, so the store serializes work per *execution*:
    inside a transaction, ``load()`` locks the execution's row (``FOR UPDATE``) and every
    write of an execution goes through its row first. Two workers never interleave on one
    execution; work on different executions runs in parallel (and shares WAL flushes).
2.  ``next_task()`` inside a transaction locks the task and its execution with
    ``FOR UPDATE SKIP LOCKED``: a worker never waits for, nor takes, a task another worker is
    claiming or an execution another worker is checkpointing. Locks are always taken execution
    first, then its tasks, so the two do not deadlock; and a child's row before its parent's,
    wherever the engine reads both (a child that ends, a stop, ``waiting_on``, ``run``). One
    that still happens is broken by the server and reported as retryable.
3.  Leases are stamped and checked with the database server's clock, so hosts whose clocks
    disagree still agree on when a lease expired. Timers too: the engine on this store reads
    the server's clock (``engine_clock()``: this host's clock plus the offset measured when
    the store opens and again at every ``sync_clock()``), so a wait, a retry delay or a
    callback timeout is due when the server says, whichever host scheduled or fires it.
4.  A commit that schedules a task sends ``NOTIFY durable_gen`` (delivered when it commits);
    ``wait_for_work()`` listens for it, so a sleeping worker wakes for a new execution, a
    delivered callback or an earlier timer. Polling stays the fallback.
5.  The schema is versioned like SQLite's; migrations run under an advisory lock, so workers
    that start together upgrade a database once. A too-new schema is a ``StoreError``.
6.  ``psycopg`` is imported when a store is created: install ``durable-gen[postgres]``.
"""

from __future__ import annotations

import copy
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Final

import msgspec

from .._arguments import checked
from .._errors import StoreError, ValidationError
from .._wire import wire_enc_hook
from ._clock import RealClock
from ._dbstore import (
    CALL,
    DELETE_TASK,
    UPSERT_CALLBACK,
    SqlStore,
    StoreUnavailableError,
    TransactionLock,
    alive,
    check_lease,
    check_location,
    check_seconds,
    decode_header,
    encode_header,
    lease_lost,
    move_inputs,
    new_owner,
    same_host_prefix,
    schema_version_of,
    task_function,
    task_sound,
    upgrade_schema,
    wall_ms,
)
from ._store import Change, StoredExecution, Task

if TYPE_CHECKING:
    import psycopg
    import psycopg_pool

__all__ = ["SCHEMA_VERSION", "PostgresStore"]

_INSTALL_HINT: Final = (
    "PostgresStore needs psycopg 3 and psycopg_pool: pip install 'durable-gen[postgres]'"
)
#: The channel of the wake-up notifications.
CHANNEL: Final = "durable_gen"
#: Expired leases are looked for at most this often (``next_task`` runs on every checkpoint).
_RECOVER_EVERY_MS: Final = 50
#: The database server's clock, epoch milliseconds: leases use it, not the workers' clocks.
_NOW: Final = "(EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::bigint"
#: Advisory lock key taken while migrating (any constant; "dg" in ASCII).
_MIGRATION_LOCK: Final = 0x6467

_encode_json = msgspec.json.Encoder(enc_hook=wire_enc_hook).encode


def _monotonic_ms() -> int:
    return time.monotonic_ns() // 1_000_000


class ServerTime:
    """How far the database server's clock is ahead of this host's, shared by clones.

    Kept against the host's monotonic clock, which does not step, rather than its wall clock,
    which may (set by hand or by NTP, a host resumed from suspend) between two measurements:
    a step would move the server's time as this host reads it until the next measurement.
    """

    def __init__(self) -> None:
        #: The server's clock less this host's monotonic clock (ms); until measured, the
        #: host's wall clock stands for the server's.
        self.mono_offset_ms = wall_ms() - _monotonic_ms()

    @property
    def offset_ms(self) -> int:
        """The server's clock less this host's wall clock now (ms)."""
        return self.mono_offset_ms + _monotonic_ms() - wall_ms()


class ServerClock(RealClock):
    """The wall clock, moved by the offset of the database server's: what every host of a
    fleet reads alike, whatever its own clock says."""

    def __init__(self, server: ServerTime) -> None:
        self._server = server

    def now_ms(self) -> int:
        """The server's time now, epoch milliseconds (as this host last measured it)."""
        return _monotonic_ms() + self._server.mono_offset_ms

    def now(self) -> float:
        """The server's time now, epoch seconds."""
        return self.now_ms() / 1000

    def __repr__(self) -> str:
        return f"ServerClock(offset_ms={self._server.offset_ms})"


def refusal_advice(reason: str) -> str | None:
    """What to do about a server's refusal to connect that would be the same next time.

    None when ``reason`` is not such a refusal (a server that is down or still starting).
    """
    if "password authentication failed" in reason or "authentication failed" in reason:
        return (
            "check the user and the password (in the URL, PGPASSWORD or ~/.pgpass) and that "
            "the role may log in"
        )
    if (
        "invalid URI" in reason
        or "invalid connection option" in reason
        or ("connection is bad: invalid" in reason)
    ):
        return (
            "the URL is malformed: correct it (postgresql://USER@HOST:PORT/DBNAME, with only "
            "libpq's parameters after '?')"
        )
    if "does not exist" in reason and 'database "' in reason:
        return "create it (createdb) or correct the URL"
    if "does not exist" in reason and 'role "' in reason:
        return "create the role (createuser) or correct the user in the URL"
    if "does not exist" in reason:
        return "create it (createdb) or correct the URL"
    if "no pg_hba.conf entry" in reason or "permission denied for database" in reason:
        return (
            "the server does not let this user connect to this database (pg_hba.conf, or "
            "GRANT CONNECT): ask its administrator, or correct the URL"
        )
    return None


# --- schema -----------------------------------------------------------------------------------

_SCHEMA_V1: Final = (
    """CREATE TABLE executions (
        arn TEXT PRIMARY KEY,
        seq BIGINT GENERATED BY DEFAULT AS IDENTITY UNIQUE,
        execution_id TEXT NOT NULL,
        function_name TEXT NOT NULL,
        name TEXT NOT NULL,
        status TEXT NOT NULL,
        start_ms BIGINT NOT NULL,
        invoking BOOLEAN NOT NULL DEFAULT FALSE,
        lease_owner TEXT,
        lease_until BIGINT,
        header BYTEA NOT NULL)""",
    "CREATE UNIQUE INDEX executions_by_name ON executions (function_name, name)",
    "CREATE INDEX executions_by_id ON executions (execution_id text_pattern_ops)",
    "CREATE INDEX executions_by_name_prefix ON executions (name text_pattern_ops)",
    "CREATE INDEX executions_invoking ON executions (lease_until) WHERE invoking",
    """CREATE TABLE operations (
        arn TEXT NOT NULL,
        id TEXT NOT NULL,
        position INTEGER NOT NULL,
        type TEXT NOT NULL,
        status TEXT NOT NULL,
        body BYTEA NOT NULL,
        PRIMARY KEY (arn, id))""",
    "CREATE UNIQUE INDEX operations_in_order ON operations (arn, position)",
    """CREATE TABLE events (
        arn TEXT NOT NULL,
        event_id INTEGER NOT NULL,
        body BYTEA NOT NULL,
        PRIMARY KEY (arn, event_id))""",
    """CREATE TABLE callbacks (
        callback_id TEXT PRIMARY KEY,
        arn TEXT NOT NULL,
        op_id TEXT NOT NULL,
        heartbeat_seconds INTEGER NOT NULL)""",
    """CREATE TABLE tasks (
        arn TEXT NOT NULL,
        kind TEXT NOT NULL,
        op_id TEXT NOT NULL,
        due_ms BIGINT NOT NULL,
        seq BIGINT GENERATED BY DEFAULT AS IDENTITY,
        function_name TEXT,
        lease_owner TEXT,
        lease_until BIGINT,
        PRIMARY KEY (arn, kind, op_id))""",
    "CREATE INDEX tasks_due ON tasks (due_ms, seq) WHERE lease_owner IS NULL",
    "CREATE INDEX tasks_leased ON tasks (lease_until) WHERE lease_owner IS NOT NULL",
    """CREATE TABLE workflows (
        function_name TEXT PRIMARY KEY,
        import_path TEXT NOT NULL)""",
)


def _schema_v1(conn: psycopg.Connection[Any]) -> None:
    for statement in _SCHEMA_V1:
        conn.execute(statement)


def _schema_v2(conn: psycopg.Connection[Any]) -> None:
    """Operations and events keyed by the execution's ``seq`` instead of its ARN.

    An ARN is about 180 bytes; repeated in every key of the three indexes a checkpoint writes
    to, it made them five times the size. The index from id to operation is the one a
    checkpoint writes at a random place, so as it outgrew the server's cache, and with a full
    page image of every leaf first written after each of the server's checkpoints, a step
    cost more the longer its execution ran. An execution's input moves out of its header
    (which every checkpoint writes again) into a column of its own.
    """
    for statement in (
        """CREATE TABLE operations_v2 (
            ex BIGINT NOT NULL,
            position INTEGER NOT NULL,
            id TEXT NOT NULL,
            type TEXT NOT NULL,
            status TEXT NOT NULL,
            body BYTEA NOT NULL,
            PRIMARY KEY (ex, position))""",
        """INSERT INTO operations_v2 (ex, position, id, type, status, body)
            SELECT e.seq, o.position, o.id, o.type, o.status, o.body
            FROM operations o JOIN executions e ON e.arn = o.arn""",
        """CREATE TABLE events_v2 (
            ex BIGINT NOT NULL,
            event_id INTEGER NOT NULL,
            body BYTEA NOT NULL,
            PRIMARY KEY (ex, event_id))""",
        """INSERT INTO events_v2 (ex, event_id, body)
            SELECT e.seq, v.event_id, v.body FROM events v JOIN executions e ON e.arn = v.arn""",
        "DROP TABLE operations",
        "DROP TABLE events",
        "ALTER TABLE operations_v2 RENAME TO operations",
        "ALTER TABLE events_v2 RENAME TO events",
        "ALTER INDEX operations_v2_pkey RENAME TO operations_pkey",
        "ALTER INDEX events_v2_pkey RENAME TO events_pkey",
        "CREATE UNIQUE INDEX operations_by_id ON operations (ex, id)",
        "ALTER TABLE executions ADD COLUMN input TEXT",
    ):
        conn.execute(statement)
    move_inputs(conn, "%s")


#: Migration ``i`` upgrades a database from schema version ``i`` to ``i + 1``; append only.
_MIGRATIONS: Final[list[Callable[[Any], None]]] = [_schema_v1, _schema_v2]

#: The schema version this code writes.
SCHEMA_VERSION: Final = len(_MIGRATIONS)

#: The schema version a transaction reads along with its first statement, at most every
#: ``_VERSION_EVERY_S`` seconds per store: a database a newer durable_gen migrated while this
#: process ran (adding a table or a column, which no statement of this code would trip on)
#: stops this process within about that long, before it writes much the new code misreads.
_VERSION: Final = "SELECT max(version) FROM schema_version"
_VERSION_EVERY_S: Final = 1.0

_UPSERT_TASK: Final = (
    "INSERT INTO tasks (arn, kind, op_id, due_ms, function_name) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT (arn, kind, op_id) DO UPDATE SET due_ms = excluded.due_ms, "
    "function_name = excluded.function_name, lease_owner = NULL, lease_until = NULL, "
    "seq = nextval(pg_get_serial_sequence('tasks', 'seq'))"
)
#: The ``seq`` of the execution whose ARN is the argument ``arn``.
_SEQ: Final = "(SELECT seq FROM executions WHERE arn = %(arn)s)"
_UPSERT_OPERATION: Final = (
    f"INSERT INTO operations (ex, id, position, type, status, body) VALUES ({_SEQ}, %(id)s, "
    f"COALESCE((SELECT MAX(position) FROM operations WHERE ex = {_SEQ}), -1) + 1, "
    "%(type)s, %(status)s, %(body)s) ON CONFLICT (ex, id) DO UPDATE "
    "SET status = excluded.status, body = excluded.body"
)
_INSERT_EVENT: Final = (
    f"INSERT INTO events (ex, event_id, body) VALUES ({_SEQ}, %(event_id)s, %(body)s)"
)

#: Writes a checkpoint's header. A lease starts with its invocation and ends with it; while the
#: invocation runs, renewals extend it, and a checkpoint stamps it again only once less than
#: half of it is left (a renewal skips a row its own store's transaction holds). So a
#: checkpoint changes no indexed column and Postgres updates the row in place (a HOT update):
#: rewriting ``lease_until`` on every checkpoint left one dead row version and one entry of
#: ``executions_invoking`` per checkpoint until a vacuum, and the table, its index and the
#: scans of them grew with the execution (19,422 dead versions in 623 pages after 20,000
#: steps).
_UPDATE_EXECUTION: Final = (
    "UPDATE executions SET header = %(header)s, status = %(status)s, "
    "lease_owner = CASE WHEN NOT %(invoking)s THEN NULL "
    "WHEN NOT invoking THEN %(owner)s ELSE lease_owner END, "
    "lease_until = CASE WHEN NOT %(invoking)s THEN NULL "
    f"WHEN NOT invoking THEN {_NOW} + %(lease)s "
    f"WHEN lease_owner = %(owner)s AND lease_until < {_NOW} + %(half)s THEN {_NOW} + %(lease)s "
    "ELSE lease_until END, invoking = %(invoking)s "
    "WHERE arn = %(arn)s AND (%(invoking)s OR NOT invoking OR lease_owner = %(owner)s)"
)


def _import_psycopg() -> tuple[Any, Any]:
    try:
        import psycopg
        import psycopg_pool
    except ImportError as exc:
        raise ImportError(_INSTALL_HINT) from exc
    return psycopg, psycopg_pool


def _password_span(url: str) -> tuple[int, int] | None:
    """Where the password of ``url``'s ``USER:PASSWORD@`` is, read leniently: up to the last
    ``@`` (before the query, if one is there), so that one holding an ``@`` or ``/`` not
    percent-encoded (which libpq would split elsewhere) is found whole; None without one (a
    ``HOST:PORT`` is none)."""
    start = url.find("://")
    if start < 0:
        return None
    start += 3
    user = re.match(r"[^:/@?]*:", url[start:])
    if user is None:
        return None
    begin = start + user.end()
    query = url.find("?", begin)
    end = url.rfind("@", begin, len(url) if query < 0 else query)
    if end < 0:  # a `?` in the password itself: libpq reads it as part of it
        end = url.rfind("@", begin)
    if end < 0 or re.match(r"\d*(?:[/?,]|$)", url[begin:]):
        return None
    return begin, end


def _secrets(url: str) -> list[str]:
    """The passwords written in ``url``: its ``USER:PASSWORD@`` one and ``password=`` values."""
    found = [value for value in re.findall(r"(?i)[?&]password=([^&]*)", url) if value]
    span = _password_span(url)
    if span is not None and span[1] > span[0]:
        found.append(url[span[0] : span[1]])
    return found


def redact(url: str) -> str:
    """``url`` without its password (in ``USER:PASSWORD@`` or a ``password=`` parameter),
    for messages."""
    span = _password_span(url)
    if span is not None:
        url = f"{url[: span[0]]}***{url[span[1] :]}"
    return re.sub(r"(?i)([?&]password=)[^&]*", r"\1***", url)


_MALFORMED_ADVICE: Final = (
    "correct it (postgresql://USER@HOST:PORT/DBNAME, with only libpq's parameters after '?')"
)


def check_url(pg: Any, url: str) -> None:
    """Refuse a URL that libpq cannot parse, or whose port is not a port, before connecting.

    Without this, such a URL reached the pool, which retried it for the whole ``timeout``, and
    some of them (an unclosed ``[`` of an IPv6 host) were reported as a server that does not
    answer: a worker retried them for its patience, quoting the URL with its password.
    """
    shown = redact(url)
    span = _password_span(url)
    if span is not None and re.search(r"[@/]", url[span[0] : span[1]]):
        # libpq ends the password at its first `@` or `/`: `me:p@ss@host` would connect to a
        # host `ss@host`, `me:pa/ss@host` to a host `me` on a port `pa`
        raise ValidationError(
            f"the Postgres URL {shown} has a password holding '@' or '/' as is: write them "
            "percent-encoded (%40 for '@', %2F for '/'), or keep the password out of the URL "
            "(libpq reads PGPASSWORD and ~/.pgpass)"
        )
    try:
        params = pg.conninfo.conninfo_to_dict(url)
    except pg.Error as exc:
        reason = " ".join(str(exc).replace(url, shown).split())
        for secret in _secrets(url):  # libpq quotes the token it could not decode
            reason = reason.replace(secret, "***")
        raise ValidationError(
            f"the Postgres URL {shown} is malformed ({reason}): {_MALFORMED_ADVICE}"
        ) from None
    for port in str(params.get("port") or "").split(","):
        if port and not (port.isdigit() and 1 <= int(port) <= 65535):
            raise ValidationError(
                f"the Postgres URL {shown} is malformed (the port {port!r} is not a number "
                f"in 1..65535): {_MALFORMED_ADVICE}"
            )
    # libpq parses these only when it connects: a wrong one was a StoreError after the pool
    # tried it for the whole timeout (and a worker retried it for its patience).
    for name, value in params.items():
        allowed = _CHOICES.get(name)
        if allowed is not None and value not in allowed:
            raise ValidationError(
                f"the Postgres URL {shown} is malformed (its {name} {value!r} is none of "
                f"{', '.join(allowed)}): {_MALFORMED_ADVICE}"
            )
        if name in _INTEGERS and not re.fullmatch(r"\s*[+-]?\d+\s*", str(value)):
            raise ValidationError(
                f"the Postgres URL {shown} is malformed (its {name} {value!r} is not a whole "
                f"number of seconds or a count): {_MALFORMED_ADVICE}"
            )


#: The connection parameters whose values libpq takes from a list (checked as it does, case
#: and all, when it connects).
_CHOICES: Final[dict[str, tuple[str, ...]]] = {
    "sslmode": ("disable", "allow", "prefer", "require", "verify-ca", "verify-full"),
    "gssencmode": ("disable", "prefer", "require"),
    "channel_binding": ("disable", "prefer", "require"),
    "target_session_attrs": (
        "any",
        "read-write",
        "read-only",
        "primary",
        "standby",
        "prefer-standby",
    ),
    "load_balance_hosts": ("disable", "random"),
    "sslcertmode": ("disable", "allow", "require"),
    "sslnegotiation": ("postgres", "direct"),
}
#: The connection parameters libpq reads as whole numbers.
_INTEGERS: Final = frozenset(
    (
        "connect_timeout",
        "keepalives",
        "keepalives_idle",
        "keepalives_interval",
        "keepalives_count",
        "tcp_user_timeout",
    )
)


# --- the store --------------------------------------------------------------------------------


class PostgresStore(SqlStore):
    """An ``ExecutionStore`` in a Postgres database: durable, and shared by a fleet of workers.

    Args:
        url: A libpq connection URL or string, e.g. ``postgresql://user@host:5432/dbname``.
            The database must exist; the store creates (and upgrades) its tables in it.
        timeout: Seconds to wait for a connection, or for a row another worker holds, before
            ``StoreError``.
        lease_seconds: How long an invocation's lease lasts without renewal.
        pool_size: The most connections this store opens (one for the engine's transactions,
            the others for reads from other threads and lease renewals).

    Raises:
        ValidationError: the URL is malformed (libpq cannot parse it, or its port is not a
            port); nothing is connected.
        StoreError: the server cannot be reached, the database is not a durable_gen database,
            or its schema was written by a newer version.
        ImportError: psycopg is not installed (``pip install 'durable-gen[postgres]'``).

    Example:
        >>> from durable_gen.local import LocalService, PostgresStore
        >>> with PostgresStore("postgresql://localhost/durable") as store:  # doctest: +SKIP
        ...     service = LocalService(store=store)
    """

    _PYFORMAT = True
    _NO_LIMIT = None
    _TASK_SEQ = "seq"
    _UPSERT_TASK = _UPSERT_TASK
    _LOCK_ROWS = " FOR UPDATE"
    #: Whether opening a database without durable_gen's tables creates them.
    _CREATES_TABLES = True

    @checked
    def __init__(
        self,
        url: str,
        *,
        timeout: float = 5.0,
        lease_seconds: float = 30.0,
        pool_size: int = 4,
    ) -> None:
        check_location(url, "the Postgres URL")
        check_lease(lease_seconds)
        check_seconds(timeout, "timeout")
        if isinstance(pool_size, bool) or not isinstance(pool_size, int) or pool_size < 1:
            raise ValidationError(f"pool_size must be an int of at least 1, got {pool_size!r}")
        pg, pg_pool = _import_psycopg()
        check_url(pg, url)
        self._psycopg = pg
        self.url = redact(url)
        self.lease_ms = max(1, round(lease_seconds * 1000))
        self._timeout = timeout
        self._owns_pool = True
        self._fresh_state()
        self._conninfo = url
        lock_ms = max(1, round(timeout * 1000))
        # A transaction left idle longer than a lease is a worker frozen mid-checkpoint (a
        # stopped VM, a partition): the server ends it, so its row locks do not keep the
        # execution from the workers that take over once the lease expires.
        idle_ms = max(self.lease_ms, lock_ms)
        self._connect_kwargs: dict[str, Any] = {
            "autocommit": True,
            "connect_timeout": max(1, round(timeout)),
            "options": (
                f"-c lock_timeout={lock_ms} -c idle_in_transaction_session_timeout={idle_ms}"
            ),
            "application_name": "durable_gen",
        }
        self._pool: psycopg_pool.ConnectionPool[Any] = pg_pool.ConnectionPool(
            url,
            min_size=1,
            max_size=pool_size,
            kwargs=self._connect_kwargs,
            timeout=timeout,
            open=False,
            name="durable_gen",
        )
        try:
            self._pool.open(wait=True, timeout=timeout)
        except pg_pool.PoolTimeout:
            self._pool.close()
            raise self._cannot_connect(url, timeout) from None
        self._server_time = ServerTime()
        try:
            self._migrate()
            self.sync_clock()
        except BaseException:
            self._pool.close()
            raise

    # --- lifecycle ----------------------------------------------------------------------------

    def _fresh_state(self) -> None:
        """What each store has of its own (a clone too): lease owner, transaction, listener."""
        self._owner = new_owner()
        self._mutex = threading.RLock()
        self._owner_thread: int | None = None
        self._depth = 0
        self._conn: psycopg.Connection[Any] | None = None
        self._begun = False
        self._cache: dict[str, StoredExecution] = {}
        self._recovered_ms = 0
        #: When (``time.monotonic()``) a transaction last read the schema version.
        self._version_read = time.monotonic()
        self._notify = False
        self._listener: psycopg.Connection[Any] | None = None
        self._listen_lock = threading.Lock()
        self._closed = False
        self.lock = TransactionLock(self)

    def close(self) -> None:
        """Close the pool (unless it is a clone's) and the listening connection (idempotent)."""
        with self._mutex:
            if self._owns_pool:
                self._pool.close()
            elif not self._closed:
                pool = self._pool
                pool.resize(pool.min_size, max(pool.min_size, pool.max_size - 1))
            self._closed = True
        with self._listen_lock:
            if self._listener is not None:
                self._listener.close()
                self._listener = None

    def connection_limit(self) -> int:
        """How many connections the server lets users other than superusers open in all."""
        with self._read() as conn:
            row = conn.execute(
                "SELECT current_setting('max_connections')::int"
                " - current_setting('superuser_reserved_connections')::int"
            ).fetchone()
        return int(row[0]) if row is not None else 0

    def connections_for(self, concurrency: int) -> int:
        """About how many connections a worker running ``concurrency`` threads opens: the
        pool (grown by one per extra thread) and a listening connection per thread."""
        return self._pool.max_size + 2 * concurrency - 1

    def clone(self) -> PostgresStore:
        """A store on the same database with its own transactions and lease owner.

        It shares this store's connection pool (grown by a connection for it), so that a
        worker's threads do not each open a pool; close the clones before this store.
        """
        twin = copy.copy(self)
        twin._fresh_state()
        twin._owns_pool = False
        pool = self._pool
        pool.resize(pool.min_size, pool.max_size + 1)
        return twin

    def __repr__(self) -> str:
        return f"PostgresStore({self.url!r})"

    def engine_clock(self) -> RealClock:
        """The wall clock an engine on this store reads: the database server's, so that the
        timers one host schedules are due at the same moment for every other host."""
        return ServerClock(self._server_time)

    def sync_clock(self) -> int:
        """Measure again how far the server's clock is from this host's; returns the offset
        (ms). The store's clones share it; a worker measures it with each lease renewal."""
        best: tuple[int, int] | None = None
        with self._read() as conn:
            for _ in range(3):  # the reading with the shortest round trip is the closest
                before = _monotonic_ms()
                row = conn.execute(f"SELECT {_NOW}").fetchone()
                after = _monotonic_ms()
                if row is None:
                    continue
                sample = (after - before, int(row[0]) - (before + after) // 2)
                best = sample if best is None or sample < best else best
        if best is not None:
            self._server_time.mono_offset_ms = best[1]
        return self._server_time.offset_ms

    @property
    def path(self) -> str:
        """Where the database is (its URL without the password), for messages."""
        return self.url

    @property
    def schema_version(self) -> int:
        """The schema version of the open database."""
        return self._current_version()

    def _migrate(self) -> None:
        version = self._current_version()
        if version == SCHEMA_VERSION:
            return  # the usual case: no lock needed to open
        if version == 0 and not self._CREATES_TABLES:
            raise NoTablesError(f"the database {self.url} holds no durable_gen tables")
        with self._tx() as conn:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            upgrade_schema(conn, _MIGRATIONS, where=self.url, placeholder="%s")

    def _current_version(self) -> int:
        errors = self._psycopg.errors
        with self._read() as conn:
            try:
                rows = conn.execute("SELECT version FROM schema_version").fetchall()
            except errors.UndefinedTable:
                return 0
        return schema_version_of(rows, where=self.url)

    # --- transactions -------------------------------------------------------------------------

    def _enter(self) -> None:
        # Called with the mutex held. BEGIN goes out with the transaction's first statement.
        if self._depth == 0:
            with self._guard():
                self._conn = self._pool.getconn()
            self._begun = False
            self._owner_thread = threading.get_ident()
            self._notify = False
        self._depth += 1

    def _first(self, sql: str | None, params: Any = None) -> psycopg.Cursor[Any] | None:
        """Begin the transaction, with its first statement ``sql`` in the same round trip.

        A pooled connection the server dropped (it restarted) is discarded and the next one
        tried: nothing has happened in the transaction yet.
        """
        assert self._conn is not None
        # Once a second, the schema version rides along (same round trip): a newer
        # durable_gen that migrated the database meanwhile stops this process (see below).
        read_version = time.monotonic() - self._version_read >= _VERSION_EVERY_S
        for _ in range(self._pool.max_size + 1):
            conn = self._conn
            try:
                with conn.pipeline():
                    conn.execute("BEGIN")
                    version = conn.execute(_VERSION) if read_version else None
                    cursor = None if sql is None else conn.execute(sql, params)
            except self._psycopg.OperationalError as exc:
                if not (conn.closed or conn.broken):
                    raise self._error(exc) from None
                self._pool.putconn(conn)
                self._conn = None
                with self._guard():
                    self._conn = self._pool.getconn()
                continue
            self._begun = True
            if version is not None:
                self._version_read = time.monotonic()
                row = version.fetchone()
                newer = 0 if row is None or row[0] is None else int(row[0])
                if newer > SCHEMA_VERSION:  # rolled back by the caller's transaction
                    raise self._upgraded(newer)
            return cursor
        raise StoreUnavailableError(
            f"cannot reach the database {self.url}: every connection failed; is it running?"
        )

    def _started(self) -> psycopg.Connection[Any]:
        """The transaction's connection, its BEGIN sent."""
        if not self._begun:
            self._first(None)
        assert self._conn is not None
        return self._conn

    def _tx_query(self, sql: str, params: Any) -> psycopg.Cursor[Any]:
        """Run ``sql`` in this thread's transaction (begun with it if it is the first)."""
        if self._begun:
            assert self._conn is not None
            return self._conn.execute(sql, params)
        cursor = self._first(sql, params)
        assert cursor is not None
        return cursor

    def _exit(self, *, commit: bool) -> None:
        self._depth -= 1
        if self._depth:
            return
        conn, self._conn = self._conn, None
        self._owner_thread = None
        self._cache.clear()
        if conn is None:
            return
        try:
            if self._begun:
                with self._guard():
                    if commit and self._notify:
                        conn.execute(f"NOTIFY {CHANNEL}")
                    conn.execute("COMMIT" if commit else "ROLLBACK")
        finally:
            self._pool.putconn(conn)

    def _after_release(self) -> None:
        """Nothing to wait for: each transaction commits when its lock is released."""

    @contextmanager
    def _tx(self) -> Iterator[psycopg.Connection[Any]]:
        """A write transaction, or a part of the one this thread already holds."""
        with self._mutex:
            self._enter()
            ok = False
            try:
                with self._guard():
                    yield self._started()
                ok = True
            finally:
                self._exit(commit=ok)

    @contextmanager
    def _read(self) -> Iterator[psycopg.Connection[Any]]:
        """The transaction's connection in its thread; elsewhere a pooled one (autocommit)."""
        if self._owner_thread == threading.get_ident() and self._conn is not None:
            with self._guard():
                yield self._started()
            return
        with self._guard(), self._pool.connection() as conn:
            yield conn

    @property
    def _in_tx(self) -> bool:
        return self._depth > 0 and self._owner_thread == threading.get_ident()

    @contextmanager
    def _guard(self) -> Iterator[None]:
        try:
            yield
        except self._psycopg.Error as exc:
            raise self._error(exc) from None
        except Exception as exc:
            if self._closed:
                raise self._error(exc) from None
            if type(exc).__module__.startswith("psycopg_pool"):
                raise StoreUnavailableError(
                    f"no connection to the database {self.url} within {self._timeout:g} s "
                    f"({exc}); check that the server runs"
                ) from None
            raise

    def _upgraded_under_us(self) -> StoreError | None:
        """The error for a table or column this code expects that a newer durable_gen, started
        meanwhile, migrated away; None when the schema version is still this code's.

        Asked on a connection of its own: the one that failed is in a failed transaction.
        """
        try:
            with self._psycopg.connect(
                self._conninfo, **{**self._connect_kwargs, "connect_timeout": 2}
            ) as conn:
                row = conn.execute("SELECT max(version) FROM schema_version").fetchone()
        except Exception:
            return None
        version = 0 if row is None or row[0] is None else int(row[0])
        if version <= SCHEMA_VERSION:
            return None
        return self._upgraded(version)

    def _upgraded(self, version: int) -> StoreError:
        return StoreError(
            f"the database {self.url} was upgraded to schema version {version} by a newer "
            f"durable_gen while this process ran (it knows version {SCHEMA_VERSION}); upgrade "
            "durable_gen here and start this process again"
        )

    def _cannot_connect(self, url: str, timeout: float) -> StoreError:
        """Why the pool found no connection, asked once more of the server itself.

        A server that answers that the database or role does not exist, or that refuses the
        password, will answer the same next time: that is a ``StoreError`` to fix, not a
        ``StoreUnavailableError`` to wait out.
        """
        try:
            self._psycopg.connect(url, **{**self._connect_kwargs, "connect_timeout": 2}).close()
            reason = ""
        except self._psycopg.Error as exc:
            reason = " ".join(str(exc).replace(url, self.url).split())
        advice = refusal_advice(reason)
        if advice is not None:
            return StoreError(f"the server refused the database {self.url}: {reason}; {advice}")
        return StoreUnavailableError(
            f"cannot connect to the database {self.url} within {timeout:g} s"
            + (f" ({reason})" if reason else "")
            + ": check that the server runs, the database exists and the URL is right"
        )

    def _error(self, exc: Exception) -> StoreError:
        if self._closed:  # the pool is closed: no server trouble to retry
            return StoreError(
                f"the PostgresStore of {self.url} was closed (close(), or the end of its with "
                "block), so it reads and writes nothing more; nothing was written. Use the "
                "store inside its with block, or open the database again (PostgresStore(url), "
                "open_store(url)) for the engine or worker that needs it"
            )
        errors = self._psycopg.errors
        text = str(exc).strip()
        if isinstance(exc, errors.LockNotAvailable | errors.QueryCanceled):
            return StoreUnavailableError(
                f"the database {self.url} is locked: another worker held a row for more than "
                f"{self._timeout:g} s; try again"
            )
        if isinstance(exc, errors.DeadlockDetected | errors.SerializationFailure):
            return StoreUnavailableError(
                f"the database {self.url} is locked: this transaction conflicted with another "
                f"worker's and was rolled back ({text}); try again"
            )
        if isinstance(exc, errors.ReadOnlySqlTransaction):  # a standby, as during a failover
            return StoreUnavailableError(
                f"the database {self.url} is read-only ({text}): a standby server, one still "
                "in recovery, or default_transaction_read_only on; nothing of this "
                "transaction was written. Point the URL at the primary (with several hosts, "
                "add target_session_attrs=read-write); a worker retries for its patience"
            )
        if isinstance(exc, errors.UndefinedTable | errors.UndefinedColumn):
            upgraded = self._upgraded_under_us()
            if upgraded is not None:
                return upgraded
        if isinstance(exc, errors.UndefinedTable):
            return StoreError(
                f"{self.url} is not a durable_gen database ({text}); give durable_gen a "
                "database of its own"
            )
        if isinstance(exc, self._psycopg.OperationalError):
            return StoreUnavailableError(
                f"lost the connection to the database {self.url} ({text}); "
                "check that the server runs, then try again"
            )
        return StoreError(f"the database {self.url} failed: {text}")

    # --- ExecutionStore: reads ----------------------------------------------------------------

    def load(self, arn: str) -> StoredExecution | None:
        """The execution header, or None for an unknown ARN.

        Inside a transaction it locks the execution's row and returns one object per ARN.
        """
        if self._in_tx:
            cached = self._cache.get(arn)
            if cached is not None:
                return cached
            with self._guard():
                row = self._tx_query(
                    "SELECT header, input FROM executions WHERE arn = %s FOR UPDATE", (arn,)
                ).fetchone()
            if row is None:
                return None
            ex = decode_header(row[0], row[1], arn, self.url)
            self._cache[arn] = ex
            return ex
        with self._read() as conn:
            row = conn.execute(
                "SELECT header, input FROM executions WHERE arn = %s", (arn,)
            ).fetchone()
        return None if row is None else decode_header(row[0], row[1], arn, self.url)

    def executions(self) -> Iterator[StoredExecution]:
        """Every execution, in the order they started."""
        with self._read() as conn:
            rows = conn.execute("SELECT arn, header, input FROM executions ORDER BY seq").fetchall()
        cache = self._cache if self._in_tx else {}
        return iter(
            [
                cache.get(arn) or decode_header(head, payload, arn, self.url)
                for arn, head, payload in rows
            ]
        )

    # --- ExecutionStore: writes and scheduling ------------------------------------------------

    def commit(self, changes: Sequence[Change]) -> None:
        """Apply ``changes`` atomically (a savepoint inside the current transaction).

        Raises:
            LeaseLostError: a change ends an invocation whose lease another store now holds;
                nothing of ``changes`` was written.
        """
        with self._tx() as conn:
            nested = self._depth > 1
            # Every write goes out in one round trip (a pipeline); the lease checks are read
            # after it. A savepoint is left to the transaction's end: releasing it would cost
            # another round trip.
            ended: list[tuple[psycopg.Cursor[Any], str]] = []
            try:
                with conn.pipeline():
                    if nested:
                        conn.execute("SAVEPOINT dg_commit")
                    for change in changes:
                        self._apply(conn, change, ended)
                for cursor, arn in ended:
                    if cursor.rowcount != 1:
                        raise self._lease_lost(conn, arn)
            except BaseException:
                if nested:
                    conn.execute("ROLLBACK TO SAVEPOINT dg_commit")
                raise

    def _lease_lost(self, conn: psycopg.Connection[Any], arn: str) -> StoreError:
        row = conn.execute("SELECT lease_owner FROM executions WHERE arn = %s", (arn,)).fetchone()
        if row is None:
            return StoreError(f"the execution {arn} is not in the database {self.url}")
        return lease_lost(arn, row[0])

    def _lease_until(self) -> tuple[str, int]:
        return f"{_NOW} + ?", self.lease_ms

    def _apply(
        self,
        conn: psycopg.Connection[Any],
        change: Change,
        updated: list[tuple[psycopg.Cursor[Any], str]],
    ) -> None:
        ex = change.execution
        arn = ex.arn
        header = encode_header(ex)
        if change.created:
            conn.execute(
                "INSERT INTO executions (arn, execution_id, function_name, name, status, "
                "start_ms, invoking, lease_owner, lease_until, header, input) VALUES "
                f"(%s, %s, %s, %s, %s, %s, %s, %s, CASE WHEN %s THEN {_NOW} + %s END, %s, %s)",
                (
                    arn,
                    ex.execution_id,
                    ex.function_name,
                    ex.name,
                    ex.status,
                    ex.start_ms,
                    ex.invoking,
                    self.owner if ex.invoking else None,
                    ex.invoking,
                    self.lease_ms,
                    header,
                    ex.input,
                ),
            )
        else:
            # Ending an invocation is refused when another store holds its lease now.
            cursor = conn.execute(
                _UPDATE_EXECUTION,
                {
                    "header": header,
                    "status": ex.status,
                    "invoking": ex.invoking,
                    "owner": self.owner,
                    "lease": self.lease_ms,
                    "half": self.lease_ms // 2,
                    "arn": arn,
                },
            )
            updated.append((cursor, arn))  # no row updated: the lease was lost
        if self._in_tx:
            self._cache[arn] = ex
        if change.operations:
            conn.cursor().executemany(
                _UPSERT_OPERATION,
                [
                    {
                        "arn": arn,
                        "id": op.id,
                        "type": op.type,
                        "status": op.status,
                        "body": _encode_json(op),
                    }
                    for op in change.operations
                ],
            )
            done_calls = [
                (arn, CALL, op.id)
                for op in change.operations
                if op.type == "CHAINED_INVOKE" and op.status != "STARTED"
            ]
            if done_calls:
                conn.cursor().executemany(self._q(DELETE_TASK), done_calls)
        if change.events:
            conn.cursor().executemany(
                _INSERT_EVENT,
                [
                    {"arn": arn, "event_id": event.event_id, "body": _encode_json(event)}
                    for event in change.events
                ],
            )
        if change.callbacks:
            conn.cursor().executemany(self._q(UPSERT_CALLBACK), change.callbacks)
        if change.cancelled:
            conn.cursor().executemany(
                self._q(DELETE_TASK),
                [(arn, kind, op_id) for kind, op_id in change.cancelled],
            )
        if change.tasks:
            conn.cursor().executemany(
                self._q(_UPSERT_TASK),
                [
                    (arn, task.kind, task.op_id, task.due_ms, task_function(ex, task))
                    for task in change.tasks
                ],
            )
            self._wake(conn)
        if change.cancel_all:
            conn.execute("DELETE FROM tasks WHERE arn = %s", (arn,))

    def _wake(self, conn: psycopg.Connection[Any]) -> None:
        """Notify listening workers when the transaction commits."""
        if self._in_tx:
            self._notify = True
        else:
            conn.execute(f"NOTIFY {CHANNEL}")

    def next_task(self) -> Task | None:
        """The earliest task nobody has claimed, among the functions this store serves.

        It skips tasks (and executions) another worker holds. First it takes back the work of
        invocations and calls whose lease expired (or whose holder died), so that they are
        due again.
        """
        with self._tx() as conn:
            now = wall_ms()
            if now - self._recovered_ms >= _RECOVER_EVERY_MS:
                self._recovered_ms = now
                self._recover(conn)
            sql = (
                "SELECT t.due_ms, t.arn, t.kind, t.op_id FROM tasks t "
                "JOIN executions e ON e.arn = t.arn WHERE t.lease_owner IS NULL"
            )
            params: tuple[list[str], ...] = ()
            if self._serving is not None:
                sql += " AND (t.function_name IS NULL OR t.function_name = ANY(%s))"
                params = (list(self._serving),)
            row = conn.execute(
                sql + " ORDER BY t.due_ms, t.seq LIMIT 1 FOR UPDATE OF t, e SKIP LOCKED", params
            ).fetchone()
        if row is not None and not task_sound(row):
            raise self._damaged_task(row)
        return None if row is None else Task(*row)

    # --- leases -------------------------------------------------------------------------------

    def renew_leases(self) -> int:
        """Extend every lease this store holds by ``lease_seconds``; returns how many.

        Rows this store's own transaction has locked are skipped: that transaction stamps
        them when it commits.
        """
        params = {"owner": self.owner, "lease": self.lease_ms}
        with self._read() as conn, conn.transaction():
            n = conn.execute(
                f"UPDATE executions SET lease_until = {_NOW} + %(lease)s WHERE arn IN ("
                "SELECT arn FROM executions WHERE invoking AND lease_owner = %(owner)s "
                "FOR UPDATE SKIP LOCKED)",
                params,
            ).rowcount
            n += conn.execute(
                f"UPDATE tasks SET lease_until = {_NOW} + %(lease)s WHERE lease_owner = %(owner)s",
                params,
            ).rowcount
        return n

    def _recover(self, conn: psycopg.Connection[Any]) -> None:
        host = same_host_prefix()
        candidates = conn.execute(
            f"SELECT arn, lease_owner, lease_until < {_NOW} FROM executions WHERE invoking "
            "AND lease_owner IS DISTINCT FROM %(owner)s AND (lease_owner IS NULL "
            f"OR lease_until < {_NOW} OR starts_with(lease_owner, %(host)s))",
            {"owner": self.owner, "host": host},
        ).fetchall()
        for arn, owner, expired in candidates:
            if not expired and alive(owner):
                continue
            held = conn.execute(
                "SELECT 1 FROM executions WHERE arn = %s AND invoking "
                "AND lease_owner IS NOT DISTINCT FROM %s FOR UPDATE SKIP LOCKED",
                (arn, owner),
            ).fetchone()
            if held is None:  # renewed, ended, or in another worker's hands meanwhile,
                if expired:  # or held by the transaction of a worker that froze in it
                    self._end_frozen_holder(conn, arn)
                continue
            self._reset(conn, arn)
        calls = conn.execute(
            f"SELECT arn, op_id, lease_owner, lease_until < {_NOW} FROM tasks "
            "WHERE lease_owner IS NOT NULL AND lease_owner <> %(owner)s "
            f"AND (lease_until < {_NOW} OR starts_with(lease_owner, %(host)s))",
            {"owner": self.owner, "host": host},
        ).fetchall()
        for arn, op_id, owner, expired in calls:
            if not expired and alive(owner):
                continue
            held = conn.execute(
                "SELECT 1 FROM tasks WHERE arn = %s AND kind = %s AND op_id = %s "
                "AND lease_owner = %s FOR UPDATE SKIP LOCKED",
                (arn, CALL, op_id, owner),
            ).fetchone()
            if held is None:
                continue
            self._release_call(conn, arn, op_id)

    def _end_frozen_holder(self, conn: psycopg.Connection[Any], arn: str) -> None:
        """End the transaction that has held ``arn``'s row, its lease expired, for longer than a
        lease without a word from its worker (stopped mid-checkpoint: a pipeline half sent is
        no idle transaction to the server, so its own timeout does not end it). Nothing of it
        was committed; the next recovery takes the execution over. Without the right to end
        another session (another role), the execution waits for that worker, as before."""
        try:
            with conn.transaction():  # a savepoint: a refusal leaves the transaction usable
                conn.execute(
                    "SELECT pg_terminate_backend(l.pid) FROM executions e "
                    "JOIN pg_locks l ON l.locktype = 'transactionid' "
                    "AND l.mode = 'ExclusiveLock' AND l.transactionid = e.xmax "
                    "JOIN pg_stat_activity a ON a.pid = l.pid "
                    "WHERE e.arn = %s AND a.pid <> pg_backend_pid() "
                    "AND a.state_change < clock_timestamp() - %s * interval '1 millisecond'",
                    (arn, self.lease_ms),
                )
        except self._psycopg.errors.InsufficientPrivilege:
            pass

    # --- wake-ups -----------------------------------------------------------------------------

    def wait_for_work(self, timeout: float) -> bool:
        """Block until a commit schedules a task (any worker's), or ``timeout`` seconds pass.

        Returns:
            True when woken by a notification; False after the timeout (also when the
            listening connection failed: the next call reconnects).
        """
        with self._listen_lock:
            try:
                if self._listener is None or self._listener.closed:
                    self._listener = self._psycopg.Connection.connect(
                        self._conninfo, **self._connect_kwargs
                    )
                    self._listener.execute(f"LISTEN {CHANNEL}")
                for _ in self._listener.notifies(timeout=timeout, stop_after=1):
                    return True
                return False
            except self._psycopg.Error:
                if self._listener is not None:
                    self._listener.close()
                    self._listener = None
            # The server is out of reach: wait as a poll would (no busy reconnecting).
            time.sleep(timeout)
            return False


class NoTablesError(StoreError):
    """An ``ExistingPostgresStore`` was opened on a database holding no durable_gen tables."""


class ExistingPostgresStore(PostgresStore):
    """A ``PostgresStore`` that refuses a database without durable_gen's tables (``NoTablesError``)
    rather than creating them: what the command line's reading commands open, so that a
    mistyped database name is not taken for an empty database and written into."""

    _CREATES_TABLES = False
