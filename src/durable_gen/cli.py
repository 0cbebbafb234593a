"""The ``durable-gen`` command line: run and operate workflows on a SQLite database.

Commands: ``run``, ``start``, ``list``, ``show`` (text, or ``--html`` timeline), ``history``,
``callback``, ``stop`` and ``worker``. The database is ``--db``, else ``$DURABLE_GEN_DB``, else
``durable.db`` in the working directory. Every user mistake (a bad module path, bad JSON, an
unknown id, a locked or corrupt database) is one clear line on stderr and a non-zero exit
status, never a traceback.

Exit statuses: 0 success, 1 the execution failed (or the service refused, or the database is
locked or corrupt), 2 a usage error (a bad option, module path or id), 3 ``run`` left the
execution suspended (it waits for a callback), 130 interrupted, 143 ``run`` stopped by
SIGTERM (the execution left to a worker). Text taken from the database
(error messages, names, results) is printed with control characters escaped.
"""

from __future__ import annotations

import argparse
import codecs
import contextlib
import errno
import inspect
import io
import json
import logging
import math
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path
from typing import Any, Final, NoReturn, TextIO

import msgspec

from . import _guard
from ._errors import (
    DurableGenError,
    ExecutionSuspendedError,
    InvalidInputError,
    SerializationError,
    StoreError,
    ValidationError,
    a_kind,
    shown,
)
from ._wire import MAX_WAIT_SECONDS, ErrorObject, Event

__all__ = ["main"]

#: Seconds a worker keeps trying a database it cannot reach (``Worker``'s default).
_PATIENCE: Final = 60.0
#: The database when neither ``--db`` nor ``$DURABLE_GEN_DB`` names one.
DEFAULT_DB = "durable.db"
EXIT_FAILED, EXIT_USAGE, EXIT_SUSPENDED, EXIT_INTERRUPTED = 1, 2, 3, 130
EXIT_TERMINATED: Final = 143  # 128 + SIGTERM, as a shell reports a process SIGTERM ended

_DONE = frozenset({"SUCCEEDED", "FAILED", "CANCELLED", "TIMED_OUT", "STOPPED"})
_WAITING_TYPES = frozenset({"WAIT", "CALLBACK", "CHAINED_INVOKE"})


#: Errors of a disk rather than of a path given: output that cannot be written (status 1).
_DISK_FAILURES: Final = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EFBIG})


class CliError(ValidationError):
    """A usage error of the command line: printed as one line, exit status 2."""


def load_workflow(spec: str) -> Callable[..., Any]:
    """Import ``MODULE:ATTR`` (the working directory is importable) and check it is a workflow."""
    from .local._worker import import_object

    try:
        fn: Callable[..., Any] = import_object(spec)
    except InvalidInputError as exc:
        raise CliError(str(exc)) from None
    target = inspect.unwrap(fn)
    if inspect.isgeneratorfunction(target):
        problem = _guard.input_problem(fn)
        if problem is not None:
            raise CliError(f"{spec} cannot be run with an input ({problem}): {_guard.TAKES_INPUT}")
        return fn
    if inspect.iscoroutinefunction(target) or inspect.isasyncgenfunction(target):
        raise CliError(
            f"{spec} is an async function: a workflow is a plain generator function that "
            "yields commands (only steps may be async)"
        )
    raise CliError(
        f"{spec} is not a workflow: a workflow is a generator function that yields commands "
        "(see @dg.workflow). To serve a plain function as an Invoke target, run "
        f"`durable-gen worker --register NAME={spec}`"
    )


def load_plugin(spec: str) -> Any:
    """Import ``MODULE:ATTR`` for ``--plugin``: a ``Plugin`` instance, or a class or function
    that returns one when called without arguments."""
    from ._plugins import Plugin
    from .local._worker import import_attribute

    module, _, attr = spec.partition(":")
    if not module or not attr:
        raise CliError(
            f"--plugin takes MODULE:ATTR, the module and the name of a Plugin in it (e.g. "
            f"app.tracing:make_tracer), got {spec!r}"
        )
    try:
        obj = import_attribute(spec)
    except InvalidInputError as exc:
        raise CliError(f"--plugin {spec}: {exc}") from None
    if isinstance(obj, Plugin):
        return obj
    if callable(obj):
        try:
            made = obj()
        except ImportError as exc:  # an extra to install, not another attribute to point at
            raise CliError(f"--plugin {spec}: {exc}") from None
        except Exception as exc:
            raise CliError(
                f"--plugin {spec}: calling it without arguments failed ({type(exc).__name__}: "
                f"{exc}); point --plugin at a Plugin instance built in that module instead"
            ) from None
        if isinstance(made, Plugin):
            return made
        raise CliError(
            f"--plugin {spec} returned {type(made).__name__}, not a Plugin: point it at a "
            "durable_gen.Plugin instance, or at a class or function that returns one"
        )
    raise CliError(
        f"--plugin {spec} is {a_kind(obj)}, not a Plugin: point it at a "
        "durable_gen.Plugin instance, or at a class or function that returns one"
    )


def _json_advice(text: str, what: str = "--input") -> str:
    """What to write instead of ``text``, for the usual slips: a file's name where what it
    holds is due (``--input order.json``, curl's ``@order.json``), a bare word where a JSON
    string is due (the shell took its quotes), Python's single quotes in an object."""
    import shlex

    stripped = text.strip()
    name = stripped.removeprefix("@")
    if name and len(name) <= 4096 and "\n" not in name and os.path.isfile(name):
        reads = (
            f"durable-gen callback succeed ID - < {shlex.quote(name)}"
            if what == "the callback result"
            else f"--input - < {shlex.quote(name)}"
        )
        return (
            f"; {name!r} is a file here: to send what it holds, give - and redirect the "
            f"file ({reads})"
        )
    if stripped[:1] in ("{", "[") and "'" in stripped:
        return (
            "; JSON takes double quotes around strings and keys: put the whole in single "
            """quotes for the shell, e.g. '{"id": "o-1"}'"""
        )
    if stripped and stripped[:1] not in ('"', "{", "[") and len(stripped) <= 200:
        return (
            f"; a JSON string is in double quotes, kept from the shell by single quotes: "
            f"{shlex.quote(json.dumps(stripped, ensure_ascii=False))}"
        )
    return ""


def parse_json(text: str | None, what: str = "--input") -> Any:
    """Parse a JSON argument, with a clear error."""
    if text is None:
        return None
    try:
        value = json.loads(text, parse_constant=_not_json, parse_float=_finite)
    except json.JSONDecodeError as exc:
        raise CliError(
            f"{what} is not valid JSON ({exc.msg} at position {exc.pos}): {text!r}"
            f"{_json_advice(text, what)}"
        ) from exc
    except ValueError as exc:  # NaN, Infinity, or a number too large for a float
        raise CliError(f"{what} is not valid JSON: {exc}") from None
    except RecursionError:  # how deep Python's json reads depends on the Python version
        value = _TOO_DEEP
    if value is _TOO_DEEP or _deeper_than(value, MAX_JSON_DEPTH):
        raise CliError(
            f"{what} nests arrays or objects too deeply to be read (more than "
            f"{MAX_JSON_DEPTH} levels); flatten it"
        ) from None
    try:
        msgspec.json.encode(value)
    except UnicodeEncodeError as exc:
        bad = exc.object[exc.start : exc.end]
        raise CliError(
            f"{what} holds {bad!r}, a lone surrogate escape: it is not valid Unicode text, so "
            "it cannot be recorded; escape whole characters only"
        ) from None
    return value


#: The deepest nesting of arrays and objects a JSON argument may have, on every Python version.
MAX_JSON_DEPTH: Final = 500
_TOO_DEEP: Final = object()


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether ``value`` nests lists and dicts more than ``limit`` levels (no recursion)."""
    level: list[Any] = [value]  # the values inside as many containers as rounds so far
    for _ in range(limit):
        level = [
            child
            for item in level
            if isinstance(item, list | dict)
            for child in (item.values() if isinstance(item, dict) else item)
        ]
        if not level:
            return False
    return any(isinstance(item, list | dict) for item in level)


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not a JSON value (JSON has no NaN or Infinity)")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is too large for a JSON number a workflow can read back")
    return value


def _check_text(args: argparse.Namespace) -> None:
    """Refuse arguments that are not UTF-8: Python keeps such bytes as lone surrogates, which
    no JSON payload, database or terminal can carry."""
    for dest, value in vars(args).items():
        for text in value if isinstance(value, list) else [value]:
            if isinstance(text, str) and _SURROGATE.search(text):
                try:  # bytes of argv that are not UTF-8, as Python decoded them
                    raw = text.encode("utf-8", "surrogateescape")
                except UnicodeEncodeError:  # a surrogate no byte gives (main() called by code)
                    raw = text.encode("utf-8", "backslashreplace")
                printable = raw.decode("utf-8", "backslashreplace")
                option = "--" + dest.replace("_", "-") if dest in _OPTION_DESTS else dest.upper()
                raise CliError(
                    f"{option} is not UTF-8 text ({printable!r}): pass UTF-8 (check the terminal's "
                    "locale or the script that built the command line)"
                )


_SURROGATE: Final = re.compile("[\ud800-\udfff]")
#: Argument names that are options (shown as --name); the others are positionals.
_OPTION_DESTS: Final = frozenset(
    {"db", "input", "name", "html", "register", "plugin", "status", "lock_timeout", "poll", "lease"}
)


# --- helpers ----------------------------------------------------------------------------------


def _db_url(args: argparse.Namespace) -> str:
    """The database the command works on: a SQLite path, ``sqlite:///...`` or ``postgresql://``."""
    if args.db is not None and not str(args.db).strip():
        # `--db "$DB"` with DB unset: using ./durable.db instead would start executions in a
        # database nobody meant
        raise CliError(
            f"--db is empty ({str(args.db)!r}): give the database's path or URL, or leave --db "
            f"out to use $DURABLE_GEN_DB, else ./{DEFAULT_DB}"
        )
    env = os.environ.get("DURABLE_GEN_DB")
    if args.db is None and env is not None and not env.strip():
        # `DURABLE_GEN_DB=$DB` (a compose file, a unit file) with DB unset: as for `--db ""`,
        # falling back to ./durable.db would use a database nobody meant
        raise CliError(
            f"DURABLE_GEN_DB is set but empty ({env!r}): set it to the database's path or "
            f"URL, or unset it to use ./{DEFAULT_DB}"
        )
    url = str(args.db or env or DEFAULT_DB)
    if url != url.strip():
        # ' durable.db' (a stray space in a script or an env file) would be another file
        raise CliError(
            f"{_db_source(args)} has spaces around it ({url!r}): remove them; the database is "
            f"{url.strip()!r}"
        )
    if _SURROGATE.search(url):
        shown = url.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        raise CliError(
            f"{_db_source(args)} is not UTF-8 text ({shown!r}): pass UTF-8 (check the locale of "
            "the environment or the script that set it)"
        )
    if _in_memory(args):
        _refuse_memory(args)
    if "://" not in url:
        _db_path(args, url)
    return url


def _in_memory(args: argparse.Namespace) -> bool:
    """Whether the database is SQLite's in-memory one (``run --db :memory:``)."""
    url = str(args.db or os.environ.get("DURABLE_GEN_DB") or "")
    return (url[len("sqlite:///") :] if url.startswith("sqlite:///") else url) == ":memory:"


#: What ``run`` on ``:memory:`` says instead of the commands that answer or resume.
_IN_MEMORY: Final = (
    "its database is in memory (:memory:) and ends with this command: no other command can "
    "answer or resume it (give a file, --db app.db, to keep the execution)"
)


def _refuse_memory(args: argparse.Namespace) -> None:
    """``:memory:`` is SQLite's in-memory database, which ends with the process that opened
    it: fine for a ``run`` that needs nothing kept, lost for every other command (``start``
    printed an id and exit status 0 for an execution that was gone as it exited)."""
    command = getattr(args, "command", None)
    if command == "run":
        return
    what = {
        "start": "record an execution that is gone as soon as it exits",
        "worker": "serve an empty database of its own, which no other command can reach",
    }.get(str(command), "find nothing: no other process's executions are in it")
    raise CliError(
        f":memory:{_from_source(args)} is SQLite's in-memory database, which lasts only as "
        f"long as the command that opens it: `durable-gen {command}` would {what}; give a "
        "file (--db app.db), or run the workflow in one command with `durable-gen run "
        "MODULE:WORKFLOW --db :memory:` when nothing needs keeping"
    )


def _db_source(args: argparse.Namespace) -> str:
    """Where the database's name came from: ``--db``, ``DURABLE_GEN_DB``, or "" (the
    default)."""
    return "--db" if args.db else "DURABLE_GEN_DB" if os.environ.get("DURABLE_GEN_DB") else ""


def _from_source(args: argparse.Namespace) -> str:
    """`` (from --db)`` or `` (from DURABLE_GEN_DB)`` for a message, "" for the default."""
    source = _db_source(args)
    return f" (from {source})" if source else ""


def _db_path(args: argparse.Namespace, url: str) -> Path:
    path = Path(url)
    if path.is_dir():
        raise CliError(
            f"{path} is a folder{_from_source(args)}: the database is a "
            f"file; give its path, e.g. {path / DEFAULT_DB}"
        )
    return path


def _open_store(args: argparse.Namespace, *, must_exist: bool = True) -> Any:
    from .local import open_store
    from .local._url import _LOOKALIKE

    url = _db_url(args)
    # sqlite:///relative.db and sqlite:////absolute.db name the file after the third slash
    path = url[len("sqlite:///") :] if url.startswith("sqlite:///") else url
    if _LOOKALIKE.match(path) or (url.startswith("sqlite:") and "?" in path):
        open_store(url)  # `sqlite:app.db`, `sqlite:///app.db?mode=ro`: say what to write
    if must_exist and "://" not in path and path and not Path(path).exists():
        from .local._sqlite import _UNEXPANDED

        unexpanded = _UNEXPANDED.search(path)
        if unexpanded:
            full = os.path.expandvars(os.path.expanduser(path))
            raise CliError(
                f"no database at {url}{_from_source(args)}: {unexpanded.group(1)!r} in it was "
                "not expanded (only a shell does that, not an environment file or a quoted "
                f"argument): give the full path, e.g. {full}"
            )
        raise CliError(
            f"no database at {url}{_from_source(args)}: start an "
            "execution first (durable-gen start ...), or point --db (or DURABLE_GEN_DB) at an "
            "existing one"
        )
    if must_exist and _SCHEME.match(url) and url.split(":", 1)[0].lower() in _POSTGRES:
        # As for a SQLite path with no file: a mistyped database name that exists (the
        # server's `postgres` database, the application's own) is not taken for an empty
        # durable_gen database, and gets no tables of durable_gen's written into it.
        from .local._postgres import ExistingPostgresStore, NoTablesError, redact

        try:
            return ExistingPostgresStore(url, timeout=args.lock_timeout)
        except NoTablesError:
            raise CliError(
                f"no durable_gen database at {redact(url)}{_from_source(args)}: it holds none "
                "of durable_gen's tables (durable-gen start, run or worker creates them); "
                "start an execution first, or point --db (or DURABLE_GEN_DB) at the database "
                "that holds them"
            ) from None
    return open_store(url, timeout=args.lock_timeout)


_SCHEME: Final = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_POSTGRES: Final = frozenset({"postgresql", "postgres"})


def _service(store: Any) -> Any:
    from .local import LocalService

    return LocalService(store=store)


def _resolve(store: Any, ref: str, db: str | None) -> str:
    """The one ARN that ``ref`` (an ARN, or a prefix of an execution id or name) names; ``db``
    is the database as ``_named_db`` gives it, for the command a message suggests."""
    if not ref.strip():
        raise CliError(
            "the execution ID is empty: give its ARN, or a prefix of its id or name "
            "(durable-gen list shows them)"
        )
    arns: list[str] = store.resolve(ref)
    if not arns and ref.startswith("arn:") and ":/durable-execution/" in ref:
        # `durable-gen show "arn:...:function:f:$LATEST/durable-execution/..."`: the shell
        # replaced `$LATEST` with nothing (double quotes, or none), so the ARN names nothing
        execution_id = _short_id(ref)
        found = store.resolve(execution_id) if execution_id else []
        known = f" ({execution_id})" if len(found) == 1 else ""
        raise CliError(
            f"no execution has the ARN {ref!r} in {store.path}: its version is missing before "
            "/durable-execution/, as when a shell replaces `$LATEST` in an ARN written in "
            f"double quotes or none; put the ARN in single quotes, or give its execution "
            f"id{known}"
        )
    if not arns:
        entry = _callback_named(store, ref)
        if entry is not None:
            # the CallbackId from `show`'s "waits on" line, given to show, history or stop
            raise CliError(
                f"{ref!r} is a CallbackId, not an execution: its execution is "
                f"{_short_id(entry.arn)} (give that id); answer the callback with "
                f"`durable-gen callback succeed{_db_option(db)} {ref} 'RESULT_JSON'`"
            )
        from .local._engine import padded_hint

        raise CliError(
            f"no execution matches {shown(ref)}{padded_hint(ref)} in {store.path}: give its "
            "ARN, or a prefix of its id or name (durable-gen list shows them)"
        )
    if len(arns) > 1:
        ids = ", ".join(arn.rsplit("/", 1)[-1] for arn in arns[:5])
        more = ", ..." if len(arns) > 5 else ""
        raise CliError(
            f"{ref!r} matches {len(arns)} executions ({ids}{more}); give more of the id or "
            "name, or the whole id or ARN of one (durable-gen list shows them)"
        )
    return arns[0]


def _callback_named(store: Any, ref: str) -> Any:
    """The callback whose whole id ``ref`` is, if any (None when its row cannot be read)."""
    try:
        return store.find_callback(ref)
    except StoreError:
        return None


def _short_id(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]


def _print_json(value: Any, pretty: bool) -> None:
    print(json.dumps(value, indent=2 if pretty else None))


def _stdout_is_utf8() -> bool:
    """Whether standard output writes UTF-8 (not so under a ``LANG`` of another charset,
    ``PYTHONIOENCODING=ascii`` or a Windows code page)."""
    try:
        return codecs.lookup(getattr(sys.stdout, "encoding", None) or "utf-8").name == "utf-8"
    except LookupError:
        return False


def _write_json(text: str) -> None:
    """JSON on standard output: as it is on a UTF-8 output, else the same JSON in ASCII, each
    other character a ``\\uXXXX`` escape. JSON is read as UTF-8 (``replay_folder`` reads an
    exported history so): Latin-1 bytes of a ``ü`` would not read back, and the text
    replacement of ``backslashreplace``, ``\\xfc``, is no JSON."""
    if not _stdout_is_utf8():
        text = _NOT_ASCII.sub(_json_escape, text)
    sys.stdout.write(text + "\n")


def _json_escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code > 0xFFFF:  # a UTF-16 surrogate pair, as JSON writes a character past the BMP
        code -= 0x10000
        return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"
    return f"\\u{code:04x}"


_NOT_ASCII: Final = re.compile(r"[^\x00-\x7f]")


class _Progress:
    """A live ``done / running / waiting`` line on a terminal's stderr while ``run`` works."""

    def __init__(self, store: Any, arn: str, stream: TextIO) -> None:
        self._store, self._arn, self._stream = store, arn, stream
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="durable-gen-progress", daemon=True)

    def __enter__(self) -> _Progress:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()
        self._stream.write("\r\x1b[K")
        self._stream.flush()

    def _loop(self) -> None:
        while not self._done.wait(0.2):
            try:
                counts: dict[tuple[str, str], int] = self._store.operation_counts(self._arn)
            except DurableGenError:
                continue
            done = running = waiting = 0
            for (kind, status), n in counts.items():
                if kind == "EXECUTION":
                    continue
                if status in _DONE:
                    done += n
                elif status == "STARTED" and kind not in _WAITING_TYPES:
                    running += n
                else:
                    waiting += n
            self._stream.write(f"\r\x1b[K{done} done · {running} running · {waiting} waiting")
            self._stream.flush()


# --- commands ---------------------------------------------------------------------------------


#: The engine's parameter names and the options that set them, for its error messages.
_OPTIONS: Final = {"execution_name": "--name", "execution_timeout": "--timeout"}


def _prepare_start(args: argparse.Namespace) -> tuple[Any, Any]:
    """The workflow and the recorded input of a ``start`` or ``run``, each checked before the
    database is opened: a refused command creates no empty database at a mistyped ``--db``,
    which ``list`` would then show as empty rather than as no database at all."""
    from ._codec import input_type
    from ._serdes import dumps, loads

    workflow = load_workflow(args.workflow)
    if args.input == "-":  # an input longer than a command line carries
        args.input = _read_stdin(
            "the workflow input",
            "--input - reads the workflow input",
            f"durable-gen {args.command} {args.workflow} --input - < input.json",
            "leave --input out to start the workflow without one",
        )
    payload = dumps(parse_json(args.input), what="the workflow input")
    try:  # read as the execution will read it: an input it cannot read is never recorded
        loads(payload, None, type_=input_type(workflow), what="the workflow input")
    except SerializationError as exc:
        raise CliError(f"--input: {exc}; nothing was recorded") from None
    return workflow, payload


def _start_execution(args: argparse.Namespace, worker: Any, prepared: tuple[Any, Any]) -> str:
    workflow, payload = prepared
    name = worker.register(workflow)
    try:
        arn: str = worker.service.start(
            name, payload, execution_name=args.name, execution_timeout=args.timeout
        )
    except ValidationError as exc:
        text = str(exc)
        for param, option in _OPTIONS.items():
            text = text.replace(param, option)
        raise CliError(text) from None
    return arn


def _running_options(args: argparse.Namespace) -> dict[str, Any]:
    """The ``Worker`` options of ``--plugin`` and ``--checkpointing``."""
    return {
        "plugins": [load_plugin(spec) for spec in args.plugin],
        "checkpointing": args.checkpointing,
    }


@contextmanager
def _worker(
    args: argparse.Namespace,
    store_options: dict[str, Any] | None = None,
    *,
    patience: float | None = None,
    stopping: threading.Event | None = None,
    **kwargs: Any,
) -> Iterator[Any]:
    """A ``Worker`` on the command's database; the database is closed afterwards.

    With ``patience``, a database that cannot be reached yet (a worker starting with, or
    before, its server) is tried again for that many seconds, as a running worker would;
    ``stopping`` set meanwhile (SIGTERM) ends the tries: the context is then None.
    """
    from .local import StoreUnavailableError, Worker, open_store

    began, tries = time.monotonic(), 0
    while True:
        store = None
        try:
            store = open_store(_db_url(args), timeout=args.lock_timeout, **(store_options or {}))
            # Building the worker writes too (the functions it serves are remembered): a server
            # that restarts right then is waited for like one that is not up yet.
            worker = Worker(store, **kwargs)
            break
        except StoreUnavailableError as exc:
            if store is not None:
                with suppress(StoreError):
                    store.close()
            tries += 1
            if patience is None or time.monotonic() - began > patience:
                raise
            if stopping is not None and stopping.is_set():
                yield None
                return
            print(f"durable-gen worker: {_one_line(exc)}; retrying", file=sys.stderr, flush=True)
            delay = min(2.0, 0.05 * 2**tries)
            if stopping is not None and stopping.wait(delay):
                yield None
                return
            if stopping is None:
                time.sleep(delay)
    try:
        with worker:
            yield worker
    finally:
        store.close()


def _live_stderr() -> bool:
    """Whether stderr takes ``run``'s live line: a terminal that knows ``\\x1b[K``, not one
    whose ``TERM`` is ``dumb`` (Emacs' shell, some CI consoles), where each redraw would
    print as ``^[[K`` and pile up."""
    return sys.stderr.isatty() and os.environ.get("TERM") != "dumb"


def _graceful_stop(
    message: str,
) -> tuple[threading.Event, list[Any], Callable[[], None]]:
    """What a command's SIGTERM handler needs: the event it sets, the list of the workers
    started since (each is told to stop) and the handler itself, which says ``message`` on
    stderr first."""
    stopping = threading.Event()
    started: list[Any] = []

    def stop() -> None:
        # main()'s stderr loses this line when its reader went away (`durable-gen worker
        # 2>&1 | head`), not the stop
        print(message, file=sys.stderr, flush=True)
        stopping.set()
        for worker in started:
            worker.stop()

    return stopping, started, stop


def _cmd_run(args: argparse.Namespace) -> int:
    from .local._worker import on_sigterm_call

    # SIGTERM (a service manager, a CI job's timeout, `kill`) is a graceful stop, as for
    # `worker`: the invocation in progress runs to its end, nothing more is taken, and the
    # execution is left to a worker.
    stopping, started, stop = _graceful_stop(
        ("\r\x1b[K" if _live_stderr() else "")
        + "durable-gen run: SIGTERM: finishing the invocation in progress, then leaving "
        "the execution to `durable-gen worker` (SIGKILL stops at once: a worker resumes "
        "it from its last checkpoint)"
    )

    restore = on_sigterm_call(stop)
    try:
        return _run_execution(args, stopping, started)
    finally:
        restore()


def _run_execution(args: argparse.Namespace, stopping: threading.Event, started: list[Any]) -> int:
    from .local._run import outcome

    functions = _registered(args)
    prepared = _prepare_start(args)
    opened = ExitStack()
    try:
        worker = opened.enter_context(
            _worker(
                args,
                skip_time=args.skip_time,
                functions=functions,
                log=_lines_of("run"),
                **_running_options(args),
            )
        )
    except InvalidInputError as exc:
        # A --register path that cannot be imported: the command line was wrong.
        raise CliError(str(exc)) from None
    with opened:
        started.append(worker)
        if stopping.is_set():
            worker.stop()  # SIGTERM came while the worker was being built
            print(
                "durable-gen: stopped by SIGTERM before the execution started; nothing was started",
                file=sys.stderr,
            )
            return EXIT_TERMINATED
        arn = _start_execution(args, worker, prepared)
        tty = _live_stderr()
        announced: set[str] = set()
        in_memory = _in_memory(args)
        resume = (
            f"; {_IN_MEMORY}"
            if in_memory
            else f": run `durable-gen worker{_db_option(_named_db(args))}` to resume it"
        )

        def announce() -> None:
            # The execution goes on (its callback has a timeout, or other work runs): say now
            # what it waits on and how to answer, once per callback.
            for label, callback_id in _open_callbacks(worker.service, arn):
                if callback_id not in announced:
                    announced.add(callback_id)
                    how = (
                        f"; {_IN_MEMORY}"
                        if in_memory
                        else f"; answer it with {_answer_hint(_named_db(args), callback_id)}"
                    )
                    print(
                        ("\r\x1b[K" if tty else "")
                        + f"durable-gen: execution {_short_id(arn)} waits on callback{label} "
                        f"(CallbackId {callback_id}){how}",
                        file=sys.stderr,
                        flush=True,
                    )

        try:
            if tty:
                with _Progress(worker.store, arn, sys.stderr):
                    record = worker.drive(arn, on_progress=announce)
            else:
                record = worker.drive(arn, on_progress=announce)
        except KeyboardInterrupt:
            # Ctrl-C: the invocation in progress was handed back; say what became of the
            # execution and how to resume it, as for SIGTERM
            print(
                f"durable-gen: interrupted; execution {_short_id(arn)} is left RUNNING with "
                f"what it recorded (an invocation in progress is released for the next "
                f"worker){resume}",
                file=sys.stderr,
            )
            return EXIT_INTERRUPTED
        if stopping.is_set() and not record.is_terminal:
            print(
                f"durable-gen: execution {_short_id(arn)} is left RUNNING (stopped by SIGTERM "
                f"after its invocation in progress); what it recorded is kept{resume}",
                file=sys.stderr,
            )
            return EXIT_TERMINATED
        try:
            result = outcome(worker.service, record)
        except ExecutionSuspendedError as exc:
            if in_memory:
                print(
                    f"durable-gen: execution {_short_id(arn)} is suspended, waiting on: "
                    f"{'; '.join(exc.waiting_on) or 'something external'}; {_IN_MEMORY}",
                    file=sys.stderr,
                )
                return EXIT_SUSPENDED
            hints = [
                _answer_hint(_named_db(args), cid)
                for _, cid in _open_callbacks(worker.service, arn)
            ]
            answer = (
                f"Answer {'it' if len(hints) == 1 else 'them'} with {'; '.join(hints)}, then run"
                if hints
                else "Run"
            )
            print(
                f"durable-gen: execution {_short_id(arn)} is suspended, waiting on: "
                f"{'; '.join(exc.waiting_on) or 'something external'}. {answer} "
                f"`durable-gen worker{_db_option(_named_db(args))}` to resume it",
                file=sys.stderr,
            )
            return EXIT_SUSPENDED
    _print_json(result, args.pretty)
    return 0


def _lines_of(command: str) -> Callable[[str], None]:
    """A ``Worker``'s ``log`` for ``command``: its lines on stderr, named after the command
    that printed them rather than ``durable-gen worker``."""
    from .local._worker import _stderr_line

    def log(line: str) -> None:
        if line.startswith("durable-gen worker:"):
            line = f"durable-gen {command}:" + line[len("durable-gen worker:") :]
        _stderr_line(line)

    return log


def _open_callbacks(service: Any, arn: str) -> list[tuple[str, str]]:
    """The callbacks the execution waits on: `` 'name'`` (or empty) and CallbackId, each;
    also those of the executions its ``Invoke``s started that still run, and so on (their
    answer is what resumes it). Those of items a decided batch left behind are not waited on."""
    from .local._state import left_behind
    from .local._text import printable

    found = []
    todo, seen = [arn], set()
    while todo:
        current = todo.pop(0)
        if current in seen:
            continue
        seen.add(current)
        operations = service.get_operations(current)
        by_id = {op.id: op for op in operations}
        for op in operations:
            details = op.callback_details
            if (
                op.type == "CALLBACK"
                and op.status == "STARTED"
                and details
                and details.callback_id
                # a callback of an item its decided batch left behind resumes nothing
                and not left_behind(op, by_id.get)
            ):
                found.append((f" {printable(op.name)!r}" if op.name else "", details.callback_id))
        ex = service.store.load(current)
        if ex is not None:
            todo.extend(
                e.child_arn
                for op_id, e in ex.invokes.items()
                if e.child_arn is not None
                and not (op_id in by_id and left_behind(by_id[op_id], by_id.get))
            )
    return found


def _answer_hint(db: str | None, callback_id: str) -> str:
    """The commands that answer a callback, quoted for a shell."""
    command = f"durable-gen callback {{}}{_db_option(db)} {callback_id}"
    return f"`{command.format('succeed')} 'RESULT_JSON'` (or `{command.format('fail')} 'MESSAGE'`)"


def _named_db(args: argparse.Namespace) -> str | None:
    """The database ``--db`` or ``$DURABLE_GEN_DB`` named, or None for the default: the
    commands ``run`` suggests name it, since another terminal (or a variable given on the
    command line alone, ``DURABLE_GEN_DB=x.db durable-gen run ...``) would not have it. A
    relative SQLite path is made absolute: another terminal opens in another folder, where
    ``worker --db data/app.db`` would create an empty database and wait on it for ever."""
    db = str(args.db or os.environ.get("DURABLE_GEN_DB") or "")
    if not db:
        return None
    if db.startswith("sqlite:///") and not db.startswith("sqlite:////"):
        return "sqlite:///" + os.path.abspath(db[len("sqlite:///") :])
    if "://" not in db and not os.path.isabs(db):
        return os.path.abspath(db)
    return db


def _db_option(db: str | None) -> str:
    """`` --db DB`` for a command shown to the user (quoted for a shell, without a password in
    a URL), or nothing when the database is the default."""
    import shlex

    from .local._postgres import redact

    return f" --db {shlex.quote(redact(db))}" if db else ""


def _cmd_start(args: argparse.Namespace) -> int:
    prepared = _prepare_start(args)
    with _worker(args) as worker:
        arn = _start_execution(args, worker, prepared)
    print(arn if args.arn else _short_id(arn))
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    from .local._dbstore import DamagedRecordError
    from .local._text import execution_table

    damaged: list[DamagedRecordError] = []
    with _open_store(args) as store:
        service = _service(store)
        try:
            records = service.list_executions(args.status)
        except DamagedRecordError:
            # One execution's damaged header must not hide the others: list them one by
            # one, and name each damaged one after them (exit status 1).
            records = []
            for arn in store.resolve(""):  # every execution
                try:
                    record = service.get_execution(arn)
                except DamagedRecordError as exc:
                    damaged.append(exc)
                    continue
                if args.status is None or record.status == args.status:
                    records.append(record)
            records.sort(key=lambda r: r.start_timestamp)
    if args.json:
        _write_json(msgspec.json.encode(records).decode())
    elif not records:
        print("no executions" + (f" with status {args.status}" if args.status else ""))
    else:
        sys.stdout.write(execution_table(records))
    for problem in damaged:
        print(f"durable-gen: {type(problem).__name__}: {_one_line(problem)}", file=sys.stderr)
    return EXIT_FAILED if damaged else 0


def _cmd_show(args: argparse.Namespace) -> int:
    from .local._html import render_timeline
    from .local._text import describe_execution

    if args.html is not None and not args.html.strip():
        raise CliError(
            f"--html takes the name of the file to write the timeline to (e.g. --html "
            f"timeline.html), got {args.html!r}"
        )
    with _open_store(args) as store:
        service = _service(store)
        arn = _resolve(store, args.id, _named_db(args))
        record = service.get_execution(arn)
        operations = service.get_operations(arn)
        waiting = service.waiting_on(arn)
        now = service.clock.now_ms()
        events = service.get_history(arn) if args.html is not None else []
    if args.html is not None:
        page = render_timeline(record, operations, now_ms=now, events=events)
        if args.html == "-":  # the page itself on standard output, as other tools take "-"
            if not _stdout_is_utf8():  # the page says it is UTF-8: in ASCII it still is
                page = page.encode("ascii", "xmlcharrefreplace").decode("ascii")
            sys.stdout.write(page)
            return 0
        try:
            Path(args.html).write_text(page, encoding="utf-8")
        except OSError as exc:
            if exc.errno in _DISK_FAILURES:  # not a bad --html: exit status 1, as for stdout
                raise OSError(exc.errno, exc.strerror, args.html) from None
            raise CliError(f"cannot write {args.html}: {exc.strerror}") from None
        count = sum(1 for op in operations if op.type != "EXECUTION")
        print(f"wrote {args.html} ({count} operation{'' if count == 1 else 's'})")
        return 0
    sys.stdout.write(describe_execution(record, operations, waiting, now))
    return 0


def _cmd_history(args: argparse.Namespace) -> int:
    from .local._text import history_lines

    with _open_store(args) as store:
        service = _service(store)
        arn = _resolve(store, args.id, _named_db(args))
        events: list[Event] = service.get_history(arn)
        function_name = service.get_execution(arn).function_name
    if args.json:
        # The response's shape, plus what ``replay_folder`` matches a file to a workflow by.
        exported = {"FunctionName": function_name, "DurableExecutionArn": arn, "Events": events}
        _write_json(msgspec.json.encode(exported).decode())
        return 0
    sys.stdout.write(history_lines(events))
    return 0


def _cmd_callback(args: argparse.Namespace) -> int:
    from ._errors import UnknownCallbackError

    if args.payload == "-" and args.action != "heartbeat":
        # A result too long for a command line (Linux takes at most 128 KiB per argument):
        # `durable-gen callback succeed ID - < result.json`
        args.payload = _read_stdin_payload(args.action)
    with _open_store(args) as store:
        try:
            _answer_callback(args, store)
        except UnknownCallbackError as exc:
            if not str(exc).startswith("no callback has the id"):
                raise
            # Most often an execution's id was given, or the answer went to another
            # database than the execution's
            arns = store.resolve(args.callback_id) if args.callback_id.strip() else []
            if len(arns) == 1:
                ids = [cid for _, cid in _open_callbacks(_service(store), arns[0])]
                waits = f"it waits on callback {', '.join(ids)}" if ids else "it waits on none"
                raise UnknownCallbackError(
                    f"{args.callback_id!r} names an execution ({_short_id(arns[0])}), not a "
                    f"callback: give the CallbackId of the callback to answer ({waits})"
                ) from None
            from .local._engine import padded_hint

            raise UnknownCallbackError(
                f"no callback has the id {shown(args.callback_id)}"
                f"{padded_hint(args.callback_id)} in {store.path}"
                f"{_from_source(args)}: give the CallbackId that `durable-gen show` prints "
                'for the execution (its "waits on" line) or its CallbackStarted event, on '
                "the database the execution is in (--db, or DURABLE_GEN_DB)"
            ) from None
    print(f"callback {args.callback_id}: {args.action} sent")
    return 0


def _answer_callback(args: argparse.Namespace, store: Any) -> None:
    """Send ``args``'s answer to the callback through a service on ``store``."""
    service = _service(store)
    if args.action == "succeed":
        payload = args.payload
        if payload is not None:
            parse_json(payload, "the callback result")
        service.send_callback_success(args.callback_id, payload)
    elif args.action == "fail":
        service.send_callback_failure(args.callback_id, _callback_error(args.payload))
    else:
        if args.payload is not None:  # a result meant for `succeed` would be lost
            raise CliError(
                f"callback heartbeat takes no PAYLOAD, got {args.payload!r}: a heartbeat "
                "carries nothing; send the result with `durable-gen callback succeed "
                f"{args.callback_id} PAYLOAD`"
            )
        service.send_callback_heartbeat(args.callback_id)


def _read_stdin_payload(action: str) -> str:
    """The PAYLOAD ``-`` stands for: standard input, as UTF-8 text, without the line break a
    file or an ``echo`` ends with."""
    what = "the callback result" if action == "succeed" else "the callback failure"
    return _read_stdin(
        what,
        f"PAYLOAD - reads {what}",
        f"durable-gen callback {action} ID - < payload.json",
        "leave PAYLOAD out to send none",
    )


def _read_stdin(what: str, reads: str, example: str, instead: str) -> str:
    """Standard input as UTF-8 text, without the line break a file or an ``echo`` ends with:
    what ``-`` stands for (``reads``: which argument does, ``example``: how to use it,
    ``instead``: what to do when there is nothing to read)."""
    if sys.stdin is None or sys.stdin.isatty():
        raise CliError(
            f"{reads} from standard input, which is a terminal: redirect a file or a pipe "
            f"into it ({example})"
        )
    try:
        data = sys.stdin.buffer.read()
    except OSError as exc:
        raise CliError(f"cannot read {what} from standard input: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CliError(
            f"{what} on standard input is not UTF-8 text (byte {exc.start}): pass UTF-8"
        ) from None
    text = text.removeprefix("\ufeff")  # a byte-order mark some editors write
    if text.endswith("\r\n"):
        text = text[:-2]
    elif text.endswith("\n"):
        text = text[:-1]
    if not text.strip():
        raise CliError(f"standard input is empty: {reads} from it; {instead}")
    return text


def _callback_error(payload: str | None) -> ErrorObject:
    """A failure payload: an ``{"ErrorType": ..., "ErrorMessage": ...}`` object, or a message."""
    if payload is None:
        return ErrorObject(error_type="CallbackFailed", error_message="failed from the CLI")
    try:
        value = json.loads(payload)
    except ValueError:
        value = None
    if not isinstance(value, dict):  # a message (JSON or not, but not an object)
        return ErrorObject(error_type="CallbackFailed", error_message=payload)
    unknown = sorted(set(value) - _ERROR_KEYS)
    if unknown or not value:
        raise CliError(
            f"a failure object takes the keys {', '.join(sorted(_ERROR_KEYS))} (at least one), "
            f"got {', '.join(map(repr, unknown)) or 'none'}; or give a plain message"
        )
    try:
        return msgspec.convert(value, ErrorObject)
    except msgspec.ValidationError as exc:
        raise CliError(
            f"bad failure object: {exc} (ErrorType, ErrorMessage and ErrorData are strings, "
            "StackTrace a list of strings)"
        ) from None


#: What ``callback fail`` takes in a JSON object (the wire names of ``ErrorObject``).
_ERROR_KEYS: Final = frozenset({"ErrorType", "ErrorMessage", "ErrorData", "StackTrace"})


def _cmd_stop(args: argparse.Namespace) -> int:
    with _open_store(args) as store:
        service = _service(store)
        record = service.stop(_resolve(store, args.id, _named_db(args)))
    print(f"execution {_short_id(record.arn)}: {record.status}")
    return 0


def _registered(args: argparse.Namespace) -> dict[str, str]:
    """The functions ``--register NAME=MODULE:FUNCTION`` (``run`` and ``worker``) serves."""
    from .local._worker import import_object

    functions: dict[str, str] = {}
    for item in args.register:
        name, sep, path = item.partition("=")
        if not sep or not name or ":" not in path:
            raise CliError(f"--register takes NAME=MODULE:FUNCTION, got {item!r}")
        if name in functions:
            raise CliError(
                f"--register names {name!r} twice ({functions[name]} and {path}); each NAME "
                "serves one function"
            )
        try:  # here, so that the error names the --register it comes from
            import_object(path)
        except InvalidInputError as exc:
            raise CliError(f"--register {item}: {exc}") from None
        functions[name] = path
    return functions


def _new_sqlite_file(args: argparse.Namespace) -> str | None:
    """The absolute path of the SQLite file the command is about to create, or None when the
    database exists (or is not a SQLite file)."""
    url = _db_url(args)
    path = url[len("sqlite:///") :] if url.startswith("sqlite:///") else url
    if "://" in path or os.path.lexists(path):
        return None
    return os.path.abspath(path)


def _cmd_worker(args: argparse.Namespace) -> int:
    functions = _registered(args)
    if args.skip_time and args.concurrency > 1:
        raise CliError(
            "--skip-time moves one virtual clock, for one execution at a time: leave out "
            "--concurrency (or give --concurrency 1) with it"
        )
    if args.quiet:  # no progress lines, and no warning per failed step attempt either
        logging.getLogger("durable_gen.steps").setLevel(logging.ERROR)
    # SIGTERM (a service manager stopping us) ends the loop after the work in hand; before
    # the worker runs (its database still unreachable, its workflows importing) there is none.
    stopping, started, stop = _graceful_stop(
        "durable-gen worker: SIGTERM: taking no new work; finishing the invocations "
        "in progress, then exiting (SIGKILL stops at once: other workers resume "
        "them from their last checkpoint)"
    )

    from .local._worker import on_sigterm_call

    on_sigterm_call(stop)  # for the whole command: before the worker runs too
    new_file = _new_sqlite_file(args)
    try:
        with _worker(
            args,
            {"lease_seconds": args.lease},
            patience=None if args.once else _PATIENCE,
            stopping=stopping,
            functions=functions,
            poll=args.poll,
            skip_time=args.skip_time,
            concurrency=args.concurrency,
            progress=not args.quiet,
            **_running_options(args),
        ) as worker:
            if worker is not None:  # None: stopped before the database answered
                started.append(worker)
                if new_file is not None:
                    # a mistyped --db (or another folder) would otherwise be served in silence
                    print(
                        f"durable-gen worker: there was no database at {new_file}: created an "
                        "empty one, whose executions it runs; if yours are in another, stop "
                        "this worker and give that one with --db (or DURABLE_GEN_DB)",
                        file=sys.stderr,
                        flush=True,
                    )
                if not stopping.is_set():
                    worker.run(once=args.once)
    except InvalidInputError as exc:
        # A --register path that cannot be imported: the command line was wrong.
        raise CliError(str(exc)) from None
    return 0


# --- parser -----------------------------------------------------------------------------------


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value < math.inf:  # NaN and infinity too: no lease, poll or wait is endless
        raise argparse.ArgumentTypeError(f"must be positive and finite, got {text}")
    return value


def _lease(text: str) -> float:
    from .local._dbstore import MAX_LEASE_SECONDS

    value = _positive(text)
    if value < 1:
        raise argparse.ArgumentTypeError(
            f"must be at least 1 second, got {text}: a shorter lease expires between renewals "
            "and workers take each other's live executions over (default 30)"
        )
    if value > MAX_LEASE_SECONDS:
        raise argparse.ArgumentTypeError(
            f"must be at most {MAX_LEASE_SECONDS} seconds (366 days), got {text}: a lease is "
            "how long a worker that stopped answering keeps its executions from the others "
            "(default 30)"
        )
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {text}")
    return value


def _timeout(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number of seconds: {text!r}") from None
    if not 1 <= value <= MAX_WAIT_SECONDS:
        raise argparse.ArgumentTypeError(
            f"must be whole seconds in 1..{MAX_WAIT_SECONDS} (366 days), got {text}"
        )
    return value


class _Once(argparse.Action):
    """An option that takes one value: given twice, it is a usage error rather than the last
    value silently winning (`--input A ... --input B` would run with B alone)."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        seen: dict[str, str] = namespace.__dict__.setdefault("_once_given", {})
        if self.dest in seen:
            parser.error(
                f"argument {'/'.join(self.option_strings)}: given twice ({seen[self.dest]} "
                f"and {option_string} {str(values)!r}): give it once"
            )
        seen[self.dest] = f"{option_string} {str(values)!r}"
        setattr(namespace, self.dest, values)


class _Parser(argparse.ArgumentParser):
    """argparse, with usage errors on one line (and the exit status of every usage error)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``durable-gen``."""
    common = _Parser(add_help=False)
    common.add_argument(
        "--db",
        action=_Once,
        help=(
            "the database: a SQLite file, sqlite:///FILE or postgresql://USER@HOST/DB "
            f"(default: $DURABLE_GEN_DB, else ./{DEFAULT_DB})"
        ),
    )
    common.add_argument(
        "--lock-timeout",
        action=_Once,
        type=_positive,
        default=5.0,
        metavar="SECONDS",
        help="how long to wait for another process's transaction (default 5)",
    )
    parser = _Parser(prog="durable-gen", description="Run and operate durable_gen workflows.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def starting(p: argparse.ArgumentParser) -> None:
        p.add_argument("workflow", help="MODULE:FUNCTION of the workflow")
        p.add_argument(
            "--input",
            action=_Once,
            help="the workflow input, as JSON (- : read it from standard input)",
        )
        p.add_argument(
            "--name", action=_Once, help="an execution name, unique per workflow (idempotent start)"
        )
        p.add_argument(
            "--timeout", action=_Once, type=_timeout, help="execution timeout in seconds"
        )

    def registering(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--register",
            action="append",
            default=[],
            metavar="NAME=MODULE:FUNCTION",
            help="also serve this function under NAME (an Invoke target); repeatable",
        )

    def running(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--plugin",
            action="append",
            default=[],
            metavar="MODULE:ATTR",
            help=(
                "a Plugin instance (or a class or function returning one) to run with every "
                "workflow, e.g. tracing; repeatable"
            ),
        )
        p.add_argument(
            "--checkpointing",
            action=_Once,
            choices=["step", "eager", "batch"],
            default="step",
            help="when updates are checkpointed (default step)",
        )

    p = sub.add_parser(
        "run", parents=[common], help="run a workflow until it ends (or waits for a callback)"
    )
    starting(p)
    p.add_argument(
        "--skip-time",
        action="store_true",
        help=(
            "skip waits, retry delays and timeouts: a callback with a timeout times out at "
            "once, before anyone can answer it"
        ),
    )
    running(p)
    registering(p)
    p.add_argument("--pretty", action="store_true", help="indent the JSON result")
    p.set_defaults(handler=_cmd_run)

    p = sub.add_parser(
        "start", parents=[common], help="start an execution for a worker; print its id"
    )
    starting(p)
    p.add_argument("--arn", action="store_true", help="print the full ARN instead of the id")
    p.set_defaults(handler=_cmd_start)

    p = sub.add_parser("list", parents=[common], help="list executions")
    p.add_argument(
        "--status",
        action=_Once,
        choices=["RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "STOPPED"],
        help="only the executions with this status",
    )
    p.add_argument("--json", action="store_true", help="print JSON records")
    p.set_defaults(handler=_cmd_list)

    p = sub.add_parser("show", parents=[common], help="show an execution and its operations")
    p.add_argument("id", help="execution ARN, or a unique prefix of its id or name")
    p.add_argument(
        "--html",
        action=_Once,
        metavar="FILE",
        help="write a self-contained HTML timeline (- : to stdout)",
    )
    p.set_defaults(handler=_cmd_show)

    p = sub.add_parser("history", parents=[common], help="the execution's history events")
    p.add_argument("id", help="execution ARN, or a unique prefix of its id or name")
    p.add_argument("--json", action="store_true", help="GetDurableExecutionHistory-shaped JSON")
    p.set_defaults(handler=_cmd_history)

    p = sub.add_parser("callback", parents=[common], help="complete or heartbeat a callback")
    p.add_argument("action", choices=["succeed", "fail", "heartbeat"])
    p.add_argument("callback_id", help="the CallbackId")
    p.add_argument(
        "payload",
        nargs="?",
        help=(
            "succeed: the result as JSON; fail: a message or an {ErrorType, ErrorMessage} "
            "object; - : read it from standard input; left out, succeed sends null and fail "
            "the message 'failed from the CLI'"
        ),
    )
    p.set_defaults(handler=_cmd_callback)

    p = sub.add_parser("stop", parents=[common], help="stop a running execution")
    p.add_argument("id", help="execution ARN, or a unique prefix of its id or name")
    p.set_defaults(handler=_cmd_stop)

    p = sub.add_parser("worker", parents=[common], help="run due executions until interrupted")
    p.add_argument("--once", action="store_true", help="run what is due now, then exit")
    p.add_argument(
        "--poll",
        action=_Once,
        type=_positive,
        default=0.5,
        help="seconds between polls (default 0.5)",
    )
    p.add_argument(
        "--lease",
        action=_Once,
        type=_lease,
        default=30.0,
        help="invocation lease seconds (default 30)",
    )
    registering(p)
    p.add_argument(
        "--skip-time",
        action="store_true",
        help=(
            "skip every timer of the database (waits, retry delays, timeouts; a callback with "
            "a timeout times out at once): for a test database, one execution at a time"
        ),
    )
    running(p)
    p.add_argument(
        "--concurrency",
        action=_Once,
        type=_positive_int,
        default=1,
        metavar="N",
        help="executions run at once (default 1)",
    )
    p.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="report only trouble, not each invocation picked up and finished",
    )
    p.set_defaults(handler=_cmd_worker)
    return parser


def _one_line(exc: BaseException) -> str:
    """An error's message on one line, with what it quotes from the database made harmless."""
    from .local._text import printable

    return printable(str(exc))


def _commands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """The parsers of ``parser``'s commands, by name."""
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def _commands_taking(parser: argparse.ArgumentParser, option: str) -> list[str]:
    """The commands of ``parser`` that take ``option`` (``--db``: every one)."""
    return [
        name
        for name, sub in _commands(parser).items()
        if option in sub._option_string_actions and option not in ("-h", "--help")
    ]


#: Commands a user may look for, and the command that does their job.
_AGAIN: Final = (
    "an execution that ended (or was stopped) stays as it ended; run its workflow again as a "
    "new execution with `durable-gen start MODULE:WORKFLOW --input JSON` (its workflow and "
    "input are in `durable-gen show ID`); a RUNNING one resumes by itself under "
    "`durable-gen worker`"
)
_KEPT: Final = (
    "executions are kept, ended ones included, and no command deletes them; `durable-gen "
    "list --status` picks the ones to look at, and a new database (--db NEW.db) starts afresh"
)
_ELSEWHERE: Final[dict[str, str]] = {
    "export": (
        "an execution's history is exported with `durable-gen history ID --json > FILE` "
        "(what durable_gen.testing.replay and replay_folder read)"
    ),
    "timeline": "an execution's timeline is `durable-gen show ID --html FILE`",
    "status": "an execution's status is in `durable-gen show ID` (or `durable-gen list`)",
    "cancel": "an execution is stopped with `durable-gen stop ID`",
    "terminate": "an execution is stopped with `durable-gen stop ID`",
    "ls": "executions are listed with `durable-gen list`",
    "retry": _AGAIN,
    "rerun": _AGAIN,
    "resume": (
        "a RUNNING execution resumes by itself under `durable-gen worker`, which runs "
        "whatever is due (a stopped or ended one is not run again)"
    ),
    "delete": _KEPT,
    "rm": _KEPT,
    "prune": _KEPT,
}


class _LossyStream:
    """stderr, losing what cannot be written rather than raising: a reader gone away
    (``durable-gen run ... 2>&1 | head``, a log collector that stopped) must not turn a
    line about the execution into the command's end, ``run`` leaving its execution
    undriven with exit status 0 (its messages, a suspended run's status 3, a failed one's
    1, and the result on stdout still come as without the line)."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        with contextlib.suppress(OSError, ValueError):
            self._stream.write(text)
        return len(text)

    def flush(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self._stream.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _tolerant_stdout() -> None:
    """Let standard output write what its encoding cannot as ``\\u2192``-style escapes, as
    Python's stderr does, rather than end the command in a ``UnicodeEncodeError`` traceback
    (``show`` prints a ``→``; results and names may hold any character). The JSON and HTML
    outputs escape every character past ASCII in their own syntax before they get there."""
    if not _stdout_is_utf8() and isinstance(sys.stdout, io.TextIOWrapper):
        with contextlib.suppress(ValueError):  # a closed stream: its write fails as before
            sys.stdout.reconfigure(errors="backslashreplace")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``durable-gen``."""
    parser = build_parser()
    given = list(sys.argv[1:] if argv is None else argv)
    if given and given[0].startswith("-") and given[0] not in ("-h", "--help"):
        option = given[0].split("=", 1)[0]
        takes = _commands_taking(parser, option)
        if not takes:
            # `durable-gen --version`: no command takes it, so "put it after the command" would
            # send the user to another usage error
            parser.error(f"unknown option {option}: no command takes it")
        # argparse would take the option's value for the command ("invalid choice: '3'")
        command = next((arg for arg in given if arg in takes), "COMMAND")
        parser.error(
            f"options go after the command: durable-gen {command} {given[0]} ... "
            f"({option} is an option of {', '.join(takes)})"
        )
    if given and given[0] == "migrate":
        # Schema upgrades come with opening the database, so an operator's habit of migrating
        # before rolling out workers needs no command of its own.
        parser.error(
            "there is no migrate command: the first command or worker of a newer durable_gen "
            "that opens a database brings its schema up to date (durable-gen list --db DB "
            "does it, on a database that exists); restart the workers afterwards"
        )
    if given and given[0] in _ELSEWHERE:
        # what a user of other workflow tools types first: the same job has another name here
        parser.error(f"there is no {given[0]} command: {_ELSEWHERE[given[0]]}")
    args, extra = parser.parse_known_args(given)
    if extra:
        # Say so with the command's own usage (`durable-gen run --help` lists its options),
        # as argparse does for the command's other errors.
        _commands(parser)[args.command].error(f"unrecognized arguments: {' '.join(extra)}")
    # The Postgres driver's pool logs each failed connection attempt and each connection it
    # drops; the command's own one-line error says what matters.
    logging.getLogger("psycopg").setLevel(logging.CRITICAL)
    _tolerant_stdout()
    stderr = sys.stderr
    if stderr is not None and not isinstance(stderr, _LossyStream):
        sys.stderr = _LossyStream(stderr)
    try:
        return _main(args)
    finally:
        sys.stderr = stderr


def _main(args: argparse.Namespace) -> int:
    try:
        _check_text(args)
        code: int = args.handler(args)
        sys.stdout.flush()  # a write error shows here, not as a traceback at exit
        return code
    except ValidationError as exc:
        print(f"durable-gen: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except DurableGenError as exc:
        print(f"durable-gen: {type(exc).__name__}: {_one_line(exc)}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("durable-gen: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except ImportError as exc:
        # An optional dependency the command needs is not installed (a postgresql:// database
        # without psycopg): its message names the extra to install. The user's own modules
        # (workflows, plugins) failing to import are usage errors, caught where loaded.
        print(f"durable-gen: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_FAILED
    except BrokenPipeError:
        # The reader went away (`durable-gen history ID | head`): not an error of ours.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:
        # Output that cannot be written (a full disk under `> out.json`), or another I/O
        # failure outside the store, whose own errors are StoreErrors.
        where = f" {exc.filename}" if exc.filename else " the output"
        print(
            f"durable-gen: error: cannot write{where}: {exc.strerror or exc} (the command may "
            "have done its work: check with durable-gen show or list)",
            file=sys.stderr,
        )
        with contextlib.suppress(OSError):  # what stays in the buffer would fail again at exit
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
