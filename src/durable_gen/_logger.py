"""A replay-aware logger: each line of workflow code once per execution, with its execution.

Rules:

1. In workflow code, a line is dropped while the code that logs it already ran in an earlier
   invocation (its context still has recorded operations not reached again); code past them
   is new and logs, whatever resumed it (a wait, a callback, an invoke, a retry, a child, a Map
   item or a Parallel branch). ``log_during_replay=True`` logs in replay too, with
   ``replaying: True`` in the record.
2. In step code, a line always logs (a step runs only when it is not replayed) and names the
   operation: ``operationId``, ``operationName``, ``attempt``.
3. Every record of an execution carries ``durableExecutionArn`` (and ``executionArn``, the key
   AWS's SDK writes, and ``execution_arn``, the name of earlier versions) as extra fields:
   Lambda's JSON log format writes them as top-level keys, which is what CloudWatch filters
   such as ``{ $.durableExecutionArn = "arn:..." }`` select on. A step's record also names
   the context it runs in (``parentId``), as AWS's SDK does.
4. Outside workflow and step code it is a plain logger.
5. Every failed step attempt is logged once, at WARNING on ``durable_gen.steps``, by the
   interpreter that decides what follows (a retry and its delay, or the step's failure): so
   every host logs it, the drivers and a runtime of one's own alike. Replays record no
   attempt, so they log nothing again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from logging import Filter, Handler, LogRecord

from ._arguments import checked
from ._context import STEP, current
from ._errors import ValidationError, failure_text, shown
from ._failure import exception_attr, log_message

__all__ = [
    "ReplayAwareLogger",
    "failed_attempts_logged",
    "get_logger",
    "log_failed_attempt",
    "step_log",
]

#: Where failed step attempts are logged (WARNING), once each.
step_log: Final = logging.getLogger("durable_gen.steps")


class ReplayAwareLogger:
    """Wraps a ``logging.Logger``: lines of replayed workflow code are dropped (see the rules).

    Args:
        logger: The logger to write to.
        log_during_replay: Log replayed lines too (marked ``replaying: True``).
    """

    __slots__ = ("log_during_replay", "logger")

    @checked
    def __init__(self, logger: logging.Logger, *, log_during_replay: bool = False) -> None:
        if not isinstance(logger, logging.Logger):
            raise ValidationError(
                f"ReplayAwareLogger wraps a logging.Logger, got {type(logger).__name__}: write "
                "ReplayAwareLogger(logging.getLogger(name)), or dg.get_logger(name)"
            )
        if not isinstance(log_during_replay, bool):
            raise ValidationError(
                f"log_during_replay must be True or False, got {shown(log_during_replay)}"
            )
        self.logger = logger
        self.log_during_replay = log_during_replay

    def _log(self, level: int, msg: object, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        if not self.logger.isEnabledFor(level):
            return
        fields: dict[str, Any]
        running = current()
        if running is not None:
            replaying = running.replaying
            if replaying and not self.log_during_replay:
                return
            arn = running.execution_arn
            fields = {"durableExecutionArn": arn, "executionArn": arn, "execution_arn": arn}
            if replaying:
                fields["replaying"] = True
        else:
            step = STEP.get()
            if step is None:
                fields = {}
            else:
                arn, task = step
                fields = {
                    "durableExecutionArn": arn,
                    "executionArn": arn,
                    "execution_arn": arn,
                    "operationId": task.operation_id,
                    "operationName": task.name,
                    "attempt": task.attempt,
                }
                parent = getattr(task, "parent_id", None)
                if parent is not None:
                    fields["parentId"] = parent
        if fields:
            # a copy: the caller's dict (a LoggerAdapter's ``extra``, a module constant) is
            # reused for other lines, which would keep this line's execution and operation
            given = kwargs.get("extra")
            kwargs["extra"] = {**fields, **given} if given else fields
        # the caller's stacklevel counts from its own frame: skip this method and the level's
        kwargs["stacklevel"] = kwargs.get("stacklevel", 1) + 2
        self.logger.log(level, msg, *args, **kwargs)

    def debug(self, msg: object, *args: Any, **kwargs: Any) -> None:
        self._log(logging.DEBUG, msg, args, kwargs)

    def info(self, msg: object, *args: Any, **kwargs: Any) -> None:
        self._log(logging.INFO, msg, args, kwargs)

    def warning(self, msg: object, *args: Any, **kwargs: Any) -> None:
        self._log(logging.WARNING, msg, args, kwargs)

    def error(self, msg: object, *args: Any, **kwargs: Any) -> None:
        self._log(logging.ERROR, msg, args, kwargs)

    def exception(self, msg: object, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("exc_info", True)
        self._log(logging.ERROR, msg, args, kwargs)

    def critical(self, msg: object, *args: Any, **kwargs: Any) -> None:
        self._log(logging.CRITICAL, msg, args, kwargs)

    fatal = critical

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        """Log at ``level`` (an int, as ``logging.Logger.log`` takes)."""
        self._log(level, msg, args, kwargs)

    @property
    def name(self) -> str:
        """The wrapped logger's name."""
        return self.logger.name

    def isEnabledFor(self, level: int) -> bool:
        return self.logger.isEnabledFor(level)

    def setLevel(self, level: int | str) -> None:
        self.logger.setLevel(level)

    # What configures the wrapped logger, as ``logging.Logger`` spells it.

    @property
    def level(self) -> int:
        """The wrapped logger's own level (``logging.NOTSET``: its parent's applies)."""
        return self.logger.level

    @property
    def handlers(self) -> list[Handler]:
        """The wrapped logger's handlers."""
        return self.logger.handlers

    def getEffectiveLevel(self) -> int:
        return self.logger.getEffectiveLevel()

    def addHandler(self, handler: Handler) -> None:
        self.logger.addHandler(handler)

    def removeHandler(self, handler: Handler) -> None:
        self.logger.removeHandler(handler)

    def hasHandlers(self) -> bool:
        return self.logger.hasHandlers()

    def addFilter(self, filter: Filter | Callable[[LogRecord], Any]) -> None:
        self.logger.addFilter(filter)

    def removeFilter(self, filter: Filter | Callable[[LogRecord], Any]) -> None:
        self.logger.removeFilter(filter)

    def getChild(self, suffix: str) -> ReplayAwareLogger:
        """A replay-aware logger for the child ``suffix``, with this one's ``log_during_replay``."""
        return ReplayAwareLogger(
            self.logger.getChild(suffix), log_during_replay=self.log_during_replay
        )

    if not TYPE_CHECKING:  # a type checker still reports a misspelt method

        def __getattr__(self, name: str) -> Any:
            raise AttributeError(_no_attribute(self, name))

    def __setattr__(self, name: str, value: Any) -> None:
        if name in ReplayAwareLogger.__slots__:
            object.__setattr__(self, name, value)
            return
        # ``log.propagate = False``, ``log.level = ...``: configure the wrapped logger, which is
        # what the assignment meant (setting it here would configure nothing)
        setter = "setLevel(...)" if name == "level" else f"{name} = ..."
        raise AttributeError(
            f"ReplayAwareLogger has no attribute {name!r} to set: the logging.Logger it wraps "
            f"is its .logger (write log.logger.{setter})"
        )


def _no_attribute(log: ReplayAwareLogger, name: str) -> str:
    """Why ``log.<name>`` is not there, and what to write instead."""
    if name == "warn":  # logging through .logger would not be replay-aware
        return (
            "ReplayAwareLogger has no attribute 'warn' (a deprecated alias of warning in "
            "logging.Logger): write log.warning(...)"
        )
    if name.startswith("__"):  # copy, pickle and friends probing for optional protocols
        return f"ReplayAwareLogger has no attribute {name!r}"
    try:
        wrapped = object.__getattribute__(log, "logger")
    except AttributeError:
        return f"ReplayAwareLogger has no attribute {name!r}"
    if hasattr(wrapped, name):
        note = (
            "; what it logs is not replay-aware and carries no execution fields"
            if callable(getattr(wrapped, name))
            else ""
        )
        return (
            f"ReplayAwareLogger has no attribute {name!r}: the logging.Logger it wraps is "
            f"its .logger (write log.logger.{name}{note})"
        )
    import difflib

    names = [n for n in dir(ReplayAwareLogger) if not n.startswith("_")]
    close = difflib.get_close_matches(name, names, n=1)
    hint = f": did you mean {close[0]}?" if close else ""
    return f"ReplayAwareLogger has no attribute {name!r}, nor has a logging.Logger{hint}"


@checked
def get_logger(
    name: str = "durable_gen.workflow", *, log_during_replay: bool = False
) -> ReplayAwareLogger:
    """A replay-aware logger named ``name`` (see ``ReplayAwareLogger``).

    Raises:
        ValidationError: ``name`` is not a string (to wrap a ``logging.Logger`` itself, use
            ``ReplayAwareLogger(logger)``), or ``log_during_replay`` is not a bool.
    """
    if not isinstance(name, str):
        wrap = " (to wrap a Logger, write ReplayAwareLogger(logger))"
        raise ValidationError(
            f"get_logger takes a logger's name, a str such as __name__, got "
            f"{type(name).__name__}{wrap if isinstance(name, logging.Logger) else ''}"
        )
    return ReplayAwareLogger(logging.getLogger(name), log_during_replay=log_during_replay)


def failed_attempts_logged() -> bool:
    """Whether ``durable_gen.steps`` takes WARNING records (else nothing is worth building)."""
    return step_log.isEnabledFor(logging.WARNING)


def log_failed_attempt(
    execution_arn: str,
    operation_id: str,
    name: str | None,
    attempt: int,
    error: BaseException,
    retry_delay: int | None,
    parent_id: str | None = None,
    item: str | None = None,
) -> None:
    """Log one failed step attempt with what follows: ``retry_delay`` seconds, or None (the
    step failed for good). The record carries the fields of every record logged in the step
    (``parentId`` when the step runs in a context), and the error type and the delay.
    ``item`` says which item of which ``Map``/``Parallel`` the step runs in: the line names
    it after the step (items of one batch run the same step)."""
    then = f"retrying in {retry_delay} s" if retry_delay is not None else "not retried"
    error_type = exception_attr(error, "error_type") or type(error).__name__
    fields: dict[str, Any] = {
        "durableExecutionArn": execution_arn,
        "executionArn": execution_arn,
        "execution_arn": execution_arn,
        "operationId": operation_id,
        "operationName": name,
        "attempt": attempt,
        "errorType": error_type,
        "nextAttemptDelaySeconds": retry_delay,
    }
    if parent_id is not None:
        fields["parentId"] = parent_id
    if item is not None:
        fields["batchItem"] = item
    step_log.warning(
        # an unnamed step (a plain function or a lambda) is told by its operation id
        "step %r%s attempt %d failed: %s; %s"
        if name
        else "unnamed step (operation %s)%s attempt %d failed: %s; %s",
        name or operation_id,
        f" ({item})" if item is not None else "",
        attempt,
        failure_text(str(error_type), _one_line(log_message(error))),
        then,
        extra=fields,
    )


def _one_line(text: str) -> str:
    """``text`` as one line a terminal shows as is: line breaks, controls and bidirectional
    overrides written as escapes (an error message is whatever the step raised)."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
