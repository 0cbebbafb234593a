"""The disk under a worker fills up or turns read-only (see ``disk``; it needs root, to mount
a small tmpfs): the worker waits for room or ends with one line, and nothing is lost.

``python -m tests.soak.disk`` runs the same trials and prints what they saw.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from . import disk

pytestmark = pytest.mark.skipif(not disk.available(), reason="needs root and mount (a tmpfs)")


def check(out: dict[str, object]) -> None:
    assert out["status"] == "SUCCEEDED" and out["result_ok"], out
    assert out["steps"] == disk.STEPS, out
    # Only the step in flight when the store failed may have run again.
    assert len(out["ran_again"]) <= 1, out  # type: ignore[arg-type]
    assert "Traceback" not in out["stderr"], out["stderr"]  # type: ignore[operator]


@pytest.mark.parametrize("kill", [False, True], ids=["waits", "killed"])
def test_a_worker_whose_disk_fills_up_resumes_once_there_is_room(
    tmp_path: Path, kill: bool
) -> None:
    out = disk.trial_full(tmp_path, kill=kill)
    check(out)
    assert "is full" in out["stderr"] and "retrying" in out["stderr"]  # type: ignore[operator]
    assert out["codes"] == ([-9, 0] if kill else [0]), out


def test_a_read_only_file_ends_the_worker_with_one_line_and_loses_nothing(
    tmp_path: Path,
) -> None:
    out = disk.trial_read_only(tmp_path)
    check(out)
    assert out["codes"] == [-9, 1, 0], out
    assert "cannot be written" in out["stderr"], out["stderr"]  # type: ignore[operator]
