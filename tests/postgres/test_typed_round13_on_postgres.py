"""tests/typing/round13.py (checked by mypy and pyright) on the Postgres store, with a fresh
engine for every invocation, so every value the workflow receives is read back from the
database: ``round13`` returns what did not come back equal to what was sent, or of another type
than the checkers gave it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from durable_gen import runtime as rt
from durable_gen.local import LocalService, VirtualClock, register_function

from ..unit.test_typed_corpus_round13 import ANSWERS, answer_callbacks, round13


@pytest.mark.parametrize("payload_format", ["json", "aws"])
def test_round13_on_postgres_with_a_fresh_engine_for_every_invocation(
    payload_format: Any, postgres_factory: Callable[..., Any]
) -> None:
    store = postgres_factory()
    clock = VirtualClock()

    def engine() -> LocalService:
        service = LocalService(store=store, clock=clock)
        service.register(
            "round13", rt.make_handler(round13.round13, service, payload_format=payload_format)
        )
        for name, fn in round13.FUNCTIONS.items():
            register_function(service, name, fn, payload_format=payload_format)
        return service

    arn = engine().start("round13", "1")
    answered: set[str] = set()
    for _ in range(60):
        service = engine()
        record = service.run(arn)
        if record.status != "RUNNING":
            break
        answer_callbacks(service, arn, answered)
    record = engine().get_execution(arn)
    assert record.status == "SUCCEEDED", record.error
    assert answered == set(ANSWERS)
    assert json.loads(record.result or "null") == []
