"""Map, Parallel and sagas in the interpreter: contexts that hold other contexts.

Pure. The completion policy itself is ``durable_gen._batch.decide``; this module applies it:

1. A Map or Parallel is a CONTEXT (subtype ``Map``/``Parallel``); each item or branch is a
   child CONTEXT (``MapIteration``/``ParallelBranch``) numbered from 0 under it. With
   ``nesting="flat"`` items record no context: their operations belong to the batch.
2. Items start in index order while ``max_concurrency`` allows; after each item completes the
   policy decides whether the batch is done. Items still running when it is decided are
   abandoned; the result lists them as STARTED, those never started as NOT_STARTED.
3. Results are in index order, whatever the completion order. A completed batch answers from
   its record (rule 3 of ``_interpreter_core``) unless it was recorded with ``ReplayChildren``;
   then its items are rebuilt from their own records, and none runs again.
4. ``RunCompensations`` runs the undos registered by the fiber's steps, last first, each as a
   CONTEXT/Compensation holding one step; a failed undo is reported and the rest still run.
   The helper fiber uses the caller's position counter, so ids stay positional.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import msgspec

from ._batch import BatchItem, BatchResult, decide
from ._codec import decode_batch, item_types
from ._commands import (
    Branch,
    Command,
    CompensationResult,
    Map,
    Parallel,
    Retry,
    RunCompensations,
    StepFunction,
    _fn_name,
)
from ._errors import (
    ChildFailedError,
    InvalidInputError,
    OperationError,
    SerializationError,
    StepFailedError,
)
from ._failure import error_object, raise_error
from ._ids import operation_id
from ._interpreter_core import BLOCKED, Answer, Core, Fatal, Fiber, Gen, generator, one_step, plain
from ._serdes import dumps, loads
from ._wire import TERMINAL_STATUSES, ErrorObject

__all__ = ["BatchHandlers", "Compensate"]


class _Batch:
    """The live state of one Map or Parallel."""

    __slots__ = (
        "cmd",
        "done",
        "fiber",
        "item_types",
        "names",
        "next",
        "op_id",
        "outcomes",
        "reason",
        "rebuild",
        "running",
        "sub_type",
        "succeeded",
        "units",
    )

    def __init__(
        self,
        cmd: Map[Any] | Parallel[Any],
        fiber: Fiber,
        op_id: str,
        sub_type: str,
        units: list[Callable[[], Gen]],
        names: list[str],
        rebuild: bool,
    ) -> None:
        self.cmd = cmd
        self.fiber = fiber
        self.op_id = op_id
        self.sub_type = sub_type
        self.units = units
        self.names = names
        self.next = 0
        self.running: dict[int, Fiber] = {}
        self.outcomes: dict[int, BatchItem[Any]] = {}
        self.rebuild = rebuild
        self.done = False
        self.reason: str | None = None
        self.succeeded = 0
        #: What each item's result decodes into (one type, or one per branch).
        self.item_types: Any = Any if cmd.item_serdes is not None else item_types(cmd)

    def item_type(self, i: int) -> Any:
        """The declared type of item ``i``'s result."""
        types = self.item_types
        return types[i] if isinstance(types, list) else types


class Compensate(Command[Any], frozen=True):
    """One undo, run as a CONTEXT/Compensation holding one step (internal)."""

    fn: Callable[[Any], Any]
    value: Any
    name: str | None
    retry: Retry | None


class BatchHandlers(Core):
    """The handlers of ``Map``, ``Parallel``, ``RunCompensations`` and one compensation."""

    # --- sagas --------------------------------------------------------------------------------

    def _on_compensations(self, fiber: Fiber, cmd: RunCompensations) -> Answer:
        undo, fiber.undo = fiber.undo, []

        # The helper runs in the caller's namespace: it takes over the caller's counter while
        # the caller is blocked, and hands it back when done.
        def done(helper: Fiber, value: Any, exc: BaseException | None) -> None:
            fiber.n = helper.n
            self._ready.append((fiber, value, exc))

        helper = Fiber(_compensate(undo, cmd.retry), fiber.ctx_id, done)
        helper.parent_id = fiber.parent_id
        helper.n = fiber.n
        self._ready.append((helper, None, None))
        return BLOCKED

    def _on_compensate(self, fiber: Fiber, cmd: Compensate) -> Answer:
        op_id, rec = self._position(fiber, "CONTEXT", "Compensation", cmd.name)
        fn, value, name, retry = cmd.fn, cmd.value, cmd.name, cmd.retry
        return self._enter_context(
            fiber,
            op_id,
            rec,
            "Compensation",
            cmd.name,
            lambda: one_step(fn, (value,), name, retry),
            None,
            StepFailedError,
        )

    # --- Map and Parallel -----------------------------------------------------------------------

    def _on_batch(self, fiber: Fiber, cmd: Map[Any] | Parallel[Any]) -> Answer:
        is_map = isinstance(cmd, Map)
        sub_type = "Map" if is_map else "Parallel"
        op_id, rec = self._position(fiber, "CONTEXT", sub_type, cmd.name)
        rebuild = False
        if rec is not None:
            d = rec.context_details
            if rec.status == "SUCCEEDED":
                if not (d and d.replay_children):
                    return (self._decode_batch(d.result if d else None, cmd), None)
                rebuild = True
            elif rec.status in TERMINAL_STATUSES:
                return (None, raise_error(ChildFailedError, d.error if d else None))
        else:
            self._updates.append(
                self._context_update(op_id, fiber.parent_id, sub_type, cmd.name, "START")
            )
        units, names = _batch_units(cmd)
        batch = _Batch(cmd, fiber, op_id, sub_type, units, names, rebuild)
        self._expanded.add(op_id)
        self._fill(batch)
        if batch.done:
            return self._batch_result_now(batch)
        return BLOCKED

    def _decode_batch(self, payload: str | None, cmd: Map[Any] | Parallel[Any]) -> Any:
        if cmd.serdes is not None:
            return loads(payload, cmd.serdes)
        try:
            return decode_batch(payload, item_types(cmd), what=f"the result of {cmd.name!r}")
        except SerializationError as exc:
            raise Fatal(
                InvalidInputError(f"a recorded Map/Parallel result is not a batch result: {exc}")
            ) from exc

    def _fill(self, batch: _Batch) -> None:
        """Start items in index order while the concurrency limit and the policy allow."""
        cmd = batch.cmd
        limit = cmd.max_concurrency
        total = len(batch.units)
        item_type = "MapIteration" if batch.sub_type == "Map" else "ParallelBranch"
        while not batch.done and batch.next < total:
            if limit is not None and len(batch.running) >= limit:
                return
            i = batch.next
            batch.next += 1
            iter_id = operation_id(batch.op_id, i)
            name = batch.names[i]
            if cmd.nesting == "flat":  # virtual item contexts: nothing recorded for them
                self._start_item(batch, i, iter_id, name, item_type, replay_children=True)
                batch.running[i].parent_id = batch.op_id
                continue
            rec = self._match(iter_id, batch.op_id, "CONTEXT", item_type, name, i)
            if rec is not None and rec.status in TERMINAL_STATUSES:
                d = rec.context_details
                if rec.status == "SUCCEEDED" and not (d and d.replay_children):
                    try:
                        value = loads(
                            d.result if d else None,
                            cmd.item_serdes,
                            type_=batch.item_type(i),
                            what=f"the result of {name!r}",
                        )
                    except SerializationError as exc:
                        self._item_done(
                            batch, i, None, error_object(exc, aws_types=self._aws_types)
                        )
                    else:
                        self._item_done(batch, i, value, None)
                    continue
                if rec.status != "SUCCEEDED":
                    self._item_done(batch, i, None, (d.error if d else None) or ErrorObject())
                    continue
            elif batch.rebuild:
                continue  # never completed before the batch was decided
            if rec is None:
                self._updates.append(
                    self._context_update(iter_id, batch.op_id, item_type, name, "START")
                )
            self._start_item(
                batch,
                i,
                iter_id,
                name,
                item_type,
                replay_children=rec is not None and rec.status == "SUCCEEDED",
            )
        if not batch.done and not batch.running and batch.next >= total:
            self._finish_batch(batch, "ALL_COMPLETED")

    def _start_item(
        self, batch: _Batch, i: int, iter_id: str, name: str, item_type: str, replay_children: bool
    ) -> None:
        serdes = batch.cmd.item_serdes

        def done(child: Fiber, value: Any, exc: BaseException | None) -> None:
            batch.running.pop(i, None)
            if batch.done:
                return
            result, err = self._settle_context(
                iter_id, batch.op_id, item_type, name, serdes, value, exc,
                record=not replay_children, type_=batch.item_type(i),
            )  # fmt: skip
            self._item_done(batch, i, result, err)
            if not batch.done:
                self._fill(batch)
            if batch.done:
                answer = self._batch_result_now(batch)
                self._ready.append((batch.fiber, answer[0], answer[1]))

        self._expanded.add(iter_id)
        child = Fiber(generator(batch.units[i]), iter_id, done)
        batch.running[i] = child
        self._ready.append((child, None, None))

    def _item_done(self, batch: _Batch, i: int, value: Any, err: ErrorObject | None) -> None:
        if err is None:
            batch.succeeded += 1
            batch.outcomes[i] = BatchItem(
                index=i, status="SUCCEEDED", result=value, name=batch.names[i]
            )
        else:
            batch.outcomes[i] = BatchItem(index=i, status="FAILED", error=err, name=batch.names[i])
        if batch.rebuild:
            return
        succeeded = batch.succeeded
        failed = len(batch.outcomes) - succeeded
        reason = decide(batch.cmd.completion, len(batch.units), succeeded, failed)
        if reason is not None and (reason != "ALL_COMPLETED" or not batch.running):
            self._finish_batch(batch, reason)

    def _finish_batch(self, batch: _Batch, reason: str) -> None:
        batch.done = True
        batch.reason = reason
        for fiber in batch.running.values():
            self._abandon(fiber)

    def _batch_result_now(self, batch: _Batch) -> tuple[Any, BaseException | None]:
        items = []
        for i in range(len(batch.units)):
            item = batch.outcomes.get(i)
            if item is None:
                status = "STARTED" if i < batch.next else "NOT_STARTED"
                item = BatchItem(index=i, status=status, name=batch.names[i])  # type: ignore[arg-type]
            items.append(item)
        reason = batch.reason or "ALL_COMPLETED"
        result = BatchResult(items=items, completion_reason=reason)  # type: ignore[arg-type]
        cmd = batch.cmd
        try:
            payload = dumps(
                result,
                cmd.serdes,
                what=f"the result of {batch.sub_type} {cmd.name!r}",
                format=self.payload_format,
            )
        except SerializationError as exc:
            err = error_object(exc, aws_types=self._aws_types)
            if not batch.rebuild:
                self._updates.append(
                    self._context_update(
                        batch.op_id,
                        batch.fiber.parent_id,
                        batch.sub_type,
                        cmd.name,
                        "FAIL",
                        error=err,
                    )
                )
            return (None, raise_error(ChildFailedError, err))
        if not batch.rebuild:
            summary = msgspec.json.encode(
                {"completionReason": reason, "totalCount": len(items)}
            ).decode()
            self._updates.append(
                self._context_success(
                    batch.op_id, batch.fiber.parent_id, batch.sub_type, cmd.name, payload, summary
                )
            )
        return (self._decode_batch(payload, cmd), None)


def _compensate(
    undo: list[tuple[Callable[[Any], Any], Any, str | None]], retry: Retry | None
) -> Gen:
    results = []
    for fn, value, name in reversed(undo):
        try:
            result = yield Compensate(fn, value, name, retry)
        except OperationError as exc:
            results.append(
                CompensationResult(
                    name=name,
                    status="FAILED",
                    error_type=exc.error_type,
                    error_message=exc.error_message,
                )
            )
        else:
            results.append(CompensationResult(name=name, status="SUCCEEDED", result=result))
    return results


@lru_cache(maxsize=4096)
def _positional_arity(fn: Callable[..., Any]) -> int:
    """How many positional arguments ``fn`` takes (2 when it takes *args)."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return 1
    n = 0
    for p in params:
        if p.kind is p.VAR_POSITIONAL:
            return 2
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            n += 1
    return n


def _batch_units(cmd: Map[Any] | Parallel[Any]) -> tuple[list[Callable[[], Gen]], list[str]]:
    """One generator factory per item or branch, and the item names."""
    units: list[Callable[[], Gen]] = []
    names: list[str] = []
    if isinstance(cmd, Map):
        fn = cmd.fn
        is_gen = inspect.isgeneratorfunction(inspect.unwrap(fn))
        arity = _positional_arity(fn)
        step_name = fn.name if isinstance(fn, StepFunction) else _fn_name(fn)
        plain_fn = plain(fn)
        retry = fn.retry if isinstance(fn, StepFunction) else None
        for i, item in enumerate(cmd.items):
            args = (item,) if arity < 2 else (item, i)
            if is_gen:
                units.append(functools.partial(fn, *args))
            else:
                units.append(functools.partial(one_step, plain_fn, args, step_name, retry))
            names.append(cmd.item_namer(item, i) if cmd.item_namer else f"map-item-{i}")
        return units, names
    for i, branch in enumerate(cmd.branches):
        bfn, bname = (branch.fn, branch.name) if isinstance(branch, Branch) else (branch, None)
        if inspect.isgeneratorfunction(inspect.unwrap(bfn)):
            units.append(bfn)
        else:
            sname = bfn.name if isinstance(bfn, StepFunction) else _fn_name(bfn)
            units.append(functools.partial(one_step, plain(bfn), (), sname, None))
        names.append(bname or f"parallel-branch-{i}")
    return units, names
