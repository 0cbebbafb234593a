"""Map, Parallel and sagas in the interpreter: contexts that hold other contexts.

Pure. The completion policy itself is ``durable_gen._batch.decide``; this module applies it:

1. A Map or Parallel is a CONTEXT (subtype ``Map``/``Parallel``); each item or branch is a
   child CONTEXT (``MapIteration``/``ParallelBranch``) numbered from 0 under it. With
   ``nesting="flat"`` items record no context: their operations belong to the batch.
2. Items start in index order while ``max_concurrency`` allows (an item the history shows
   started resumes whatever the limit: new code may have lowered it); after each item
   completes the policy decides whether the batch is done. Items still running when it is
   decided are abandoned; the result lists them as STARTED, those never started as
   NOT_STARTED.
3. Results are in index order, whatever the completion order. A completed batch answers from
   its record (rule 3 of ``_interpreter_core``) unless it was recorded with ``ReplayChildren``;
   then its items are rebuilt from their own records, and none runs again.
4. A recorded batch, completed or not, must have the shape the code asks for: as many items
   (or branches), with the same names in the same order, and the same nesting mode; otherwise
   ``NonDeterminismError``. The shape is read from what AWS's service keeps too: the item
   contexts (for flat items, their operations), the result's items (index and name), the
   summary's ``totalCount``.
5. ``RunCompensations`` runs the undos registered by the fiber's steps, last first, each as a
   CONTEXT/Compensation holding one step; a failed undo is reported and the rest still run.
   The helper fiber uses the caller's position counter, so ids stay positional. Both are
   named after the undo (a ``@step`` undo's name, else its function's, a
   ``functools.partial``'s the function it calls; a lambda: after the step it compensates).
   A history recorded when both were named after the compensated step replays with those
   names.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from functools import lru_cache
from typing import Any, Final, TypeGuard

import msgspec

from ._batch import BatchItem, BatchResult, decide
from ._codec import (
    decode_batch,
    item_types,
    overload_note,
    parse_json,
    reader,
    result_type,
    undecodable,
    wrapped_by,
)
from ._commands import (
    OWN_STEP_SUBTYPES,
    Branch,
    Child,
    Command,
    CompensationResult,
    Map,
    Parallel,
    Retry,
    RunCompensations,
    StepFunction,
    _check_name,
    _fn_name,
    any_step,
    unbind_step,
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
from ._interpreter_core import (
    BLOCKED,
    Answer,
    Core,
    Fatal,
    Fiber,
    Gen,
    Resume,
    _diverged,
    generator,
    one_step,
    plain,
)
from ._serdes import dumps, loads
from ._wire import TERMINAL_STATUSES, ErrorObject, Operation, plain_text

__all__ = ["BatchHandlers", "Compensate", "step_body"]


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
        "recorded",
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
        names: list[str | None],
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
        #: When rebuilding: what the recorded summary says of the batch (see ``_summary``).
        self.recorded: dict[str, Any] = {}
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

    __slots__ = ()

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
        helper.label = fiber.label
        helper.n = fiber.n
        self._track(helper)
        self._ready.append((helper, None, None))
        return BLOCKED

    def _on_compensate(self, fiber: Fiber, cmd: Compensate) -> Answer:
        fn, value, retry = cmd.fn, cmd.value, cmd.retry
        bound = unbind_step(fn)  # functools.partial(step_function, ...): that step
        fn, first, kwargs = bound if bound is not None else (fn, (), None)
        name = undo_name(fn, cmd.name)
        if name != cmd.name:  # recorded before undos named their operations: keep those names
            recorded = self._ops.get(operation_id(fiber.ctx_id, fiber.n + 1))
            if recorded is not None and recorded.name == cmd.name:
                name = cmd.name
        op_id, rec = self._position(fiber, "CONTEXT", "Compensation", name)
        return self._enter_context(
            fiber,
            op_id,
            rec,
            "Compensation",
            name,
            lambda: (
                step_body(fn, (*first, value), kwargs, retry=retry)
                if isinstance(fn, StepFunction)
                else one_step(fn, (value,), name, retry)
            ),
            None,
            StepFailedError,
            # CompensationResult.result: what the undo declares it returns, as any step result
            result_type(fn) if getattr(fn, "serdes", None) is None else Any,
        )

    # --- Map and Parallel -----------------------------------------------------------------------

    def _on_batch(self, fiber: Fiber, cmd: Map[Any] | Parallel[Any]) -> Answer:
        is_map = isinstance(cmd, Map)
        sub_type = "Map" if is_map else "Parallel"
        op_id, rec = self._position(fiber, "CONTEXT", sub_type, cmd.name)
        if rec is None or fiber.ran_before:
            return self._start_batch(fiber, cmd, sub_type, op_id, rec)
        # Recorded: the Map's item_namer ran for every item when the batch started, in an
        # earlier invocation; what it logs now is replayed (each line once per execution).
        fiber.ran_before = True
        try:
            return self._start_batch(fiber, cmd, sub_type, op_id, rec)
        finally:
            fiber.ran_before = False

    def _start_batch(
        self,
        fiber: Fiber,
        cmd: Map[Any] | Parallel[Any],
        sub_type: str,
        op_id: str,
        rec: Operation | None,
    ) -> Answer:
        rebuild = False
        if rec is not None:
            self._check_shape(fiber, op_id, rec, cmd, sub_type)
            d = rec.context_details
            if rec.status == "SUCCEEDED":
                if d is not None and d.result is not None and not d.replay_children:
                    return self._decode_batch(d.result, cmd)
                if not (d and d.replay_children):
                    # a record without its result (a store that left it out): decoding
                    # nothing would give a batch of no items, every item NOT_STARTED. It is
                    # rebuilt from its items, as one too large to record is, when they are
                    # recorded; without them the items would run again under a completed batch
                    self._missing_result(op_id, rec, cmd)
                rebuild = True
            elif rec.status in TERMINAL_STATUSES:
                return (None, raise_error(ChildFailedError, d.error if d else None))
        else:
            problem = _unreadable_items(cmd, sub_type)
            if problem is not None:  # raised at the yield, before any item runs
                return (None, problem)
            self._updates.append(
                self._context_update(op_id, fiber.parent_id, sub_type, cmd.name, "START")
            )
        units, names = _batch_units(cmd)
        batch = _Batch(cmd, fiber, op_id, sub_type, units, names, rebuild)
        if rebuild and rec is not None and rec.context_details is not None:
            batch.recorded = _summary(rec.context_details.result)
        self._expanded.add(op_id)
        self._fill(batch)
        if batch.done:
            return self._batch_result_now(batch)
        return BLOCKED

    def _missing_result(self, op_id: str, rec: Operation, cmd: Map[Any] | Parallel[Any]) -> None:
        """A completed batch recorded without its result must have its items recorded."""
        if self._recorded_children(op_id) or not _batch_names(cmd):
            return
        named = f" ({rec.name!r})" if rec.name else ""
        raise Fatal(
            InvalidInputError(
                f"the SUCCEEDED {rec.sub_type or 'batch'} CONTEXT {op_id!r}{named} records "
                "neither its result (ContextDetails.Result) nor its items: the history is "
                "truncated or corrupt, and replay would run the items of a completed batch "
                "again; the store must keep the payload of the context's SUCCEED update"
            )
        )

    def _check_shape(
        self,
        fiber: Fiber,
        op_id: str,
        rec: Operation,
        cmd: Map[Any] | Parallel[Any],
        sub_type: str,
    ) -> None:
        """A recorded batch must have the shape the code asks for (rule 4 of this module):
        its item count, its items' names and order, its nesting mode. What was recorded is
        read from its item contexts, and for a completed batch from its result's items (each
        has its index and name) or its summary's ``totalCount``; what is not recorded (an old
        or AWS-written history) is not checked."""
        names = _batch_names(cmd)
        count = len(names)
        what = "item" if sub_type == "Map" else "branch"
        item_kind = "MapIteration" if sub_type == "Map" else "ParallelBranch"
        recorded_names: dict[int, str] = {}
        at_least = 0  # recorded items, as far as the record shows
        exact: int | None = None  # the recorded item count, when the record says it
        nested = flat = False
        steps = _one_step_names(cmd)  # what each one-step item's recorded step must be named
        changed: tuple[int, Operation, str] | None = None  # the first that ran another step
        children = self._recorded_children(op_id)
        if children:
            index = {operation_id(op_id, i): i for i in range(count + len(children))}
            for op in children:
                if op.type == "CONTEXT" and op.sub_type == item_kind:
                    nested = True
                    i = index.get(op.id, -1)
                    if i < 0:
                        continue
                    at_least = max(at_least, i + 1)
                    if op.name is not None:
                        recorded_names[i] = op.name
                    if steps is not None and changed is None and i < count:
                        step_name = steps[i]
                        inside = self._recorded_children(op.id)
                        if step_name and inside and _other_step(inside[0], step_name):
                            changed = (i, inside[0], step_name)
                else:
                    flat = True
        d = rec.context_details
        payload = d.result if d is not None else None
        if rec.status == "SUCCEEDED" and payload and d is not None:
            if d.replay_children:
                exact = _total_count(payload)
                at_least = max(at_least, _summary(payload).get("started", 0))
            elif cmd.serdes is None:
                exact, listed = self._recorded_items(payload, recorded_names)
                at_least = max(at_least, listed)
        if flat and exact is None:
            # flat items record no context: one started if its first operation is recorded.
            # Items start in index order, so the first few past the new count tell (one that
            # started may have recorded nothing yet).
            under = self._recorded_under
            for i in range(count, count + min(len(children), 4)):
                if under(operation_id(operation_id(op_id, i), 1)) is not None:
                    at_least = i + 1
        # "Map 'ship'", or "unnamed Map" (not "Map None")
        label = f"{sub_type} {cmd.name!r}" if cmd.name is not None else f"unnamed {sub_type}"
        problem: str | None = None
        if exact is not None and exact != count:
            problem = f"with {_counted(exact, what)}"
        elif at_least > count:
            problem = f"with at least {_counted(at_least, what)}"
        if problem is not None:
            recorded = f"{label} {problem}"
            requested = f"{label} with {_counted(count, what)}"
            self._shape_error(fiber, op_id, recorded, requested)
        same = self._same_item_name
        wrong = sorted(i for i, n in recorded_names.items() if i < count and not same(n, names[i]))
        if wrong:
            if sub_type == "Parallel" and len(recorded_names) == count:
                recorded = f"{label} with branches {_ordered(recorded_names)}"
                requested = f"{label} with branches {names}"
            else:
                i = wrong[0]
                kind = "item" if sub_type == "Map" else "branch"
                recorded = f"{label} {kind} {i} named {recorded_names[i]!r}"
                requested = f"{label} {kind} {i} named {names[i]!r}"
            self._shape_error(fiber, op_id, recorded, requested)
        asked = cmd.nesting
        if (asked == "flat" and nested) or (asked == "nested" and flat):
            was = "nested" if nested else "flat"
            self._shape_error(
                fiber,
                op_id,
                f"{label} with nesting={was!r}",
                f"{label} with nesting={asked!r}",
            )
        if flat and steps is not None and changed is None:
            # items record no context: their steps are the batch's own children
            ops = self._ops
            for i in range(count):
                step_name = steps[i]
                step = ops.get(operation_id(operation_id(op_id, i), 1)) if step_name else None
                if step is not None and step_name and _other_step(step, step_name):
                    changed = (i, step, step_name)
                    break
        if changed is not None:
            i, step, asked_step = changed
            kind, unit = ("Map", "item") if isinstance(cmd, Map) else ("Parallel", "branch")
            label = kind if cmd.name is None else f"{kind} {cmd.name!r}"
            where = f"{label} {unit} {i} ({names[i]!r})"
            whose = "Map" if unit == "item" else "branch"
            self._step_changed(fiber, op_id, where, whose, str(step.name), asked_step)

    def _check_child_step(
        self, fiber: Fiber, op_id: str, cmd: Child[Any], fn: StepFunction[..., Any]
    ) -> None:
        """A ``Child`` given a ``@step`` function runs it as one step in its context, like a
        Map item. A completed child replays from its record without reaching the step, so its
        name is compared here (as ``_step_changed`` says)."""
        if fn.name is None:
            return
        inside = self._recorded_children(op_id)
        if inside and _other_step(inside[0], fn.name):
            where = "Child" if cmd.op_name is None else f"Child {cmd.op_name!r}"
            self._step_changed(fiber, op_id, where, "Child", str(inside[0].name), fn.name)

    def _step_changed(
        self, fiber: Fiber, op_id: str, where: str, whose: str, recorded: str, asked: str
    ) -> None:
        """A context that runs one step (a Map item, a Parallel branch, a Child given a plain or
        ``@step`` function) recorded a step of another name (rule 4). A completed context
        replays from its record without reaching its step, so this is where the change is
        caught: items are named by position (``map-item-0``..., ``parallel-branch-0``...), and
        putting another function in a Map, or swapping two unnamed branches, would otherwise
        hand the new code the old results."""
        raise _diverged(
            fiber,
            op_id,
            f"{where} running step {recorded!r}",
            f"{where} running step {asked!r}",
            f"The {whose}'s function changed. If only the Python function was renamed, keep "
            f"its step name: @dg.step(name={recorded!r}). To run another function, guard the "
            "change with Patched(...) so that running executions keep the old one, or start a "
            "new execution (docs/versioning.md)",
        )

    @staticmethod
    def _same_item_name(recorded: str, requested: str | None) -> bool:
        """Whether a recorded item or branch name is the one the code asks for (the one place
        batch-shape checking compares names)."""
        return recorded == requested

    @staticmethod
    def _recorded_items(payload: str, names: dict[int, str]) -> tuple[int | None, int]:
        """Read a completed batch's recorded result: add its items' names to ``names``; return
        its exact item count when the result lists every item (else None), and how many items
        it shows at least."""
        try:
            result = decode_batch(payload)
        except SerializationError:
            return None, 0  # not a batch result: _decode_batch says so
        if not isinstance(result, BatchResult):
            return None, 0
        for item in result.items:
            if item.name is not None:
                names.setdefault(item.index, item.name)
        indices = [item.index for item in result.items]
        # durable_gen lists every item; AWS's format leaves out those never started, so its
        # list is the whole batch only when every item completed.
        listed = indices == list(range(len(indices))) and (
            result.completion_reason == "ALL_COMPLETED"
            or any(item.status == "NOT_STARTED" for item in result.items)
            or not _aws_envelope(payload)
        )
        return (len(indices) if listed else None), max(indices, default=-1) + 1

    def _shape_error(self, fiber: Fiber, op_id: str, recorded: str, requested: str) -> None:
        raise _diverged(fiber, op_id, recorded, requested)

    def _decode_batch(self, payload: str | None, cmd: Map[Any] | Parallel[Any]) -> Resume:
        """A recorded batch result for the yield: items that no longer fit their declared
        type raise at the yield, as a step's result does; a payload that is no batch result at
        all is a corrupt history."""
        if cmd.serdes is not None:
            what = f"the result of {type(cmd).__name__} {cmd.name!r}"
            return (loads(payload, cmd.serdes, what=what), None)
        types = item_types(cmd)
        try:
            result = decode_batch(payload, types, what=f"the result of {cmd.name!r}, as recorded")
        except SerializationError as exc:
            if types is not Any:
                try:
                    decode_batch(payload)  # a batch result: only its items' type changed
                except SerializationError:
                    pass
                else:
                    return (None, exc)
            raise Fatal(
                InvalidInputError(f"a recorded Map/Parallel result is not a batch result: {exc}")
            ) from exc
        return (_completed(result, cmd), None)

    def _fill(self, batch: _Batch) -> None:
        """Start items in index order while the concurrency limit and the policy allow."""
        cmd = batch.cmd
        limit = cmd.max_concurrency
        total = len(batch.units)
        item_type = "MapIteration" if batch.sub_type == "Map" else "ParallelBranch"
        while not batch.done and batch.next < total:
            i = batch.next
            iter_id = operation_id(batch.op_id, i)
            if limit is not None and len(batch.running) >= limit:
                # An item the history shows started is in flight whatever the limit (code
                # deployed with a lower one): it resumes, and its body is matched now.
                if cmd.nesting == "flat":
                    started = self._recorded_under(operation_id(iter_id, 1)) is not None
                else:
                    started = iter_id in self._ops
                if not started:
                    return
            batch.next += 1
            name = batch.names[i]
            if cmd.nesting == "flat":  # virtual item contexts: nothing recorded for them
                ended = batch.recorded.get("ended")
                if batch.rebuild and ended is not None and i not in ended:
                    continue  # still running, or not started, when the batch was decided
                self._start_item(batch, i, iter_id, name, item_type, replay_children=True)
                batch.running[i].parent_id = batch.op_id
                batch.running[i].label = (item_type, name)
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
                        # The code that recorded it read it back (else it recorded a failure):
                        # this code cannot read what the item recorded, and the execution fails
                        # with that error, as where a step's or a Child's result does not read,
                        # rather than telling the workflow the item failed.
                        raise Fatal(exc) from None
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
            # a rebuilt batch was decided as its summary says (an early decision included)
            self._finish_batch(batch, batch.recorded.get("completionReason") or "ALL_COMPLETED")

    def _start_item(
        self,
        batch: _Batch,
        i: int,
        iter_id: str,
        name: str | None,
        item_type: str,
        replay_children: bool,
    ) -> None:
        serdes = batch.cmd.item_serdes

        def done(child: Fiber, value: Any, exc: BaseException | None) -> None:
            batch.running.pop(i, None)
            if batch.done:
                return
            if batch.cmd.nesting != "flat":
                self._check_reached(iter_id, item_type, name, exc)
            else:
                self._check_reached_next(child, item_type, name, exc)
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
        self._track(child)
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
        self._decided.add(batch.op_id)
        left = batch.running or batch.next < len(batch.units) or batch.rebuild
        for fiber in batch.running.values():
            self._abandon(fiber)
        if left and len(self._visited) < self._to_reach:  # replay not over (``catching_up``)
            self._leave_behind(batch.op_id)

    def _batch_result_now(self, batch: _Batch) -> tuple[Any, BaseException | None]:
        items = []
        for i in range(len(batch.units)):
            item = batch.outcomes.get(i)
            if item is None:
                started = batch.recorded.get("started", batch.next)
                # An item whose context is recorded started, even when a replay decides the
                # batch before it reaches that item (a completion policy changed since).
                recorded = _nested(batch) and operation_id(batch.op_id, i) in self._ops
                if batch.rebuild and _nested(batch) and "started" not in batch.recorded:
                    status = "STARTED" if recorded else "NOT_STARTED"
                else:
                    status = "STARTED" if i < started or recorded else "NOT_STARTED"
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
            counts: dict[str, Any]
            if self.payload_format == "aws":
                counts = _aws_summary(batch, reason)
            else:
                counts = {"completionReason": reason, "totalCount": len(items)}
                if len(batch.outcomes) < len(items):  # decided early: what a rebuild must redo
                    counts["started"] = batch.next
                    counts["ended"] = sorted(batch.outcomes)
            summary = msgspec.json.encode(counts).decode()
            self._updates.append(
                self._context_success(
                    batch.op_id, batch.fiber.parent_id, batch.sub_type, cmd.name, payload, summary
                )
            )
        return self._decode_batch(payload, cmd)


def _aws_summary(batch: _Batch, reason: str) -> dict[str, Any]:
    """The summary AWS's Python SDK records for a batch result too large to record, which it
    needs to rebuild the batch: ``totalCount`` counts the items started (its batch results
    leave out those never started) and ``startedIndexes`` lists those still running.
    ``itemCount`` (every item), which AWS's SDK ignores, keeps the item count for the shape
    check of a replay."""
    running = [i for i in range(batch.next) if i not in batch.outcomes]
    failed = sum(1 for item in batch.outcomes.values() if item.status == "FAILED")
    return {
        "type": f"{batch.sub_type}Result",
        "totalCount": batch.next,
        "completionReason": reason,
        "startedIndexes": running,
        "startedCount": len(running),
        "successCount": batch.succeeded,
        "failureCount": failed,
        "status": "FAILED" if failed else "SUCCEEDED",
        "itemCount": len(batch.units),
    }


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


def undo_name(undo: Callable[[Any], Any], step_name: str | None) -> str | None:
    """The name of an undo's operations: a ``@step`` undo's name, else its function's name
    (a ``functools.partial``'s: the function it calls, as a ``Child`` of one is named); a
    lambda (no name of its own) is named after the step it compensates, ``step_name``."""
    if isinstance(undo, StepFunction) and undo.name is not None:
        return undo.name
    if type(undo) is functools.partial:
        undo = undo.func
    return _fn_name(undo) or step_name


@lru_cache(maxsize=4096)
def _positional_arity(fn: Callable[..., Any]) -> int:
    """How many positional arguments ``fn`` requires (parameters with a default, and
    ``*args``, are not counted: ``fn(item, factor=10)`` is called with the item alone). A
    decorator's wrapper typed with a ParamSpec counts as the function it wraps."""
    try:
        params = inspect.signature(wrapped_by(fn)).parameters.values()
    except (TypeError, ValueError):
        return 1
    n = 0
    for p in params:
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty:
            n += 1
    return n


def _item_name(namer: Callable[[Any, int], str | None], item: Any, index: int) -> str:
    """What ``item_namer`` calls item ``index``, checked as every operation name is; None
    keeps the default name, ``map-item-{index}``, as AWS's SDK names such an item."""
    name = plain_text(namer(item, index))
    _check_name(name, f"Map item_namer's (for item {index})")
    return f"map-item-{index}" if name is None else name


def _batch_units(
    cmd: Map[Any] | Parallel[Any],
) -> tuple[list[Callable[[], Gen]], list[str | None]]:
    """One generator factory per item or branch, and the item names."""
    units: list[Callable[[], Gen]] = []
    names: list[str | None] = []
    if isinstance(cmd, Map):
        fn = cmd.fn
        is_gen = _is_workflow(fn)
        arity = _positional_arity(fn)
        for i, item in enumerate(cmd.items):
            args = (item,) if arity < 2 else (item, i)
            if is_gen:
                units.append(functools.partial(fn, *args))
            else:
                units.append(_step_unit(fn, args))
            names.append(_item_name(cmd.item_namer, item, i) if cmd.item_namer else f"map-item-{i}")
        return units, names
    for i, branch in enumerate(cmd.branches):
        bfn, bname = (branch.fn, branch.name) if isinstance(branch, Branch) else (branch, None)
        if _is_workflow(bfn):
            units.append(bfn)
        else:
            units.append(_step_unit(bfn, ()))
        names.append(bname or f"parallel-branch-{i}")
    return units, names


def _is_workflow(fn: Callable[..., Any]) -> bool:
    """Whether an item's or a branch's function runs as a child workflow: a generator function,
    also bound or in a ``functools.partial``, or an object whose ``__call__`` is one (as
    ``Child`` runs it, and as type checkers type it); anything else runs as one step."""
    target = inspect.unwrap(fn)
    if inspect.isgeneratorfunction(target):
        return True
    while isinstance(target, functools.partial):
        target = inspect.unwrap(target.func)
    if inspect.isroutine(target) or isinstance(target, type) or not callable(target):
        return inspect.isgeneratorfunction(target)
    return inspect.isgeneratorfunction(inspect.unwrap(type(target).__call__))


def _step_unit(fn: Callable[..., Any], args: tuple[Any, ...]) -> Callable[[], Gen]:
    """An item or branch running ``fn(*args)`` as one step: a ``@step`` function's step keeps
    every option it was declared with (name, retry, semantics, serdes, compensate, timeout)."""
    if isinstance(fn, StepFunction):
        return functools.partial(step_body, fn, args)
    bound = unbind_step(fn)  # functools.partial(step_function, ...): that step, its options
    if bound is not None:
        return functools.partial(step_body, bound[0], bound[1] + args, bound[2])
    return functools.partial(one_step, fn, args, _unit_step_name(fn), None)


def _unit_step_name(fn: Callable[..., Any]) -> str | None:
    """The name of the step an item or branch running ``fn`` records (None: unnamed)."""
    return fn.name if isinstance(fn, StepFunction) else _fn_name(fn)


def _one_step_names(cmd: Map[Any] | Parallel[Any]) -> list[str | None] | None:
    """For each item or branch of ``cmd`` that runs as one step, the name to compare with the
    step it recorded: the name its step records, or for a ``functools.partial`` (whose step
    records none) the name of the function it calls. None in place of a generator function (a
    child workflow, whose body is matched when it runs) or of a function with no name (a
    lambda, a callable object); None for the whole batch when nothing is to compare."""
    if isinstance(cmd, Map):
        name = _compared_name(cmd.fn)
        return None if name is None else [name] * len(cmd.items)
    names = [
        _compared_name(branch.fn if isinstance(branch, Branch) else branch)
        for branch in cmd.branches
    ]
    return names if any(names) else None


def _other_step(recorded: Operation, asked: str) -> bool:
    """Whether an item or branch that runs as the step ``asked`` recorded another step. A step
    recorded without a name (a lambda's, a partial's; AWS's SDK names none) is not compared; a
    step of a custom SubType (``sub_type=``) is compared as one of ``"Step"``."""
    return (
        recorded.name != asked
        and recorded.name is not None
        and recorded.type == "STEP"
        and recorded.sub_type not in OWN_STEP_SUBTYPES
    )


def _compared_name(fn: Callable[..., Any]) -> str | None:
    """See ``_one_step_names``."""
    if _is_workflow(fn):
        return None
    while isinstance(fn, functools.partial):
        fn = fn.func
    return _unit_step_name(fn)


def step_body(
    fn: StepFunction[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any] | None = None,
    *,
    retry: Retry | None = None,
) -> Gen:
    """A context body running one call of a ``@step`` function as one step, with all its
    options; ``retry`` applies when the function declares none."""
    return (
        yield any_step(
            plain(fn),
            args,
            kwargs,
            fn.name,
            fn.retry if fn.retry is not None else retry,
            fn.semantics,
            fn.serdes,
            fn.compensate,
            timeout=fn.timeout,
            sub_type=fn.sub_type,
        )
    )


def _unreadable_items(cmd: Map[Any] | Parallel[Any], sub_type: str) -> SerializationError | None:
    """The error of a batch whose items declare a result type no payload can be decoded into
    (its result could never be read back, so none of its items is run); else None."""
    if cmd.serdes is not None or cmd.item_serdes is not None:
        return None
    types = item_types(cmd)
    for type_ in types if isinstance(types, list) else (types,):
        if type_ is Any:
            continue
        which = f"{sub_type} {cmd.name!r}" if cmd.name is not None else f"the unnamed {sub_type}"
        problem = undecodable(reader(type_), f"an item's result of {which}")
        if problem is not None:
            note = overload_note(cmd.fn) if isinstance(cmd, Map) else ""
            return SerializationError(
                f"{problem}{note}. The {sub_type} was not started: its result could not be "
                "read back"
            )
    return None


def _batch_names(cmd: Map[Any] | Parallel[Any]) -> list[str | None]:
    """The names of a batch's items or branches, in index order (an ``item_namer``'s checked
    as every name is, also for a recorded batch: a bad one is a ``ValidationError``, not a
    difference from what the batch recorded)."""
    if isinstance(cmd, Map):
        namer = cmd.item_namer
        if namer is None:
            return [f"map-item-{i}" for i in range(len(cmd.items))]
        return [_item_name(namer, item, i) for i, item in enumerate(cmd.items)]
    return [
        (branch.name if isinstance(branch, Branch) else None) or f"parallel-branch-{i}"
        for i, branch in enumerate(cmd.branches)
    ]


def _completed(result: Any, cmd: Map[Any] | Parallel[Any]) -> Any:
    """``result`` with every item of ``cmd``, named as ``cmd`` names them.

    AWS's format (written by AWS's SDK, or by durable_gen with ``payload_format="aws"``)
    records neither the items that never started nor item names; the code asking for the batch
    knows both, so the workflow receives the same ``BatchResult`` whatever the format.
    """
    if not isinstance(result, BatchResult):
        return result
    count = len(cmd.items) if isinstance(cmd, Map) else len(cmd.branches)
    items = result.items
    if len(items) == count and all(item.name is not None for item in items):
        return result
    names = _batch_names(cmd)
    by_index = {item.index: item for item in items}
    if len(by_index) != len(items) or not all(0 <= i < count for i in by_index):
        return result  # not this batch's items: the shape check reports it
    full: list[BatchItem[Any]] = []
    for i, name in enumerate(names):
        item = by_index.get(i)
        if item is None:
            full.append(BatchItem(index=i, status="NOT_STARTED", name=name))
        else:
            full.append(item if item.name is not None else msgspec.structs.replace(item, name=name))
    return msgspec.structs.replace(result, items=full)


def _counted(n: int, what: str) -> str:
    """``1 item``, ``2 items``, ``0 branches``."""
    return f"{n} {what}" if n == 1 else f"{n} {what}es" if what.endswith("ch") else f"{n} {what}s"


def _ordered(names: dict[int, str]) -> list[str]:
    return [names[i] for i in sorted(names)]


def _nested(batch: _Batch) -> bool:
    """Whether the batch's items record contexts of their own."""
    return batch.cmd.nesting != "flat"


def _summary(payload: str | None) -> dict[str, Any]:
    """The summary a batch recorded in place of a result too large to record:
    ``completionReason`` and ``totalCount``, and for a batch decided before every item ended,
    ``started`` (how many items it had started) and ``ended`` (the indexes of those that had
    ended). AWS's summary is read into the same keys (its ``totalCount`` counts the items
    started, its ``startedIndexes`` those still running, or ``completedIndexes`` those ended);
    anything else (an older summary) gives what it holds of these."""
    data = _summary_data(payload)
    out: dict[str, Any] = {}
    reason = data.get("completionReason")
    if reason in ("ALL_COMPLETED", "MIN_SUCCESSFUL_REACHED", "FAILURE_TOLERANCE_EXCEEDED"):
        out["completionReason"] = reason
    if _is_aws_summary(data):
        started = data.get("totalCount")
        if type(started) is not int or started < 0:
            return out
        out["started"] = started
        running, done = data.get("startedIndexes"), data.get("completedIndexes")
        if _indexes(running, started):
            out["ended"] = frozenset(range(started)) - frozenset(running)
        elif _indexes(done, started):
            out["ended"] = frozenset(done)
        return out
    started = data.get("started")
    if type(started) is int and started >= 0:
        out["started"] = started
    ended = data.get("ended")
    if isinstance(ended, list) and all(type(i) is int for i in ended):
        out["ended"] = frozenset(ended)
    return out


def _summary_data(payload: str | None) -> dict[str, Any]:
    try:
        data = msgspec.json.decode(payload or "")
    except msgspec.DecodeError:
        return {}
    return data if isinstance(data, dict) else {}


#: Keys of the summary AWS's Python SDK records for a Map/Parallel result too large to record;
#: durable_gen's summary has none of them.
_AWS_SUMMARY_KEYS: Final = frozenset(
    {"type", "startedIndexes", "completedIndexes", "startedCount", "successCount"}
)


def _is_aws_summary(data: dict[str, Any]) -> bool:
    return not _AWS_SUMMARY_KEYS.isdisjoint(data)


def _indexes(value: Any, total: int) -> TypeGuard[list[int]]:
    """Whether ``value`` is a list of item indexes below ``total``."""
    return isinstance(value, list) and all(type(i) is int and 0 <= i < total for i in value)


def _total_count(summary: str) -> int | None:
    """The item count of a batch's recorded summary (a result too large to record), if it says:
    ``totalCount`` in durable_gen's summary; in AWS's, whose ``totalCount`` counts only the
    items started, the ``itemCount`` durable_gen adds when it writes one, or ``totalCount`` when
    every item ended (``ALL_COMPLETED``)."""
    data = _summary_data(summary)
    if not _is_aws_summary(data):
        total = data.get("totalCount")
    elif "itemCount" in data:
        total = data["itemCount"]
    elif data.get("completionReason") == "ALL_COMPLETED":  # every item started and ended
        total = data.get("totalCount")
    else:
        return None
    return total if type(total) is int and total >= 0 else None


def _aws_envelope(payload: str) -> bool:
    """Whether a payload is AWS's typed envelope (``{"t": ..., "v": ...}``)."""
    try:
        data = parse_json(payload)
    except (msgspec.DecodeError, UnicodeEncodeError):
        return False
    return isinstance(data, dict) and set(data) == {"t", "v"}
