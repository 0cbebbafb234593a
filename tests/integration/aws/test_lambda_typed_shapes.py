"""tests/typing/shapes.py through the Lambda handler on AWS's emulator, in both payload formats:
steps given as callable objects, classes, methods (also returning ``Self``), partials,
overloads, Map over tuples, Parallel of branches of different types, ``result_type=`` on Invoke
and callbacks. The workflow returns what did not have the type the type checkers gave it."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest

try:
    from .emulator import Emulator, LambdaEndpoint
    from .lambda_support import deploy
except ImportError:
    from emulator import Emulator, LambdaEndpoint  # type: ignore[no-redef]
    from lambda_support import deploy  # type: ignore[no-redef]

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "typing"))

import shapes


def echo(event: Any, context: Any) -> Any:
    """The Invoke target, a plain Lambda function: it receives the payload as JSON."""
    return msgspec.to_builtins(shapes.Echo()(shapes.Item(**event)))


@pytest.mark.parametrize("payload_format", ["json", "aws"])
def test_every_shape_has_its_declared_type_through_the_emulator(
    make_emulator: Callable[..., Emulator],
    lambda_endpoint: LambdaEndpoint,
    function_name: str,
    payload_format: str,
) -> None:
    emu = make_emulator(skip_time=True, function_configs={"echo": {}})
    deploy(emu, lambda_endpoint, function_name, shapes.shaped, payload_format=payload_format)
    lambda_endpoint.register("echo", echo)
    arn = emu.start(function_name, {"sku": "s", "qty": 2})
    for answer in (shapes.APPROVAL, shapes.TIERS):
        emu.send_callback_success(emu.callback_id(arn, timeout=15.0), json.dumps(answer))
    outcome = emu.wait(arn, timeout=30.0)
    assert outcome.status == "SUCCEEDED", outcome.error
    assert outcome.json() == []
    emu.stop_unfinished()
