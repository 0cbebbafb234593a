"""``Worker``: drives the executions of a SQLite database that are due, in any process.

A worker imports the workflows the database remembers (``module:qualname``), registers them
with its own ``LocalService`` and runs whatever is due: new executions, fired timers, retries,
delivered callbacks and invokes, and invocations whose worker died (their lease expired).
Several workers may share one database: the store's leases keep any execution on one worker
at a time. This module also owns importing a workflow by path and keeping leases alive.
"""

from __future__ import annotations

import importlib
import inspect
import os
import sys
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from .._errors import InvalidInputError, StoreError, ValidationError
from ._clock import Clock, RealClock, VirtualClock
from ._engine import LocalService
from ._run import register_function, workflow_name
from ._sqlite import LeaseLostError, SqliteStore, Synchronous
from ._store import ExecutionRecord

__all__ = ["Worker", "import_object", "import_path_of"]


def import_object(spec: str) -> Any:
    """Import ``MODULE:QUALNAME`` (the working directory is importable).

    Raises:
        InvalidInputError: the spec is malformed, the module cannot be imported, or it has no
            such attribute.
    """
    module_name, sep, qualname = spec.partition(":")
    if not sep or not module_name or not qualname:
        raise InvalidInputError(
            f"a workflow is given as MODULE:FUNCTION (e.g. app.flows:order), got {spec!r}"
        )
    if module_name.startswith("."):
        raise InvalidInputError(
            f"{spec!r} names a relative module: give the module's full dotted path, "
            "importable from the working directory (e.g. app.flows:order)"
        )
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise InvalidInputError(f"cannot import module {module_name!r}: {exc}") from None
    except Exception as exc:  # the module itself failed (a SyntaxError, an error at import)
        raise InvalidInputError(
            f"importing module {module_name!r} failed: {type(exc).__name__}: {exc}"
        ) from exc
    obj: Any = module
    for part in qualname.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise InvalidInputError(
                f"module {module_name!r} has no attribute {qualname!r}"
            ) from None
    if not callable(obj):
        raise InvalidInputError(f"{spec} is not a function")
    return obj


def import_path_of(fn: Callable[..., Any]) -> str:
    """The ``module:qualname`` under which another process can import ``fn``."""
    target = inspect.unwrap(fn)
    module = getattr(target, "__module__", None)
    qualname = getattr(target, "__qualname__", None)
    if not module or not qualname or "<" in qualname:
        raise InvalidInputError(
            f"{fn!r} cannot be imported by another process: define it at the top level of a module"
        )
    return f"{module}:{qualname}"


class _NowClock(RealClock):
    """Wall-clock time that never blocks: the engine runs what is due now and returns."""

    def wait(self, condition: threading.Condition, deadline_ms: int) -> bool:
        return False

    def __repr__(self) -> str:
        return "_NowClock()"


class Worker:
    """Runs the due executions of a SQLite database; any number may share one database.

    Args:
        db: A database path, or an open ``SqliteStore`` (then the caller closes it).
        functions: Extra functions to serve, by function name: a workflow or plain function,
            or its import path ``module:qualname``. Workflows the database remembers are
            imported and served too.
        poll: Seconds between looks at the database when nothing is due.
        lease_seconds: How long an invocation stays this worker's without renewal (the worker
            renews every third of it); a worker that dies loses its executions after this
            long (at once, to another worker on the same host).
        synchronous: ``"FULL"`` or ``"NORMAL"``; see ``SqliteStore``.
        skip_time: Use a virtual clock that skips waits and retry delays.
        log: Where to report trouble (a workflow that cannot be imported, a lost lease);
            default: standard error.

    Example:
        >>> from durable_gen.local import Worker
        >>> with Worker("durable.db") as worker:  # doctest: +SKIP
        ...     worker.run(once=True)
    """

    def __init__(
        self,
        db: str | os.PathLike[str] | SqliteStore,
        *,
        functions: Mapping[str, Callable[..., Any] | str] | None = None,
        poll: float = 0.5,
        lease_seconds: float = 30.0,
        synchronous: Synchronous = "FULL",
        skip_time: bool = False,
        log: Callable[[str], None] | None = None,
    ) -> None:
        if poll <= 0:
            raise ValidationError(f"poll must be a positive number of seconds, got {poll}")
        if isinstance(db, SqliteStore):
            self.store, self._owns_store = db, False
        else:
            self.store = SqliteStore(db, synchronous=synchronous, lease_seconds=lease_seconds)
            self._owns_store = True
        clock: Clock = VirtualClock(RealClock().now_ms()) if skip_time else _NowClock()
        self.service = LocalService(store=self.store, clock=clock)
        self.poll = poll
        self._log = log or (lambda line: print(line, file=sys.stderr))
        self._served: set[str] = set()
        self._failed: set[str] = set()
        self.store.serve(self._served)
        for name, fn in (functions or {}).items():
            self.register(fn, name=name)
        self._stop = threading.Event()

    # --- lifecycle ----------------------------------------------------------------------------

    def close(self) -> None:
        """Stop ``run()`` in other threads; close the store if the worker opened it."""
        self._stop.set()
        if self._owns_store:
            self.store.close()

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def stop(self) -> None:
        """Ask ``run()`` to return after the work in progress."""
        self._stop.set()

    # --- functions ----------------------------------------------------------------------------

    def register(self, fn: Callable[..., Any] | str, *, name: str | None = None) -> str:
        """Serve ``fn`` (a workflow or plain function, or its import path); returns its name.

        A workflow's import path is remembered in the database, so that other workers (and
        ``durable-gen worker``) can serve its executions too.
        """
        path = fn if isinstance(fn, str) else import_path_of(fn)
        target = import_object(path) if isinstance(fn, str) else fn
        function_name = name or workflow_name(target)
        register_function(self.service, function_name, target)
        self.store.register_workflow(function_name, path)
        self._served.add(function_name)
        self.store.serve(self._served)
        return function_name

    def _import_remembered(self) -> None:
        for name, path in self.store.workflows().items():
            if name in self._served or name in self._failed:
                continue
            try:
                target = import_object(path)
            except InvalidInputError as exc:
                self._failed.add(name)
                self._log(
                    f"durable-gen worker: not serving {name!r}: {exc}; its executions wait for "
                    "a worker that can import it"
                )
                continue
            register_function(self.service, name, target)
            self._served.add(name)
        self.store.serve(self._served)

    # --- running ------------------------------------------------------------------------------

    def run_due(self) -> None:
        """Run everything that is due now, then return (nothing is waited for)."""
        self._import_remembered()
        try:
            self.service.run_until_idle()
        except LeaseLostError as exc:
            self._log(f"durable-gen worker: {exc}")

    def run(self, *, once: bool = False) -> None:
        """Run due work until ``stop()`` (or, with ``once``, until nothing is due now).

        Raises:
            StoreError: the database is corrupt, or stayed locked for several polls in a row
                (with ``once``: locked past the store's timeout even once, as nothing ran).
        """
        with _LeaseKeeper(self.store):
            locked = 0
            while not self._stop.is_set():
                try:
                    self.run_due()
                    locked = 0
                except StoreError as exc:
                    locked += 1
                    if once or "locked" not in str(exc) or locked >= 5:
                        raise
                    self._log(f"durable-gen worker: {exc}; retrying")
                if once:
                    return
                self._stop.wait(self._delay())

    def drive(
        self, execution_arn: str, *, on_progress: Callable[[], None] | None = None
    ) -> ExecutionRecord:
        """Run due work until ``execution_arn`` ends or can only wait for the outside.

        Returns:
            The execution's record: ended, or RUNNING when it waits for a callback (or for a
            worker that can run one of its invokes).
        """
        with _LeaseKeeper(self.store):
            while True:
                self.run_due()
                record = self.service.get_execution(execution_arn)
                if record.is_terminal or not self.service.is_progressing(execution_arn):
                    return record
                if on_progress is not None:
                    on_progress()
                time.sleep(self._delay())

    def _delay(self) -> float:
        due = self.store.next_due_ms()
        if due is None:
            return self.poll
        return min(self.poll, max(0.0, (due - self.service.clock.now_ms()) / 1000))


class _LeaseKeeper:
    """Renews the store's leases every third of their length, in a daemon thread."""

    def __init__(self, store: SqliteStore) -> None:
        self._store = store
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="durable-gen-leases", daemon=True)

    def __enter__(self) -> _LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()

    def _run(self) -> None:
        interval = self._store.lease_ms / 3000
        while not self._done.wait(interval):
            try:
                self._store.renew_leases()
            except StoreError:
                continue  # locked for a moment: the next round renews
