"""tests/typing/round10.py (checked by mypy and pyright) on the Postgres store, with a fresh
engine for every invocation, so every value the workflow receives is read back from the
database: ``round10`` returns what did not come back equal to what was sent, or of another type
than the checkers gave it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from durable_gen import runtime as rt
from durable_gen.local import LocalService, VirtualClock, register_function

from ..unit.test_typed_corpus_round10 import ANSWERS, round10


@pytest.mark.parametrize("payload_format", ["json", "aws"])
def test_round10_on_postgres_with_a_fresh_engine_for_every_invocation(
    payload_format: Any, postgres_factory: Callable[..., Any]
) -> None:
    store = postgres_factory()
    clock = VirtualClock()

    def engine() -> LocalService:
        service = LocalService(store=store, clock=clock)
        service.register(
            "round10", rt.make_handler(round10.round10, service, payload_format=payload_format)
        )
        for name, fn in round10.FUNCTIONS.items():
            register_function(service, name, fn, payload_format=payload_format)
        return service

    arn = engine().start("round10", json.dumps({"id": "o-1", "user": 41, "due": "2024-02-29"}))
    answered: set[str] = set()
    for _ in range(40):
        service = engine()
        record = service.run(arn)
        if record.status != "RUNNING":
            break
        for op in service.get_operations(arn):
            details = op.callback_details
            if op.type != "CALLBACK" or op.status != "STARTED" or details is None:
                continue
            for name, answer in ANSWERS.items():
                if (op.name or "").startswith(name) and name not in answered:
                    answered.add(name)
                    service.send_callback_success(details.callback_id, json.dumps(answer))
    record = engine().get_execution(arn)
    assert record.status == "SUCCEEDED", record.error
    assert answered == set(ANSWERS)
    assert json.loads(record.result or "null") == []
