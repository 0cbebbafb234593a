"""Reading an execution's operations page by page, and the checks every page must pass.

The service hands an invocation its operations in pages: ``InitialExecutionState`` in the event,
then one ``GetDurableExecutionState`` call per ``NextMarker``. Rules, each a typed error:

1. Paging ends: a marker the service already gave is refused (it would loop forever), and so
   is paging on through ``max_pages`` pages that bring no operation not read before (pages
   that do bring new operations are progress, however small they are).
2. An operation id appears once across all the pages read: a repeated id means two records
   for one position, and replay could not tell which one is true.
3. A finished step carries its outcome: a SUCCEEDED or FAILED STEP without ``StepDetails``
   has lost its result or error, and replaying it would invent one. A step's ``Attempt`` is
   never negative.
4. There is at most one EXECUTION operation: it carries the input, and two would leave it open
   which one the workflow started from.
5. An operation's type is one of the API's six and its status one its type takes
   (``STATUSES``): a WAIT is never FAILED, a STEP never TIMED_OUT. Any other type or status was
   written by a store that mixed them up, and replay would read it as something else (a FAILED
   wait as a finished one, a ``"step"`` as a changed workflow).
6. An operation's ``ParentId`` names a CONTEXT (or the EXECUTION) operation of the same state:
   an operation whose parent is missing was cut from a truncated history, and replay would
   report the workflow as changed when it is the record that is incomplete.

Pure: the host passes the function that fetches a page.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Collection, Mapping
from typing import Final

from ._errors import InvalidInputError
from ._wire import ExecutionState, Operation

__all__ = [
    "MAX_PAGES",
    "STATUSES",
    "CheckedOperations",
    "check_operations",
    "check_page",
    "check_status",
    "load_operations",
    "read_pages",
]

#: Pages without a new operation read at most for one invocation's state: a service that keeps
#: issuing new markers with nothing new on them is paging in a loop. Pages that bring new
#: operations do not count, so an execution of many operations is read in pages of any size.
MAX_PAGES: Final = 10_000

_FINISHED: Final = frozenset({"SUCCEEDED", "FAILED"})
#: The types of operation that other operations may name as their ParentId (rule 6).
_PARENTS: Final = frozenset({"CONTEXT", "EXECUTION"})

#: The statuses each operation type takes (rule 5), as the service writes them.
STATUSES: Final[dict[str, frozenset[str]]] = {
    "EXECUTION": frozenset({"STARTED", "SUCCEEDED", "FAILED", "TIMED_OUT", "STOPPED"}),
    "CONTEXT": frozenset({"STARTED", "SUCCEEDED", "FAILED"}),
    "STEP": frozenset({"STARTED", "PENDING", "READY", "SUCCEEDED", "FAILED"}),
    "WAIT": frozenset({"STARTED", "SUCCEEDED", "CANCELLED"}),
    "CALLBACK": frozenset({"STARTED", "SUCCEEDED", "FAILED", "TIMED_OUT"}),
    "CHAINED_INVOKE": frozenset(
        {"STARTED", "SUCCEEDED", "FAILED", "TIMED_OUT", "STOPPED", "CANCELLED"}
    ),
}


def check_status(op: Operation) -> str | None:
    """Why ``op``'s type is unknown or its status not one its type takes (rule 5), or None."""
    statuses = STATUSES.get(op.type)
    if statuses is None:
        return (
            f"the operation {op.id!r}{f' ({op.name!r})' if op.name else ''} has Type "
            f"{op.type!r}, which is none of {', '.join(STATUSES)}: the store recorded another "
            "system's record, or wrote the type otherwise than the update gave it; record the "
            "type of the OperationUpdate as it is (apply_updates in durable_gen.runtime does)"
        )
    if op.status in statuses:
        return None
    return (
        f"the {op.type} {op.id!r}{f' ({op.name!r})' if op.name else ''} has status "
        f"{op.status!r}, which a {op.type} never takes (it takes "
        f"{', '.join(sorted(statuses))}): the store recorded a status of another type or "
        "another operation; record the status the update asked for (apply_updates in "
        "durable_gen.runtime does)"
    )


def load_operations(
    first: ExecutionState,
    fetch_page: Callable[[str], ExecutionState],
    *,
    max_pages: int = MAX_PAGES,
) -> CheckedOperations:
    """Every operation of an execution's state from ``first`` and the pages after it, checked.

    Args:
        first: The first page (``InitialExecutionState``).
        fetch_page: Returns the page a ``NextMarker`` points at, e.g.
            ``lambda marker: service.get_state(arn, token, marker)``.
        max_pages: Pages without a new operation to read at most, ``first`` included
            (pages bringing new operations do not count).

    Returns:
        The operations of all pages, in order.

    Raises:
        InvalidInputError: the service repeated a marker or paged on through ``max_pages``
            pages without a new operation, or what it sent breaks a rule of
            ``check_operations``.
    """
    operations = read_pages(first, fetch_page, max_pages=max_pages)
    check_operations(operations)
    return CheckedOperations(operations)


def read_pages(
    first: ExecutionState,
    fetch_page: Callable[[str], ExecutionState],
    *,
    max_pages: int = MAX_PAGES,
) -> list[Operation]:
    """The operations of ``first`` and the pages after it, read under rule 1 only.

    A checkpoint reply's ``NewExecutionState`` is read with this: its pages hold the
    operations that checkpoint changed, not the execution's whole state, so their parents
    (contexts recorded before) are rightly absent and rules 2 to 6 are not whole-state checks
    there; the interpreter's ``observe()`` checks each operation it is given.

    Raises:
        InvalidInputError: the service repeated a marker or paged on through ``max_pages``
            pages without a new operation, or a page is not an ``ExecutionState``.
    """
    check_page(first, "the first page of the state (InvocationInput.initial_execution_state)")
    operations = list(first.operations)
    marker = first.next_marker
    seen: set[str] = set()
    ids = {op.id for op in operations} if marker else set()  # one page (most): none needed
    pages = 1
    # Pages that bring no operation not read before: only those count against ``max_pages``,
    # so that an execution of many operations read in small pages is read to its end. The first
    # page counts whatever it holds.
    idle = 1
    while marker:
        if marker in seen:
            raise InvalidInputError(
                f"the service returned NextMarker {marker!r} a second time (after {pages} "
                "pages of operations): its paging loops, so the execution's state cannot be "
                "read to the end. Nothing was replayed; the service (or the custom "
                "DurableService) must issue each marker once"
            )
        if idle >= max_pages:
            raise InvalidInputError(
                f"the execution's state did not end after {pages} pages of operations, "
                f"{idle} of them bringing no new operation (the limit is {max_pages}): the "
                "service keeps issuing new markers. Nothing was replayed; check the service's "
                "paging"
            )
        seen.add(marker)
        page = fetch_page(marker)
        if not isinstance(page, ExecutionState):
            if inspect.isawaitable(page):  # closed: no "never awaited" warning follows
                getattr(page, "close", lambda: None)()
            raise InvalidInputError(
                f"the service's get_state() returned {page!r} for NextMarker {marker!r}: a "
                "DurableService's get_state() returns ExecutionState(operations=[...], "
                "next_marker=<the next page's marker, or None>)"
            )
        check_page(page, f"get_state() for NextMarker {marker!r}")
        operations.extend(page.operations)
        before = len(ids)
        ids.update(op.id for op in page.operations)
        idle += len(ids) == before
        marker = page.next_marker
        pages += 1
    return operations


def check_page(page: object, what: str) -> None:
    """Refuse a page of operations built by hand with a field of another type (msgspec does not
    check the fields of a Struct built in code): ``InvalidInputError`` naming ``what``.

    Raises:
        InvalidInputError: ``page`` is not an ``ExecutionState``, or its ``operations`` are not
            a list (a collection) of ``Operation`` values.
    """
    if (
        type(page) is ExecutionState
        and type(page.operations) is list
        and all(type(op) is Operation for op in page.operations)
    ):
        return
    problem = (
        f"is a {type(page).__name__}"
        if not isinstance(page, ExecutionState)
        else f"holds operations={page.operations!r:.80}"
        if not isinstance(page.operations, Collection)
        or isinstance(page.operations, str | bytes | Mapping)
        else next(
            (
                f"holds a {type(op).__name__} among its operations"
                for op in page.operations
                if not isinstance(op, Operation)
            ),
            None,
        )
    )
    if problem is None:
        return
    raise InvalidInputError(
        f"{what} {problem}: a DurableService hands over ExecutionState(operations=[Operation, "
        "...], next_marker=...), an empty list when there are none; a page kept as JSON "
        "becomes one with msgspec.convert(data, ExecutionState)"
    )


class CheckedOperations(list[Operation]):
    """Operations that passed ``check_operations`` (what ``load_operations`` returns): an
    ``Interpreter`` given them does not check them a second time."""


def check_operations(operations: list[Operation]) -> None:
    """Check rules 2 to 6 on one execution's operations.

    Raises:
        InvalidInputError: an operation id is repeated, a finished step has no details, a
            step's attempt is negative, there are two EXECUTION operations, an operation's
            type is unknown or its status not one its type takes, or its ParentId names no
            CONTEXT of the state.
    """
    executions = 0
    for op in operations:  # one quick pass; the one below says what is wrong
        statuses = STATUSES.get(op.type)
        if statuses is None or op.status not in statuses:
            break
        details = op.step_details
        if op.type == "EXECUTION":
            executions += 1
        elif details is None:
            if op.type == "STEP" and op.status in _FINISHED:
                break
        elif details.attempt is not None and details.attempt < 0:
            break
    else:
        if executions <= 1 and len({op.id for op in operations}) == len(operations):
            parents = {op.parent_id for op in operations if op.parent_id is not None}
            if not parents:
                return
            kinds = {op.id: op.type for op in operations if op.id in parents}
            if all(kinds.get(parent) in _PARENTS for parent in parents):
                return
    types = {op.id: op.type for op in operations}
    ids: set[str] = set()
    execution: Operation | None = None
    for index, op in enumerate(operations):
        wrong = check_status(op)
        if wrong is not None:
            raise InvalidInputError(wrong)
        if op.id in ids:
            first = next(i for i, other in enumerate(operations) if other.id == op.id)
            raise InvalidInputError(
                f"operation id {op.id!r} appears twice in the execution's state (operations "
                f"{first} and {index}, {operations[first].type} and {op.type}): the history "
                "is corrupt, or pages overlap; replay cannot tell which record is true"
            )
        ids.add(op.id)
        if op.type == "STEP" and op.status in _FINISHED and op.step_details is None:
            raise InvalidInputError(
                f"the {op.status} STEP {op.id!r}{f' ({op.name!r})' if op.name else ''} has no "
                "StepDetails: its recorded "
                f"{'result' if op.status == 'SUCCEEDED' else 'error'} is missing, so the "
                "history is truncated or corrupt and replay would invent one"
            )
        if op.step_details is not None and (op.step_details.attempt or 0) < 0:
            raise InvalidInputError(
                f"the STEP {op.id!r} records Attempt {op.step_details.attempt}: attempts count "
                "from 0, so the history is corrupt"
            )
        if op.type == "EXECUTION":
            if execution is not None:
                raise InvalidInputError(
                    f"the execution's state holds two EXECUTION operations ({execution.id!r} "
                    f"and {op.id!r}): the history mixes two executions; replay needs the one "
                    "that carries this execution's input"
                )
            execution = op
    for op in operations:
        if op.parent_id is None or types.get(op.parent_id) in _PARENTS:
            continue
        parent = types.get(op.parent_id)
        raise InvalidInputError(
            f"the {op.type} {op.id!r}{f' ({op.name!r})' if op.name else ''} has ParentId "
            f"{op.parent_id!r}, "
            + (
                "which the execution's state does not hold: the history is truncated or "
                "corrupt (an operation of a child context, Map or Parallel without its "
                "context); replay needs the execution's whole state"
                if parent is None
                else f"a {parent}, which holds no operations (only a CONTEXT or the EXECUTION "
                "does): the history is corrupt"
            )
        )
