"""What the database stores (SQLite, Postgres) share: the engine's lock, leases, task routing.

Both keep executions the same way (see ``_sqlite`` for the rules): the engine's lock is a
write transaction, an invoking execution carries a lease ``owner`` (host, process id, random
part) with an expiry, and a store that finds a lease expired, or held by a dead process of
its own host (the same host name, boot and process-id namespace), resets the invocation and
schedules a new one.
"""

from __future__ import annotations

import functools
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from typing import Any, ClassVar, Final, Protocol, Self, runtime_checkable

import msgspec

from .._errors import StoreError, ValidationError, finite, shown
from .._wire import MAX_WAIT_SECONDS, Event, Operation, wire_enc_hook
from ._clock import RealClock
from ._state import CALLBACK_HEARTBEAT, CALLBACK_TIMEOUT, RETRY_TIMER, WAIT_TIMER
from ._store import CallbackEntry, ExecutionStore, StoredExecution, Task

__all__ = [
    "CALL",
    "DELETE_TASK",
    "UPSERT_CALLBACK",
    "DatabaseStore",
    "INVOCATION",
    "LeaseLostError",
    "SqlReads",
    "SqlStore",
    "StoreUnavailableError",
    "TASK_KINDS",
    "TransactionLock",
    "alive",
    "decode_events",
    "decode_header",
    "decode_operation",
    "decode_operations",
    "decode_tasks",
    "encode_header",
    "lease_lost",
    "like_prefix",
    "move_inputs",
    "new_owner",
    "reset_invocation",
    "task_function",
    "upgrade_schema",
    "wall_ms",
]

CALL: Final = "call"
INVOCATION: Final = "invocation"
#: Every kind of task the engine schedules (``_lifecycle.EXECUTION_TIMEOUT`` is spelt out:
#: that module imports this one). A row of another kind was not written by durable_gen.
TASK_KINDS: Final = frozenset(
    (
        CALL,
        INVOCATION,
        "execution-timeout",
        WAIT_TIMER,
        RETRY_TIMER,
        CALLBACK_TIMEOUT,
        CALLBACK_HEARTBEAT,
    )
)


def _process_space() -> str:
    """Who can tell this host's processes apart: the host name, and on Linux the kernel's boot
    id and the process-id namespace. Two machines (or two containers with host networking)
    may share a host name while their process ids mean different processes; a lease owner
    is judged dead by its process id only where these agree."""
    parts = [socket.gethostname().replace(":", "_")]
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as boot:
            parts.append(boot.read().strip().replace("-", "")[:12])
    except (OSError, ValueError):
        pass
    try:
        namespace = os.readlink("/proc/self/ns/pid")  # "pid:[4026531836]"
    except OSError:
        pass
    else:
        parts.append("".join(ch for ch in namespace if ch.isdigit()))
    return "/".join(part for part in parts if part)


_OWNER_HOST: Final = _process_space()


class LeaseLostError(StoreError):
    """An invocation ended after its lease expired and another worker took the execution over.

    ``execution_arn`` names the execution (None when the error does not say).
    """

    def __init__(self, message: str, *, execution_arn: str | None = None) -> None:
        super().__init__(message)
        self.execution_arn = execution_arn


class StoreUnavailableError(StoreError):
    """The database is busy or unreachable for now (a lock held too long, a lost connection,
    a conflict with another worker): the same call may succeed when tried again."""


class _Transactional(Protocol):
    """The parts of a database store that ``TransactionLock`` drives."""

    _mutex: threading.RLock
    _owner_thread: int | None

    def _enter(self) -> None: ...

    def _exit(self, *, commit: bool) -> None: ...

    def _after_release(self) -> None: ...


class TransactionLock:
    """The engine's lock for a database store: holding it is holding a write transaction.

    It has the parts of ``threading.Lock`` that ``with`` and ``threading.Condition`` use.
    Releasing it commits what ``commit()`` wrote meanwhile (each ``commit()`` is already
    atomic on its own, through a savepoint).
    """

    def __init__(self, store: _Transactional) -> None:
        self._store = store
        #: Threads waiting to take the lock now (a store that commits in groups reads it).
        self.waiting = 0
        self._count = threading.Lock()

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        mutex = self._store._mutex
        with self._count:
            self.waiting += 1
        try:
            got = mutex.acquire(blocking, timeout)
        finally:
            with self._count:
                self.waiting -= 1
        if not got:
            return False
        try:
            self._store._enter()
        except BaseException:
            mutex.release()
            raise
        return True

    def release(self) -> None:
        try:
            self._store._exit(commit=True)
        finally:
            self._store._mutex.release()
        self._store._after_release()

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()

    def _is_owned(self) -> bool:
        return self._store._owner_thread == threading.get_ident()


@runtime_checkable
class DatabaseStore(ExecutionStore, Protocol):
    """A store in a database that several processes share (``SqliteStore``, ``PostgresStore``).

    Besides the ``ExecutionStore`` calls it has what workers and the command line use: the
    engine's lock, leases, which functions this process serves, remembered workflows and
    queries by name.
    """

    lease_ms: int

    @property
    def owner(self) -> str:
        """Who holds the leases this store takes (in this thread)."""
        ...

    @property
    def lock(self) -> TransactionLock: ...

    @property
    def path(self) -> object:
        """Where the database is, for messages (a file path, or a URL without password)."""
        ...

    def close(self) -> None: ...

    def clone(self) -> DatabaseStore:
        """A new store on the same database, with its own connection and lease owner."""
        ...

    def renew_leases(self) -> int: ...

    def release_leases(self) -> int: ...

    def serve(self, function_names: Iterable[str] | None) -> None: ...

    def register_workflow(self, function_name: str, import_path: str) -> None: ...

    def workflows(self) -> dict[str, str]: ...

    def resolve(self, ref: str) -> list[str]: ...

    def operation_counts(self, arn: str) -> dict[tuple[str, str], int]: ...

    def engine_clock(self) -> RealClock:
        """The wall clock an engine on this store reads (this host's; a store that hosts
        share gives its server's, so that they agree on when a timer is due)."""
        return RealClock()

    def next_due_ms(self) -> int | None: ...


def check_location(value: object, what: str) -> str:
    """``value`` as text if it names a database (a non-empty path or URL); a
    ``ValidationError`` otherwise."""
    text = os.fspath(value) if isinstance(value, str | os.PathLike) else None
    if not isinstance(text, str) or not text:
        raise ValidationError(
            f"{what} must be a non-empty path or URL (a str or os.PathLike), got {shown(value)}"
        )
    if "\x00" in text:
        # No file system or server takes one: open() and sqlite3 raised a bare ValueError.
        # The value is not shown: a URL may hold a password.
        raise ValidationError(
            f"{what} holds a NUL character ('\\x00') at character {text.index(chr(0))}, which "
            "no path or URL can hold: check how it was built (a C string, a fixed-width "
            "field, or a file read without stripping its padding)"
        )
    if text != text.strip():
        # ' app.db' (a stray space in a settings file) would be another, new file; the
        # command line refuses it so too. The value is not shown: a URL may hold a password.
        raise ValidationError(
            f"{what} has spaces (or a line break) before or after it: remove them; a file "
            "named with them would be another, new database"
        )
    return text


MAX_LEASE_SECONDS: Final = MAX_WAIT_SECONDS
"""The longest lease a store holds (366 days, the longest execution timeout): a longer one
held no execution better, and its expiry in milliseconds outgrew the database's integers and
the renewing thread's wait."""


def check_lease(value: object) -> float:
    """``lease_seconds``: :func:`check_seconds`, and at most :data:`MAX_LEASE_SECONDS`."""
    seconds = check_seconds(value, "lease_seconds")
    if seconds > MAX_LEASE_SECONDS:
        raise ValidationError(
            f"lease_seconds must be at most {MAX_LEASE_SECONDS} (366 days), got {shown(value)}: "
            "a lease is how long a worker that stopped answering keeps its executions from "
            "the others; give 30 (the default) or more than the longest pause a worker may have"
        )
    return seconds


def check_seconds(value: object, name: str, *, zero: bool = False) -> float:
    """A store option in seconds: a finite number above 0 (or 0 when ``zero``); a
    ``ValidationError`` otherwise."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not finite(value)
        or value < 0
        or (value == 0 and not zero)
    ):
        bound = "0 or more" if zero else "more than 0"
        raise ValidationError(
            f"{name} must be a finite number of seconds, {bound}, got {shown(value)}"
        )
    return float(value)


def new_owner() -> str:
    """A lease owner name for a new store: host, process id and a random part."""
    return f"{_OWNER_HOST}:{os.getpid()}:{os.urandom(4).hex()}"


def task_function(ex: StoredExecution, task: Task) -> str | None:
    """The function a task runs, for ``serve()``: timers run none."""
    if task.kind == INVOCATION:
        return ex.function_name
    if task.kind == CALL:
        entry = ex.invokes.get(task.op_id)
        return None if entry is None else entry.function_name
    return None


def reset_invocation(ex: StoredExecution) -> None:
    """Forget the invocation in flight of ``ex`` (its holder lost the lease)."""
    ex.invoking = False
    ex.token = None
    ex.unseen.clear()
    ex.nudged = False
    ex.reinvoke = False


#: Longer than any execution id or name (ids and names are at most 64 characters; SQLite
#: refuses a LIKE pattern of 50,000 bytes).
_LONGEST_REF: Final = 1024


def like_prefix(text: str) -> str:
    """A ``LIKE ... ESCAPE '\\'`` pattern matching what starts with ``text``."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def lease_lost(arn: str, holder: object) -> LeaseLostError:
    """The error of a commit that would end an invocation whose lease ``holder`` took."""
    return LeaseLostError(
        f"the invocation of {arn} outlived its lease and {holder} took the execution over; "
        "this invocation's outcome is dropped",
        execution_arn=arn,
    )


def wall_ms() -> int:
    """This host's wall clock, epoch milliseconds."""
    return time.time_ns() // 1_000_000


def alive(owner: str | None) -> bool:
    """Whether a lease owner may still run; only a process of this host can be seen dead."""
    if owner is None:
        return False
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != _OWNER_HOST or not pid_text.isdigit():
        return True
    pid = int(pid_text)
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def same_host_prefix() -> str:
    """The start of the owner names of this host's stores."""
    return f"{_OWNER_HOST}:"


_encode_header = msgspec.msgpack.Encoder(enc_hook=wire_enc_hook).encode
_decode_header = msgspec.msgpack.Decoder(StoredExecution).decode
_decode_operation = msgspec.json.Decoder(Operation).decode
_decode_event = msgspec.json.Decoder(Event).decode


def encode_header(ex: StoredExecution) -> bytes:
    """The ``header`` column of ``ex``: everything but its input, which has a column of its own
    (written once; the header is written again by every checkpoint)."""
    payload = ex.input
    if payload is None:
        return _encode_header(ex)
    ex.input = None  # the engine's critical section holds ex: nobody else reads it meanwhile
    try:
        return _encode_header(ex)
    finally:
        ex.input = payload


class DamagedRecordError(StoreError):
    """A record of one execution does not decode (written by another program, or damaged on
    disk): that execution cannot run, the others can."""


def damaged(what: str, where: object, exc: Exception) -> StoreError:
    """The error for a record of the database that does not decode: written by another program
    or damaged on disk."""
    return DamagedRecordError(
        f"the database {where} holds a damaged record, {what} ({exc}): something other than "
        "durable_gen wrote it, or the disk damaged it; restore the database from a backup"
    )


def decode_operation(body: bytes | str, op_id: str, arn: str, where: object) -> Operation:
    """The operation a row's ``body`` holds; ``DamagedRecordError`` if it does not decode."""
    try:
        return _decode_operation(body)
    except (msgspec.DecodeError, TypeError) as exc:  # TypeError: a number, not text or bytes
        raise damaged(f"operation {op_id!r} of {arn}", where, exc) from None


def decode_operations(rows: list[Any], arn: str, where: object) -> list[Operation]:
    """The operations of rows ``(body,)`` of execution ``arn``; ``DamagedRecordError`` if one
    does not decode."""
    try:
        return [_decode_operation(body) for (body,) in rows]
    except (msgspec.DecodeError, TypeError) as exc:  # TypeError: a number, not text or bytes
        raise damaged(f"an operation of {arn}", where, exc) from None


def decode_events(rows: list[Any], arn: str, where: object) -> list[Event]:
    """The history events of rows ``(body,)`` of execution ``arn``; ``DamagedRecordError`` if
    one does not decode."""
    try:
        return [_decode_event(body) for (body,) in rows]
    except (msgspec.DecodeError, TypeError) as exc:  # TypeError: a number, not text or bytes
        raise damaged(f"a history event of {arn}", where, exc) from None


def task_sound(row: Any) -> bool:
    """Whether a ``tasks`` row ``(due_ms, arn, kind, op_id)`` is one durable_gen writes."""
    due, arn, kind, op_id = row
    return type(due) is int and type(arn) is str and kind in TASK_KINDS and type(op_id) is str


def damaged_task(row: Any, where: object) -> DamagedRecordError:
    """The error for a ``tasks`` row that is not one durable_gen writes (see ``task_sound``)."""
    due, arn, kind, op_id = row
    if type(due) is not int:
        fault = f"its due_ms {due!r} is not a whole number of milliseconds"
    elif kind not in TASK_KINDS:
        fault = f"its kind {kind!r} is none of {', '.join(sorted(TASK_KINDS))}"
    else:
        fault = f"its arn {arn!r} and op_id {op_id!r} must be text"
    return DamagedRecordError(
        f"the database {where} holds a damaged record, a scheduled task of {arn} ({fault}): "
        "something other than durable_gen wrote it, or the disk damaged it; that execution "
        "waits on it for ever: restore the database from a backup, or stop the execution "
        "(durable-gen stop)"
    )


def decode_tasks(rows: list[Any]) -> list[Task]:
    """The sound rows ``(due_ms, arn, kind, op_id)`` of ``tasks`` as ``Task``s (a damaged one
    is left out: ``next_task()`` sets it aside and reports it)."""
    return [Task(*row) for row in rows if task_sound(row)]


def decode_header(
    header: bytes, payload: str | None, arn: str = "", where: object = "?"
) -> StoredExecution:
    """The execution of a ``header`` and ``input`` column pair.

    Raises:
        StoreError: the header does not decode (a damaged record).
    """
    try:
        ex = _decode_header(header)
    except (msgspec.DecodeError, TypeError) as exc:  # TypeError: text or a number, not bytes
        raise damaged(f"the header of execution {arn}", where, exc) from None
    if payload is not None:
        if type(payload) is not str:  # the input column holds JSON text
            fault = TypeError(f"its input column holds {type(payload).__name__}, not JSON text")
            raise damaged(f"the input of execution {arn}", where, fault)
        ex.input = payload
    return ex


def move_inputs(conn: Any, placeholder: str = "?") -> None:
    """Schema migration: move each execution's input out of its header into the ``input``
    column (added by the caller)."""
    mark = placeholder
    for seq, header in conn.execute("SELECT seq, header FROM executions").fetchall():
        ex = _decode_header(bytes(header))
        if ex.input is not None:
            conn.execute(
                f"UPDATE executions SET input = {mark}, header = {mark} WHERE seq = {mark}",
                (ex.input, encode_header(ex), seq),
            )


@functools.cache
def _pyformat(sql: str) -> str:
    """``sql`` with psycopg's ``%s`` placeholders instead of SQLite's ``?``."""
    return sql.replace("?", "%s")


class SqlReads:
    """The reads that SQLite and Postgres run alike (their placeholders aside).

    A store sets ``_PYFORMAT`` (True: ``%s`` placeholders) and provides ``_read()``, a
    context manager giving a connection whose ``execute(sql, params)`` returns a cursor.
    Queries are written with ``?``.
    """

    _PYFORMAT: ClassVar[bool] = False
    #: ``LIMIT`` that means no limit.
    _NO_LIMIT: ClassVar[int | None] = -1
    #: The column that orders tasks due at the same time by when they were scheduled.
    _TASK_SEQ: ClassVar[str] = "rowid"
    #: Selects the rows of ``operations`` and ``events`` of the execution whose ARN is ``?``
    #: (they are keyed by its ``seq``).
    _OF_EXECUTION: ClassVar[str] = "ex = (SELECT seq FROM executions WHERE arn = ?)"

    def _read(self) -> AbstractContextManager[Any]:
        raise NotImplementedError

    def _where(self) -> object:
        """Where the database is, for messages."""
        return getattr(self, "path", "?")

    def _q(self, sql: str) -> str:
        return _pyformat(sql) if self._PYFORMAT else sql

    def _one(self, sql: str, params: tuple[Any, ...]) -> Any:
        with self._read() as conn:
            return conn.execute(self._q(sql), params).fetchone()

    def _all(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        with self._read() as conn:
            rows: list[Any] = conn.execute(self._q(sql), params).fetchall()
        return rows

    def find(self, function_name: str, name: str) -> str | None:
        """The ARN of the execution of ``function_name`` named ``name``, if there is one."""
        row = self._one(
            "SELECT arn FROM executions WHERE function_name = ? AND name = ?",
            (function_name, name),
        )
        return None if row is None else str(row[0])

    def lookup(self, arn: str) -> Callable[[str], Operation | None]:
        """A function from operation id to the current operation of execution ``arn``."""
        sql = self._q(f"SELECT body FROM operations WHERE {self._OF_EXECUTION} AND id = ?")
        read, where = self._read, self._where()

        def get(op_id: str) -> Operation | None:
            with read() as conn:
                row = conn.execute(sql, (arn, op_id)).fetchone()
            return None if row is None else decode_operation(row[0], op_id, arn, where)

        return get

    def operations(self, arn: str, start: int = 0, limit: int | None = None) -> list[Operation]:
        """Operations of ``arn`` in creation order, from index ``start``, at most ``limit``."""
        rows = self._all(
            f"SELECT body FROM operations WHERE {self._OF_EXECUTION} AND position >= ? "
            "ORDER BY position LIMIT ?",
            (arn, start, self._NO_LIMIT if limit is None else limit),
        )
        return decode_operations(rows, arn, self._where())

    def operation_count(self, arn: str) -> int:
        """How many operations execution ``arn`` has."""
        row = self._one(
            f"SELECT COALESCE(MAX(position) + 1, 0) FROM operations WHERE {self._OF_EXECUTION}",
            (arn,),
        )
        return 0 if row is None else int(row[0])

    def events(self, arn: str) -> list[Event]:
        """The history events of ``arn``, in EventId order."""
        rows = self._all(
            f"SELECT body FROM events WHERE {self._OF_EXECUTION} ORDER BY event_id", (arn,)
        )
        return decode_events(rows, arn, self._where())

    def find_callback(self, callback_id: str) -> CallbackEntry | None:
        """The entry of an issued callback id, or None if it was never issued."""
        row = self._one(
            "SELECT callback_id, arn, op_id, heartbeat_seconds FROM callbacks "
            "WHERE callback_id = ?",
            (callback_id,),
        )
        if row is None:
            return None
        cid, arn, op_id, heartbeat = row
        if not (
            isinstance(arn, str)
            and isinstance(op_id, str)
            and type(heartbeat) is int
            and heartbeat >= 0
        ):
            # a row another program wrote (or the disk damaged): answering or heartbeating the
            # callback would fail on it with a TypeError deep in the engine
            raise damaged(
                f"the callback {callback_id!r} of execution {arn!r}",
                self._where(),
                ValueError(
                    f"its heartbeat_seconds is {heartbeat!r}, not a whole number of seconds"
                    if isinstance(arn, str) and isinstance(op_id, str)
                    else f"its arn {arn!r} and op_id {op_id!r} must be text"
                ),
            )
        return CallbackEntry(cid, arn, op_id, heartbeat)

    def tasks_for(self, arn: str) -> list[Task]:
        """The scheduled tasks of execution ``arn`` that nobody has claimed."""
        rows = self._all(
            "SELECT due_ms, arn, kind, op_id FROM tasks "
            f"WHERE arn = ? AND lease_owner IS NULL ORDER BY due_ms, {self._TASK_SEQ}",
            (arn,),
        )
        return decode_tasks(rows)

    def workflows(self) -> dict[str, str]:
        """Every remembered workflow: function name → import path."""
        rows = self._all("SELECT function_name, import_path FROM workflows")
        return {str(name): str(path) for name, path in rows}

    def operation_counts(self, arn: str) -> dict[tuple[str, str], int]:
        """How many operations of ``arn`` there are of each (type, status)."""
        rows = self._all(
            f"SELECT type, status, COUNT(*) FROM operations WHERE {self._OF_EXECUTION} "
            "GROUP BY type, status",
            (arn,),
        )
        return {(str(kind), str(status)): int(n) for kind, status, n in rows}


def schema_version_of(rows: list[Any], *, where: object) -> int:
    """The schema version that the rows of ``SELECT version FROM schema_version`` hold (0 for
    none: a new database).

    Raises:
        StoreError: the table holds something else than one whole version number (another
            program's table of that name, or a damaged one).
    """
    if not rows:
        return 0
    version = rows[0][0]
    if len(rows) == 1 and type(version) is int and version >= 0:
        return version
    held = [row[0] for row in rows[:3]]
    raise StoreError(
        f"the database {where} is not a durable_gen database, or its schema_version table was "
        f"damaged: it holds {held!r}{' ...' if len(rows) > 3 else ''}, not one whole version "
        "number; give durable_gen a database (or SQLite file) of its own, or restore this one "
        "from a backup"
    )


#: What a statement of a migration says when the tables are not those of the version the
#: database records (SQLite's wording, then Postgres's).
_SCHEMA_MISMATCH: Final = ("already exists", "no such ", "duplicate column", "does not exist")


def upgrade_schema(
    conn: Any,
    migrations: list[Callable[[Any], None]],
    *,
    where: object,
    placeholder: str = "?",
) -> None:
    """Bring the schema in ``conn`` (in a write transaction) to ``len(migrations)``.

    Migration ``i`` upgrades a database from schema version ``i`` to ``i + 1``.

    Raises:
        StoreError: the database's schema is newer than ``migrations`` know.
    """
    latest = len(migrations)
    conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    rows = conn.execute("SELECT version FROM schema_version").fetchall()
    version = schema_version_of(rows, where=where)
    if not rows:
        conn.execute("INSERT INTO schema_version (version) VALUES (0)")
    if version > latest:
        raise StoreError(
            f"the database {where} has schema version {version}, newer than this durable_gen "
            f"knows ({latest}); upgrade durable_gen to open it"
        )
    for migrate in migrations[version:]:
        try:
            migrate(conn)
        except Exception as exc:
            # No version recorded, yet the tables are there: another program's database.
            if not rows and "already exists" in str(exc):
                raise StoreError(
                    f"the database {where} already holds tables that durable_gen did not "
                    f"create ({exc}); give durable_gen a database (or SQLite file) of its own"
                ) from None
            if rows and any(sign in str(exc) for sign in _SCHEMA_MISMATCH):
                raise StoreError(
                    f"the database {where} records schema version {version}, but its tables "
                    f"are not those of version {version}: upgrading them to version "
                    f"{version + 1} failed ({exc}); nothing was changed. The number in its "
                    "schema_version table says which tables durable_gen wrote (this "
                    f"durable_gen writes version {latest}); it was edited by hand, or another "
                    "program changed the tables. If this database was last written by this "
                    "version of durable_gen, set the number back (UPDATE schema_version SET "
                    f"version = {latest}); else restore the database from a backup"
                ) from None
            raise
    if version != latest:
        conn.execute(f"UPDATE schema_version SET version = {placeholder}", (latest,))


#: Deletes one task (a completed or abandoned call, a cancelled timer).
DELETE_TASK: Final = "DELETE FROM tasks WHERE arn = ? AND kind = ? AND op_id = ?"
#: Records (or re-points) an issued callback id.
UPSERT_CALLBACK: Final = (
    "INSERT INTO callbacks (callback_id, arn, op_id, heartbeat_seconds) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (callback_id) DO UPDATE SET arn = excluded.arn, op_id = excluded.op_id, "
    "heartbeat_seconds = excluded.heartbeat_seconds"
)


class SqlStore(SqlReads):
    """The writes and lease handling that SQLite and Postgres share; a store supplies the
    dialect's few differences as class attributes and small methods.

    Queries are written with ``?`` (see ``SqlReads``). A store provides ``_tx()`` (a write
    transaction, or part of the one this thread holds), ``load()``, ``close()`` and
    ``_lease_until()``.
    """

    #: Upserts a task, arguments ``(arn, kind, op_id, due_ms, function_name)``; an existing
    #: task is due again, unclaimed, and ordered as if scheduled now.
    _UPSERT_TASK: ClassVar[str]
    #: Appended to a query that selects execution rows about to be written.
    _LOCK_ROWS: ClassVar[str] = ""

    _owner: str
    lease_ms: int
    _serving: tuple[str, ...] | None = None

    @property
    def owner(self) -> str:
        """Who holds the leases this store takes: host, process id and a random part."""
        return self._owner

    def _tx(self) -> AbstractContextManager[Any]:
        raise NotImplementedError

    def _lease_until(self) -> tuple[str, int]:
        """The SQL expression (one ``?``) of a lease's expiry if taken now, and its argument."""
        raise NotImplementedError

    def _wake(self, conn: Any) -> None:
        """Tell sleeping workers that a task is due (when the transaction commits)."""

    def load(self, arn: str) -> StoredExecution | None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- scheduling ---------------------------------------------------------------------------

    def claim(self, task: Task) -> bool:
        """Take ``task``: delete it (or lease it, for a ``call``) if it is still scheduled."""
        key = (task.arn, task.kind, task.op_id, task.due_ms)
        where = "arn = ? AND kind = ? AND op_id = ? AND due_ms = ? AND lease_owner IS NULL"
        with self._tx() as conn:
            if task.kind == CALL:
                until, arg = self._lease_until()
                sql = f"UPDATE tasks SET lease_owner = ?, lease_until = {until} WHERE {where}"
                cursor = conn.execute(
                    self._q(sql),
                    (self.owner, arg, *key),
                )
            else:
                cursor = conn.execute(self._q(f"DELETE FROM tasks WHERE {where}"), key)
            return bool(cursor.rowcount == 1)

    def serve(self, function_names: Iterable[str] | None) -> None:
        """Run invocations and calls only of these functions (None: of all, the default).

        A process serves the functions it registered; tasks of the others stay scheduled for
        a process that can run them. Timers are served in every case.
        """
        self._serving = None if function_names is None else tuple(sorted(set(function_names)))

    def next_task(self) -> Task | None:
        raise NotImplementedError

    def _damaged_task(self, row: Any) -> DamagedRecordError:
        """The error for a damaged ``tasks`` row that ``next_task()`` met. Its ``set_aside()``
        leases the row to this store, so that it is not met again at once (a worker hands
        it back when it stops, as a damaged execution's work); the engine calls it when it
        looked for work, not when a checkpoint looked for its own timers."""
        error = damaged_task(row, self._where())

        def set_aside() -> None:
            until, arg = self._lease_until()
            with self._tx() as conn:
                conn.execute(
                    self._q(
                        f"UPDATE tasks SET lease_owner = ?, lease_until = {until} "
                        "WHERE arn = ? AND kind = ? AND op_id = ? AND lease_owner IS NULL"
                    ),
                    (self.owner, arg, *row[1:]),
                )

        error.set_aside = set_aside  # type: ignore[attr-defined]
        return error

    def engine_clock(self) -> RealClock:
        """The wall clock an engine on this store reads (this host's; a store that hosts
        share gives its server's, so that they agree on when a timer is due)."""
        return RealClock()

    def next_due_ms(self) -> int | None:
        """When the earliest served task is due (epoch ms on the engine's clock), if any."""
        try:
            task = self.next_task()
        except DamagedRecordError:  # due now: the engine's look for work sets it aside
            return self.engine_clock().now_ms()
        return None if task is None else task.due_ms

    # --- leases -------------------------------------------------------------------------------

    def release_leases(self) -> int:
        """Give up every invocation and call this store holds; they are due again at once.

        A worker calls it when it stopped driving them without ending them (the database
        failed under a running invocation), so that they need not wait for the lease to
        expire. Returns how many were released.
        """
        with self._tx() as conn:
            arns = conn.execute(
                self._q(
                    "SELECT arn FROM executions WHERE invoking = TRUE AND lease_owner = ?"
                    + self._LOCK_ROWS
                ),
                (self.owner,),
            ).fetchall()
            for (arn,) in arns:
                self._reset(conn, arn)
            calls = int(
                conn.execute(
                    self._q(
                        "UPDATE tasks SET lease_owner = NULL, lease_until = NULL "
                        "WHERE lease_owner = ?"
                    ),
                    (self.owner,),
                ).rowcount
            )
            if calls:
                self._wake(conn)
        return len(arns) + calls

    def _reset(self, conn: Any, arn: str) -> None:
        """Forget the invocation of ``arn`` in flight and schedule a new one."""
        ex = self.load(arn)
        if ex is None:
            return
        reset_invocation(ex)
        conn.execute(
            self._q(
                "UPDATE executions SET header = ?, invoking = FALSE, lease_owner = NULL, "
                "lease_until = NULL WHERE arn = ?"
            ),
            (encode_header(ex), arn),
        )
        if ex.status == "RUNNING":
            conn.execute(
                self._q(self._UPSERT_TASK),
                (arn, INVOCATION, "", self.engine_clock().now_ms(), ex.function_name),
            )
            self._wake(conn)

    def _release_call(self, conn: Any, arn: str, op_id: str) -> None:
        """Hand back a call whose holder lost it: due again, or gone if nothing awaits it."""
        ex = self.load(arn)
        key = (arn, CALL, op_id)
        # A damaged row its holder set aside (any other kind) is handed back as it is.
        conn.execute(
            self._q(
                "UPDATE tasks SET lease_owner = NULL, lease_until = NULL "
                "WHERE arn = ? AND kind <> ? AND op_id = ?"
            ),
            key,
        )
        if ex is None or ex.status != "RUNNING" or op_id not in ex.invokes:
            conn.execute(self._q(DELETE_TASK), key)
        else:
            conn.execute(
                self._q(
                    "UPDATE tasks SET lease_owner = NULL, lease_until = NULL "
                    "WHERE arn = ? AND kind = ? AND op_id = ?"
                ),
                key,
            )
            self._wake(conn)

    # --- workflows and queries ----------------------------------------------------------------

    def register_workflow(self, function_name: str, import_path: str) -> None:
        """Remember that ``function_name`` is the workflow at ``import_path`` (module:qualname)."""
        with self._tx() as conn:
            conn.execute(
                self._q(
                    "INSERT INTO workflows (function_name, import_path) VALUES (?, ?) "
                    "ON CONFLICT (function_name) DO UPDATE SET import_path = excluded.import_path"
                ),
                (function_name, import_path),
            )

    def resolve(self, ref: str) -> list[str]:
        """The ARNs that ``ref`` names: an ARN, or a prefix of an execution id or name.

        A whole id or name wins over the longer ones it is a prefix of (``order-1`` names the
        execution called so, not also ``order-10``), since no more of it can be given.
        """
        if self._one("SELECT 1 FROM executions WHERE arn = ?", (ref,)) is not None:
            return [ref]
        if len(ref) > _LONGEST_REF:  # no id or name is that long (SQLite refuses the pattern)
            return []
        like = like_prefix(ref)
        rows = self._all(
            "SELECT arn, execution_id, name FROM executions "
            "WHERE execution_id LIKE ? ESCAPE '\\' OR name LIKE ? ESCAPE '\\'",
            (like, like),
        )
        exact = [arn for (arn, exec_id, name) in rows if ref in (exec_id, name)]
        return sorted(str(arn) for arn in (exact or [arn for (arn, _, _) in rows]))
