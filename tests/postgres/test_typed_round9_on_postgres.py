"""tests/typing/round9.py (checked by mypy and pyright) on the Postgres store, with a fresh
engine for every invocation, so every value the workflow receives is read back from the
database: ``round9`` returns what did not have, at run time, the type the checkers gave it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from durable_gen import runtime as rt
from durable_gen.local import LocalService, VirtualClock, register_function

from ..unit.test_typed_corpus_round9 import ANSWERS, round9


@pytest.mark.parametrize("payload_format", ["json", "aws"])
def test_round9_on_postgres_with_a_fresh_engine_for_every_invocation(
    payload_format: Any, postgres_factory: Callable[..., Any]
) -> None:
    store = postgres_factory()
    clock = VirtualClock()

    def engine() -> LocalService:
        service = LocalService(store=store, clock=clock)
        service.register(
            "round9", rt.make_handler(round9.round9, service, payload_format=payload_format)
        )
        for name, fn in round9.FUNCTIONS.items():
            register_function(service, name, fn, payload_format=payload_format)
        return service

    arn = engine().start("round9", json.dumps(round9.SKU))
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
    assert json.loads(record.result or "null") == []
