"""A new user's first day, round 12: a ``Worker`` from Python given a ``log`` of their own
(a logging handler, a socket to a log collector) that fails, as docs/cli.md's ``Worker``
paragraph invites.
"""

from __future__ import annotations

import errno
import json
from pathlib import Path

import pytest

import durable_gen as dg
from durable_gen.local import Worker


@dg.step
def add(a: int, b: int) -> int:
    return a + b


@dg.workflow
def total(n: int) -> dg.Workflow[int]:
    t = 0
    for i in range(n):
        t = yield from add(t, i)
    return t


@pytest.mark.parametrize(
    "failure",
    [
        OSError(errno.EPIPE, "Broken pipe"),
        ValueError("I/O operation on closed file"),
        KeyError("x"),
    ],
    ids=["broken-pipe", "closed-file", "a-bug-of-its-own"],
)
def test_a_log_that_fails_loses_its_line_not_the_execution(
    tmp_path: Path, failure: Exception
) -> None:
    lines: list[str] = []

    def log(line: str) -> None:
        lines.append(line)
        raise failure

    with Worker(str(tmp_path / "app.db"), log=log, progress=True) as worker:
        name = worker.register(total)
        arn = worker.service.start(name, json.dumps(4))
        record = worker.drive(arn)
    # the "picked up" line raised inside the invocation: the execution was FAILED with the
    # log's error, and a failing "finished" line threw away an invocation that had succeeded
    assert (record.status, record.error, record.result) == ("SUCCEEDED", None, "6")
    assert [line.split()[3] for line in lines] == ["picked", "finished"], lines
