"""A replay-aware logger for workflow code: it emits while executing, stays silent in replay.

Records carry the execution ARN so that logs of one execution can be found together.
"""

from __future__ import annotations

import logging
from typing import Any

from ._context import current

__all__ = ["ReplayAwareLogger", "get_logger"]


class ReplayAwareLogger:
    """Wraps a ``logging.Logger``; messages logged while replaying are dropped.

    Outside workflow code (a step, a test) it always emits.
    """

    __slots__ = ("logger",)

    def __init__(self, logger: logging.Logger) -> None:
        self.logger = logger

    def _log(self, level: int, msg: object, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        running = current()
        if running is not None:
            if running.replaying:
                return
            extra = kwargs.setdefault("extra", {})
            extra.setdefault("execution_arn", running.execution_arn)
        if self.logger.isEnabledFor(level):
            kwargs.setdefault("stacklevel", 3)
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


def get_logger(name: str = "durable_gen.workflow") -> ReplayAwareLogger:
    """A replay-aware logger named ``name``."""
    return ReplayAwareLogger(logging.getLogger(name))
