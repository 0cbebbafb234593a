"""How AWS's Python SDK names the operations it records, as plain data and small functions.

Names are part of replay matching on both sides, so an execution moves between durable_gen and
AWS's SDK only if both name every operation alike. AWS's rules (aws-durable-execution-sdk-python
3.0.0, read from its ``context.py``, ``operation/callback.py``, ``operation/map.py``,
``operation/parallel.py``, ``concurrency/executor.py``; checked against the histories its SDK
recorded in ``tests/interop/fixtures``):

1. An explicit name wins when it is truthy; an empty name counts as no name.
2. Without one, only a function marked by one of AWS's decorators names the operation, by its
   ``__name__``: ``@durable_step`` (steps), ``@durable_with_child_context`` (child contexts),
   ``@durable_wait_for_callback`` (a wait-for-callback's submitter names the whole
   wait-for-callback). Any other function, a lambda included, leaves the operation unnamed.
   Waits, callbacks, invokes, wait-for-condition, Map and Parallel take an explicit name only.
3. ``wait_for_callback(submitter, name="x")`` records a CONTEXT ``WaitForCallback`` named
   ``"x"`` holding a CALLBACK named ``"x create callback id"`` and a STEP named
   ``"x submitter"``; unnamed, the three are ``None``, ``"create callback id"`` and
   ``"submitter"``.
4. A Map iteration is named by ``item_namer(item, index)`` when given, else
   ``"map-item-{index}"``; a Parallel branch by its ``@durable_parallel_branch(name=...)``
   name when given (an empty name is kept), else ``"parallel-branch-{index}"``.
5. AWS's SDK has no saga: durable_gen's ``Compensation`` contexts have no AWS counterpart, and
   an execution that recorded one cannot be handed to AWS's SDK.

Pure: no imports beyond the standard library.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

__all__ = [
    "CALLBACK_SUFFIX",
    "MAP_ITEM_PREFIX",
    "PARALLEL_BRANCH_PREFIX",
    "SUBMITTER_SUFFIX",
    "default_name",
    "is_aws_wait_for_callback_name",
    "map_item_name",
    "parallel_branch_name",
    "wait_for_callback_names",
]

#: The CALLBACK inside a wait-for-callback: ``"<name> create callback id"``.
CALLBACK_SUFFIX: Final = "create callback id"
#: The submitter STEP inside a wait-for-callback: ``"<name> submitter"``.
SUBMITTER_SUFFIX: Final = "submitter"
MAP_ITEM_PREFIX: Final = "map-item-"
PARALLEL_BRANCH_PREFIX: Final = "parallel-branch-"


def default_name(explicit: str | None, marked: Callable[..., Any] | None = None) -> str | None:
    """The name AWS's SDK records (rules 1 and 2).

    Args:
        explicit: The name the code gave, if any.
        marked: The function when it carries a marker of its SDK (durable_gen's equivalent:
            a ``@dg.step`` function), else None: an unmarked function names nothing.
    """
    if explicit:
        return explicit
    if marked is None:
        return None
    name = getattr(marked, "__name__", None)
    return name if isinstance(name, str) and name else None


def wait_for_callback_names(name: str | None) -> tuple[str, str]:
    """``(callback name, submitter step name)`` inside a wait-for-callback named ``name``."""
    prefix = f"{name} " if name else ""
    return f"{prefix}{CALLBACK_SUFFIX}", f"{prefix}{SUBMITTER_SUFFIX}"


def is_aws_wait_for_callback_name(context_name: str | None, inner_name: str | None) -> bool:
    """Whether ``inner_name`` is one AWS's SDK gives an operation of that wait-for-callback.

    A replay of a history recorded before durable_gen named these operations as AWS does meets
    the old names (an unnamed callback, a submitter step named after its function); this tells
    the two apart.
    """
    return inner_name in wait_for_callback_names(context_name)


def map_item_name(index: int, custom: str | None = None) -> str:
    """The name of Map iteration ``index``; ``custom`` is what ``item_namer`` returned."""
    return custom if custom is not None else f"{MAP_ITEM_PREFIX}{index}"


def parallel_branch_name(index: int, name: str | None = None) -> str:
    """The name of Parallel branch ``index``; ``name`` is the branch's own (``""`` is kept)."""
    return name if name is not None else f"{PARALLEL_BRANCH_PREFIX}{index}"
