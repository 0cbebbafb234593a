"""The worker's progress lines stay whole when its threads log at once."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import pytest

from durable_gen.local import Worker


class _SlowStream:
    """A stream whose every write lets other threads run, as a pipe's may."""

    def __init__(self) -> None:
        self.text = ""

    def write(self, data: str) -> int:
        time.sleep(0)
        self.text += data
        time.sleep(0)
        return len(data)

    def flush(self) -> None:
        time.sleep(0)


def test_lines_logged_by_threads_at_once_never_mix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stream = _SlowStream()
    monkeypatch.setattr(sys, "stderr", stream)
    with Worker(tmp_path / "w.db") as worker:
        log = worker._log

        def many(n: int) -> None:
            for i in range(200):
                log(f"durable-gen worker: thread {n} line {i}")

        threads = [threading.Thread(target=many, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    lines = stream.text.splitlines()
    assert len(lines) == 800
    assert all(line.count("durable-gen worker:") == 1 for line in lines)
