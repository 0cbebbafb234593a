"""The public names of durable_gen.local, pinned."""

from __future__ import annotations

import durable_gen.local as local


def test_public_names() -> None:
    assert sorted(local.__all__) == [
        "Clock",
        "ExecutionRecord",
        "ExecutionStore",
        "LocalService",
        "MemoryStore",
        "RealClock",
        "SqliteStore",
        "VirtualClock",
        "Worker",
    ]
    for name in local.__all__:
        assert getattr(local, name).__module__.startswith("durable_gen.local.")
