"""``examples/lambda/handler.py`` on the emulator, exactly as deployed: its module-level
``handler`` builds its own boto3 client from the environment, as it does on Lambda."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

try:
    from .emulator import Emulator, LambdaEndpoint
    from .lambda_support import op_events, settle_pending
except ImportError:
    from emulator import Emulator, LambdaEndpoint  # type: ignore[no-redef]
    from lambda_support import op_events, settle_pending  # type: ignore[no-redef]

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "lambda" / "handler.py"


@pytest.fixture
def example(emulator_skip_time: Emulator, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    for name, value in emulator_skip_time.client_environment().items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "APPROVAL_QUEUE_URL"):
        monkeypatch.delenv(name, raising=False)
    spec = importlib.util.spec_from_file_location("lambda_example_handler", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    return module


def test_a_small_order_ships(
    emulator_skip_time: Emulator,
    lambda_endpoint: LambdaEndpoint,
    function_name: str,
    example: ModuleType,
) -> None:
    emu = emulator_skip_time
    lambda_endpoint.register(function_name, settle_pending(example.handler))
    order = {"id": "o-1", "total": 40, "items": ["book", "pen"], "cooling_off_seconds": 3600}
    arn = emu.start(function_name, order)
    assert emu.wait(arn, timeout=15).json() == {
        "order": "o-1",
        "status": "shipped",
        "receipt": "receipt-o-1-40",
        "labels": ["label:book", "label:pen"],
    }
    names = [name for _, name, _ in op_events(emu.history(arn))]
    assert names[:4] == ["reserve_stock", "reserve_stock", "charge_card", "charge_card"]
    assert "cooling-off" in names and "labels" in names


@pytest.mark.parametrize("approved", [True, False])
def test_a_large_order_waits_for_a_manager(
    emulator_skip_time: Emulator,
    lambda_endpoint: LambdaEndpoint,
    function_name: str,
    example: ModuleType,
    approved: bool,
) -> None:
    emu = emulator_skip_time
    lambda_endpoint.register(function_name, settle_pending(example.handler))
    arn = emu.start(function_name, {"id": "o-2", "total": 900, "items": ["desk"]})
    callback_id = emu.callback_id(arn)
    emu.client.send_durable_execution_callback_success(
        CallbackId=callback_id, Result=json.dumps({"approved": approved}).encode()
    )
    result: dict[str, Any] = emu.wait(arn, timeout=15).json()
    assert result["status"] == ("shipped" if approved else "rejected")
    charged = any(name == "charge_card" for _, name, _ in op_events(emu.history(arn)))
    assert charged is approved
