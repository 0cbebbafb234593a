"""Test helpers for durable workflows: a replayer for recorded histories, and more.

``replay`` checks that the current code still replays what an execution recorded (a renamed,
reordered or inserted step shows up as a divergence with its position); ``replay_folder`` does
it for every exported history in a folder, as a CI check before a deploy.
"""

from ._history import History as History
from ._history import HistorySource as HistorySource
from ._history import load_history as load_history
from ._history import operations_from_events as operations_from_events
from ._replay import Divergence as Divergence
from ._replay import ReplayReport as ReplayReport
from ._replay import ReplayStatus as ReplayStatus
from ._replay import replay as replay
from ._replay import replay_folder as replay_folder

__all__ = [
    "Divergence",
    "History",
    "HistorySource",
    "ReplayReport",
    "ReplayStatus",
    "load_history",
    "operations_from_events",
    "replay",
    "replay_folder",
]
