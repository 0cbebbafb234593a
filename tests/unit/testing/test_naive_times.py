"""A ``datetime`` without a time zone means UTC wherever durable_gen's testing tools read one:
``TestRunner(start=...)`` and the timestamps of a history given to ``replay``/``load_history``.
They were read in the time zone of the machine running the test (``datetime.timestamp()`` on
a naive value), so the same test saw another virtual time, and ``dg.Now()`` another value, on
a laptop than in CI."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from datetime import UTC, datetime

import pytest

PROGRAM = textwrap.dedent(
    """
    import json
    from datetime import datetime
    import durable_gen as dg
    from durable_gen.testing import TestRunner, load_history

    @dg.workflow
    def when(_):
        now = yield dg.Now()
        return now.isoformat()

    runner = TestRunner(start=datetime(2030, 5, 1, 12, 0))
    history = {"Operations": [{"Id": "e", "Type": "EXECUTION", "Status": "STARTED",
                               "StartTimestamp": "2030-05-01T12:00:00",
                               "ExecutionDetails": {"InputPayload": "null"}}]}
    started = load_history(history).operations[0].start_timestamp
    aware = load_history({"Operations": [dict(history["Operations"][0],
                          StartTimestamp=datetime(2030, 5, 1, 12, 0))]}).operations[0]
    print(json.dumps([str(runner.now()), runner.run(when, None).result(), started,
                      aware.start_timestamp]))
    """
)


@pytest.mark.parametrize("zone", ["UTC", "America/New_York", "Asia/Kolkata"])
def test_a_naive_datetime_is_utc_on_every_machine(zone: str) -> None:
    if not os.path.exists(f"/usr/share/zoneinfo/{zone}"):
        pytest.skip(f"no time zone data for {zone}")
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM],
        env={**os.environ, "TZ": zone}, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    ms = int(datetime(2030, 5, 1, 12, 0, tzinfo=UTC).timestamp() * 1000)
    assert done.stdout.strip() == (
        f'["2030-05-01 12:00:00+00:00", "2030-05-01T12:00:00+00:00", {ms}, {ms}]'
    )
