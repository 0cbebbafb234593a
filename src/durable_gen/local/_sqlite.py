"""``SqliteStore``: the embedded engine's executions in one SQLite file, shared by processes.

It owns the database: its schema and migrations, its transactions, and the leases that let
several worker processes share it. Rules:

1.  Every engine critical section is one write transaction. The engine takes ``store.lock``
    (a lock that begins ``BEGIN IMMEDIATE`` when taken and commits when released), so the
    reads and the ``commit()`` of one checkpoint see one state and land together; another
    process waits for the transaction (up to ``timeout`` seconds) instead of interleaving.
2.  Inside a transaction, ``load()`` returns the same header object for the same ARN (the
    engine mutates it and writes it back); outside, every read is a fresh copy.
3.  ``claim()`` deletes a timer or invocation task in the claiming transaction: if the process
    dies before the transaction commits, the task is still there. A ``call`` task (a plain
    ``Invoke`` target runs outside the transaction) is leased instead, and deleted by the
    commit that completes its invoke.
4.  An execution whose handler runs has ``invoking`` set and a lease (owner, expiry) on its
    row. The owner renews it (``renew_leases()``); any store that finds it expired, or held by
    a dead process on this host, resets the invocation and schedules a new one. A commit that
    would end an invocation this store no longer holds raises ``LeaseLostError`` instead.
5.  The schema is versioned (table ``schema_version``); ``_MIGRATIONS`` upgrades old files in
    order. A file from a newer version, a corrupt file or a lock held too long is a
    ``StoreError`` with what to do.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from hashlib import blake2b
from pathlib import Path
from typing import Final, Literal

import msgspec

from .._arguments import checked
from .._errors import StoreError, ValidationError, shown
from .._wire import Event, Operation, wire_enc_hook
from ._dbstore import (
    CALL,
    DELETE_TASK,
    TASK_KINDS,
    UPSERT_CALLBACK,
    LeaseLostError,
    SqlStore,
    StoreUnavailableError,
    TransactionLock,
    alive,
    check_lease,
    check_location,
    check_seconds,
    decode_events,
    decode_header,
    decode_operation,
    decode_operations,
    encode_header,
    lease_lost,
    like_prefix,
    move_inputs,
    new_owner,
    schema_version_of,
    task_function,
    task_sound,
    upgrade_schema,
    wall_ms,
)
from ._store import Change, StoredExecution, Task

__all__ = ["LeaseLostError", "SqliteStore", "Synchronous"]

#: How SQLite syncs commits: FULL (default) survives power loss, NORMAL only process crashes.
Synchronous = Literal["FULL", "NORMAL"]

#: Expired leases are looked for at most this often (``next_task`` runs on every checkpoint).
_RECOVER_EVERY_MS: Final = 50

#: A change of more than this between the wall clock and the monotonic clock is a step of the
#: wall clock (set by hand or by NTP, or the host resumed from suspend), not drift.
_CLOCK_STEP_MS: Final = 1000


def _monotonic_ms() -> int:
    return time.monotonic_ns() // 1_000_000


_encode_json = msgspec.json.Encoder(enc_hook=wire_enc_hook).encode


def _idh(op_id: str) -> int:
    """The operation id's entry in the index ``operations_by_id``: 63 bits of its hash
    (another id with the same hash is told apart by the row's ``id``)."""
    return int.from_bytes(blake2b(op_id.encode(), digest_size=8).digest()) >> 1


#: Operations and events are keyed by one integer: the execution's ``seq`` in the high 32 bits,
#: the operation's position (the event's EventId) in the low 32. Those of one execution are the
#: keys ``seq << 32`` to ``(seq << 32) | _LOW``.
_LOW: Final = 0xFFFFFFFF
#: The keys of an execution from its n-th on, arguments ``(n, arn, arn)``. Placeholders are
#: plain ``?`` throughout: Python 3.12 deprecates numbered ones (``?1``) given a sequence.
_KEYS_OF: Final = (
    "key BETWEEN (SELECT (seq << 32) + ? FROM executions WHERE arn = ?) "
    f"AND (SELECT (seq << 32) | {_LOW} FROM executions WHERE arn = ?)"
)
_LOAD: Final = "SELECT header, invoking, lease_owner, seq, input FROM executions WHERE arn = ?"
#: An operation by id, arguments ``(idh, first key, last key, id)``.
_LOOKUP: Final = "SELECT key, body FROM operations WHERE idh = ? AND key BETWEEN ? AND ? AND id = ?"
#: The same, arguments ``(idh, 0, arn, arn, id)``: the execution's keys found by its ARN.
_LOOKUP_BY_ARN: Final = f"SELECT key, body FROM operations WHERE idh = ? AND {_KEYS_OF} AND id = ?"
#: Appends an operation after the execution's last, arguments ``(first key, last key, first
#: key, idh, id, type, status, body)``.
_INSERT_OPERATION: Final = (
    "INSERT INTO operations (key, idh, id, type, status, body) VALUES (COALESCE(("
    "SELECT key FROM operations WHERE key BETWEEN ? AND ? ORDER BY key DESC LIMIT 1), "
    "? - 1) + 1, ?, ?, ?, ?, ?)"
)
_UPDATE_OPERATION: Final = "UPDATE operations SET status = ?, body = ? WHERE key = ?"
_INSERT_EVENT: Final = "INSERT INTO events (key, body) VALUES (?, ?)"
_INSERT_TWO_EVENTS: Final = "INSERT INTO events (key, body) VALUES (?, ?), (?, ?)"
#: The execution row is written by its ``seq`` (its rowid: no search of the ARN index).
_UPDATE_HEADER: Final = "UPDATE executions SET header = ?, status = ? WHERE seq = ?"
_START_INVOCATION: Final = (
    "UPDATE executions SET header = ?, status = ?, invoking = 1, lease_owner = ?, "
    "lease_until = ? WHERE seq = ?"
)
_END_INVOCATION: Final = (
    "UPDATE executions SET header = ?, status = ?, invoking = 0, lease_owner = NULL, "
    "lease_until = NULL WHERE seq = ?"
)


# --- schema -----------------------------------------------------------------------------------


def _schema_v1(conn: sqlite3.Connection) -> None:
    for statement in (
        """CREATE TABLE executions (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            arn TEXT NOT NULL UNIQUE,
            execution_id TEXT NOT NULL,
            function_name TEXT NOT NULL,
            name TEXT NOT NULL,
            status TEXT NOT NULL,
            start_ms INTEGER NOT NULL,
            invoking INTEGER NOT NULL DEFAULT 0,
            lease_owner TEXT,
            lease_until INTEGER,
            header BLOB NOT NULL)""",
        "CREATE UNIQUE INDEX executions_by_name ON executions (function_name, name)",
        "CREATE INDEX executions_by_id ON executions (execution_id)",
        "CREATE INDEX executions_invoking ON executions (lease_until) WHERE invoking = 1",
        """CREATE TABLE operations (
            arn TEXT NOT NULL,
            id TEXT NOT NULL,
            position INTEGER NOT NULL,
            type TEXT NOT NULL,
            status TEXT NOT NULL,
            body BLOB NOT NULL,
            PRIMARY KEY (arn, id)) WITHOUT ROWID""",
        "CREATE UNIQUE INDEX operations_in_order ON operations (arn, position)",
        """CREATE TABLE events (
            arn TEXT NOT NULL,
            event_id INTEGER NOT NULL,
            body BLOB NOT NULL,
            PRIMARY KEY (arn, event_id)) WITHOUT ROWID""",
        """CREATE TABLE callbacks (
            callback_id TEXT PRIMARY KEY,
            arn TEXT NOT NULL,
            op_id TEXT NOT NULL,
            heartbeat_seconds INTEGER NOT NULL) WITHOUT ROWID""",
        """CREATE TABLE tasks (
            arn TEXT NOT NULL,
            kind TEXT NOT NULL,
            op_id TEXT NOT NULL,
            due_ms INTEGER NOT NULL,
            function_name TEXT,
            lease_owner TEXT,
            lease_until INTEGER,
            UNIQUE (arn, kind, op_id))""",
        "CREATE INDEX tasks_due ON tasks (due_ms)",
        "CREATE INDEX tasks_leased ON tasks (lease_until) WHERE lease_owner IS NOT NULL",
        """CREATE TABLE workflows (
            function_name TEXT PRIMARY KEY,
            import_path TEXT NOT NULL) WITHOUT ROWID""",
    ):
        conn.execute(statement)


def _schema_v2(conn: sqlite3.Connection) -> None:
    """Operations and events keyed by the execution's ``seq`` instead of its ARN.

    An ARN is about 180 bytes; repeated in every key of the two largest tables it made their
    B-trees deep (a checkpoint wrote about nine pages). Operations are stored in creation
    order, found by id through a small index.
    """
    for statement in (
        """CREATE TABLE operations_v2 (
            ex INTEGER NOT NULL,
            position INTEGER NOT NULL,
            id TEXT NOT NULL,
            type TEXT NOT NULL,
            status TEXT NOT NULL,
            body BLOB NOT NULL,
            PRIMARY KEY (ex, position)) WITHOUT ROWID""",
        """INSERT INTO operations_v2 (ex, position, id, type, status, body)
            SELECT e.seq, o.position, o.id, o.type, o.status, o.body
            FROM operations o JOIN executions e ON e.arn = o.arn""",
        """CREATE TABLE events_v2 (
            ex INTEGER NOT NULL,
            event_id INTEGER NOT NULL,
            body BLOB NOT NULL,
            PRIMARY KEY (ex, event_id)) WITHOUT ROWID""",
        """INSERT INTO events_v2 (ex, event_id, body)
            SELECT e.seq, v.event_id, v.body FROM events v JOIN executions e ON e.arn = v.arn""",
        "DROP TABLE operations",
        "DROP TABLE events",
        "ALTER TABLE operations_v2 RENAME TO operations",
        "ALTER TABLE events_v2 RENAME TO events",
        "CREATE UNIQUE INDEX operations_by_id ON operations (ex, id)",
    ):
        conn.execute(statement)


def _schema_v3(conn: sqlite3.Connection) -> None:
    """Operations and events in rowid tables keyed by ``(seq << 32) + position`` (EventId).

    Rows of a running execution are appended at the end of its range, which SQLite does by
    filling a leaf and starting the next one (in a ``WITHOUT ROWID`` table the same append
    splits and rebalances up to three leaves). The index from id to operation holds a 63-bit
    hash of the id instead of the 64-character id, so a quarter of the pages. Together a
    checkpoint writes about 4.6 pages of WAL instead of 7. An execution's input moves out of
    its header (which every checkpoint writes again) into a column of its own.
    """
    conn.create_function("dg_idh", 1, _idh, deterministic=True)
    conn.execute("ALTER TABLE executions ADD COLUMN input TEXT")
    move_inputs(conn)
    for statement in (
        """CREATE TABLE operations_v3 (
            key INTEGER PRIMARY KEY,
            idh INTEGER NOT NULL,
            id TEXT NOT NULL,
            type TEXT NOT NULL,
            status TEXT NOT NULL,
            body BLOB NOT NULL)""",
        """INSERT INTO operations_v3 (key, idh, id, type, status, body)
            SELECT (ex << 32) + position, dg_idh(id), id, type, status, body FROM operations
            ORDER BY ex, position""",
        "CREATE TABLE events_v3 (key INTEGER PRIMARY KEY, body BLOB NOT NULL)",
        """INSERT INTO events_v3 (key, body)
            SELECT (ex << 32) + event_id, body FROM events ORDER BY ex, event_id""",
        "DROP TABLE operations",
        "DROP TABLE events",
        "ALTER TABLE operations_v3 RENAME TO operations",
        "ALTER TABLE events_v3 RENAME TO events",
        "CREATE INDEX operations_by_id ON operations (idh)",
    ):
        conn.execute(statement)


#: Migration ``i`` upgrades a database from schema version ``i`` to ``i + 1``; append only.
_MIGRATIONS: Final[list[Callable[[sqlite3.Connection], None]]] = [
    _schema_v1,
    _schema_v2,
    _schema_v3,
]

#: The schema version this code writes.
SCHEMA_VERSION: Final = len(_MIGRATIONS)

#: Seconds between two reads of the schema version by a store's write transactions.
_VERSION_EVERY_S: Final = 1.0
#: How long SQLite itself waits for another process's write lock before it hands back to
#: Python, which waits on in such slices up to the store's ``timeout``: SQLite's wait runs no
#: Python code, so a signal (Ctrl-C, SIGTERM) is only handled once it returns.
_LOCK_SLICE_MS: Final = 100


# --- the store --------------------------------------------------------------------------------


def _is_busy(exc: sqlite3.Error) -> bool:
    """Whether SQLite gave up waiting for a lock another connection holds."""
    text = str(exc)
    return "locked" in text or "busy" in text


class SqliteStore(SqlStore):
    """An ``ExecutionStore`` in a SQLite file (WAL): durable, and shared by processes.

    Args:
        path: The database file; created (owner-only, mode 0o600) if missing.
        synchronous: ``"FULL"`` (default: a commit survives power loss) or ``"NORMAL"``
            (faster; a commit survives a process crash, maybe not a power loss).
        timeout: Seconds to wait for another process's transaction before ``StoreError``.
        lease_seconds: How long an invocation's lease lasts without renewal.

    Raises:
        StoreError: the file is not a durable_gen database, is corrupt, was written by a
            newer version, or stayed locked for longer than ``timeout``.

    Example:
        >>> from durable_gen.local import LocalService, SqliteStore
        >>> with SqliteStore("durable.db") as store:  # doctest: +SKIP
        ...     service = LocalService(store=store)
    """

    _UPSERT_TASK = (
        "INSERT OR REPLACE INTO tasks (arn, kind, op_id, due_ms, function_name) "
        "VALUES (?, ?, ?, ?, ?)"
    )

    @checked
    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        synchronous: Synchronous = "FULL",
        timeout: float = 5.0,
        lease_seconds: float = 30.0,
    ) -> None:
        if synchronous not in ("FULL", "NORMAL"):
            raise ValidationError(
                f"synchronous must be 'FULL' or 'NORMAL', got {shown(synchronous)}"
            )
        check_seconds(timeout, "timeout", zero=True)
        check_lease(lease_seconds)
        self.path = Path(check_location(path, "the SQLite path"))
        self.synchronous: Synchronous = synchronous
        self.lease_ms = max(1, round(lease_seconds * 1000))
        self._owner = new_owner()
        self._lane = threading.local()
        #: Threads that share this store commit together (see ``share()``).
        self.group_commit = False
        self._group = threading.Condition(threading.Lock())
        self._open_gen = 0  # the group of checkpoints the open transaction holds
        self._settled = 0  # groups before this one are committed (or failed)
        self._failures: dict[int, StoreError] = {}
        self._handoff = threading.local()
        self._timeout = timeout
        self._mutex = threading.RLock()
        self._owner_thread: int | None = None
        self._depth = 0
        self._cache: dict[str, StoredExecution] = {}
        #: ``(invoking, lease_owner, seq)`` of the execution rows read or written in this
        #: critical section.
        self._rows: dict[str, tuple[bool, str | None, int]] = {}
        #: The key (None: it does not exist) and ``_idh`` of each operation ``(seq, id)``
        #: looked up or written in this critical section, so that writing it needs no search.
        self._keys: dict[tuple[int, str], tuple[int | None, int]] = {}
        #: The query of the next task, the same beside ``load()``'s, and what they serve.
        self._task_sql: tuple[str, str, tuple[str, ...] | None] | None = None
        #: The next task as ``load()`` read it: ``(total_changes then, serving, task)``.
        self._next: tuple[int, tuple[str, ...] | None, Task | None] | None = None
        #: ``total_changes`` of the connection when its transaction began.
        self._begun_at = 0
        self._serving: tuple[str, ...] | None = None
        #: When (monotonic ms) expired leases were last looked for.
        self._recovered_ms = -_RECOVER_EVERY_MS
        #: The wall clock less the monotonic one (ms) as last seen, and until when (monotonic
        #: ms) a live holder's expired lease is left to it after the wall clock stepped.
        self._wall_less_mono = wall_ms() - _monotonic_ms()
        self._step_grace_ms = 0
        self.lock = TransactionLock(self)
        #: The path as it was when opened, whatever directory the process moves to, and the
        #: device and inode of the file there (None: SQLite's in-memory database).
        self._abspath = Path(os.path.abspath(self.path))
        self._identity: tuple[int, int] | None = None
        #: When (``time.monotonic()``) a transaction last read the schema version.
        self._version_read = time.monotonic()
        #: Whether a write lock is waited for in slices (see ``_begin``) rather than at once.
        self._sliced = timeout * 1000 > _LOCK_SLICE_MS
        if str(self.path) != ":memory:":  # SQLite's in-memory database: no file to create
            _create_private(self.path)
            _refuse_hard_links(self.path)
            self._identity = _identity(self._abspath)
        try:
            self._conn = sqlite3.connect(
                self.path, timeout=timeout, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise self._error(exc) from None
        try:
            with self._guard():
                self._conn.execute(f"PRAGMA synchronous = {synchronous}")
                self._conn.execute("PRAGMA journal_mode = WAL").fetchone()
                self._migrate()
                if self._sliced:
                    self._conn.execute(f"PRAGMA busy_timeout = {_LOCK_SLICE_MS}")
        except BaseException:
            self._conn.close()
            raise

    # --- lifecycle ----------------------------------------------------------------------------

    def close(self) -> None:
        """Close the connection (idempotent); a group's open transaction is committed first."""
        with self._mutex:
            if self._depth == 0 and self._is_open():
                self._finish(commit=True)
            self._conn.close()

    @property
    def owner(self) -> str:
        """Who holds the leases this store takes in this thread: host, process id, a random
        part, and the thread's share (see ``share()``)."""
        return self._owner + getattr(self._lane, "suffix", "")

    def share(self, lane: int) -> None:
        """Make this thread one of several that drive executions through this store.

        The threads' checkpoints commit together: a thread that finishes its transaction
        while another waits to start one leaves the transaction open for it, and waits until
        the last of them commits (one fsync for all), so a checkpoint is still durable when
        the call returns. Each thread holds leases under its own name (``owner``), so one
        thread can give its invocations back without touching the others'.
        """
        self.group_commit = True
        self._lane.suffix = f"/{lane}"

    def unshare(self) -> None:
        """Back to one thread: commit at once again, leases under the store's own name."""
        self.group_commit = False
        self._lane.suffix = ""

    def _lease_until(self) -> tuple[str, int]:
        return "?", wall_ms() + self.lease_ms

    def clone(self) -> SqliteStore:
        """A new store on the same file, with its own connection and lease owner."""
        return SqliteStore(
            self.path,
            synchronous=self.synchronous,
            timeout=self._timeout,
            lease_seconds=self.lease_ms / 1000,
        )

    def __repr__(self) -> str:
        return f"SqliteStore({str(self.path)!r})"

    @property
    def schema_version(self) -> int:
        """The schema version of the open database."""
        with self._guard():
            rows = self._conn.execute("SELECT version FROM schema_version").fetchall()
        return schema_version_of(rows, where=self.path)

    def _migrate(self) -> None:
        conn = self._conn
        if self._current_version() == SCHEMA_VERSION:
            return  # the usual case: no write lock needed to open
        conn.execute("BEGIN IMMEDIATE")
        try:
            upgrade_schema(conn, _MIGRATIONS, where=self.path)
        except BaseException:
            if conn.in_transaction:  # else SQLite rolled it back itself (a full disk)
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _current_version(self) -> int:
        try:
            rows = self._conn.execute("SELECT version FROM schema_version").fetchall()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return 0
            if "no such column" in str(exc):  # another program's table of that name
                raise StoreError(
                    f"the database {self.path} already holds a table schema_version that "
                    f"durable_gen did not create ({exc}); give durable_gen a database (or SQLite "
                    "file) of its own"
                ) from None
            raise
        return schema_version_of(rows, where=self.path)

    # --- transactions -------------------------------------------------------------------------

    def _enter(self) -> None:
        # Called with the mutex held. A group's transaction may still be open: carry on in it.
        if self._depth == 0:
            conn = self._conn
            if not self._is_open():
                try:
                    self._begin()
                except sqlite3.Error as exc:
                    raise self._error(exc) from None
                if self._identity is not None:
                    self._check_file(conn)
                self._begun_at = conn.total_changes
            self._owner_thread = threading.get_ident()
        self._depth += 1

    def _exit(self, *, commit: bool) -> None:
        self._depth -= 1
        if self._depth:
            return
        self._owner_thread = None
        self._cache.clear()
        self._rows.clear()
        self._keys.clear()
        self._next = None
        if not self._is_open():
            return
        if commit and self.group_commit and self.lock.waiting:
            # Another thread waits to write: let it add to this transaction, and wait (once
            # the lock is released) for whoever commits the group.
            self._handoff.gen = self._open_gen
            return
        self._finish(commit=commit)

    def _is_open(self) -> bool:
        try:
            return self._conn.in_transaction
        except sqlite3.ProgrammingError:  # closed
            return False

    def _finish(self, *, commit: bool) -> None:
        """Commit (or roll back) the open transaction and settle its group. Mutex held."""
        gen = self._open_gen
        try:
            self._conn.execute("COMMIT" if commit else "ROLLBACK")
        except sqlite3.Error as exc:
            error = self._error(exc)
            if self._is_open():  # a COMMIT that failed (a full disk): nothing of it stays
                with contextlib.suppress(sqlite3.Error):
                    self._conn.execute("ROLLBACK")
            self._settle(gen, error)
            raise error from None
        if commit and not self.group_commit:
            self._open_gen = self._settled = gen + 1  # nobody waits for a group
            return
        failure = None
        if not commit:
            failure = StoreError(
                f"the database {self.path}: the transaction this checkpoint shared with "
                "another thread's was rolled back; try again"
            )
        self._settle(gen, failure)

    def _settle(self, gen: int, failure: StoreError | None) -> None:
        with self._group:
            if failure is not None:
                self._failures[gen] = failure
                for old in [g for g in self._failures if g < gen - 100]:
                    del self._failures[old]
            self._open_gen = self._settled = gen + 1
            self._group.notify_all()

    def _after_release(self) -> None:
        """Wait until the group this thread's writes joined is committed; raise if it failed."""
        gen: int | None = getattr(self._handoff, "gen", None)
        if gen is None:
            return
        self._handoff.gen = None
        while True:
            with self._group:
                if self._settled <= gen:
                    self._group.wait(0.002)
                if self._settled > gen:
                    break
            # Nobody committed it yet: if nobody holds the transaction either, commit it here.
            if self._mutex.acquire(blocking=False):
                try:
                    if self._depth == 0 and self._open_gen == gen and not self.lock.waiting:
                        self._finish(commit=True)
                finally:
                    self._mutex.release()
        failure = self._failures.get(gen)
        if failure is not None:
            raise failure

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """A write transaction, or a part of the one this thread already holds."""
        with self._mutex:
            self._enter()
            ok = False
            try:
                yield self._conn
                ok = True
            except sqlite3.Error as exc:  # a statement of the body: a StoreError like the rest
                if not self._is_open():
                    raise self._lost(exc) from None
                raise self._error(exc) from None
            finally:
                self._exit(commit=ok)
        self._after_release()

    def _lost(self, exc: sqlite3.Error) -> StoreError:
        """The error of a statement after which SQLite rolled the whole open transaction back
        by itself (a full disk, an I/O error: it may, rather than undo the one statement). The
        checkpoints other threads had added to it are gone too: their group fails with the
        same error (none of them is told it was committed, and each tries again), and another
        transaction begins for the rest of the enclosing critical section. Mutex held."""
        error = self._error(exc)
        self._cache.clear()
        self._rows.clear()
        self._keys.clear()
        self._next = None
        self._settle(self._open_gen, error)
        with contextlib.suppress(sqlite3.Error):  # then the section ends with no transaction
            self._begin()
            self._begun_at = self._conn.total_changes
        return error

    def _begin(self) -> None:
        """``BEGIN IMMEDIATE``, waiting up to ``timeout`` for another process's write lock.

        SQLite waits in slices of ``_LOCK_SLICE_MS`` and this loop between them, so that a
        signal is handled while the lock is waited for (Ctrl-C interrupts the wait, SIGTERM's
        graceful stop begins) rather than once the whole timeout has passed. Mutex held.
        """
        conn = self._conn
        start = time.monotonic()
        while True:
            try:
                conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if not (self._sliced and _is_busy(exc)):
                    raise
                if time.monotonic() - start >= self._timeout - _LOCK_SLICE_MS / 1000:
                    raise

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._mutex, self._guard():
            conn = self._conn
            if not self._sliced or conn.in_transaction:
                yield conn
                return
            # Outside a transaction (where nothing waits for a lock in WAL mode but a
            # process recovering or checkpointing the file), the read waits the whole timeout.
            conn.execute(f"PRAGMA busy_timeout = {round(self._timeout * 1000)}")
            try:
                yield conn
            finally:
                with contextlib.suppress(sqlite3.Error):  # a closed store: its error stands
                    conn.execute(f"PRAGMA busy_timeout = {_LOCK_SLICE_MS}")

    @contextmanager
    def _guard(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            raise self._error(exc) from None

    def _check_file(self, conn: sqlite3.Connection) -> None:
        """In a transaction just begun: refuse to go on (rolled back) when the file at the
        path is another one now, or, once a second, when a newer durable_gen migrated it
        while this process ran (a migration that adds a table or a column trips no
        statement of this code)."""
        if _identity(self._abspath) != self._identity:
            conn.execute("ROLLBACK")
            raise self._moved()
        now = time.monotonic()
        if now - self._version_read < _VERSION_EVERY_S:
            return
        self._version_read = now
        row = conn.execute("SELECT max(version) FROM schema_version").fetchone()
        version = 0 if row is None or row[0] is None else int(row[0])
        if version > SCHEMA_VERSION:
            conn.execute("ROLLBACK")
            raise StoreError(
                f"the database {self.path} was upgraded to schema version {version} by a "
                f"newer durable_gen while this process ran (it knows version "
                f"{SCHEMA_VERSION}); upgrade durable_gen here and start this process again"
            )

    def _moved(self) -> StoreError:
        return StoreError(
            f"the database {self.path} was removed or replaced by another file (a backup "
            "restored, a file moved over it) while this process had it open: what it would "
            "write now would go to the old file, which nobody reads; nothing more was written. "
            "Start this process again to open the file now at that path (and stop every "
            "process on a database before replacing its file)"
        )

    def _error(self, exc: sqlite3.Error) -> StoreError:
        text = str(exc)
        if _is_busy(exc):
            return StoreUnavailableError(
                f"the database {self.path} is locked: another process held it for more than "
                f"{self._timeout:g} s; try again, or stop the process that holds it"
            )
        if isinstance(exc, sqlite3.DatabaseError) and (
            "not a database" in text or "malformed" in text or "corrupt" in text
        ):
            return StoreError(
                f"the database {self.path} is corrupt or not a durable_gen database ({text}); "
                "restore it from a backup or use another file"
            )
        if "no such table" in text:
            return StoreError(f"{self.path} is not a durable_gen database ({text})")
        if isinstance(exc, sqlite3.ProgrammingError) and "closed database" in text:
            return StoreError(
                f"the SqliteStore of {self.path} was closed (close(), or the end of its with "
                "block), so it reads and writes nothing more; nothing was written. Use the "
                "store inside its with block, or open the database again (SqliteStore(path), "
                "open_store(url)) for the engine or worker that needs it"
            )
        if "disk is full" in text or ("disk I/O error" in text and _no_room(self.path)):
            # SQLITE_FULL: the transaction was rolled back. On a full disk, a process that
            # opens the file when no other has it open cannot make its -shm file, which
            # SQLite reports as an I/O error.
            return StoreUnavailableError(
                f"the disk holding the database {self.path} is full ({text}): nothing of this "
                "transaction was written; free some space and try again (a worker retries "
                "for its patience)"
            )
        if "readonly" in text:
            return StoreError(
                f"the database {self.path} cannot be written ({text}): give this process write "
                "access to the file, its -wal and -shm files and their directory"
            )
        return StoreError(f"the database {self.path} failed: {text}")

    # --- ExecutionStore: reads ----------------------------------------------------------------

    def load(self, arn: str) -> StoredExecution | None:
        """The execution header, or None for an unknown ARN (one object per transaction)."""
        with self._mutex:
            if self._depth:
                cached = self._cache.get(arn)
                if cached is not None:
                    return cached
            conn = self._conn
            try:
                if not self._depth:
                    row = conn.execute(_LOAD, (arn,)).fetchone()
                else:  # a checkpoint asks for the next task right after: read it along
                    sql, params = self._task_query(load=True)
                    row = conn.execute(sql, (*params, arn)).fetchone()
            except sqlite3.Error as exc:
                raise self._error(exc) from None
            if row is None:
                return None
            ex = decode_header(row[0], row[4], arn, self.path)
            if self._depth:
                self._cache[arn] = ex
                self._rows[arn] = (bool(row[1]), row[2], row[3])
                task = None
                if type(row[5]) is int and row[7] in TASK_KINDS and type(row[8]) is str:
                    task = Task(*row[5:])  # a damaged row is the worker's to meet
                self._next = (conn.total_changes, self._serving, task)
            return ex

    def lookup(self, arn: str) -> Callable[[str], Operation | None]:
        """A function from operation id to the current operation of execution ``arn``."""
        mutex, execute, error = self._mutex, self._conn.execute, self._error
        rows, keys, where = self._rows, self._keys, self.path

        def get(op_id: str) -> Operation | None:
            idh = _idh(op_id)
            with mutex:
                known = rows.get(arn)  # read in this critical section: its seq is known
                try:
                    if known is None:
                        row = execute(_LOOKUP_BY_ARN, (idh, 0, arn, arn, op_id)).fetchone()
                    else:
                        low = known[2] << 32
                        row = execute(_LOOKUP, (idh, low, low | _LOW, op_id)).fetchone()
                        keys[(known[2], op_id)] = (None if row is None else row[0], idh)
                except sqlite3.Error as exc:
                    raise error(exc) from None
            return None if row is None else decode_operation(row[1], op_id, arn, where)

        return get

    def operations(self, arn: str, start: int = 0, limit: int | None = None) -> list[Operation]:
        """Operations of ``arn`` in creation order, from index ``start``, at most ``limit``."""
        rows = self._all(
            f"SELECT body FROM operations WHERE {_KEYS_OF} ORDER BY key LIMIT ?",
            (start, arn, arn, -1 if limit is None else limit),
        )
        return decode_operations(rows, arn, self.path)

    def operation_count(self, arn: str) -> int:
        """How many operations execution ``arn`` has."""
        row = self._one(
            f"SELECT key FROM operations WHERE {_KEYS_OF} ORDER BY key DESC LIMIT 1", (0, arn, arn)
        )
        return 0 if row is None else (int(row[0]) & _LOW) + 1

    def events(self, arn: str) -> list[Event]:
        """The history events of ``arn``, in EventId order."""
        rows = self._all(f"SELECT body FROM events WHERE {_KEYS_OF} ORDER BY key", (0, arn, arn))
        return decode_events(rows, arn, self.path)

    def operation_counts(self, arn: str) -> dict[tuple[str, str], int]:
        """How many operations of ``arn`` there are of each (type, status)."""
        rows = self._all(
            f"SELECT type, status, COUNT(*) FROM operations WHERE {_KEYS_OF} GROUP BY type, status",
            (0, arn, arn),
        )
        return {(str(kind), str(status)): int(n) for kind, status, n in rows}

    def executions(self) -> Iterator[StoredExecution]:
        """Every execution, in the order they started."""
        with self._read() as conn:
            rows = conn.execute("SELECT arn, header, input FROM executions ORDER BY seq").fetchall()
            cache = self._cache if self._depth else {}
            found = [
                cache.get(arn) or decode_header(head, payload, arn, self.path)
                for arn, head, payload in rows
            ]
        return iter(found)

    # --- ExecutionStore: writes and scheduling ------------------------------------------------

    def commit(self, changes: Sequence[Change]) -> None:
        """Apply ``changes`` atomically (a savepoint inside the current transaction).

        Raises:
            LeaseLostError: a change ends an invocation whose lease another store now holds;
                nothing of ``changes`` was written.
        """
        conn = self._conn
        with self._mutex:
            self._enter()
            ok = False
            try:
                # Nothing written in the transaction yet: undoing this commit is undoing the
                # transaction, so no savepoint is needed.
                first = conn.total_changes == self._begun_at
                if not first:
                    conn.execute("SAVEPOINT dg_commit")
                try:
                    for change in changes:
                        self._apply(conn, change)
                except sqlite3.Error as exc:
                    if not conn.in_transaction:  # SQLite rolled it all back by itself
                        raise self._lost(exc) from None
                    self._undo(first)
                    raise
                except BaseException:
                    self._undo(first)
                    raise
                if not first:
                    conn.execute("RELEASE dg_commit")
                ok = True
            except sqlite3.Error as exc:
                raise self._error(exc) from None
            finally:
                self._exit(commit=ok)
        self._after_release()

    def _undo(self, first: bool) -> None:
        """Undo what a failed ``commit()`` wrote, and only that. Mutex held."""
        conn = self._conn
        self._keys.clear()  # may name rows this commit wrote
        if first:
            self._restart()
        else:
            conn.execute("ROLLBACK TO dg_commit")
            conn.execute("RELEASE dg_commit")
            self._rows.clear()  # may hold a lease this commit took

    def _restart(self) -> None:
        """Roll back the open transaction, which wrote nothing, and begin another in its place
        (the rest of the critical section runs in a transaction still)."""
        conn = self._conn
        conn.execute("ROLLBACK")
        self._rows.clear()
        self._next = None
        self._begin()
        self._begun_at = conn.total_changes

    def _apply(self, conn: sqlite3.Connection, change: Change) -> None:
        ex = change.execution
        arn = ex.arn
        header = encode_header(ex)
        invoking = 1 if ex.invoking else 0
        until = wall_ms() + self.lease_ms if invoking else 0  # read when an invocation starts
        if change.created:
            cursor = conn.execute(
                "INSERT INTO executions (arn, execution_id, function_name, name, status, "
                "start_ms, invoking, lease_owner, lease_until, header, input) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    arn,
                    ex.execution_id,
                    ex.function_name,
                    ex.name,
                    ex.status,
                    ex.start_ms,
                    invoking,
                    self.owner if invoking else None,
                    until if invoking else None,
                    header,
                    ex.input,
                ),
            )
            seq = cursor.lastrowid
            assert seq is not None
            self._rows[arn] = (True, self.owner, seq) if invoking else (False, None, seq)
        else:
            known = self._rows.get(arn)
            if known is not None:
                self._update(conn, arn, ex.status, header, ex.invoking, known, until)
                seq = known[2]
            else:
                seq = self._update_unread(conn, arn, ex.status, header, invoking, until)
        if self._depth:
            self._cache[arn] = ex
        low = seq << 32
        keys = self._keys
        for op in change.operations:
            op_id = op.id
            found = keys.get((seq, op_id))
            if found is None:  # not looked up in this critical section
                idh = _idh(op_id)
                row = conn.execute(_LOOKUP, (idh, low, low | _LOW, op_id)).fetchone()
                key = None if row is None else row[0]
            else:
                key, idh = found
            if key is None:
                cursor = conn.execute(
                    _INSERT_OPERATION,
                    (low, low | _LOW, low, idh, op_id, op.type, op.status, _encode_json(op)),
                )
                keys[(seq, op_id)] = (cursor.lastrowid, idh)
            else:
                conn.execute(_UPDATE_OPERATION, (op.status, _encode_json(op), key))
            if op.type == "CHAINED_INVOKE" and op.status != "STARTED":
                conn.execute(DELETE_TASK, (arn, CALL, op_id))
        if change.raw_events:
            events = change.events
            if len(events) == 2:  # a step's START and outcome: one statement for both
                first, second = events
                conn.execute(
                    _INSERT_TWO_EVENTS,
                    (
                        low + first.event_id,
                        _encode_json(first),
                        low + second.event_id,
                        _encode_json(second),
                    ),
                )
            else:
                conn.executemany(
                    _INSERT_EVENT, [(low + event.event_id, _encode_json(event)) for event in events]
                )
        if change.callbacks:
            conn.executemany(UPSERT_CALLBACK, change.callbacks)
        if change.cancelled:
            conn.executemany(
                DELETE_TASK,
                [(arn, kind, op_id) for kind, op_id in change.cancelled],
            )
        for task in change.tasks:
            conn.execute(
                self._UPSERT_TASK,
                (arn, task.kind, task.op_id, task.due_ms, task_function(ex, task)),
            )
        if change.cancel_all:
            conn.execute("DELETE FROM tasks WHERE arn = ?", (arn,))

    def _update(
        self,
        conn: sqlite3.Connection,
        arn: str,
        status: str,
        header: bytes,
        invoking: bool,
        row: tuple[bool, str | None, int],
        until: int,
    ) -> None:
        """Write the header of an execution whose row ``load()`` read in this transaction.

        The lease of an invocation in flight is left alone (renewals extend it); ending an
        invocation whose lease another store took over is refused.
        """
        held, holder, seq = row
        if invoking == held:
            # No invocation began or ended: the lease (even another store's) is left alone.
            conn.execute(_UPDATE_HEADER, (header, status, seq))
        elif invoking:
            owner = self.owner
            conn.execute(_START_INVOCATION, (header, status, owner, until, seq))
            self._rows[arn] = (True, owner, seq)
        elif holder != self.owner:
            raise lease_lost(arn, holder)
        else:
            conn.execute(_END_INVOCATION, (header, status, seq))
            self._rows[arn] = (False, None, seq)

    def _update_unread(
        self,
        conn: sqlite3.Connection,
        arn: str,
        status: str,
        header: bytes,
        invoking: int,
        until: int,
    ) -> int:
        """Write the header of an execution not read in this transaction (checks the lease);
        returns its ``seq``."""
        row = conn.execute(
            "SELECT invoking, lease_owner, seq FROM executions WHERE arn = ?", (arn,)
        ).fetchone()
        if row is None:
            raise StoreError(f"the execution {arn} is not in the database {self.path}")
        known = (bool(row[0]), row[1], int(row[2]))
        self._update(conn, arn, status, header, bool(invoking), known, until)
        return known[2]

    def next_task(self) -> Task | None:
        """The earliest task nobody has claimed, among the functions this store serves.

        First it takes back the work of invocations and calls whose lease expired (or whose
        holder died), so that they are due again.
        """
        with self._mutex:
            if self._depth and _monotonic_ms() - self._recovered_ms < _RECOVER_EVERY_MS:
                # Inside a transaction (a checkpoint asks): one query, nothing to take back;
                # none if load() read the answer and nothing was written since.
                read = self._next
                if (
                    read is not None
                    and read[0] == self._conn.total_changes
                    and read[1] == self._serving
                ):
                    return read[2]
                sql, params = self._task_query()
                try:
                    row = self._conn.execute(sql, params).fetchone()
                except sqlite3.Error as exc:
                    raise self._error(exc) from None
                # A damaged row is not the caller's (a checkpoint's) to report: the worker's
                # own look for work meets it and sets it aside.
                if row is None:
                    return None
                if type(row[0]) is int and row[2] in TASK_KINDS and type(row[3]) is str:
                    return Task(*row)
                raise self._damaged_task(row)
        with self._tx() as conn:
            now = _monotonic_ms()
            if now - self._recovered_ms >= _RECOVER_EVERY_MS:
                self._recovered_ms = now
                self._recover(conn)
            sql, params = self._task_query()
            row = conn.execute(sql, params).fetchone()
        if row is not None and not task_sound(row):
            raise self._damaged_task(row)
        return None if row is None else Task(*row)

    def _task_query(self, *, load: bool = False) -> tuple[str, tuple[str, ...]]:
        """The query of ``next_task()`` for the functions served now, and its arguments.

        With ``load``, the query of ``load()`` with the next task beside the execution's row
        (its last argument, the ARN, is the caller's).
        """
        serving = self._serving
        cached = self._task_sql
        if cached is None or cached[2] != serving:
            sql = "SELECT due_ms, arn, kind, op_id FROM tasks WHERE lease_owner IS NULL"
            if serving is not None:
                marks = ", ".join("?" * len(serving))
                sql += f" AND (function_name IS NULL OR function_name IN ({marks}))"
            sql += " ORDER BY due_ms, rowid LIMIT 1"
            with_load = (
                "SELECT e.header, e.invoking, e.lease_owner, e.seq, e.input, "
                f"t.due_ms, t.arn, t.kind, t.op_id FROM executions e LEFT JOIN ({sql}) t "
                "WHERE e.arn = ?"
            )
            cached = self._task_sql = (sql, with_load, serving)
        return cached[1] if load else cached[0], serving or ()

    # --- leases -------------------------------------------------------------------------------

    def renew_leases(self) -> int:
        """Extend every lease this store holds by ``lease_seconds``; returns how many."""
        until = wall_ms() + self.lease_ms
        mine = "lease_owner = ? OR lease_owner LIKE ? ESCAPE '\\'"
        params = (until, self._owner, like_prefix(self._owner + "/"))
        with self._tx() as conn:
            n = conn.execute(
                f"UPDATE executions SET lease_until = ? WHERE invoking = 1 AND ({mine})", params
            ).rowcount
            n += conn.execute(f"UPDATE tasks SET lease_until = ? WHERE {mine}", params).rowcount
        return n

    def _reset(self, conn: sqlite3.Connection, arn: str) -> None:
        super()._reset(conn, arn)
        self._rows.pop(arn, None)

    def _is_mine(self, owner: str | None) -> bool:
        """Whether ``owner`` is this store, in any of the threads that share it."""
        base = self._owner
        return owner is not None and (owner == base or owner.startswith(base + "/"))

    def _holds(self, owner: object, until: object, now: int, grace: bool) -> bool:
        """Whether a lease row ``(lease_owner, lease_until)`` is still held. A lease whose
        columns hold something else than an owner's text and a whole number of milliseconds
        (edited by hand, damaged) is held by nobody: its work is taken back."""
        if type(owner) is not str:
            return False
        return self._is_mine(owner) or (
            (grace or (type(until) is int and until >= now)) and alive(owner)
        )

    def _recover(self, conn: sqlite3.Connection) -> None:
        now = wall_ms()
        mono = _monotonic_ms()
        offset, last = now - mono, self._wall_less_mono
        self._wall_less_mono = offset  # against the last look: NTP's slow slewing is no step
        if abs(offset - last) > _CLOCK_STEP_MS:
            # The wall clock stepped (forward: every lease looks expired at once): leave the
            # leases of live holders to them for one more lease, time for them to renew on
            # the new clock. A dead holder's work is taken back at once all the same.
            self._step_grace_ms = mono + self.lease_ms
        grace = mono < self._step_grace_ms
        for arn, owner, until in conn.execute(
            "SELECT arn, lease_owner, lease_until FROM executions WHERE invoking = 1"
        ).fetchall():
            if self._holds(owner, until, now, grace):
                continue
            self._reset(conn, arn)
        for arn, op_id, owner, until in conn.execute(
            "SELECT arn, op_id, lease_owner, lease_until FROM tasks WHERE lease_owner IS NOT NULL"
        ).fetchall():
            if self._holds(owner, until, now, grace):
                continue
            self._release_call(conn, arn, op_id)


#: A ``~`` or ``$VARIABLE`` a shell would have expanded, at the start of a path's part.
_UNEXPANDED: Final = re.compile(r"(?:^|/)(~[^/]*|\$\{?[A-Za-z_][A-Za-z0-9_]*\}?)")


#: Less free space than this beside the file makes an I/O error a full disk.
_ROOM_BYTES: Final = 1 << 20


def _no_room(path: Path) -> bool:
    """Whether the file system holding ``path`` is (nearly) full."""
    try:
        return shutil.disk_usage(os.path.dirname(os.path.abspath(path))).free < _ROOM_BYTES
    except OSError:
        return False


def _create_private(path: Path) -> None:
    """Create the database file readable by its owner only, before SQLite opens it."""
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        if path.is_dir():
            raise StoreError(
                f"the database {path} is a folder: the database is a file; give its path, "
                f"e.g. {path / 'durable.db'}"
            ) from None
        if path.is_symlink() and not path.exists():
            # A link to a file not there yet: SQLite follows it, so create the file it names
            # (owner-only, as any new database); `durable.db -> /mnt/data/durable.db` with
            # the volume not mounted has no folder to create it in.
            target = Path(os.path.realpath(path))
            if not target.parent.is_dir():
                raise StoreError(
                    f"cannot create the database {path}: it is a symbolic link to {target}, "
                    f"whose folder {target.parent} does not exist (a volume not mounted?): "
                    "mount or create it, or correct the link"
                ) from None
            with contextlib.suppress(OSError):  # a loop of links: SQLite's error says so
                os.close(os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        return
    except OSError as exc:
        unexpanded = _UNEXPANDED.search(str(path))
        if exc.errno == errno.ENOENT and unexpanded:
            # `DURABLE_GEN_DB=~/app.db` in a systemd or compose environment file, `--db
            # '$HOME/app.db'`: only a shell expands those, so the folder is named so
            expanded = os.path.expandvars(os.path.expanduser(str(path)))
            hint = (
                f"{unexpanded.group(1)!r} in it was not expanded (only a shell does that, not "
                "an environment file or a quoted argument): give the full path"
                + (f", e.g. {expanded}" if expanded != str(path) else "")
            )
        elif exc.errno == errno.ENOENT and not path.parent.is_dir():
            hint = f"the folder {path.parent} does not exist: create it, or correct the path"
        else:
            hint = "check the folder's permissions and free space, or give another path"
        raise StoreError(f"cannot create the database {path}: {exc.strerror}; {hint}") from None
    os.close(fd)


def _identity(path: Path) -> tuple[int, int] | None:
    """The device and inode of the file at ``path`` (None: there is none)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _refuse_hard_links(path: Path) -> None:
    """Refuse a database file that has several names (hard links).

    SQLite keeps a database's write-ahead log and its index beside the name it was opened by
    (``NAME-wal``, ``NAME-shm``; a symbolic link is followed to the file's own name, a hard
    link is not). Processes opening one file by two names therefore keep two logs: neither
    sees the other's commits, both run the same executions (every step twice), and the file
    may be damaged when the logs are written back.
    """
    try:
        links = os.stat(path).st_nlink
    except OSError:
        return  # SQLite reports what is wrong with the path
    if links > 1:
        raise StoreError(
            f"the database {path} has {links} names (hard links to one file): SQLite keeps "
            "its write-ahead log beside the name it is opened by, so processes opening it by "
            "different names would not see each other's commits and would run the same "
            "executions twice; open it by one name only (remove the other links: `ls -i` "
            "shows the file's inode, `find / -inum INODE` its names), or give each program a "
            "copy of its own (a symbolic link is fine)"
        )
