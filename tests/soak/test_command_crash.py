"""A short run of the command soak (the long one: ``python -m tests.soak.command_crash``)."""

from __future__ import annotations

import random

from . import command_flows
from .command_crash import trial


def test_every_command_survives_killed_and_stopped_workers_driven_by_the_command_line() -> None:
    tally = trial(
        random.Random(20_261_130), executions=2, workers=2, concurrency=1, kills=3, terms=1
    )
    print(tally.report())
    assert tally.kills == 3 and tally.terms == 1 and tally.snapshots > 0
    assert tally.answers >= 2  # each callback was answered from another process
    assert tally.violations == [], tally.report()


def test_the_result_check_finds_what_an_uninterrupted_run_would_not_return() -> None:
    right = {
        "seq": ["x0.seq0=1", "x0.seq1=4"],
        "once": "interrupted",
        "once_retried": "x0.onceR=4",
        "flaky": "x0.flaky=ok",
        "map": [["x0.m0=7", "x0.m1=7", "x0.m2=7", None], "ALL_COMPLETED"],
        "par": ["x0.pa=1", ["x0.pb.a=4", "x0.pb.b=7"]],
        "child": ["x0.child.1=31", "x0.child.2=61"],
        "tax": {"tax": 0},
        "invoked": {"inner": "x0.inv=1"},
        "callback": "approved-0",
        "saga": ["SUCCEEDED"],
        "condition": {"label": "x0", "n": 2},
        "token": ["00000000-0000-4000-8000-000000000005", "x0.token=1072"],
    }
    assert command_flows.problems(0, right) == []
    for key, wrong in [
        ("callback", "approved-1"),
        ("once", "x0.once=7"),
        ("token", ["0" * 32, "x0.token=1072"]),
    ]:
        assert command_flows.problems(0, {**right, key: wrong}) != [], key
