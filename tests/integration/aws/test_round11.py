"""Round 11 corpus for the Lambda path: the round-11 interop shapes run through AWS's emulator
(`dex-local-runner`, on 127.0.0.1), AWS's SDK and durable_gen's handler taking turns on one
execution, each invocation to the other, and each SDK alone."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

try:
    from tests.interop import test_round11 as interop
except pytest.skip.Exception:  # AWS's SDK is not installed
    interop = None

from durable_gen.aws import lambda_handler

try:
    from .emulator import Emulator, LambdaEndpoint
    from .lambda_support import settle_pending
except ImportError:
    from emulator import Emulator, LambdaEndpoint  # type: ignore[no-redef]
    from lambda_support import settle_pending  # type: ignore[no-redef]


@pytest.fixture(scope="module")
def emu(lambda_endpoint_server: LambdaEndpoint) -> Iterator[Emulator]:
    pytest.importorskip("aws_durable_execution_sdk_python_testing")
    with Emulator(
        lambda_endpoint_server.url, skip_time=True, retry_backoff_seconds=0.1
    ) as emulator:
        yield emulator
        emulator.stop_unfinished()


@pytest.mark.parametrize("rhythm", [["aws", "ours"], ["ours", "aws"], ["ours"]])
@pytest.mark.parametrize("name", sorted(interop.CASES) if interop is not None else [])
def test_the_round11_shapes_change_hands_on_the_emulator_each_invocation(
    emu: Emulator,
    lambda_endpoint: LambdaEndpoint,
    function_name: str,
    name: str,
    rhythm: list[str],
) -> None:
    from aws_durable_execution_sdk_python.execution import durable_execution

    assert interop is not None
    case = interop.CASES[name]
    sdks = {
        "aws": durable_execution(boto3_client=emu.client)(case.aws),
        "ours": lambda_handler(case.port, client=emu.client, payload_format="aws"),
    }
    ran: list[str] = []

    def handler(event: Any, context: Any) -> Any:
        sdk = rhythm[len(ran) % len(rhythm)]
        ran.append(sdk)
        return sdks[sdk](event, context)

    lambda_endpoint.register(function_name, settle_pending(handler))
    outcome = emu.wait(emu.start(function_name, case.input), timeout=60)
    assert outcome.status == "SUCCEEDED", (outcome, ran)
    assert outcome.json() == interop.EXPECTED[name]
    if name in ("map_items_wait", "child_retries_run_out_caught") and len(rhythm) > 1:
        assert set(ran) == {"aws", "ours"}, ran  # it waits: more than one invocation
