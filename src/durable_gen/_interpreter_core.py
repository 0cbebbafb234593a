"""The interpreter's core: fibers, positions in the history, matching, blocking, contexts.

Pure, like the rest of the interpreter (see ``durable_gen._interpreter`` for the rules). This
module holds rules 1-3 and the context half of rule 4:

1. Each context numbers its operations from 1; the n-th has id ``operation_id(context, n)``.
2. A recorded operation at a position must have the command's type, subtype, name and parent,
   or the interpretation stops with ``NonDeterminismError``. One exception: an unnamed step,
   condition or child matches a recorded name equal to its function's name (histories
   recorded before durable_gen named operations as AWS does), and a recorded unnamed one
   matches a command named after its function (a plain function since decorated).
3. A completed context (child, WaitForCallback, compensation, Map/Parallel and their items)
   answers from its one record and is not re-entered, unless it was recorded with
   ``ReplayChildren`` (its result was too large); a failed one raises its recorded error.
   A context whose code ends must have reached every operation recorded in it, or the
   interpretation stops with ``NonDeterminismError`` there (``_check_reached``; for a
   virtual child or a flat item, which record nothing, ``_check_reached_next``); code that
   ended by raising stops it with that error instead, as the root's does.
4. A virtual child context records nothing: it takes its position (its id names its
   operations' ids) but nothing may be recorded at that id (``NonDeterminismError``), its
   operations record the enclosing context's ParentId, and its body runs on every replay. Its
   start and end are reported to the host as ``VirtualContextEvent``s, only while the code
   runs new work (never again on a replay of what was reported).

Handlers answer a command with a ``Resume`` (the value to send into the generator, or the
error to throw at its ``yield``) or with ``BLOCKED`` (the fiber waits; whatever unblocks it
queues its ``Resume``).
"""

from __future__ import annotations

import contextlib
import inspect
from collections import deque
from collections.abc import Callable, Generator, Iterable
from typing import Any, Final, final

from ._actions import VirtualContextEvent
from ._codec import PayloadFormat, narrowed
from ._commands import (
    OWN_CONTEXT_SUBTYPES,
    OWN_STEP_SUBTYPES,
    CallbackHandle,
    Command,
    Retry,
    Step,
    StepFunction,
    _fn_name,
)
from ._errors import (
    NonDeterminismError,
    OperationError,
    SerializationError,
)
from ._failure import compensation_error, error_object, raise_error, wait_for_callback_error
from ._ids import operation_id
from ._serdes import Serdes, dumps, loads
from ._versioning import PATCH_SUBTYPE, is_marker
from ._wire import (
    MAX_CONTEXT_RESULT_BYTES,
    TERMINAL_STATUSES,
    ContextOptions,
    ErrorObject,
    Operation,
    OperationUpdate,
    too_large,
)

__all__ = [
    "BLOCKED",
    "SEND_NONE",
    "Answer",
    "Blocked",
    "Core",
    "Fatal",
    "Fiber",
    "Gen",
    "Resolver",
    "Resume",
    "clear_id_cache",
    "describe",
    "generator",
    "one_step",
    "plain",
]

Gen = Generator[Any, Any, Any]

#: What a blocked or answered command resumes its generator with: (value to send, None) or
#: (None, error to throw at the ``yield``).
Resume = tuple[Any, BaseException | None]


@final
class Blocked:
    """The answer of a command that cannot resume its generator yet (one instance: BLOCKED)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "BLOCKED"


BLOCKED: Final = Blocked()
SEND_NONE: Final[Resume] = (None, None)

#: A handler's answer.
Answer = Resume | Blocked
#: Decides from an operation whether a blocked fiber can go on: its answer, or None (not yet).
Resolver = Callable[[Operation], Answer | None]

#: Root-context ids by position (index n), shared by every interpretation: the same for all
#: executions, so the hottest ids are a list index away instead of a hash.
_ROOT_IDS: list[str] = [""]
_ROOT_IDS_MAX: Final = 1 << 17


def clear_id_cache() -> None:
    """Forget every memoized operation id, as in a fresh process (for benchmarks)."""
    del _ROOT_IDS[1:]
    operation_id.cache_clear()


def _root_id(n: int) -> str:
    ids = _ROOT_IDS
    if n < len(ids):
        return ids[n]
    if n >= _ROOT_IDS_MAX:
        return operation_id(None, n)
    compute = operation_id.__wrapped__  # the list is the memo: skip the LRU's
    while len(ids) <= n:
        ids.append(compute(None, len(ids)))
    return ids[n]


class Fatal(Exception):
    """Aborts the whole interpretation (non-determinism, a corrupt history)."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


#: How deep virtual child contexts nested at one position are looked through.
_VIRTUAL_DEPTH: Final = 16

#: How many positions after the end of a context that records nothing are looked at for an
#: operation it recorded (empty virtual children in between record nothing at theirs).
_EMPTY_POSITIONS: Final = 4

#: Operations that end between invocations: the invocation that started one stopped at it.
_STOPS: Final = frozenset({"WAIT", "CHAINED_INVOKE"})


class Fiber:
    """One generator running in one context."""

    __slots__ = (
        "alive",
        "ctx_id",
        "gen",
        "label",
        "n",
        "on_done",
        "outer",
        "parent_id",
        "ran_before",
        "undo",
    )

    def __init__(
        self,
        gen: Gen,
        ctx_id: str | None,
        on_done: Callable[[Fiber, Any, BaseException | None], None],
    ) -> None:
        self.gen = gen
        self.ctx_id = ctx_id
        #: The ParentId its operations record: the context id, except in FLAT Map/Parallel
        #: items, whose operations belong to the batch itself.
        self.parent_id = ctx_id
        self.n = 0
        self.on_done = on_done
        self.alive = True
        #: Compensations registered by this fiber's steps: (undo, step result, step name).
        self.undo: list[tuple[Callable[[Any], Any], Any, str | None]] = []
        #: Set when the code it runs now ran in an earlier invocation although every recorded
        #: operation of its context was reached: after the replayed creation of its context's
        #: last recorded operation, a callback, until the callback is awaited.
        self.ran_before = False
        #: For a virtual child: the fiber it runs inside, whose code goes on after it.
        self.outer: Fiber | None = None
        #: For a context that records nothing (a virtual child, a flat item): its SubType and
        #: name, for error messages to name it by (its id is recorded nowhere).
        self.label: tuple[str, str | None] | None = None


class Core:
    """State shared by every handler: the history, the fibers, the pending updates."""

    __slots__ = (
        "_aws_types",
        "_children",
        "_code_failures",
        "_decided",
        "_ended_as",
        "_events",
        "_execution_id",
        "_expanded",
        "_fiber",
        "_fibers",
        "_has_input",
        "_input_payload",
        "_left_behind",
        "_ops",
        "_prune_at",
        "_reached",
        "_ready",
        "_recorded",
        "_to_reach",
        "_updates",
        "_urgent",
        "_visited",
        "_waiters",
        "execution_arn",
        "payload_format",
    )

    def __init__(self, operations: Iterable[Operation], execution_arn: str) -> None:
        #: How results and failures are written: ``"json"``, or ``"aws"`` (AWS's envelope and
        #: error types); the ``Interpreter`` sets it.
        self.payload_format: PayloadFormat = "json"
        self._aws_types = False
        self.execution_arn = execution_arn
        self._input_payload: str | None = None
        self._has_input = False
        #: The status of an EXECUTION operation that ended (SUCCEEDED, STOPPED...), else None.
        self._ended_as: str | None = None
        #: The id of the EXECUTION operation given, if any.
        self._execution_id: str | None = None
        ops = {op.id: op for op in operations}
        for execution in [op for op in ops.values() if op.type == "EXECUTION"]:
            del ops[execution.id]
            self._has_input = True
            self._execution_id = execution.id
            if execution.status in TERMINAL_STATUSES:
                self._ended_as = execution.status
            if execution.execution_details is not None:
                self._input_payload = execution.execution_details.input_payload
        self._ops = ops
        #: The operations recorded before this interpreter started: each must be reached again.
        self._recorded = list(ops.values())
        # Patched markers among them are decisions, not positions to reach again.
        markers = sum(
            1 for op in self._recorded if op.sub_type == PATCH_SUBTYPE and op.type == "STEP"
        )
        #: How many of them must be reached again (``catching_up`` compares, once per command).
        self._to_reach = len(self._recorded) - markers
        self._visited: set[str] = set()
        #: Recorded operations a decided batch left behind (counted in ``_visited``: they need
        #: not be reached again).
        self._left_behind: set[str] = set()
        #: The batches decided in this invocation: what their unfinished items wait on is
        #: waited on by nothing (see ``waited_on``).
        self._decided: set[str] = set()
        #: The errors of contexts this run failed with an exception of the code's own (not a
        #: failure an operation recorded): what a replay tells from a recorded failure.
        self._code_failures: list[ErrorObject] = []
        self._expanded: set[str | None] = {None}
        self._ready: deque[tuple[Fiber, Any, BaseException | None]] = deque()
        #: The fibers started in this invocation (those that ended are pruned now and then),
        #: to close the suspended ones at its end.
        self._fibers: list[Fiber] = []
        self._prune_at = 1024
        self._waiters: dict[str, list[tuple[Fiber, Resolver]]] = {}
        self._updates: list[OperationUpdate] = []
        #: Set when an update must be checkpointed before anything else happens.
        self._urgent = False
        #: The fiber whose workflow code runs now (for ``replaying``).
        self._fiber: Fiber | None = None
        #: Recorded operations by ParentId, and per context how many of them lead its list
        #: already reached: built on the first ``replaying`` question (the logger's).
        self._children: dict[str | None, list[Operation]] | None = None
        self._reached: dict[str | None, int] = {}
        #: Virtual contexts started or ended since the last action (see ``next_action``).
        self._events: list[VirtualContextEvent] = []

    # --- positions and matching ---------------------------------------------------------------

    def _position(
        self,
        fiber: Fiber,
        type_: str,
        sub_type: str,
        name: str | None,
        legacy: object = None,
    ) -> tuple[str, Operation | None]:
        """Take the fiber's next position: its id and the operation recorded there, if any.

        ``legacy`` is the function an unnamed command was named after before durable_gen named
        operations as AWS does (see ``_match``)."""
        fiber.n = n = fiber.n + 1
        ctx = fiber.ctx_id
        if ctx is None:
            op_id = _ROOT_IDS[n] if n < len(_ROOT_IDS) else _root_id(n)
        else:
            op_id = operation_id(ctx, n)
        rec = self._ops.get(op_id)  # the replay fast path, inlined from _match
        if rec is None:
            fiber.ran_before = False  # a new command: what follows it is new code
            # (the nearest recorded context: a virtual child's operations belong to it too)
            done = self._ops.get(fiber.parent_id) if fiber.parent_id is not None else None
            if done is not None and done.status in TERMINAL_STATUSES:
                # A completed context rebuilt from its operations (its result was too large to
                # record) ended after what it recorded: new code would run inside it.
                raise _diverged(
                    fiber,
                    op_id,
                    f"the end of {describe(done.type, done.sub_type, done.name, done.parent_id)}"
                    " (it completed)",
                    describe(type_, sub_type, name, fiber.parent_id),
                )
            if len(self._visited) < self._to_reach:  # replay not over (``catching_up``)
                self._check_not_virtual(fiber, op_id, type_, sub_type, name)
            return op_id, None
        if (
            rec.type != type_
            or rec.sub_type != sub_type
            or rec.name != name
            or rec.parent_id != fiber.parent_id
        ):
            self._match(op_id, fiber.parent_id, type_, sub_type, name, n, legacy, fiber)
        if fiber.ran_before and (rec.status not in TERMINAL_STATUSES or type_ in _STOPS):
            # An invocation stopped at it (it was still open, or it is a wait or an invoke,
            # which end between invocations): the code after it ran only if it is recorded.
            fiber.ran_before = False
        self._visited.add(op_id)
        return op_id, rec

    def _match(
        self,
        op_id: str,
        parent: str | None,
        type_: str,
        sub_type: str,
        name: str | None,
        n: int,
        legacy: object = None,
        fiber: Fiber | None = None,
    ) -> Operation | None:
        """The operation recorded at ``op_id`` if it matches (rule 2), None if there is none.

        Names match when equal, and when one side is unnamed and the other carries the name of
        the function ``legacy`` itself: a history recorded before durable_gen named operations
        as AWS does named an unnamed step, condition or child after its function, which
        matches the command that now goes unnamed; and a step of a plain function (or a child
        of an unmarked generator function) recorded no name, which matches the same function
        now decorated with ``@step`` or ``@workflow`` (the old code had no name to compare).
        No other difference is accepted.
        """
        rec = self._ops.get(op_id)
        if rec is None:
            return None
        if (
            rec.type != type_
            or rec.sub_type != sub_type
            or (
                rec.name != name
                and not (
                    legacy is not None
                    and (rec.name if name is None else name) == _fn_name(legacy)
                    and (name is None or rec.name is None)
                )
            )
            or rec.parent_id != parent
        ):
            recorded = describe(rec.type, rec.sub_type, rec.name, rec.parent_id)
            requested = describe(type_, sub_type, name, parent)
            advice = _ADVICE
            if rec.type == type_ and rec.name == name and rec.parent_id == parent:
                advice = _sub_type_advice(type_, rec.sub_type, sub_type)
            raise diverged_at(parent, n, op_id, recorded, requested, advice, fiber)
        self._visited.add(op_id)
        return rec

    def _check_not_virtual(
        self, fiber: Fiber, op_id: str, type_: str, sub_type: str, name: str | None
    ) -> None:
        """Nothing is recorded at the fiber's new position ``op_id``. Unless a virtual child
        context was there (rule 4): it records nothing itself, but its first operation or the
        next position may be recorded. Then the code no longer has it, and it would run anew
        what the context recorded: ``NonDeterminismError``, before anything runs."""
        rec = self._recorded_under(operation_id(op_id, 1)) or self._recorded_under(
            operation_id(fiber.ctx_id, fiber.n + 1)
        )
        if rec is not None:
            recorded = describe(rec.type, rec.sub_type, rec.name, rec.parent_id)
            raise _diverged(
                fiber,
                op_id,
                f"a virtual CONTEXT/RunInChildContext (nothing at its id), then {recorded}",
                describe(type_, sub_type, name, fiber.parent_id),
            )

    def _recorded_under(self, op_id: str) -> Operation | None:
        """The operation recorded at ``op_id``, or when virtual child contexts were there
        (they record nothing themselves, and may nest), the first operation recorded inside
        them: at the first position of the first position... of ``op_id``."""
        ops = self._ops
        for _ in range(_VIRTUAL_DEPTH):
            rec = ops.get(op_id)
            if rec is not None:
                return rec
            op_id = operation_id(op_id, 1)
        return None

    def _recorded_children(self, parent: str | None) -> list[Operation]:
        """The recorded operations (markers aside) whose ParentId is ``parent``, in history
        order. The index is built once, on the first question."""
        children = self._children
        if children is None:
            children = self._children = {}
            for op in self._recorded:
                if not is_marker(op):
                    children.setdefault(op.parent_id, []).append(op)
        return children.get(parent) or []

    def _leave_behind(self, batch_id: str) -> None:
        """A batch is decided: what its unfinished items recorded in earlier invocations (and
        items it never reached this time) is not run again, and need not be reached."""
        visited, left = self._visited, self._left_behind
        todo = [batch_id]
        while todo:
            for op in self._recorded_children(todo.pop()):
                if op.type == "CONTEXT":
                    todo.append(op.id)
                if op.id not in visited:
                    visited.add(op.id)
                    left.add(op.id)

    def _unreached_in(self, parent: str | None) -> bool:
        """Whether the context whose operations record ``parent`` has recorded operations
        (markers aside) not reached yet. Amortized O(1): each context's list is walked once."""
        ops = self._recorded_children(parent)
        if not ops:
            return False
        visited = self._visited
        i = self._reached.get(parent, 0)
        while i < len(ops) and ops[i].id in visited:
            i += 1
        self._reached[parent] = i
        return i < len(ops)

    def _ran_before(self, fiber: Fiber) -> bool:
        """Whether the workflow code ``fiber`` runs now already ran in an earlier invocation.

        In a recorded context (the root, a child, a nested item or branch): while the context
        has recorded operations not reached again, or after the code ran on past the last one
        before (``Fiber.ran_before``). A virtual child or a flat item shares its recorded
        context with other code, so its own next position tells instead (a recorded operation
        there, or at the first position of a virtual child there), and a virtual child's code
        also ran before when the code it runs inside did. A context recorded as ended runs
        again only to rebuild a result too large to record (``ReplayChildren``): all of it
        ran before.
        """
        ops = self._ops
        f: Fiber | None = fiber
        while f is not None:
            if f.ran_before:
                return True
            ctx, parent = f.ctx_id, f.parent_id
            rec = ops.get(parent) if parent is not None else None
            if rec is not None and rec.status in TERMINAL_STATUSES:
                return True
            if ctx == parent:
                return self._unreached_in(parent)
            assert ctx is not None  # only the root has no context id, and it records as itself
            ahead = operation_id(ctx, f.n + 1)
            if ahead in ops or operation_id(ahead, 1) in ops:
                return True
            f = f.outer
        return False

    def _check_reached(
        self, ctx_id: str, sub_type: str, name: str | None, exc: BaseException | None = None
    ) -> None:
        """A context's code has ended: every operation recorded in it must have been reached,
        or the code no longer yields what the execution recorded (``NonDeterminismError`` now,
        whichever route replays it, rather than when the workflow returns). Code that ended
        by raising ``exc`` fails the execution with it instead, as the root's does: the
        recorded execution went on, this code would fail it (a failure it no longer catches,
        a bug of its own), and the error says so better than the operations it did not reach."""
        if not self._unreached_in(ctx_id):
            return
        if isinstance(exc, Exception):
            raise Fatal(exc)
        visited = self._visited
        left = [op for op in self._recorded_children(ctx_id) if op.id not in visited]
        first = left[0]
        what = describe(first.type, first.sub_type, first.name, first.parent_id)
        context = describe("CONTEXT", sub_type, name, None)
        raise Fatal(
            NonDeterminismError(
                f"the code of context {ctx_id[:12]} ({context}) ended but {len(left)} recorded "
                f"operation(s) in it were never reached, the first {what} (id {first.id[:12]}): "
                "the code no longer yields what this execution recorded",
                operation_id=first.id,
                recorded=what,
                requested=f"{context} ending",
            )
        )

    def _check_reached_next(
        self, fiber: Fiber, sub_type: str, name: str | None, exc: BaseException | None = None
    ) -> None:
        """The code of a context that records nothing (a virtual child, a flat item) has
        ended at its ``fiber.n``-th position: nothing may be recorded after it (nor inside
        virtual children there), or the code no longer yields what the execution recorded
        (``NonDeterminismError`` now, as ``_check_reached`` says for recorded ones). A virtual
        child that recorded nothing leaves its position empty: a few more are looked at."""
        if len(self._visited) >= self._to_reach:
            return  # every recorded operation was reached: none can be left in it
        ctx = fiber.ctx_id
        assert ctx is not None  # the root's code ends with the workflow
        ops = self._ops
        k = fiber.n + 1
        rec = self._recorded_under(operation_id(ctx, k))
        while rec is None and k < fiber.n + _EMPTY_POSITIONS:
            k += 1
            at = operation_id(ctx, k)
            rec = ops.get(at) or ops.get(operation_id(at, 1))
        if rec is None:
            return
        if isinstance(exc, Exception):
            raise Fatal(exc)  # as _check_reached says
        what = describe(rec.type, rec.sub_type, rec.name, rec.parent_id)
        context = describe("CONTEXT", sub_type, name, None)
        raise Fatal(
            NonDeterminismError(
                f"the code of context {ctx[:12]} ({context}, which records nothing) "
                f"ended after {fiber.n} operation(s) but the execution recorded more in it, the "
                f"next {what} (id {rec.id[:12]}): the code no longer yields what this "
                "execution recorded",
                operation_id=rec.id,
                position=f"operation {k} of context {ctx[:12]}",
                recorded=what,
                requested=f"{context} ending",
            )
        )

    def _unvisited(self) -> list[Operation]:
        """Recorded operations, in contexts that were entered, never reached (markers aside)."""
        if len(self._visited) >= self._to_reach:
            return []  # every recorded operation was reached: no scan
        visited, expanded = self._visited, self._expanded
        return [
            op
            for op in self._recorded
            if op.id not in visited and op.parent_id in expanded and not is_marker(op)
        ]

    # --- blocking -------------------------------------------------------------------------------

    def _block(self, fiber: Fiber, op_id: str, resolve: Resolver) -> Answer:
        """Answer now if the operation already resolves; else park the fiber on ``op_id``."""
        rec = self._ops.get(op_id)
        if rec is not None:
            answer = resolve(rec)
            if answer is not None:
                return answer
        self._waiters.setdefault(op_id, []).append((fiber, resolve))
        return BLOCKED

    def _wake(self, op: Operation) -> None:
        """Give ``op`` to the fibers waiting on it; queue those that can go on."""
        pending = self._waiters.get(op.id)
        if not pending:
            return
        still = []
        for fiber, resolve in pending:
            answer: Answer | None
            try:
                answer = resolve(op)
            except Exception as error:  # e.g. a callback answered with non-JSON
                answer = (None, error)
            if answer is None:
                still.append((fiber, resolve))
            elif not isinstance(answer, Blocked):
                self._ready.append((fiber, answer[0], answer[1]))
        if still:
            self._waiters[op.id] = still
        else:
            del self._waiters[op.id]

    def _track(self, fiber: Fiber) -> None:
        """Keep ``fiber`` to close at the end of the invocation if it is still suspended."""
        fibers = self._fibers
        fibers.append(fiber)
        if len(fibers) > self._prune_at:  # a large Map: forget the items that ended
            self._fibers = fibers = [f for f in fibers if f.alive]
            self._prune_at = max(1024, 2 * len(fibers))

    def waited_on(self, fiber: Fiber) -> bool:
        """Whether what ``fiber`` waits on matters: it does not run in an item that a decided
        batch abandoned (its context, or a context around it, is under a decided batch)."""
        decided = self._decided
        if not decided:
            return fiber.alive
        ops = self._ops
        f: Fiber | None = fiber
        while f is not None:
            if not f.alive:
                return False
            ctx: str | None = f.parent_id
            seen: set[str] = set()
            while ctx is not None and ctx not in seen:
                if ctx in decided:
                    return False
                seen.add(ctx)
                rec = ops.get(ctx)
                ctx = rec.parent_id if rec is not None else None
            f = f.outer
        return True

    def _abandon(self, fiber: Fiber) -> None:
        """Stop a fiber whose result is no longer wanted (a decided batch)."""
        fiber.alive = False
        # a generator that yields from `finally` raises RuntimeError: nothing more to run
        with contextlib.suppress(RuntimeError):
            fiber.gen.close()

    # --- recording ------------------------------------------------------------------------------

    def _start(
        self, fiber: Fiber, op_id: str, type_: Any, sub_type: str, name: str | None, **extra: Any
    ) -> None:
        """Record the START of a new wait, callback or invoke at the fiber's position."""
        self._updates.append(
            OperationUpdate(
                id=op_id,
                type=type_,
                action="START",
                parent_id=fiber.parent_id,
                name=name,
                sub_type=sub_type,
                **extra,
            )
        )

    @staticmethod
    def _context_update(
        op_id: str, parent: str | None, sub_type: str, name: str | None, action: Any, **extra: Any
    ) -> OperationUpdate:
        return OperationUpdate(
            id=op_id,
            type="CONTEXT",
            action=action,
            parent_id=parent,
            name=name,
            sub_type=sub_type,
            **extra,
        )

    def _context_success(
        self,
        op_id: str,
        parent: str | None,
        sub_type: str,
        name: str | None,
        payload: str,
        summary: str | None = None,
    ) -> OperationUpdate:
        """SUCCEED of a context; a result over 256 KiB is replaced by ``ReplayChildren``."""
        if too_large(payload, MAX_CONTEXT_RESULT_BYTES):
            return self._context_update(
                op_id,
                parent,
                sub_type,
                name,
                "SUCCEED",
                payload=summary or "",
                context_options=ContextOptions(replay_children=True),
            )
        return self._context_update(op_id, parent, sub_type, name, "SUCCEED", payload=payload)

    # --- contexts -------------------------------------------------------------------------------

    def _enter_context(
        self,
        fiber: Fiber,
        op_id: str,
        rec: Operation | None,
        sub_type: str,
        name: str | None,
        make_gen: Callable[[], Any],
        serdes: Serdes | None,
        error_cls: type[OperationError],
        type_: Any = Any,
    ) -> Answer:
        """Run ``make_gen()`` as a child context at ``op_id`` (rule 3 for a recorded one)."""
        replaying_children = False
        if rec is not None:
            d = rec.context_details
            if rec.status == "SUCCEEDED":
                if not (d and d.replay_children):
                    answer = decoded(
                        d.result if d else None,
                        serdes,
                        type_,
                        f"the result of {name!r}, as recorded",
                    )
                    return answer if answer[1] is None else self._placed(answer, rec.parent_id)
                replaying_children = True
            elif rec.status in TERMINAL_STATUSES:
                return (
                    None,
                    self._context_error(op_id, sub_type, error_cls, d.error if d else None),
                )
        else:
            self._updates.append(
                self._context_update(op_id, fiber.parent_id, sub_type, name, "START")
            )

        def done(child: Fiber, value: Any, exc: BaseException | None) -> None:
            self._check_reached(op_id, sub_type, name, exc)
            result, err = self._settle_context(
                op_id, fiber.parent_id, sub_type, name, serdes, value, exc,
                record=not replaying_children, type_=type_,
            )  # fmt: skip
            if err is not None:
                failure = self._context_error(op_id, sub_type, error_cls, err, exc)
                self._ready.append((fiber, None, failure))
            else:
                self._ready.append((fiber, result, None))

        self._expanded.add(op_id)
        child = Fiber(generator(make_gen), op_id, done)
        self._track(child)
        self._ready.append((child, None, None))
        return BLOCKED

    def _enter_virtual(
        self,
        fiber: Fiber,
        sub_type: str,
        name: str | None,
        make_gen: Callable[[], Any],
        serdes: Serdes | None,
        error_cls: type[OperationError],
        type_: Any = Any,
    ) -> Answer:
        """Run ``make_gen()`` as a virtual child context at the fiber's next position (rule 4):
        its result and error are what a checkpointed context gives, and nothing is recorded."""
        fiber.n = n = fiber.n + 1
        op_id = operation_id(fiber.ctx_id, n)
        rec = self._ops.get(op_id)
        if rec is not None:
            raise _diverged(
                fiber,
                op_id,
                describe(rec.type, rec.sub_type, rec.name, rec.parent_id),
                f"a virtual CONTEXT/{sub_type} (which records nothing)",
            )
        parent_id = fiber.parent_id
        if not self._ran_before(fiber):
            self._virtual_event("START", op_id, parent_id, sub_type, name)

        def done(child: Fiber, value: Any, exc: BaseException | None) -> None:
            self._check_reached_next(child, sub_type, name, exc)
            result, err = self._settle_context(
                op_id, parent_id, sub_type, name, serdes, value, exc, record=False, type_=type_
            )
            if not self._ran_before(child):
                action = "SUCCEED" if err is None else "FAIL"
                self._virtual_event(action, op_id, parent_id, sub_type, name, err)
            if err is not None:
                failure = self._context_error(op_id, sub_type, error_cls, err)
                self._ready.append((fiber, None, failure))
            else:
                self._ready.append((fiber, result, None))

        child = Fiber(generator(make_gen), op_id, done)
        child.parent_id = parent_id
        child.label = (sub_type, name)
        child.ran_before = fiber.ran_before
        child.outer = fiber
        self._track(child)
        self._ready.append((child, None, None))
        return BLOCKED

    def _virtual_event(
        self,
        action: Any,
        op_id: str,
        parent_id: str | None,
        sub_type: str,
        name: str | None,
        error: ErrorObject | None = None,
    ) -> None:
        self._events.append(
            VirtualContextEvent(
                action=action,
                operation_id=op_id,
                parent_id=parent_id,
                name=name,
                sub_type=sub_type,
                error=error,
                position=len(self._updates),
            )
        )

    def _settle_context(
        self,
        op_id: str,
        parent: str | None,
        sub_type: str,
        name: str | None,
        serdes: Serdes | None,
        value: Any,
        exc: BaseException | None,
        *,
        record: bool,
        type_: Any = Any,
    ) -> tuple[Any, ErrorObject | None]:
        """A finished context's (result, None) or (None, error), recording it when asked."""
        if exc is None:
            what = (
                f"the result of context {name!r}"
                if name is not None
                else f"the result of an unnamed {sub_type} context (operation {op_id})"
            )
            try:
                if serdes is None and isinstance(value, Command):
                    raise returned_command(value, what)
                payload = dumps(value, serdes, what=what, format=self.payload_format)
                # what the workflow receives now is what every replay decodes
                result = loads(payload, serdes, type_=type_, what=what)
                if serdes is None and type(result) is not type(value):
                    cut = narrowed(value, result, what, type_)
                    if cut is not None:
                        raise cut
            except SerializationError as error:
                exc = error
            else:
                if record:
                    self._updates.append(
                        self._context_success(op_id, parent, sub_type, name, payload)
                    )
                return result, None
        err = error_object(exc, aws_types=self._aws_types)
        if not isinstance(exc, OperationError):
            self._code_failures.append(err)
        if record:
            self._updates.append(
                self._context_update(op_id, parent, sub_type, name, "FAIL", error=err)
            )
        return None, err

    def _context_error(
        self,
        op_id: str,
        sub_type: str,
        error_cls: type[OperationError],
        err: ErrorObject | None,
        escaped: BaseException | None = None,
    ) -> OperationError:
        """The exception a failed context raises (a timed-out WaitForCallback's is a timeout:
        ``raise_error`` picks the precise class from the recorded type, AWS's paths included).
        A WaitForCallback's, and an undo's (``compensation_error``), carry the type recorded
        inside them (``wait_for_callback_error``): ``escaped``, what the body raised, when it
        ends in this invocation, else the children's records."""
        if sub_type == "Compensation":
            return compensation_error(err, escaped, self._ops.get(operation_id(op_id, 1)))
        if sub_type != "WaitForCallback":
            return raise_error(error_cls, err)
        return wait_for_callback_error(
            err,
            escaped,
            self._ops.get(operation_id(op_id, 1)),
            self._ops.get(operation_id(op_id, 2)),
        )

    def _placed(self, answer: Resume, parent: str | None) -> Resume:
        """``answer``'s error (a recorded payload that does not decode) ending with where its
        operation sits, when in a context: several operations may share its name."""
        error = answer[1]
        where = self._context_where(parent)
        if not isinstance(error, SerializationError) or where is None:
            return answer
        return (None, SerializationError(f"{str(error).rstrip('.')}. {where}"))

    def _context_where(self, parent: str | None) -> str | None:
        """``Where: context 974bfc6321e2 is CONTEXT/MapIteration name='map-item-1', in
        CONTEXT/Map name='m', at the root``: the recorded contexts around an operation whose
        parent is ``parent``, by type and name, innermost first (an error's position names its
        context by id only). None at the root. Read on the rare path only."""
        inner = parent
        chain: list[str] = []
        while parent is not None and len(chain) < 100:
            ctx = self._ops.get(parent)
            if ctx is None:
                break
            chain.append(describe(ctx.type, ctx.sub_type, ctx.name, None))
            parent = ctx.parent_id
        if not chain or inner is None:
            return None
        return f"Where: context {inner[:12]} is {', in '.join(chain)}, at the root"


# --- helpers ------------------------------------------------------------------------------------


#: What to do about a divergence, unless the caller knows better.
_ADVICE: Final = (
    "A running execution must replay the same commands in the same order; guard changed code "
    "with Patched(...) or start a new execution"
)


#: The SubType each type records without ``sub_type=``.
_DEFAULT_SUB_TYPES: Final = {"STEP": "Step", "CONTEXT": "RunInChildContext", "CALLBACK": "Callback"}


def _sub_type_advice(type_: str, recorded: str | None, requested: str) -> str:
    """What to do when only the SubType differs: a ``sub_type=`` added, changed or removed
    (unless one side is an operation of durable_gen's own, a ``Now`` step or a ``Map``...)."""
    own = OWN_STEP_SUBTYPES | OWN_CONTEXT_SUBTYPES
    default = _DEFAULT_SUB_TYPES.get(type_)
    if default is None or recorded is None or recorded in own or requested in own:
        return _ADVICE
    keep = "no sub_type=" if recorded == default else f"sub_type={recorded!r}"
    return (
        "Only the SubType differs: a sub_type= was added, changed or removed, and it is "
        f"matched like the name (an operation without one records {default!r}). Keep what the "
        f"executions recorded ({keep} here), or guard the change with Patched(...)"
    )


def _diverged(
    fiber: Fiber, op_id: str, recorded: str, requested: str, advice: str = _ADVICE
) -> Fatal:
    """The non-determinism at the fiber's current position ``op_id``, to raise."""
    return diverged_at(fiber.parent_id, fiber.n, op_id, recorded, requested, advice, fiber)


def diverged_at(
    parent: str | None,
    n: int,
    op_id: str,
    recorded: str,
    requested: str,
    advice: str = _ADVICE,
    fiber: Fiber | None = None,
) -> Fatal:
    """The non-determinism at operation ``n`` of context ``parent`` (id ``op_id``), to raise;
    ``advice`` says what to do about it. In a context that records nothing (``fiber`` runs a
    virtual child or a flat item), ``n`` counts that context's operations, so the position
    names it, and says where its operations are recorded."""
    ctx = "the root context" if parent is None else f"context {parent[:12]}"
    where = f"operation {n} of {ctx}"
    if fiber is not None and fiber.label is not None and fiber.ctx_id is not None:
        where = (
            f"operation {n} of context {fiber.ctx_id[:12]} "
            f"({describe('CONTEXT', *fiber.label, None)}, which records nothing: its "
            f"operations are recorded in {ctx})"
        )
    return Fatal(
        NonDeterminismError(
            f"non-deterministic workflow at {where} (id {op_id[:12]}): the history recorded "
            f"{recorded}, the code asks for {requested}. {advice}",
            operation_id=op_id,
            position=where,
            recorded=recorded,
            requested=requested,
        )
    )


def describe(type_: str, sub_type: str | None, name: str | None, parent: str | None) -> str:
    """An operation as error messages name it: ``STEP/Step name='x' parent=abc``."""
    parts = [f"{type_}/{sub_type}"]
    if name is not None:
        parts.append(f"name={name!r}")
    if parent is not None:
        parts.append(f"parent={parent[:12]}")
    return " ".join(parts)


def decoded(payload: str | None, serdes: Serdes | None, type_: Any, what: str) -> Resume:
    """A recorded result as the workflow receives it: a payload that does not decode (into
    its declared type) raises at the yield, where the workflow can catch it."""
    try:
        return (loads(payload, serdes, type_=type_, what=what), None)
    except SerializationError as exc:
        return (None, exc)


def plain(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The function to call: a ``@step`` function's plain function (without the guard that
    refuses to run it in a workflow body: the driver runs it outside), else ``fn``."""
    return fn._fn if isinstance(fn, StepFunction) else fn


def generator(factory: Callable[[], Any]) -> Gen:
    """The generator a context runs: the factory's, or one raising or returning its outcome."""
    try:
        gen = factory()
    except Exception as exc:
        return _raising(exc)
    return gen if inspect.isgenerator(gen) else _returning(gen)


def _raising(exc: BaseException) -> Gen:
    raise exc
    yield  # pragma: no cover


def _returning(value: Any) -> Gen:
    return value
    yield  # pragma: no cover


def one_step(
    fn: Callable[..., Any], args: tuple[Any, ...], name: str | None, retry: Retry | None
) -> Gen:
    """A context body that runs one step and returns its result."""
    return (yield Step(fn, args, None, name, retry))


def returned_command(value: Command[Any], what: str) -> SerializationError:
    """The error of a workflow body (the root, a child, a Map item or branch) that returned a
    command instead of yielding it. The codec would write most commands as a dict of their
    fields (a ``Wait``'s seconds, a ``CallbackHandle``'s ids), a success with a value nobody
    meant, so a command is refused before it is encoded."""
    if isinstance(value, CallbackHandle):
        return SerializationError(
            f"{what} is a CallbackHandle, not a value: the callback was created but never "
            "waited for. It is a command, not its result: yield it to wait for the answer "
            "(`return (yield handle)`), or return handle.callback_id to hand the id over"
        )
    kind = next(c.__name__ for c in type(value).__mro__ if not c.__name__.startswith("_"))
    return SerializationError(
        f"{what} is a command ({kind}), not a value: it was returned instead of yielded, so it "
        "did nothing. It is a command, not its result: yield it and use what the yield returns "
        "(`return (yield cmd)`)"
    )
