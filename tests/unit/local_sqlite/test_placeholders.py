"""The SQLite store's statements use plain ``?`` placeholders, given as sequences.

Python 3.12 deprecates binding a sequence to numbered placeholders (``?1``), with a
DeprecationWarning at every such statement (an error under pytest, and ``sqlite3``'s
ProgrammingError from Python 3.14): the store ran that way on every checkpoint, lookup and
lease renewal. Run on any Python, this test reads the store's statements; the store's own tests
run them on 3.12 and 3.13 too.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import durable_gen as dg
from durable_gen import runtime as rt
from durable_gen.local import LocalService, SqliteStore, VirtualClock, _sqlite


def test_no_statement_of_the_store_numbers_its_placeholders() -> None:
    source = Path(_sqlite.__file__).read_text()
    statements = re.findall(r'"[^"\n]*(?:SELECT|INSERT|UPDATE|DELETE)[^"\n]*"', source)
    assert statements, "the store's statements were not found"
    numbered = [line for line in source.splitlines() if re.search(r"\?\d", line)]
    assert numbered == [] or all(line.lstrip().startswith("#") for line in numbered), numbered


@dg.step
def double(n: int) -> int:
    return n * 2


def workflow(n: int) -> dg.Workflow[int]:
    first = yield from double(n)
    yield from dg.Wait(seconds=1, name="pause")
    return (yield from double(first))


def test_an_execution_on_sqlite_raises_no_deprecation_warning(tmp_path: Path) -> None:
    with SqliteStore(str(tmp_path / "placeholders.db")) as store, warnings.catch_warnings():
        warnings.simplefilter("error")
        engine = LocalService(store=store, clock=VirtualClock())
        engine.register("wf", rt.make_handler(workflow, engine))
        record = engine.run(engine.start("wf", "3"))
        assert record.status == "SUCCEEDED", record.error
        assert record.result == "12"
        arn = record.arn
        operations = store.operations(arn)
        assert [op.name for op in operations[1:]] == ["double", "pause", "double"]
        assert store.operations(arn, 1, 1) == operations[1:2]
        assert store.operation_count(arn) == 4  # the EXECUTION operation first
        assert store.events(arn)
        assert store.lookup(arn)(operations[1].id) == operations[1]
        store.renew_leases()
