"""The embedded engine: a local implementation of the durable-execution service.

``LocalService`` validates checkpoints with the cloud's state machine, keeps operations and the
``GetDurableExecutionHistory`` events, runs timers, retries, callbacks and chained invokes, and
drives registered handlers; ``ExecutionStore`` is where it keeps them (``MemoryStore``, or
``SqliteStore`` on disk, shared by ``Worker`` processes) and ``Clock`` is its time
(``RealClock``, or ``VirtualClock`` to finish long waits at once).
"""

from ._clock import Clock as Clock
from ._clock import RealClock as RealClock
from ._clock import VirtualClock as VirtualClock
from ._dbstore import DamagedRecordError as DamagedRecordError
from ._dbstore import LeaseLostError as LeaseLostError
from ._dbstore import StoreUnavailableError as StoreUnavailableError
from ._engine import LocalService as LocalService
from ._postgres import PostgresStore as PostgresStore
from ._run import register_function as register_function
from ._run import run as run
from ._run import workflow_name as workflow_name
from ._sqlite import SqliteStore as SqliteStore
from ._store import ExecutionRecord as ExecutionRecord
from ._store import ExecutionStore as ExecutionStore
from ._store import MemoryStore as MemoryStore
from ._url import open_store as open_store
from ._worker import Worker as Worker

__all__ = [
    "Clock",
    "DamagedRecordError",
    "ExecutionRecord",
    "ExecutionStore",
    "LeaseLostError",
    "LocalService",
    "MemoryStore",
    "PostgresStore",
    "RealClock",
    "SqliteStore",
    "StoreUnavailableError",
    "VirtualClock",
    "Worker",
    "open_store",
    "register_function",
    "run",
    "workflow_name",
]
