"""The embedded engine's options and calls refuse values of the wrong kind with ValidationError.

docs/engine.md documents ``LocalService(*, store=None, clock=None, page_size=None,
max_crashes=3, region="us-east-1", account_id="000000000000")``, ``start(..., execution_name=)``
(1 to 64 characters of ``A-Z a-z 0-9 _ -``) and ``list_executions(status=None)`` with the five
statuses; a plain ``TypeError``, or an empty list for a misspelt status, would be a silent
wrong answer.
"""

from __future__ import annotations

from typing import Any

import pytest

import durable_gen as dg
from durable_gen.local import LocalService, VirtualClock
from durable_gen.runtime import make_handler


@pytest.mark.parametrize(
    "options",
    [
        {"page_size": 0},
        {"page_size": "5"},
        {"page_size": 2.5},
        {"max_crashes": 0},
        {"max_crashes": "3"},
        {"region": 5},
        {"region": "us east"},
        {"account_id": 123456789012},
        {"account_id": "abc"},
    ],
    ids=repr,
)
def test_local_service_options(options: dict[str, Any]) -> None:
    with pytest.raises(dg.ValidationError):
        LocalService(**options)


def _service() -> LocalService:
    def wf(x: Any) -> Any:
        yield dg.Wait(seconds=1)

    service = LocalService(clock=VirtualClock())
    service.register("w", make_handler(wf, service))
    return service


@pytest.mark.parametrize("name", [5, "", "a b", "x" * 65, b"name"], ids=repr)
def test_start_refuses_a_bad_execution_name(name: Any) -> None:
    with pytest.raises(dg.ValidationError, match="execution_name"):
        _service().start("w", "1", execution_name=name)


@pytest.mark.parametrize("status", ["BOGUS", "SUCCEDED", "running", 1])
def test_list_executions_refuses_an_unknown_status(status: Any) -> None:
    service = _service()
    service.start("w", "1")
    with pytest.raises(dg.ValidationError, match="RUNNING, SUCCEEDED, FAILED, TIMED_OUT, STOPPED"):
        service.list_executions(status)


def test_list_executions_filters_by_each_status() -> None:
    service = _service()
    arn = service.start("w", "1")
    assert [r.arn for r in service.list_executions("RUNNING")] == [arn]
    service.run(arn)
    for status in ("RUNNING", "FAILED", "TIMED_OUT", "STOPPED"):
        assert service.list_executions(status) == []
    assert [r.arn for r in service.list_executions("SUCCEEDED")] == [arn]


@pytest.mark.parametrize("name", ["my@flow", "é", "a+b", "with space", "a:b", "a/b", "", "x" * 257])
def test_a_function_name_an_invoke_cannot_name_is_refused_where_it_is_registered(name: str) -> None:
    service = LocalService()
    with pytest.raises(dg.ValidationError, match="letters, digits"):
        service.register(name, lambda payload: payload, durable=False)


def test_every_name_register_takes_is_one_an_invoke_can_name() -> None:
    for name in ["tax", "a.b-c_d", "x" * 256, "Module.flow_2"]:
        LocalService().register(name, lambda payload: payload, durable=False)
        dg.Invoke(name, None)  # built without a ValidationError
