"""The durable_gen handlers of the conformance requirements, one module per suite.

Each module maps requirement keys to workflows in ``HANDLERS``; it may also list ``FUNCTIONS``
(``Invoke`` targets: name -> workflow or plain function), ``CHECKPOINTING`` (requirement key
-> checkpoint mode, where the default ``"step"`` mode cannot produce the expected history) and
``PLUGINS`` (requirement key -> a function making fresh plugin instances for one run).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from durable_gen import CheckpointMode, Plugin

from ._support import ATTEMPTS

__all__ = ["SUITES", "Handler", "functions", "handler_for", "reset"]

#: Suite directory name -> module in this package.
SUITES = (
    "step",
    "wait",
    "callback",
    "child",
    "invoke",
    "map",
    "parallel",
    "wait_for_callback",
    "wait_for_condition",
    "plugin",
)


@dataclass(frozen=True)
class Handler:
    """What the runner registers for one requirement."""

    workflow: Callable[..., Any]
    checkpointing: CheckpointMode = "step"
    #: Makes the plugins of one run (plugins keep per-execution state, so never shared).
    plugins: Callable[[], list[Plugin]] = list


def _module(suite: str) -> ModuleType | None:
    if suite not in SUITES:
        return None
    try:
        return importlib.import_module(f"{__name__}.{suite}")
    except ModuleNotFoundError as exc:
        if exc.name == f"{__name__}.{suite}":
            return None
        raise


def handler_for(suite: str, key: str) -> Handler | None:
    """The handler of requirement ``suite/key``, or None when it is not written yet."""
    module = _module(suite)
    if module is None:
        return None
    workflow = getattr(module, "HANDLERS", {}).get(key)
    if workflow is None:
        return None
    mode = getattr(module, "CHECKPOINTING", {}).get(key, "step")
    plugins = getattr(module, "PLUGINS", {}).get(key, list)
    return Handler(workflow, mode, plugins)


def functions() -> dict[str, Callable[..., Any]]:
    """Every ``Invoke`` target of every suite, by function name."""
    out: dict[str, Callable[..., Any]] = {}
    for suite in SUITES:
        module = _module(suite)
        if module is not None:
            out.update(getattr(module, "FUNCTIONS", {}))
    return out


def reset() -> None:
    """Forget the state handlers keep across invocations (call before each requirement)."""
    ATTEMPTS.reset()
