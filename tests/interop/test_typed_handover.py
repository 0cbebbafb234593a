"""Values of AWS's extended types handed back and forth between AWS's SDK and a typed port, on
AWS's emulator (docs/migration.md: take over, and go back).

The corpus cases ``typed_values`` (a port with dataclasses, a typed ``Map``, ``Child`` and
``WaitForCondition`` state) and ``extended_values`` (datetimes with and without an offset,
dates, Decimals, UUIDs, bytes, tuples), and ``large_results`` (a typed Map and child context
over 256 KiB, recorded with ReplayChildren and AWS's or durable_gen's summary) run as one
Lambda function whose invocations go to AWS's
SDK and to the durable_gen port (``payload_format="aws"``) in turns. Each must end with the
result AWS's SDK alone recorded (the fixture): a value read back with another type, offset or
digit by either side would change it, and the typed port asserts its types as it runs.
"""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from durable_gen.aws import lambda_handler

from . import _support as s
from . import workflows

pytest.importorskip("aws_durable_execution_sdk_python")
pytest.importorskip("aws_durable_execution_sdk_python_testing")

from aws_durable_execution_sdk_python.execution import durable_execution

from tests.integration.aws.emulator import Emulator, LambdaEndpoint
from tests.integration.aws.lambda_support import settle_pending

from . import aws_corpus


@pytest.fixture(scope="module")
def emulator() -> Iterator[tuple[Emulator, LambdaEndpoint]]:
    with LambdaEndpoint() as endpoint, Emulator(endpoint.url, skip_time=True) as emu:
        yield emu, endpoint


def _run(emulator: tuple[Emulator, LambdaEndpoint], case: str, rhythm: list[str]) -> Any:
    """Run ``case`` with its invocations going to the SDKs of ``rhythm`` in turns; its result."""
    emu, endpoint = emulator
    aws, port = _HANDLERS[case]
    sdks = {
        "aws": durable_execution(boto3_client=emu.client)(aws),
        "durable_gen": lambda_handler(port, client=emu.client, payload_format="aws"),
    }
    turns = itertools.cycle(rhythm)
    ran: list[str] = []

    def handler(event: Any, context: Any) -> Any:
        sdk = next(turns)
        ran.append(sdk)
        return sdks[sdk](event, context)

    name = f"{case}-{uuid.uuid4().hex[:8]}".replace("_", "-")
    endpoint.register(name, settle_pending(handler))
    try:
        arn = emu.start(name, {})
        outcome = emu.wait(arn, timeout=60)
    finally:
        emu.stop_unfinished()
        endpoint.unregister(name)
    assert outcome.status == "SUCCEEDED", (outcome, ran)
    assert set(ran) == set(rhythm), ran  # every SDK in the rhythm ran an invocation
    return outcome.json()


_HANDLERS: dict[str, tuple[Any, Any]] = {
    case: (aws_corpus.HANDLERS[case], workflows.CASES[case].workflow)
    for case in ("typed_values", "extended_values")
} | {"large_results": (aws_corpus.large_results, workflows.large_results)}


@pytest.mark.parametrize(
    "rhythm",
    [["durable_gen"], ["aws", "durable_gen"], ["durable_gen", "aws"]],
    ids="-".join,
)
@pytest.mark.parametrize("case", list(_HANDLERS))
def test_values_handed_over_keep_their_types_both_ways(
    case: str, rhythm: list[str], emulator: tuple[Emulator, LambdaEndpoint]
) -> None:
    if case in workflows.CASES:  # recorded: AWS's SDK alone ended it with this result
        expected = json.loads(s.fixture(case, "history")["Result"])
    else:
        expected = _run(emulator, case, ["aws"])
    assert _run(emulator, case, rhythm) == expected
