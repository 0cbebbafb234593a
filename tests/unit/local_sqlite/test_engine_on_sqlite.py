"""The embedded engine's own scenario tests, run again with a ``SqliteStore`` (see conftest)."""

from __future__ import annotations

from ..local.test_checkpoint import *  # noqa: F403
from ..local.test_engine import *  # noqa: F403
from ..local.test_history import *  # noqa: F403
