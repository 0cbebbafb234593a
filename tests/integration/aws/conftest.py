"""Fixtures for running handlers against AWS's local durable-execution emulator.

* ``lambda_endpoint`` -- the shared :class:`LambdaEndpoint` (one per session);
  register handlers on it per test. Handlers and recorded invocations are
  cleared after each test.
* ``emulator`` -- one ``dex-local-runner`` per session, real timing (waits and
  retry delays take wall-clock time, as in the service).
* ``emulator_skip_time`` -- one per session, started with ``--skip-time``.
* ``make_emulator(**options)`` -- a dedicated emulator for one test, pointed at
  the shared endpoint and closed at the end of the test.
* ``function_name`` -- a unique function name for the test.

Executions a test leaves unfinished on a session emulator are stopped when
the test ends, so they do not keep invoking handlers of later tests.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

try:  # importable both as a package module and from a plain test directory
    from .emulator import Emulator, LambdaEndpoint
except ImportError:
    from emulator import Emulator, LambdaEndpoint  # type: ignore[no-redef]

_SESSION_EMULATORS = ("emulator", "emulator_skip_time")


def _require_emulator_package() -> None:
    # dex-local-runner needs both: the testing package and the SDK it builds on.
    for module, dist in (
        ("aws_durable_execution_sdk_python", "aws-durable-execution-sdk-python"),
        ("aws_durable_execution_sdk_python_testing", "aws-durable-execution-sdk-python-testing"),
    ):
        pytest.importorskip(module, reason=f"{dist} (needed by dex-local-runner) is not installed")


@pytest.fixture(scope="session")
def lambda_endpoint_server() -> Iterator[LambdaEndpoint]:
    with LambdaEndpoint() as endpoint:
        yield endpoint


@pytest.fixture
def lambda_endpoint(lambda_endpoint_server: LambdaEndpoint) -> Iterator[LambdaEndpoint]:
    lambda_endpoint_server.reset()
    yield lambda_endpoint_server
    lambda_endpoint_server.reset()


@pytest.fixture(scope="session")
def emulator(lambda_endpoint_server: LambdaEndpoint) -> Iterator[Emulator]:
    _require_emulator_package()
    with Emulator(lambda_endpoint_server.url) as emu:
        yield emu


@pytest.fixture(scope="session")
def emulator_skip_time(lambda_endpoint_server: LambdaEndpoint) -> Iterator[Emulator]:
    _require_emulator_package()
    with Emulator(lambda_endpoint_server.url, skip_time=True) as emu:
        yield emu


@pytest.fixture
def make_emulator(
    lambda_endpoint_server: LambdaEndpoint,
) -> Iterator[Callable[..., Emulator]]:
    _require_emulator_package()
    started: list[Emulator] = []

    def make(**options: Any) -> Emulator:
        emu = Emulator(lambda_endpoint_server.url, **options)
        started.append(emu)
        return emu.launch()

    yield make
    for emu in reversed(started):
        emu.close()


@pytest.fixture
def function_name(request: pytest.FixtureRequest) -> str:
    """A Lambda-valid function name unique to this test."""
    base = re.sub(r"[^A-Za-z0-9_-]+", "-", request.node.name)[:40].strip("-")
    return f"{base}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(autouse=True)
def _stop_unfinished_executions(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    for name in _SESSION_EMULATORS:
        if name in request.fixturenames:
            try:
                emu = request.getfixturevalue(name)
            except pytest.skip.Exception:
                continue
            emu.stop_unfinished()
