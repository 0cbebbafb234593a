"""pytest fixtures for durable workflows: ``durable_runner`` and ``durable_replayer``.

Registered through the ``pytest11`` entry point, so installing durable-gen makes them available
in every test session. Options of the runner come from the ``durable_runner`` marker::

    @pytest.mark.durable_runner(skip_time=False, functions={"tax": tax})
    def test_tax(durable_runner): ...

The plugin also makes workflow mistakes fail tests: a command built in a workflow body and never
yielded is noted even while the body replays, and its ``UnyieldedCommandWarning`` is an error
(the execution fails with it). Turn this off with ``durable_gen_strict = false`` in the pytest
ini options.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Generator, Mapping
from pathlib import Path
from typing import Any, TypeVar

import pytest

from .. import _guard
from .._errors import ValidationError
from ._history import HistorySource
from ._replay import ReplayReport, replay, replay_folder
from ._runner import TestRunner

__all__ = ["Replayer", "durable_replayer", "durable_runner"]

R = TypeVar("R")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        "durable_gen_strict",
        "fail tests on workflow mistakes (commands built and never yielded); default true",
        type="bool",
        default=True,
    )


def pytest_configure(config: pytest.Config) -> None:
    if config.getini("durable_gen_strict"):
        _guard.strict = True
        config.addinivalue_line(
            "filterwarnings", "error::durable_gen._guard.UnyieldedCommandWarning"
        )
    config.addinivalue_line(
        "markers",
        "durable_runner(**options): keyword options of the durable_runner fixture's TestRunner "
        "(skip_time, start, functions, checkpointing, serdes, plugins, payload_format); markers "
        "of the module, the class and the test combine, the closest winning",
    )


@pytest.fixture
def durable_runner(request: pytest.FixtureRequest) -> TestRunner:
    """A fresh ``TestRunner`` (in-memory engine, virtual clock) for one test.

    Its options are those of every ``durable_runner`` marker that applies to the test (the
    module's ``pytestmark``, the class's, the test's own), the closest one winning for an
    option that several give.
    """
    options: dict[str, Any] = {}
    # iter_markers yields the closest marker first: apply the farthest first
    for marker in reversed(list(request.node.iter_markers("durable_runner"))):
        if marker.args:
            raise ValidationError(
                "the durable_runner marker takes keyword options only (e.g. "
                f"@pytest.mark.durable_runner(skip_time=False)), got {marker.args!r}"
            )
        options.update(marker.kwargs)
    unknown = sorted(set(options) - _RUNNER_OPTIONS)
    if unknown:
        raise ValidationError(
            f"the durable_runner marker got unknown option(s) {unknown}: TestRunner takes "
            f"{sorted(_RUNNER_OPTIONS)}"
        )
    return TestRunner(**options)


#: The keyword options ``TestRunner`` takes, hence the ``durable_runner`` marker.
_RUNNER_OPTIONS: frozenset[str] = frozenset(
    name
    for name, param in inspect.signature(TestRunner.__init__).parameters.items()
    if param.kind is inspect.Parameter.KEYWORD_ONLY
)


class Replayer:
    """Replays recorded histories; relative paths start at the test file's folder.

    Args:
        base: The folder relative paths are resolved against.
    """

    def __init__(self, base: Path) -> None:
        self.base = base

    def _path(self, source: Any) -> Any:
        if isinstance(source, os.PathLike) or (
            isinstance(source, str) and not source.lstrip().startswith(("{", "["))
        ):
            path = Path(source)
            return path if path.is_absolute() else self.base / path
        return source

    def replay(
        self,
        workflow: Callable[..., Generator[Any, Any, R]],
        history: HistorySource,
        **options: Any,
    ) -> ReplayReport[R]:
        """``durable_gen.testing.replay`` (a relative path is found next to the test)."""
        return replay(workflow, self._path(history), **options)

    def assert_replays(
        self,
        workflow: Callable[..., Generator[Any, Any, R]],
        history: HistorySource,
        **options: Any,
    ) -> ReplayReport[R]:
        """Replay and fail the test on a divergence or failure (``raise_for_status``)."""
        return self.replay(workflow, history, **options).raise_for_status()

    def replay_folder(
        self,
        workflows: Callable[..., Any] | Mapping[str, Callable[..., Any]],
        path: str | os.PathLike[str],
        **options: Any,
    ) -> list[ReplayReport[Any]]:
        """``durable_gen.testing.replay_folder`` (a relative path is found next to the test)."""
        return replay_folder(workflows, self._path(path), **options)

    def assert_folder_replays(
        self,
        workflows: Callable[..., Any] | Mapping[str, Callable[..., Any]],
        path: str | os.PathLike[str],
        **options: Any,
    ) -> list[ReplayReport[Any]]:
        """Replay every history of a folder; fail the test listing every file that did not
        replay (and fail if the folder holds none)."""
        reports = self.replay_folder(workflows, path, **options)
        if not reports:
            raise AssertionError(f"no JSON history under {self._path(path)}")
        bad = [r for r in reports if not r.ok]
        if bad:
            raise AssertionError(
                f"{len(bad)} of {len(reports)} histories do not replay:\n"
                + "\n".join(f"- {r}" for r in bad)
            )
        return reports


@pytest.fixture
def durable_replayer(request: pytest.FixtureRequest) -> Replayer:
    """A ``Replayer`` whose relative paths start at the test file's folder."""
    return Replayer(Path(request.path).parent)
