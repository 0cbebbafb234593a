"""The embedded engine's own scenario tests, run again with a ``PostgresStore`` (see conftest)."""

from __future__ import annotations

from ..unit.local.test_checkpoint import *  # noqa: F403
from ..unit.local.test_engine import *  # noqa: F403
from ..unit.local.test_history import *  # noqa: F403
