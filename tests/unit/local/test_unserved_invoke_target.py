"""An ``Invoke`` of a function the worker running the caller does not serve.

It fails the operation at once (the engine cannot tell whether a function it does not have
is a workflow or a plain function), and the failure says how a worker serves it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from durable_gen import cli


def test_the_failure_says_how_a_worker_serves_the_target(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "ops.db")
    assert cli.main(["start", "tests.postgres.flows:approval", "--input", "2", "--db", db]) == 0
    assert cli.main(["worker", "--once", "-q", "--db", db]) == 0
    capsys.readouterr()
    assert cli.main(["list", "--status", "FAILED", "--json", "--db", db]) == 0
    out = capsys.readouterr().out
    assert "FunctionNotRegisteredError" in out
    assert "--register cli-tax=MODULE:FUNCTION" in out
