"""Text that is not valid Unicode (a lone surrogate, as a ``surrogateescape`` decode of a file
name or of a process's output leaves) given to the embedded engine's API: refused with an
``InvalidInputError`` saying so, on every store, and the running execution keeps its records
(a plain ``UnicodeEncodeError`` from inside the SQLite store's write is what it was)."""

from __future__ import annotations

from pathlib import Path

import pytest

import durable_gen as dg
from durable_gen.local import LocalService, MemoryStore, SqliteStore, register_function
from durable_gen.runtime import ErrorObject

_ids: list[str] = []


@dg.step
def hand_over(callback_id: str) -> None:
    _ids.append(callback_id)


@dg.workflow
def approval(_: None) -> dg.Workflow[object]:
    handle = yield dg.CreateCallback(name="approval")
    yield hand_over(handle.callback_id)
    return (yield handle)


@pytest.fixture(params=["memory", "sqlite"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> LocalService:
    store = MemoryStore() if request.param == "memory" else SqliteStore(str(tmp_path / "x.db"))
    engine = LocalService(store=store)
    register_function(engine, "approval", approval)
    return engine


def test_an_input_that_is_not_unicode_is_refused(engine: LocalService) -> None:
    with pytest.raises(dg.InvalidInputError, match="execution input is not valid Unicode"):
        engine.start("approval", '"bad \ud800"')
    assert engine.list_executions() == []


@pytest.mark.parametrize(
    "send",
    [
        lambda engine, cid: engine.send_callback_success(cid, '"bad \udcff"'),
        lambda engine, cid: engine.send_callback_failure(
            cid, ErrorObject(error_type="Rejected", error_message="bad \ud800")
        ),
        lambda engine, cid: engine.send_callback_failure(
            cid, ErrorObject(error_type="Rejected", stack_trace=["ok", "bad \ud800"])
        ),
    ],
    ids=["success", "failure message", "failure trace"],
)
def test_a_callback_answer_that_is_not_unicode_is_refused_and_the_callback_stays_open(
    engine: LocalService, send: object
) -> None:
    _ids.clear()
    arn = engine.start("approval", None)
    engine.run_until_idle()
    with pytest.raises(dg.InvalidInputError, match=r"callback \w+ is not valid Unicode"):
        send(engine, _ids[0])  # type: ignore[operator]
    engine.send_callback_success(_ids[0], '"approved"')
    engine.run_until_idle()
    record = engine.get_execution(arn)
    assert (record.status, record.result) == ("SUCCEEDED", '"approved"')
