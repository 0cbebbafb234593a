"""Test helpers for durable workflows: a time-skipping runner, a replayer, crash checks.

- ``TestRunner`` runs workflows on an in-memory embedded engine with a virtual clock: waits
  finish at once, callbacks are answered by the test, operations are inspected by name.
- ``replay`` checks that the current code still replays what an execution recorded (a renamed,
  reordered or inserted step shows up as a divergence with its position); ``replay_folder``
  does it for every exported history in a folder, as a CI check before a deploy.
- ``assert_deterministic`` runs a workflow while abandoning invocations at every checkpoint and
  inside steps, and compares with an uninterrupted run.
- ``durable_gen.testing.strategies`` (needs hypothesis): random workflow programs and crash
  schedules. ``durable_gen.testing.pytest_plugin``: the ``durable_runner`` and
  ``durable_replayer`` fixtures.
"""

from ._determinism import DeterminismCheck as DeterminismCheck
from ._determinism import RunSummary as RunSummary
from ._determinism import assert_deterministic as assert_deterministic
from ._harness import Crash as Crash
from ._harness import CrashSchedule as CrashSchedule
from ._harness import current_attempt as current_attempt
from ._history import History as History
from ._history import HistorySource as HistorySource
from ._history import load_history as load_history
from ._history import operations_from_events as operations_from_events
from ._replay import Divergence as Divergence
from ._replay import ReplayReport as ReplayReport
from ._replay import ReplayStatus as ReplayStatus
from ._replay import replay as replay
from ._replay import replay_folder as replay_folder
from ._runner import DurableRun as DurableRun
from ._runner import OperationView as OperationView
from ._runner import TestRunner as TestRunner

__all__ = [
    "Crash",
    "CrashSchedule",
    "DeterminismCheck",
    "Divergence",
    "DurableRun",
    "History",
    "HistorySource",
    "OperationView",
    "ReplayReport",
    "ReplayStatus",
    "RunSummary",
    "TestRunner",
    "assert_deterministic",
    "current_attempt",
    "load_history",
    "operations_from_events",
    "replay",
    "replay_folder",
]
