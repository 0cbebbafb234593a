"""Deterministic operation ids, with the same scheme as AWS's durable-execution SDKs.

The n-th operation (counting from 1) of the root context has id ``blake2b("n")[:64]``; in a
child context whose id is ``P`` it is ``blake2b(f"{P}-{n}")[:64]``. Histories written by either
SDK therefore line up operation by operation.
"""

from __future__ import annotations

from functools import lru_cache
from hashlib import blake2b

__all__ = ["operation_id"]


@lru_cache(maxsize=1 << 17)  # ~130k ids, a few tens of MiB at most
def operation_id(parent_id: str | None, n: int) -> str:
    """The id of the ``n``-th operation (1-based) in the context ``parent_id`` (None: root)."""
    key = f"{parent_id}-{n}" if parent_id else str(n)
    return blake2b(key.encode()).hexdigest()[:64]
