"""The pytest plugin: registered by its entry point; fixtures durable_runner, durable_replayer."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import durable_gen as dg
from durable_gen.testing import TestRunner
from durable_gen.testing.pytest_plugin import Replayer


@dg.step
def add_one(x: int) -> int:
    return x + 1


def order(x: int):  # type: ignore[no-untyped-def]
    y = yield add_one(x)
    yield dg.Wait(seconds=3600, name="later")
    return y


def test_the_plugin_is_registered_by_the_entry_point(pytestconfig: pytest.Config) -> None:
    assert pytestconfig.pluginmanager.get_plugin("durable_gen") is not None


def test_durable_runner_is_a_fresh_time_skipping_runner(durable_runner: TestRunner) -> None:
    run = durable_runner.run(order, 1)
    assert run.result() == 2
    assert len(durable_runner.executions()) == 1


@pytest.mark.durable_runner(skip_time=False)
def test_durable_runner_takes_options_from_its_marker(durable_runner: TestRunner) -> None:
    run = durable_runner.run(order, 1)
    assert run.status == "RUNNING"
    durable_runner.advance(3600)
    assert run.result() == 2


def test_durable_replayer_finds_histories_next_to_the_test(
    durable_replayer: Replayer, durable_runner: TestRunner, tmp_path: Path
) -> None:
    run = durable_runner.run(order, 1)
    run.export(tmp_path / "order-1.json")
    report = durable_replayer.assert_replays(order, tmp_path / "order-1.json")
    assert report.result == 2
    assert durable_replayer.assert_folder_replays({"order": order}, tmp_path)[0].ok
    # a relative path is resolved against this file's folder
    assert durable_replayer.base == Path(__file__).parent
    assert durable_replayer.replay(order, "no-such.json").status == "invalid"


def test_assert_folder_replays_lists_what_does_not_replay(
    durable_replayer: Replayer, durable_runner: TestRunner, tmp_path: Path
) -> None:
    durable_runner.run(order, 1).export(tmp_path / "order-1.json")

    @dg.step
    def add_two(x: int) -> int:
        return x + 2

    def renamed(x: int):  # type: ignore[no-untyped-def]
        y = yield add_two(x)
        yield dg.Wait(seconds=3600, name="later")
        return y

    with pytest.raises(AssertionError, match=r"1 of 1 histories do not replay:\n- .*diverged"):
        durable_replayer.assert_folder_replays(renamed, tmp_path)


def test_empty_folder_is_an_error(durable_replayer: Replayer, tmp_path: Path) -> None:
    def wf(_: Any):  # type: ignore[no-untyped-def]
        yield dg.Wait(seconds=1)

    with pytest.raises(AssertionError, match="no JSON history"):
        durable_replayer.assert_folder_replays(wf, tmp_path)


MISTAKE = """
import durable_gen as dg
from durable_gen.testing import TestRunner


@dg.step
def charge(x):
    return x


def wf(x):
    yield dg.Wait(seconds=1)
    charge(x)  # never yielded
    return "done"


def test_run():
    assert TestRunner().run(wf, 1).result() == "done"
"""


def _pytest(tmp_path: Path, *options: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_mistake.py").write_text(MISTAKE)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *options, "."],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_the_plugin_makes_an_unyielded_command_fail_the_test(tmp_path: Path) -> None:
    strict = _pytest(tmp_path)
    assert strict.returncode == 1, strict.stdout
    assert "UnyieldedCommandWarning" in strict.stdout
    assert "test_mistake.py:13" in strict.stdout  # where the command was built
    lenient = _pytest(tmp_path, "-o", "durable_gen_strict=false")
    assert lenient.returncode == 0, lenient.stdout


MARKERS = """
import pytest


@pytest.mark.durable_runner(False)
def test_positional(durable_runner):
    pass


@pytest.mark.durable_runner(skip_tim=False)
def test_misspelt(durable_runner):
    pass


@pytest.mark.durable_runner(skip_time=False)
def test_right(durable_runner):
    assert durable_runner.skip_time is False
"""


def test_a_marker_option_the_runner_does_not_take_is_named(tmp_path: Path) -> None:
    """A positional option was dropped without a word (the runner skipped time although the
    test said False); a misspelt one was a bare TypeError from TestRunner's constructor."""
    (tmp_path / "test_markers.py").write_text(MARKERS)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rE", "."],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    out = done.stdout
    assert "1 passed, 2 errors" in out, out
    assert "ValidationError: the durable_runner marker takes keyword options only" in out
    assert "unknown option(s) ['skip_tim']" in out and "'skip_time'" in out, out


STACKED = """
import pytest

pytestmark = pytest.mark.durable_runner(skip_time=False, checkpointing="eager")


def test_module_marker_alone(durable_runner):
    assert durable_runner.skip_time is False


@pytest.mark.durable_runner(functions={"tax": lambda amount: amount})
def test_module_and_test_markers_combine(durable_runner):
    assert durable_runner.skip_time is False  # the module's option is kept
    assert durable_runner.run(wf, None).result() == 7  # the test's function is registered


@pytest.mark.durable_runner(skip_time=True)
def test_the_closest_marker_wins(durable_runner):
    assert durable_runner.skip_time is True


@pytest.mark.durable_runner(skip_time=True)
class TestAClass:
    @pytest.mark.durable_runner(start=__import__("datetime").datetime(2030, 1, 1))
    def test_class_and_test_markers_combine(self, durable_runner):
        assert durable_runner.skip_time is True
        assert durable_runner.now().year == 2030


def wf(_):
    import durable_gen as dg
    return (yield dg.Invoke("tax", 7))
"""


def test_markers_of_the_module_class_and_test_combine(tmp_path: Path) -> None:
    """Only the closest marker was read: a module's ``pytestmark = durable_runner(
    skip_time=False)`` was dropped without a word for every test with a marker of its own."""
    (tmp_path / "test_stacked.py").write_text(STACKED)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rfE", "."],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert "4 passed" in done.stdout and done.returncode == 0, done.stdout
