"""Handlers of the ``plugin`` requirements (10-x): instrumentation hooks, seen in the logs.

``ConfPlugin`` is the plugin the requirements describe: each hook it is asked for prints one JSON
record to stdout, ``{"plugin": <name>, "hook": <hook>, ...}``, stamped with the
``durableExecutionArn`` its ``on_invocation_start`` received (the published runner retrieves a
run's records by that field). Operation and attempt records carry ``op``, the operation id, and
keep to steps (attempts are only ever step attempts). Status tokens are those the hooks receive:
``SUCCEEDED``, ``FAILED`` and ``PENDING``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection
from typing import Any, Final

import durable_gen as dg

from ._support import ATTEMPTS

log = dg.get_logger(__name__)

INVOCATION_HOOKS: Final = frozenset({"invocation-start", "invocation-end"})
OPERATION_HOOKS: Final = frozenset({"operation-start", "operation-end"})
ATTEMPT_HOOKS: Final = frozenset({"attempt-start", "attempt-end"})
ALL_HOOKS: Final = INVOCATION_HOOKS | OPERATION_HOOKS | ATTEMPT_HOOKS


class PluginFault(Exception):
    """What the faulty plugin of 10-4 raises from every hook."""


class ConfPlugin(dg.Plugin):
    """Prints a JSON record from each hook in ``hooks``.

    ``first=False`` leaves the ``first`` flag out of invocation-start records (10-5);
    ``faulty=True`` prints only ``plugin`` and ``hook`` (and the ARN), then raises
    ``PluginFault``, from every hook (10-4).
    """

    def __init__(
        self,
        name: str = "CONFPLUGIN",
        hooks: Collection[str] = INVOCATION_HOOKS,
        *,
        first: bool = True,
        faulty: bool = False,
    ) -> None:
        self.name = name
        self.hooks = frozenset(hooks)
        self.first = first
        self.faulty = faulty
        self.arn: str | None = None

    def __repr__(self) -> str:
        return f"ConfPlugin({self.name!r})"

    def _record(self, hook: str, **fields: Any) -> None:
        if hook in self.hooks:
            record: dict[str, Any] = {"plugin": self.name, "hook": hook}
            if not self.faulty:
                record.update(fields)
            record["durableExecutionArn"] = self.arn
            print(json.dumps(record), flush=True)
        if self.faulty:
            raise PluginFault(f"{self.name} fails in {hook}")

    def on_invocation_start(self, info: dg.InvocationInfo) -> None:
        self.arn = info.execution_arn
        if self.first:
            self._record("invocation-start", first=info.first)
        else:
            self._record("invocation-start")

    def on_invocation_end(self, info: dg.InvocationInfo, status: str) -> None:
        self._record("invocation-end", status=status)

    def on_operation_start(self, op: dg.OperationInfo) -> None:
        if op.type == "STEP":
            self._record("operation-start", op=op.operation_id)

    def on_operation_end(self, op: dg.OperationInfo, status: str) -> None:
        if op.type == "STEP":
            self._record("operation-end", op=op.operation_id, status=status)

    def on_attempt_start(self, attempt: dg.AttemptInfo) -> None:
        self._record("attempt-start", n=attempt.attempt, op=attempt.operation_id)

    def on_attempt_end(
        self, attempt: dg.AttemptInfo, outcome: str, error: BaseException | None
    ) -> None:
        self._record("attempt-end", n=attempt.attempt, outcome=outcome, op=attempt.operation_id)


@dg.step
def greet(name: str) -> str:
    log.info("Greeting step running for: %s", name)
    return f"Hello, {name}!"


@dg.workflow
def greeting(event: str):  # 10-1, 10-2, 10-4, 10-5
    return (yield greet(event))


@dg.step(retry=dg.Retry(max_attempts=2, initial_delay=1, backoff=1, jitter="none"))
def unreliable() -> str:
    if ATTEMPTS.next("10-3") == 1:
        raise RuntimeError("transient failure")
    return "Operation succeeded"


@dg.workflow
def retried_step(_event: None):  # 10-3
    return (yield unreliable())


@dg.workflow
def single_wait(_event: None):  # 10-6
    yield dg.Wait(seconds=2)


@dg.step(retry=dg.Retry.never())
def always_fails() -> None:
    raise RuntimeError("step failed")


@dg.workflow
def failing_step(_event: None):  # 10-7
    yield always_fails()


HANDLERS = {
    "10-1": greeting,
    "10-2": greeting,
    "10-3": retried_step,
    "10-4": greeting,
    "10-5": greeting,
    "10-6": single_wait,
    "10-7": failing_step,
}

PLUGINS: dict[str, Callable[[], list[dg.Plugin]]] = {
    "10-1": lambda: [ConfPlugin()],
    "10-2": lambda: [ConfPlugin(hooks=OPERATION_HOOKS)],
    "10-3": lambda: [ConfPlugin(hooks=ATTEMPT_HOOKS)],
    "10-4": lambda: [ConfPlugin("CONFPLUGIN-FAULTY", ALL_HOOKS, faulty=True)],
    "10-5": lambda: [
        ConfPlugin("CONFPLUGIN-A", first=False),
        ConfPlugin("CONFPLUGIN-B", first=False),
    ],
    "10-6": lambda: [ConfPlugin()],
    "10-7": lambda: [ConfPlugin()],
}
