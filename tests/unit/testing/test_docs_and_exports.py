"""durable_gen.testing's public names are pinned and documented; the guide's examples run."""

from __future__ import annotations

import pathlib
import re
from typing import Any

import durable_gen.testing
from durable_gen.testing import strategies

DOCS = pathlib.Path(__file__).resolve().parents[3] / "docs"

EXPECTED = {
    "Crash", "CrashSchedule", "DeterminismCheck", "Divergence", "DurableRun", "History",
    "HistorySource", "OperationView", "ReplayReport", "ReplayStatus", "RunSummary", "TestRunner",
    "assert_deterministic", "current_attempt", "load_history", "operations_from_events",
    "replay", "replay_folder",
}  # fmt: skip


def test_public_names_are_pinned() -> None:
    assert set(durable_gen.testing.__all__) == EXPECTED
    for name in durable_gen.testing.__all__:
        assert hasattr(durable_gen.testing, name), name


def test_every_public_name_is_documented() -> None:
    text = (DOCS / "testing.md").read_text()
    names = [*durable_gen.testing.__all__, *strategies.__all__]
    names += ["durable_runner", "durable_replayer", "Replayer"]
    missing = [n for n in names if f"`{n}" not in text]
    assert not missing, f"document these names in docs/testing.md: {missing}"


def blocks(page: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", (DOCS / page).read_text(), re.S)


def test_the_runner_examples_of_the_guide_run() -> None:
    code = blocks("testing.md")
    namespace: dict[str, Any] = {"__name__": "guide"}
    for block in code[:5]:  # the workflow, the runner, time, attempts, replay
        exec(compile(block, "docs/testing.md", "exec"), namespace)
    assert namespace["report"].ok
