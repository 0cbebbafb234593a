"""``Worker``: drives the executions of a database (SQLite or Postgres) that are due.

A worker imports the workflows the database remembers (``module:qualname``), registers them
with its own ``LocalService`` and runs whatever is due: new executions, fired timers, retries,
delivered callbacks and invokes, and invocations whose worker died (their lease expired).
Several workers may share one database (on Postgres, from any number of hosts): the store's
leases keep any execution on one worker at a time. A store that can say when work arrives
(Postgres: ``LISTEN``) wakes the worker at once; otherwise it polls. A database that is busy
or unreachable for a while (a restart) is retried, up to ``patience`` seconds. This module
also owns importing a workflow by path and keeping leases alive.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import importlib
import inspect
import math
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import anyio
import anyio.from_thread

from .._actions import CheckpointMode, check_mode
from .._arguments import checked
from .._context import STEP
from .._driver import MAX_STEP_THREADS, check_plugins, daemon_threads, make_handler
from .._errors import (
    DurableGenError,
    InvalidCheckpointTokenError,
    InvalidInputError,
    StoreError,
    ValidationError,
    failure_text,
    finite,
    shown,
)
from .._plugins import Plugin
from .._service import InvocationHandler
from .._wire import (
    CheckpointResponse,
    ExecutionState,
    InvocationInput,
    InvocationOutput,
    OperationUpdate,
)
from ._clock import Clock, RealClock, VirtualClock
from ._dbstore import (
    DamagedRecordError,
    DatabaseStore,
    LeaseLostError,
    StoreUnavailableError,
    check_lease,
)
from ._engine import LocalService
from ._run import check_functions, register_function, workflow_name
from ._sqlite import Synchronous
from ._store import ExecutionRecord
from ._text import clip, format_duration, printable
from ._url import open_store

__all__ = ["Worker", "import_object", "import_path_of"]


def import_object(spec: str) -> Any:
    """Import the function ``MODULE:QUALNAME`` (the working directory is importable).

    Raises:
        InvalidInputError: the spec is malformed, the module cannot be imported, it has no
            such attribute, or that is not callable.
    """
    obj = import_attribute(spec)
    if not callable(obj):
        raise InvalidInputError(f"{spec} is not a function")
    return obj


def import_attribute(spec: str) -> Any:
    """Import ``MODULE:QUALNAME``, whatever it is (``import_object`` wants a function)."""
    module_name, sep, qualname = spec.partition(":")
    if not sep or not module_name or not qualname:
        raise InvalidInputError(
            f"a workflow is given as MODULE:FUNCTION (e.g. app.flows:order), got {spec!r}"
        )
    if module_name != module_name.strip() or qualname != qualname.strip():
        raise InvalidInputError(
            f"{spec!r} has spaces in it: write {module_name.strip()}:{qualname.strip()} "
            "(no Python name holds a space)"
        )
    if module_name.startswith(".") and not module_name.startswith(("./", ".\\")):
        raise InvalidInputError(
            f"{spec!r} names a relative module: give the module's full dotted path, "
            "importable from the working directory (e.g. app.flows:order)"
        )
    if module_name.endswith(".py") or "/" in module_name or "\\" in module_name:
        # a file path (`app/flows.py:order`) where the module's dotted path is due
        dotted = module_name.removesuffix(".py").replace("\\", "/").strip("/")
        dotted = ".".join(part for part in dotted.split("/") if part not in ("", "."))
        raise InvalidInputError(
            f"{spec!r} names a file: give the module's dotted path, importable from the "
            f"working directory, without .py: {dotted}:{qualname}"
        )
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    if module_name not in sys.modules:
        _IMPORTED_AT.setdefault(module_name, time.time())
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        missing = getattr(exc, "name", None)
        if missing and (module_name == missing or module_name.startswith(f"{missing}.")):
            advice = (
                f": run the command from the folder that holds it (the working directory, "
                f"{os.getcwd()}, is importable), or put that folder on PYTHONPATH"
            )
        elif missing:
            advice = f" (it imports {missing!r}, which is not installed here: install it)"
        else:
            advice = ""
        raise InvalidInputError(f"cannot import module {module_name!r}: {exc}{advice}") from None
    except Exception as exc:  # the module itself failed (a SyntaxError, an error at import)
        raise InvalidInputError(
            f"importing module {module_name!r} failed: {type(exc).__name__}: {exc}"
        ) from exc
    except SystemExit as exc:  # sys.exit() at import: a script, or a check of its settings
        raise InvalidInputError(
            f"importing module {module_name!r} failed: it called sys.exit({exc.code!r}) at "
            "import (a module that holds workflows must import without exiting)"
        ) from None
    obj: Any = module
    for part in qualname.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise InvalidInputError(
                f"module {module_name!r} has no attribute {qualname!r}{_workflows_in(module)}"
                f"{_changed_since_import(module_name, module)}"
            ) from None
    return obj


#: When this process first imported each module ``import_attribute`` imported.
_IMPORTED_AT: dict[str, float] = {}


def _changed_since_import(module_name: str, module: Any) -> str:
    """``; this process imported it before ...: restart it ...``, when the module's file
    changed after this process imported it (a deploy under a running worker, which goes on
    with the code it imported), for a message; else nothing."""
    imported_at = _IMPORTED_AT.get(module_name)
    source = getattr(module, "__file__", None)
    try:
        changed = source is not None and os.stat(source).st_mtime > (imported_at or math.inf)
    except OSError:
        changed = False
    if not changed:
        return ""
    return (
        f"; this process imported {module_name!r} before {source} changed: it goes on with "
        "the code it imported; restart it to serve the code now in that file"
    )


def _workflows_in(module: Any) -> str:
    """``: its workflows are a, b`` (the generator functions it defines), for a message."""
    names = sorted(
        name
        for name, value in vars(module).items()
        if inspect.isgeneratorfunction(inspect.unwrap(value))
        and getattr(value, "__module__", None) == module.__name__
    )
    if not names:
        return ": it defines no workflow (a generator function)"
    return f": its workflows are {', '.join(names)}"


def import_path_of(fn: Callable[..., Any]) -> str:
    """The ``module:qualname`` under which another process can import ``fn``."""
    target = inspect.unwrap(fn)
    module = getattr(target, "__module__", None)
    qualname = getattr(target, "__qualname__", None)
    if not module or not qualname or "<" in qualname:
        advice = "define it at the top level of a module"
        if qualname and "<locals>" in qualname and getattr(target, "__closure__", None):
            # a decorator's wrapper made without functools.wraps: named after the wrapper
            advice = (
                f"{advice}; a function returned by a decorator is named after the decorator's "
                f"wrapper ({qualname}) unless the wrapper is made with functools.wraps(fn): "
                "add it, or register the import path as a string ('MODULE:NAME')"
            )
        raise InvalidInputError(f"{fn!r} cannot be imported by another process: {advice}")
    return f"{module}:{qualname}"


def _now() -> str:
    """The wall-clock time of day, for progress lines."""
    return "durable-gen worker: " + time.strftime("%H:%M:%S")


class _NowClock(RealClock):
    """Wall-clock time that never blocks: the engine runs what is due now and returns.

    It reads ``wall``: on a store shared by hosts, the database server's clock.
    """

    def __init__(self, wall: RealClock) -> None:
        self._wall = wall

    def now_ms(self) -> int:
        return self._wall.now_ms()

    def now(self) -> float:
        return self._wall.now()

    def wait(self, condition: threading.Condition, deadline_ms: int) -> bool:
        return False

    def __repr__(self) -> str:
        return f"_NowClock({self._wall!r})"


def _wall_clock(store: DatabaseStore) -> RealClock:
    """The wall clock of engines on ``store``: its server's for a store shared by hosts."""
    engine_clock: Callable[[], RealClock] | None = getattr(store, "engine_clock", None)
    return engine_clock() if engine_clock is not None else RealClock()


class _PatientService:
    """The engine as a workflow's driver sees it, with a checkpoint that the database failed
    (locked, a connection lost, a server restarting) tried again for up to ``patience``
    seconds.

    Handing the invocation back at once would lose what the checkpoint carried: the outcome
    of a step that has run, which then runs again, or, for an at-most-once step, counts as
    interrupted for good. Trying again is safe: a checkpoint is one transaction, so it was
    recorded or not; if it was (the connection went as the commit was acknowledged), its
    execution's token is the one that checkpoint made, and the invocation goes on with the
    operations as recorded; otherwise (the execution moved on meanwhile) the next try is
    refused and the invocation is handed back as after any database failure.
    """

    def __init__(self, service: LocalService, patience: float, log: Callable[[str], None]):
        self._service = service
        self._patience = patience
        self._log = log
        # The engine's replies are its records of the updates: the driver need not check them.
        self._records_updates_as_sent: bool = getattr(service, "_records_updates_as_sent", False)

    @property
    def clock(self) -> Clock:
        """The engine's clock (what ``Now()`` reads)."""
        return self._service.clock

    def checkpoint(
        self, execution_arn: str, checkpoint_token: str, updates: Sequence[OperationUpdate]
    ) -> CheckpointResponse:
        failure: StoreUnavailableError | None = None
        began, tries = time.monotonic(), 0
        while True:
            try:
                if failure is not None:
                    # The failed try may have been recorded, its reply lost: then go on.
                    recorded = self._service._recorded_checkpoint(execution_arn, checkpoint_token)
                    if recorded is not None:
                        self._log(
                            "durable-gen worker: the checkpoint was recorded before the "
                            "database failed; going on"
                        )
                        return recorded
                return self._service.checkpoint(execution_arn, checkpoint_token, updates)
            except InvalidCheckpointTokenError:
                if failure is None:
                    raise
                # Recorded after all, or the execution moved on meanwhile: either way this
                # invocation is over, as after a database failure.
                raise failure from None
            except StoreUnavailableError as exc:
                failure = exc
            waited = time.monotonic() - began
            if waited >= self._patience:
                raise failure
            tries += 1
            self._log(f"durable-gen worker: {failure}; retrying the checkpoint")
            time.sleep(min(2.0, 0.05 * 2**tries, self._patience - waited))

    def get_state(self, execution_arn: str, checkpoint_token: str, marker: str) -> ExecutionState:
        return self._service.get_state(execution_arn, checkpoint_token, marker)


MIN_LEASE_SECONDS = 1.0
"""The shortest lease a worker holds: it renews every third of it, so a shorter one expires
under a live worker whenever a renewal is a little late."""


def _check_seconds(name: str, value: object, *, zero_ok: bool) -> None:
    """A duration option: a finite number of seconds, above 0 (or 0 too when ``zero_ok``)."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not finite(value)
        or value < 0
        or (value == 0 and not zero_ok)
    ):
        what = "0 or more" if zero_ok else "a positive number of"
        raise ValidationError(f"{name} must be {what} seconds, got {shown(value)}")


class _StepPool(cf.ThreadPoolExecutor):
    """The threads of the sync steps a worker runs side by side, but for attempts with a
    deadline (a step's ``timeout=``): those run in the driver's daemon threads, so that one
    abandoned at its deadline (a call that hangs) holds up neither ``close()``, which waits for
    this pool, nor the process's exit."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> cf.Future[Any]:
        if args and getattr(args[0], "deadline_ms", None) is not None:
            return daemon_threads().submit(fn, *args, **kwargs)
        return super().submit(fn, *args, **kwargs)


class _Failing:
    """A database failing under a worker's loop: since when (None: it is not), and how long to
    wait before the next try, until ``patience`` seconds have gone by."""

    __slots__ = ("patience", "since", "tries")

    def __init__(self, patience: float) -> None:
        self.patience = patience
        self.since: float | None = None
        self.tries = 0

    def again(self, exc: StoreUnavailableError) -> float:
        """The pause before the next try after ``exc``: doubling from 0.1 s up to 2 s; or the
        ``StoreUnavailableError`` that gives up, once the failures have lasted ``patience``."""
        now = time.monotonic()
        if self.since is None:
            self.since, self.tries = now, 0
        self.tries += 1
        if now - self.since > self.patience:
            raise StoreUnavailableError(
                f"{exc}; the worker gave up after retrying for "
                f"{now - self.since:.1f} s (patience {self.patience:g} s)"
            ) from exc
        return min(2.0, 0.05 * 2.0**self.tries)


#: The most executions one worker drives at once (``Worker(concurrency=)``, ``--concurrency``).
MAX_CONCURRENCY = 10_000


class Worker:
    """Runs the due executions of a database; any number may share one database.

    Args:
        db: A SQLite path, a database URL (``postgresql://...``, ``sqlite:///...``; see
            ``open_store``), or an open ``SqliteStore`` or ``PostgresStore`` (then the caller
            closes it).
        functions: Extra functions to serve, by function name: a workflow or plain function,
            or its import path ``module:qualname``. Workflows the database remembers are
            imported and served too.
        poll: Seconds between looks at the database when nothing is due.
        lease_seconds: How long an invocation stays this worker's without renewal (the worker
            renews every third of it); a worker that dies loses its executions after this
            long (at once, to another worker on the same host).
        synchronous: SQLite only: ``"FULL"`` or ``"NORMAL"``; see ``SqliteStore``.
        skip_time: Use a virtual clock that skips waits and retry delays, and callback
            timeouts as well (a callback with a timeout times out at once).
        log: Where to report trouble (a workflow that cannot be imported, a lost lease) and,
            with ``progress``, progress; default: standard error.
        patience: Seconds ``run()`` keeps retrying a database that is locked or unreachable
            (a restart, a network blip) before it gives up with ``StoreError``.
        concurrency: How many executions ``run()`` drives at once. Each runs in its own
            thread with its own engine, so a slow step of one execution does not hold up the
            others; sync steps run in those threads, at most ``concurrency`` at a time. On
            Postgres each thread has its own connection (``store.clone()``); on SQLite the
            threads share the connection and their checkpoints commit together (one fsync
            for several; see ``SqliteStore.share``). 1 (the default) drives one at a time;
            at most 10,000.
            Whatever the concurrency, the async steps of every execution the worker drives
            run on one event loop (a thread the worker starts at the first async step), and
            the sync steps that run side by side (a ``Map`` or ``Parallel``) in one pool of at
            most 64 threads; ``close()`` stops both.
        progress: Also report, one line each, every invocation of a workflow the worker
            picks up (``picked up``) and how it ends (``finished``: SUCCEEDED, FAILED with the
            error, or suspended until a timer, retry or callback); ``durable-gen worker``
            turns this on unless ``-q``.
        plugins: Instrumentation plugins (``Plugin``: hooks, ``durable_gen.otel``'s tracing,
            ``durable_gen.telemetry``'s record) for every workflow the worker runs. With
            ``concurrency`` above 1 their hooks are called from several threads at once.
        checkpointing: ``"step"`` (default), ``"eager"`` or ``"batch"``, for every workflow
            the worker runs (see the guide's checkpointing modes).

    Example:
        >>> from durable_gen.local import Worker
        >>> with Worker("durable.db") as worker:  # doctest: +SKIP
        ...     worker.run(once=True)
    """

    @checked
    def __init__(
        self,
        db: str | os.PathLike[str] | DatabaseStore,
        *,
        functions: Mapping[str, Callable[..., Any] | str] | None = None,
        poll: float = 0.5,
        lease_seconds: float = 30.0,
        synchronous: Synchronous | None = None,
        skip_time: bool = False,
        log: Callable[[str], None] | None = None,
        patience: float = 60.0,
        concurrency: int = 1,
        progress: bool = False,
        plugins: Sequence[Plugin] = (),
        checkpointing: CheckpointMode = "step",
    ) -> None:
        check_mode(checkpointing)
        self.plugins = check_plugins(plugins)
        self.checkpointing: CheckpointMode = checkpointing
        if functions is not None and (
            not isinstance(functions, Mapping)
            or not all(callable(f) or isinstance(f, str) for f in functions.values())
        ):
            raise ValidationError(
                "functions must map Invoke names to functions or 'MODULE:FUNCTION' strings, got "
                f"{shown(functions)}"
            )
        _check_seconds("poll", poll, zero_ok=False)
        _check_seconds("lease_seconds", lease_seconds, zero_ok=False)
        if lease_seconds < MIN_LEASE_SECONDS:
            raise ValidationError(
                f"lease_seconds must be at least {MIN_LEASE_SECONDS:g} second, got "
                f"{lease_seconds:g}: a lease that short expires between two renewals, so "
                "workers take each other's live executions over; give 30 (the default) or "
                "more than the longest pause a worker may have"
            )
        check_lease(lease_seconds)
        _check_seconds("patience", patience, zero_ok=True)
        for flag, value in (("skip_time", skip_time), ("progress", progress)):
            if not isinstance(value, bool):
                raise ValidationError(f"{flag} must be True or False, got {shown(value)}")
        if log is not None and not callable(log):
            raise ValidationError(
                f"log must be a function taking each line (a str), or None, got {shown(log)}"
            )
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise ValidationError(
                f"concurrency must be a whole number >= 1, got {shown(concurrency)}"
            )
        if concurrency > MAX_CONCURRENCY:  # a thread and an engine each: memory runs out first
            raise ValidationError(
                f"concurrency {concurrency} is above {MAX_CONCURRENCY:,}: a worker runs a thread "
                "and an engine for each execution it drives at once; run more worker processes "
                "(on more hosts, against one Postgres database) instead"
            )
        if skip_time and concurrency > 1:
            raise ValidationError(
                "skip_time moves one virtual clock, for one execution at a time: use "
                "concurrency=1 with it"
            )
        if isinstance(db, str | os.PathLike):
            self.store: DatabaseStore = open_store(
                db, synchronous=synchronous, lease_seconds=lease_seconds
            )
            self._owns_store = True
        else:
            _check_open_store(db, synchronous, lease_seconds)
            self.store, self._owns_store = db, False
        self.patience = patience
        self.concurrency = concurrency
        wall = _wall_clock(self.store)
        clock: Clock = VirtualClock(wall.now_ms()) if skip_time else _NowClock(wall)
        self.service = LocalService(store=self.store, clock=clock)
        self.poll = poll
        self._log = _lossy(log or _stderr_line)
        self.progress = progress
        self._served: set[str] = set()
        self._failed: set[str] = set()
        #: Executions whose lost invocation the progress lines already reported as left.
        self._left: set[str] = set()
        #: Every function served, by name, for the engines of the other threads.
        self._targets: dict[str, Callable[..., Any]] = {}
        self._importing = threading.Lock()
        self._steps_lock = threading.Lock()
        self._loop: _StepLoop | None = None
        self._pool: _StepPool | None = None
        self.store.serve(self._served)
        for name, fn in (functions or {}).items():
            self.register(fn, name=name)
        self._stop = threading.Event()

    # --- lifecycle ----------------------------------------------------------------------------

    @checked
    def close(self) -> None:
        """Stop ``run()`` in other threads, the steps' event loop and thread pool; close the
        store if the worker opened it."""
        self._stop.set()
        with self._steps_lock:
            stack, self._loop = self._loop, None
            pool, self._pool = self._pool, None
        if stack is not None:
            stack.stop()
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        if self._owns_store:
            self.store.close()

    def _portal(self) -> anyio.from_thread.BlockingPortal:
        """The event loop of every async step this worker runs (started on first use)."""
        with self._steps_lock:
            if self._loop is None:
                self._loop = _StepLoop()
            return self._loop.portal

    def _step_pool(self) -> cf.Executor:
        """The threads of the sync steps this worker runs side by side (made on first use)."""
        with self._steps_lock:
            if self._pool is None:
                self._pool = _StepPool(
                    max_workers=MAX_STEP_THREADS, thread_name_prefix="durable-gen-worker-step"
                )
            return self._pool

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @checked
    def stop(self) -> None:
        """Ask ``run()`` (and ``drive()``) to return after the work in progress."""
        self._stop.set()

    # --- functions ----------------------------------------------------------------------------

    @checked
    def register(self, fn: Callable[..., Any] | str, *, name: str | None = None) -> str:
        """Serve ``fn`` (a workflow or plain function, or its import path); returns its name.

        A workflow's import path is remembered in the database, so that other workers (and
        ``durable-gen worker``) can serve its executions too.
        """
        if not isinstance(fn, str) and not callable(fn):
            raise ValidationError(
                f"register() takes a workflow or a plain function, or its import path "
                f"'MODULE:FUNCTION', got {fn!r}"
            )
        path = fn if isinstance(fn, str) else import_path_of(fn)
        target = import_object(path) if isinstance(fn, str) else fn
        function_name = workflow_name(target) if name is None else name
        self._serve(self.service, function_name, target)
        before = self.store.workflows().get(function_name)
        if before is not None and before != path:
            # Not refused (moving a function to another module is a deploy), but never
            # silent: every worker that imports the name from now on runs other code.
            self._log(
                f"durable-gen: {function_name!r} was {before} in the database and is {path} "
                "from now on: workers that import it from now on run the new code, also for "
                "its executions that still run; workers already serving it keep the old code "
                "until restarted"
            )
        self.store.register_workflow(function_name, path)
        self._targets[function_name] = target
        self._served.add(function_name)
        self.store.serve(self._served)
        return function_name

    def _serve(self, service: LocalService, name: str, target: Callable[..., Any]) -> None:
        """Register ``target`` with ``service``; with ``progress``, its invocations are logged.

        A workflow's steps run on the worker's event loop and pool, whichever thread drives it.
        """
        if not inspect.isgeneratorfunction(inspect.unwrap(target)):
            register_function(service, name, target)
            return
        check_functions({name: target})  # a workflow that cannot take its input
        handler = make_handler(
            target,
            _PatientService(service, self.patience, self._log),
            checkpointing=self.checkpointing,
            plugins=self.plugins,
            portal=self._portal,
            pool=self._step_pool,
        )
        if self.progress:
            handler = self._reporting(service, name, handler)
        service.register(name, handler)

    def _reporting(
        self, service: LocalService, name: str, handler: InvocationHandler
    ) -> InvocationHandler:
        """``handler``, logging one line when an invocation starts and one when it ends."""
        log = self._log

        def reporting(event: InvocationInput) -> InvocationOutput:
            who = _who(name, event.durable_execution_arn)
            resumed = any(op.type != "EXECUTION" for op in event.initial_execution_state.operations)
            log(f"{_now()} picked up {who} ({'resumed' if resumed else 'new'})")
            arn = event.durable_execution_arn
            self._left.discard(arn)
            began = time.monotonic()
            try:
                out = handler(event)
            except BaseException as exc:
                if isinstance(exc, InvalidCheckpointTokenError | LeaseLostError):
                    # the execution was stopped, or another worker took it over, meanwhile
                    status = _status(service, arn)
                    if status not in ("STOPPED", "TIMED_OUT"):
                        # Another worker took it over (and may have ended it): the engine
                        # refuses this invocation's end with a LeaseLostError; this says it.
                        self._left.add(arn)
                    log(f"{_now()} left {who}: {_moved_on(status)}")
                elif isinstance(exc, StoreError):
                    # its checkpoint found the database locked or unreachable (see _runner)
                    log(
                        f"{_now()} left {who}: the database failed under it "
                        f"({type(exc).__name__}); it resumes from its last checkpoint once "
                        "the database answers"
                    )
                elif not isinstance(exc, Exception | SystemExit):
                    # Ctrl-C and the like stop the worker, not the execution (see _runner)
                    log(
                        f"{_now()} left {who}: interrupted ({type(exc).__name__}); released, "
                        "the next worker resumes it"
                    )
                else:
                    log(f"{_now()} finished {who}: the invocation crashed ({type(exc).__name__})")
                raise
            took = format_duration(round((time.monotonic() - began) * 1000))
            if out.status == "SUCCEEDED":
                end = "SUCCEEDED"
            elif out.status == "FAILED":
                err = out.error
                why = failure_text(err.error_type, err.error_message) if err else "Error"
                end = f"FAILED: {clip(printable(why), 200)}"
            else:
                end = "suspended, waiting for a timer, a retry or a callback"
            log(f"{_now()} finished {who}: {end} in {took}")
            return out

        return reporting

    def _import_remembered(self) -> None:
        with self._importing:
            self._import_new()

    def _import_new(self) -> None:
        for name, path in self.store.workflows().items():
            if name in self._served or name in self._failed:
                continue
            try:
                target = import_object(path)
            except InvalidInputError as exc:
                self._failed.add(name)
                script = ""
                if path.startswith("__main__:"):
                    # Registered by a program run as a script (`python app.py`): only that
                    # process has its workflows as `__main__`.
                    script = (
                        f" ({path} was registered by a program run as a script, `python "
                        "FILE.py`, whose workflows no other process can import: define the "
                        "workflow in a module and register it from there, or serve it with "
                        "Worker.run() in that program)"
                    )
                self._log(
                    f"durable-gen worker: not serving {name!r}: {exc}{script}; its executions "
                    "wait for a worker that can import it"
                )
                continue
            if not inspect.isgeneratorfunction(inspect.unwrap(target)) and self._running(name):
                # A deploy turned the workflow into something else: serving it as a plain
                # function would fail its running executions for good.
                self._failed.add(name)
                self._log(
                    f"durable-gen worker: not serving {name!r}: {path} is not a workflow any "
                    "more (a generator function that yields commands), but executions of it "
                    "are running; they wait for a worker whose code has the workflow"
                )
                continue
            try:
                self._serve(self.service, name, target)
            except ValidationError as exc:  # a deploy changed it into what cannot be served
                self._failed.add(name)
                self._log(
                    f"durable-gen worker: not serving {name!r}: {exc}; the executions of it "
                    "wait for a worker whose code can serve it (an Invoke of it fails as of "
                    "an unregistered name)"
                )
                continue
            self._targets[name] = target
            self._served.add(name)
        self.store.serve(self._served)

    def _running(self, name: str) -> bool:
        """Whether an execution of ``name`` is running (a plain function never has one)."""
        return any(r.function_name == name for r in self.service.list_executions("RUNNING"))

    def _sync(self, lane: _Lane) -> None:
        """Register in another thread's engine the functions this worker serves by now."""
        self._import_remembered()
        with self._importing:
            new = [(n, t) for n, t in self._targets.items() if n not in lane.known]
            served = set(self._served)
        for name, target in new:
            self._serve(lane.service, name, target)
            lane.known.add(name)
        lane.store.serve(served)

    # --- running ------------------------------------------------------------------------------

    @checked
    def run_due(self) -> None:
        """Run everything that is due now, then return (nothing is waited for)."""
        self._import_remembered()
        try:
            self.service.run_until_idle()
        except LeaseLostError as exc:
            self._lease_lost(self.service, exc)

    def _run_due_until(self, lane: _Lane, stop: threading.Event) -> None:
        """Run due work one task at a time, until none is due now or ``stop`` is set.

        A stopping worker finishes the invocation in hand and takes nothing more: the rest of
        the queue is left to the other workers (``run_until_idle`` would drain it all first).
        """
        if lane.service is self.service:
            self._import_remembered()
        else:
            self._sync(lane)
        service, clock = lane.service, lane.service.clock
        try:
            while not (stop.is_set() or self._stop.is_set()):
                try:
                    if service._run_one():
                        continue
                except DamagedRecordError as exc:
                    # One damaged execution does not stop the others. Its task was taken (a
                    # call's stays leased by this lane, handed back when the lane stops), so
                    # it is not met again at once; restoring the database brings it back.
                    lane.set_aside = True
                    self._log(
                        f"durable-gen worker: {exc}; that execution is set aside, the others go on"
                    )
                    continue
                # Nothing due now: a skipping clock jumps to the next timer; the wall
                # clock waits in _idle.
                if not _skip_to_next_timer(clock, lane.store):
                    return
        except LeaseLostError as exc:
            self._lease_lost(service, exc)

    def _lease_lost(self, service: LocalService, exc: LeaseLostError) -> None:
        """Log an invocation whose end the engine refused (another worker took its execution
        over) as the progress lines tell one that stops without an outcome, once, also with
        ``-q``."""
        arn = exc.execution_arn
        if arn is None:
            self._log(f"durable-gen worker: {exc}")
            return
        if arn in self._left:  # its progress line said so already
            self._left.discard(arn)
            return
        try:
            name = service.get_execution(arn).function_name
        except DurableGenError:
            name = arn.rsplit(":", 1)[0].rsplit(":", 1)[-1]
        who = _who(name, arn)
        self._log(f"{_now()} left {who}: {_moved_on(_status(service, arn))}")

    def _check_connections(self) -> None:
        """Refuse a concurrency whose connections the server would never let this worker
        open: its threads would wait for them one timeout after another, as if the server
        were down."""
        limit: Callable[[], int] | None = getattr(self.store, "connection_limit", None)
        need: Callable[[int], int] | None = getattr(self.store, "connections_for", None)
        if limit is None or need is None:
            return
        try:
            allowed = limit()
        except StoreUnavailableError:
            return  # a server still starting: the threads wait for it as usual
        wanted = need(self.concurrency)
        if wanted > allowed:
            raise StoreError(
                f"concurrency {self.concurrency} needs about {wanted} connections to "
                f"{self.store!r}, more than its server allows in all ({allowed}: "
                "max_connections less superuser_reserved_connections); lower the concurrency "
                "and run more worker processes or hosts within the server's limit, or raise "
                "max_connections (or put PgBouncer in session mode in front)"
            )

    @checked
    def run(self, *, once: bool = False) -> None:
        """Run due work until ``stop()`` (or, with ``once``, until nothing is due now).

        With ``concurrency`` above 1, that many threads run due work side by side.

        Raises:
            StoreError: the database is corrupt, or stayed locked or unreachable for longer
                than ``patience`` seconds (with ``once``: past the store's own timeout even
                once, as nothing ran).
            ValidationError: ``once`` is not a bool.
        """
        if type(once) is not bool:
            raise ValidationError(f"once must be True or False, got {once!r}")
        with _sigterm_stops(self):
            self._run(once)

    def _run(self, once: bool) -> None:
        main = _Lane(self.store, self.service)
        if self.concurrency == 1:
            self._run_lane(main, once, self._stop)
            return
        halt = threading.Event()  # one thread failed: the others stop too
        lanes = [main]
        errors: list[BaseException] = []
        threads: list[threading.Thread] = []
        # A store that commits threads' checkpoints together (SQLite: one writer at a time
        # anyway) is shared; any other gets a store, so a connection, per thread.
        share: Callable[[int], None] | None = getattr(self.store, "share", None)
        if share is None:
            self._check_connections()
        try:
            for _ in range(self.concurrency - 1):
                store = self.store if share is not None else self.store.clone()
                lanes.append(
                    _Lane(store, LocalService(store=store, clock=_NowClock(_wall_clock(store))))
                )

            def work(index: int, lane: _Lane) -> None:
                try:
                    if share is not None:
                        share(index)
                    # (each round of _run_lane registers what the database remembers, inside
                    # its retries: a database that is down now is waited for, as later)
                    self._run_lane(lane, once, halt, keep_leases=index == 0 or share is None)
                except BaseException as exc:
                    errors.append(exc)
                    halt.set()

            threads = [
                threading.Thread(target=work, args=(i, lane), name=f"durable-gen-worker-{i}")
                for i, lane in enumerate(lanes[1:], 1)
            ]
            for thread in threads:
                thread.start()
            stopper = threading.Thread(target=self._relay_stop, args=(halt,), daemon=True)
            stopper.start()
            work(0, main)
            if once:
                # Each lane ends when it finds nothing due. Halting them as soon as this one
                # did would leave a task another lane skipped while it was being looked at
                # (Postgres: SKIP LOCKED) unrun, or stop a lane before its first look.
                for thread in threads:
                    thread.join()
        finally:
            halt.set()
            for thread in threads:
                thread.join()
            for lane in lanes[1:]:
                if lane.store is not self.store:
                    lane.store.close()
            unshare = getattr(self.store, "unshare", None)
            if unshare is not None:
                unshare()
        if errors:
            raise errors[0]

    def _relay_stop(self, halt: threading.Event) -> None:
        while not halt.is_set():
            if self._stop.wait(0.1):
                halt.set()

    def _run_lane(
        self, lane: _Lane, once: bool, stop: threading.Event, *, keep_leases: bool = True
    ) -> None:
        store = lane.store
        try:
            self._run_lane_until(lane, store, once, stop, keep_leases)
        finally:
            if lane.set_aside:  # hand the set-aside work back: others meet it at once
                lane.set_aside = False
                with contextlib.suppress(StoreError):
                    store.release_leases()

    def _run_lane_until(
        self,
        lane: _Lane,
        store: DatabaseStore,
        once: bool,
        stop: threading.Event,
        keep_leases: bool,
    ) -> None:
        with _LeaseKeeper(store, enabled=keep_leases):
            failing = _Failing(self.patience)
            while not stop.is_set():
                try:
                    if failing.since is not None:
                        # The failure may have cut an invocation short: hand it back now
                        # rather than when its lease expires.
                        store.release_leases()
                    self._run_due_until(lane, stop)
                    failing.since = None
                except StoreError as exc:
                    if not isinstance(exc, StoreUnavailableError) or once:
                        raise
                    delay = failing.again(exc)
                    self._log(f"durable-gen worker: {exc}; retrying")
                    stop.wait(delay)
                    continue
                if once:
                    return
                self._idle(store, stop)

    @checked
    def drive(
        self, execution_arn: str, *, on_progress: Callable[[], None] | None = None
    ) -> ExecutionRecord:
        """Run due work until ``execution_arn`` ends or can only wait for the outside.

        ``stop()`` ends it too, once the invocation in progress has ended: nothing more is
        taken, and the execution is left to a worker to resume from its last checkpoint.
        Only that execution's work (and that of the executions it invokes) is run: other
        executions of the database are left to its workers. With ``skip_time``, the virtual
        clock skips to their timers only.

        A database that fails under it (locked, unreachable) is retried for ``patience``
        seconds, as by ``run()``; then the ``StoreUnavailableError`` is raised.

        Returns:
            The execution's record: ended, or RUNNING when it waits for a callback (or for a
            worker that can run one of its invokes), or when ``stop()`` was called.

        Raises:
            ValidationError: called from a step of that execution (or of one it invoked),
                which would wait for ever for the invocation running the step.
        """
        running = STEP.get()
        if running is not None:
            self.service._refuse_own_run(execution_arn, running[0])
        with _LeaseKeeper(self.store):
            failing = _Failing(self.patience)
            while True:
                try:
                    if failing.since is not None:
                        # As in run(): hand back what the failure cut short, then go on.
                        self.store.release_leases()
                    self._drive_due(execution_arn)
                    record = self.service.get_execution(execution_arn)
                    failing.since = None
                except StoreUnavailableError as exc:
                    delay = failing.again(exc)
                    self._log(f"durable-gen worker: {exc}; retrying")
                    self._stop.wait(delay)
                    continue
                if (
                    record.is_terminal
                    or self._stop.is_set()
                    or not self.service.is_progressing(execution_arn)
                ):
                    return record
                if on_progress is not None:
                    on_progress()
                # Until this execution's next timer: other executions' due work is not ours.
                due = self.service._next_due_of(execution_arn)
                wait = self.poll if due is None else (due - self.service.clock.now_ms()) / 1000
                self._stop.wait(min(self.poll, max(0.0, wait)))

    def _drive_due(self, execution_arn: str) -> None:
        """``run_due()``, one task at a time, taking nothing more once ``stop()`` is called.

        Only the work of ``execution_arn`` (and of the executions it invoked) is run: the
        database may hold other executions, whose work is for its workers (a long step of
        theirs would hold this one up, and Ctrl-C would interrupt their invocation rather
        than this one's). A skipping clock jumps to their next timer only: the waits of the
        others must end on the wall clock, whoever runs them.
        """
        self._import_remembered()
        service, clock = self.service, self.service.clock
        focus = execution_arn
        try:
            while not self._stop.is_set():
                try:
                    if service._run_one(focus):
                        continue
                except DamagedRecordError as exc:
                    # Another execution's damaged record does not stop this one (as in
                    # _run_due_until); this one's own is the caller's error.
                    service.get_execution(execution_arn)
                    self._log(f"durable-gen: {exc}; that execution is set aside, this one goes on")
                    continue
                # Nothing due now: a skipping clock jumps to the next timer; the wall
                # clock is waited on by drive().
                if not isinstance(clock, VirtualClock):
                    return
                due = service._next_due_of(focus)
                if due is None or not _skip_to_next_timer(clock, self.store, due):
                    return
        except LeaseLostError as exc:
            self._lease_lost(service, exc)

    def _idle(self, store: DatabaseStore, stop: threading.Event) -> None:
        """Wait until the next task is due, work is announced, or ``poll`` seconds pass."""
        try:
            delay = self._delay(store)
        except StoreUnavailableError:
            delay = self.poll
        wait_for_work = getattr(store, "wait_for_work", None)
        if wait_for_work is None or delay <= 0:
            stop.wait(delay)
            return
        deadline = time.monotonic() + delay
        while not stop.is_set():  # in slices, so that stop() is seen soon
            left = deadline - time.monotonic()
            if left <= 0 or wait_for_work(min(left, 0.25)):
                return

    def _delay(self, store: DatabaseStore | None = None) -> float:
        due = (store or self.store).next_due_ms()
        if due is None:
            return self.poll
        return min(self.poll, max(0.0, (due - self.service.clock.now_ms()) / 1000))


@contextlib.contextmanager
def _sigterm_stops(worker: Worker) -> Iterator[None]:
    """While ``run()`` serves on the main thread, SIGTERM is its graceful stop (``stop()``).

    Only when the program left SIGTERM's default action (which ends the process at once, in
    the middle of a step); a handler of the program's own (the command line's) is kept.
    """
    import signal  # here: a program that never serves from its main thread does without it

    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
    ):
        yield
        return

    def stop() -> None:
        worker._log(
            "durable-gen worker: SIGTERM: taking no new work; finishing the invocations "
            "in progress, then returning from run()"
        )
        worker.stop()

    restore = on_sigterm_call(stop)
    try:
        yield
    finally:
        restore()


def _check_open_store(db: object, synchronous: object, lease_seconds: float) -> None:
    """Refuse a ``db`` that is neither a path, a URL nor an open database store, and an option
    that only applies when the worker opens the database itself."""
    if isinstance(db, type) or not all(
        hasattr(db, name) for name in ("serve", "renew_leases", "release_leases")
    ):
        hint = (
            ": a MemoryStore lives in one process, so no worker can share it; run its "
            "executions with LocalService(store=...).run_until_idle(), or give the worker a "
            "SQLite file"
            if type(db).__name__ == "MemoryStore"
            else (
                f": pass an instance, {db.__name__}(...), not the class"
                if isinstance(db, type)
                else ""
            )
        )
        raise ValidationError(
            "db must be a SQLite path, a database URL (postgresql://..., sqlite:///...) or an "
            f"open SqliteStore or PostgresStore, got {type(db).__name__} {shown(db)}"[:300]
            + hint
        )
    if synchronous is not None:
        raise ValidationError(
            "synchronous applies when the worker opens the database from a path or URL; an "
            "open store keeps its own: give it to the store (SqliteStore(path, "
            "synchronous=...))"
        )
    held = getattr(db, "lease_ms", None)
    if lease_seconds != 30.0 and isinstance(held, int) and lease_seconds * 1000 != held:
        raise ValidationError(
            f"lease_seconds={lease_seconds:g} applies when the worker opens the database from "
            f"a path or URL; the open store's leases last {held / 1000:g} s: give "
            "lease_seconds to the store (SqliteStore(path, lease_seconds=...), "
            "PostgresStore(url, lease_seconds=...), open_store(url, lease_seconds=...))"
        )


def _skip_to_next_timer(clock: object, store: DatabaseStore, due: int | None = None) -> bool:
    """Move a skipping (virtual) clock to the store's next due task (or to ``due``), as
    run_until_idle's would: True if it moved; False for the wall clock, or when nothing is
    due later."""
    if not isinstance(clock, VirtualClock):
        return False
    if due is None:
        due = store.next_due_ms()
    if due is None or due <= clock.now_ms():
        return False
    clock.advance_to(due)
    return True


def on_sigterm_call(stop: Callable[[], None]) -> Callable[[], None]:
    """Make SIGTERM call ``stop`` (once, from a thread of its own); returns what puts SIGTERM's
    default action back and ends that thread.

    The handler only writes a byte to a pipe: calling ``stop`` (which sets a
    ``threading.Event``) from the handler itself could deadlock, as the handler runs on the
    main thread, which may hold that event's lock at that moment.
    """
    import signal

    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)

    def relay() -> None:
        if os.read(read_fd, 1):  # b"" once the pipe is closed: SIGTERM never came
            stop()

    def on_sigterm(signum: int, frame: object) -> None:
        with contextlib.suppress(OSError):  # a full pipe: one byte is enough
            os.write(write_fd, b"\0")

    thread = threading.Thread(target=relay, name="durable-gen-sigterm", daemon=True)
    thread.start()
    signal.signal(signal.SIGTERM, on_sigterm)

    def restore() -> None:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.close(write_fd)
        thread.join()
        os.close(read_fd)

    return restore


def _who(function_name: str, arn: str) -> str:
    """An execution as the progress lines name it: its workflow and its id."""
    return f"{printable(function_name)} {printable(arn.rsplit('/', 1)[-1])}"


def _status(service: LocalService, arn: str) -> str:
    """The status of an execution whose invocation was refused (RUNNING when unreadable)."""
    try:
        return service.get_execution(arn).status
    except DurableGenError:  # the database is out of reach: say what is likely
        return "RUNNING"


def _moved_on(status: str) -> str:
    """Why an invocation's checkpoint was refused, for an operator: what became of it."""
    if status == "RUNNING":
        return (
            "another worker took the execution over (this invocation outlived its lease; keep "
            "--lease above the longest pause); nothing more of this invocation is recorded"
        )
    why = (
        "its execution timeout passed"
        if status == "TIMED_OUT"
        else "it was stopped, or a worker that took it over finished it"
    )
    return (
        f"the execution ended meanwhile ({status}: {why}); nothing more of this invocation "
        "is recorded"
    )


def _lossy(log: Callable[[str], None]) -> Callable[[str], None]:
    """``log``, losing the line when it fails: a line that cannot be written (stderr's reader
    went away: ``durable-gen worker 2>&1 | head``, a log collector that stopped; a ``log=``
    that raises) must not end the invocation it reports on, which would fail the execution
    with the log's ``BrokenPipeError`` or lose a finished invocation's outcome."""

    def line(text: str) -> None:
        with contextlib.suppress(Exception):  # no line is worth an execution
            log(text)

    return line


_STDERR_LOCK = threading.Lock()


def _stderr_line(line: str) -> None:
    """One whole line on stderr: lines of threads running at once never mix."""
    with _STDERR_LOCK:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()


class _Lane:
    """One engine of a worker, on its own store (connection): one execution at a time."""

    def __init__(self, store: DatabaseStore, service: LocalService) -> None:
        self.store = store
        self.service = service
        #: Functions registered with this lane's engine.
        self.known: set[str] = set()
        #: Whether work of an execution with a damaged record is held (claimed) by this lane,
        #: to hand back when the lane stops.
        self.set_aside = False


class _StepLoop:
    """An event loop in a daemon thread (so that a worker never closed does not hold up the
    interpreter's exit), reached through an anyio blocking portal."""

    def __init__(self) -> None:
        ready = threading.Event()
        self._portal: anyio.from_thread.BlockingPortal | None = None
        self._failure: BaseException | None = None

        async def serve() -> None:
            async with anyio.from_thread.BlockingPortal() as portal:
                self._portal = portal
                ready.set()
                await portal.sleep_until_stopped()

        def main() -> None:
            try:
                anyio.run(serve)
            except BaseException as exc:  # reported by the thread that waits for the loop
                self._failure = exc
                ready.set()

        self.thread = threading.Thread(target=main, name="durable-gen-worker-loop", daemon=True)
        self.thread.start()
        ready.wait()
        if self._portal is None:
            raise RuntimeError(f"the worker's event loop did not start: {self._failure!r}")

    @property
    def portal(self) -> anyio.from_thread.BlockingPortal:
        assert self._portal is not None
        return self._portal

    def stop(self) -> None:
        """Cancel the steps still running on the loop, end it and wait for its thread."""
        with contextlib.suppress(RuntimeError):  # already stopped
            self.portal.call(self.portal.stop, True)
        self.thread.join()


class _LeaseKeeper:
    """Renews the store's leases every third of their length, in a daemon thread."""

    def __init__(self, store: DatabaseStore, *, enabled: bool = True) -> None:
        self._store = store
        self._enabled = enabled
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="durable-gen-leases", daemon=True)

    def __enter__(self) -> _LeaseKeeper:
        if self._enabled:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        if self._enabled:
            self._thread.join()

    def _run(self) -> None:
        interval = self._store.lease_ms / 3000
        while not self._done.wait(interval):
            try:
                self._store.renew_leases()
                # The server's clock is the fleet's (timers): follow this host's drift from it.
                sync_clock: Callable[[], int] | None = getattr(self._store, "sync_clock", None)
                if sync_clock is not None:
                    sync_clock()
            except StoreError:
                continue  # locked for a moment: the next round renews
