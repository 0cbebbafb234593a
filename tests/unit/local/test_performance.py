"""The checkpoint path stays cheap and linear: no per-checkpoint copies of the history."""

from __future__ import annotations

import time

from durable_gen._wire import InvocationInput, InvocationOutput, OperationUpdate
from durable_gen.local import LocalService, VirtualClock

from .harness import oid


def run_steps(n: int) -> float:
    """Seconds of engine time for one invocation checkpointing ``n`` steps (START + SUCCEED)."""
    service = LocalService(clock=VirtualClock())
    batches = [
        (
            OperationUpdate(id=oid(i), type="STEP", action="START", sub_type="Step", name="s"),
            OperationUpdate(id=oid(i), type="STEP", action="SUCCEED", payload='"x"'),
        )
        for i in range(1, n + 1)
    ]
    spent: list[float] = []

    def handler(event: InvocationInput) -> InvocationOutput:
        token = event.checkpoint_token
        arn = event.durable_execution_arn
        started = time.process_time()
        for batch in batches:
            reply = service.checkpoint(arn, token, batch)
            assert len(reply.new_execution_state.operations) == 1
            token = reply.checkpoint_token
        spent.append(time.process_time() - started)
        return InvocationOutput(status="SUCCEEDED", result='"done"')

    service.register("steps", handler)
    arn = service.start("steps")
    assert service.run(arn).status == "SUCCEEDED"
    assert len(service.get_history(arn)) == 2 * n + 3
    assert len(service.get_operations(arn)) == n + 1
    return spent[0]


def test_ten_thousand_sequential_steps_are_linear() -> None:
    small = min(run_steps(2_000) for _ in range(2)) / 2_000
    large = run_steps(16_000) / 16_000
    # Quadratic work would make each step of the large run ~8x dearer; allow noise, not that.
    assert large < small * 3, (small, large)
    assert run_steps(10_000) < 10.0  # tens of microseconds a step at worst, on a slow machine
