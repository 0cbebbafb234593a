"""Strict mode for the testing tools: commands built during replay are noted too.

The switch (``durable_gen._guard.strict``) is one for the whole process, and the checks that
turn it on (``assert_deterministic``, ``replay``) may run in several threads at once: it stays
on until the last of them ends, then goes back to what it was before the first.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from .. import _guard

_lock = threading.Lock()
_users = 0  # checks running now, in any thread
_before = False  # what strict mode was before the first of them


@contextmanager
def strict_mode() -> Iterator[None]:
    """Turn strict mode on for the ``with`` block, counting the blocks open in any thread."""
    global _users, _before
    with _lock:
        if _users == 0:
            _before = _guard.strict
        _users += 1
        _guard.strict = True
    try:
        yield
    finally:
        with _lock:
            _users -= 1
            if _users == 0:
                _guard.strict = _before
