"""Handlers of the ``map`` requirements (9-x): ``dg.Map`` and its ``BatchResult``."""

from __future__ import annotations

from typing import Any

import durable_gen as dg

from ._support import batch_projection

FAIL = "fail"
#: ~70 KB per item: four of them exceed the 256 KiB a context result is checkpointed inline.
LARGE_ITEM_CHARS = 70 * 1024


@dg.step
def greet(name: str) -> str:
    return f"Hello, {name}!"


@dg.step
def echo(value: Any) -> Any:
    return value


def double(item: int):
    return item * 2
    yield  # a generator function: the item runs as its own context, without operations


def add_index(item: int, index: int):
    return item + index
    yield


def times_ten(item: int):
    return item * 10
    yield


def upper(item: str):
    return item.upper()
    yield


def ok_or_fail(item: str):
    """Fails on the item ``"fail"``; returns any other item as is."""
    if item == FAIL:
        raise RuntimeError("item failed")
    return item
    yield


def constant(item: str):
    return item
    yield


def large(index: int):
    return str(index) * LARGE_ITEM_CHARS
    yield


def wait_then_step(item: str, index: int):
    if index == 1:
        yield dg.Wait(seconds=1)
    return (yield echo(item))


@dg.workflow
def map_basic(names: list[str]):  # 9-1
    batch = yield dg.Map(greet, names, name="map", max_concurrency=1)
    return batch.results()


@dg.workflow
def map_items_only(items: list[int]):  # 9-2
    batch = yield dg.Map(double, items, max_concurrency=1)
    return batch.results()


@dg.workflow
def map_item_and_index(items: list[int]):  # 9-3
    batch = yield dg.Map(add_index, items, name="indexed", max_concurrency=1)
    return batch.results()


@dg.workflow
def map_empty(items: list[Any]):  # 9-4
    batch = yield dg.Map(double, items, name="empty")
    return batch.results()


@dg.workflow
def map_fail_fast(_event: None):  # 9-5
    batch = yield dg.Map(
        ok_or_fail,
        ["ok", FAIL, "ok"],
        name="failfast",
        max_concurrency=1,
        completion=dg.Completion(tolerated_failure_count=0),
    )
    return batch_projection(batch)


@dg.workflow
def map_raise_if_failed(_event: None):  # 9-6
    batch = yield dg.Map(
        ok_or_fail,
        [FAIL, "ok"],
        name="throwing",
        max_concurrency=1,
        completion=dg.Completion(tolerated_failure_count=0),
    )
    batch.raise_if_failed()
    return batch.results()


@dg.workflow
def map_min_successful(_event: None):  # 9-7
    batch = yield dg.Map(
        constant,
        ["i0", "i1", "i2", "i3"],
        name="min-successful",
        max_concurrency=1,
        completion=dg.Completion(min_successful=2),
    )
    return batch_projection(batch, "completionReason", "successCount", "totalCount")


@dg.workflow
def map_failure_tolerated(_event: None):  # 9-8
    batch = yield dg.Map(
        ok_or_fail,
        ["ok", FAIL, "ok"],
        name="tolerated",
        max_concurrency=1,
        completion=dg.Completion(tolerated_failure_count=1),
    )
    return batch_projection(batch)


COUNTS = ("completionReason", "successCount", "failureCount", "totalCount")


@dg.workflow
def map_failure_count_exceeded(_event: None):  # 9-9
    batch = yield dg.Map(
        ok_or_fail,
        [FAIL, FAIL, "ok"],
        name="tolerated-exceeded",
        max_concurrency=1,
        completion=dg.Completion(tolerated_failure_count=1),
    )
    return batch_projection(batch, *COUNTS)


@dg.workflow
def map_failure_percentage_exceeded(_event: None):  # 9-10
    batch = yield dg.Map(
        ok_or_fail,
        [FAIL, FAIL, "ok", "ok"],
        name="tolerated-pct",
        max_concurrency=1,
        completion=dg.Completion(tolerated_failure_percentage=25),
    )
    return batch_projection(batch, *COUNTS)


@dg.workflow
def map_concurrent(_event: None):  # 9-11
    batch = yield dg.Map(constant, ["r0", "r1", "r2"], name="concurrent", max_concurrency=2)
    return batch.results()


@dg.workflow
def map_flat(_event: None):  # 9-12
    batch = yield dg.Map(echo, ["fa", "fb"], name="flat", max_concurrency=1, nesting="flat")
    return batch.results()


@dg.workflow
def map_item_namer(items: list[int]):  # 9-13
    batch = yield dg.Map(
        times_ten,
        items,
        name="named-items",
        max_concurrency=1,
        item_namer=lambda item, index: f"item-{item}",
    )
    return batch.results()


class WrappedText:
    """Records an item result ``v`` as the text ``wrapped:v`` and reads it back."""

    PREFIX = "wrapped:"

    def serialize(self, value: str) -> str:
        return self.PREFIX + value

    def deserialize(self, payload: str) -> str:
        if not payload.startswith(self.PREFIX):
            raise ValueError(f"not a wrapped payload: {payload!r}")
        return payload[len(self.PREFIX) :]


@dg.workflow
def map_item_serdes(_event: None):  # 9-14
    batch = yield dg.Map(
        upper, ["x", "y"], name="serdes", max_concurrency=1, item_serdes=WrappedText()
    )
    return batch.results()


@dg.workflow
def map_suspends_in_iteration(_event: None):  # 9-15
    batch = yield dg.Map(wait_then_step, ["r0", "r1"], name="suspend", max_concurrency=1)
    return batch.results()


@dg.workflow
def map_large_result(_event: None):  # 9-16
    batch = yield dg.Map(large, [0, 1, 2, 3], name="large", max_concurrency=1)
    return batch_projection(batch, "successCount", "totalCount")


@dg.workflow
def map_then_wait(_event: None):  # 9-17
    batch = yield dg.Map(upper, ["a", "b"], name="then-wait", max_concurrency=1)
    yield dg.Wait(seconds=1)
    return batch.results()


@dg.workflow
def map_failure_then_wait(_event: None):  # 9-18
    batch = yield dg.Map(
        ok_or_fail,
        ["ok", FAIL],
        name="fail-then-wait",
        max_concurrency=1,
        completion=dg.Completion(tolerated_failure_count=1),
    )
    yield dg.Wait(seconds=1)
    return batch_projection(batch)


class OpSerdes:
    """Records a whole batch result as ``OPSERDE:`` and its comma-joined results."""

    PREFIX = "OPSERDE:"

    def serialize(self, batch: dg.BatchResult) -> str:
        return self.PREFIX + ",".join(batch.results())

    def deserialize(self, payload: str) -> dg.BatchResult:
        if not payload.startswith(self.PREFIX):
            raise ValueError(f"not an OPSERDE payload: {payload!r}")
        values = payload[len(self.PREFIX) :].split(",")
        items = [
            dg.BatchItem(index=i, status="SUCCEEDED", result=value)
            for i, value in enumerate(values)
        ]
        return dg.BatchResult(items=items, completion_reason="ALL_COMPLETED")


@dg.workflow
def map_operation_serdes(_event: None):  # 9-19
    batch = yield dg.Map(upper, ["x", "y"], name="op-serde", max_concurrency=1, serdes=OpSerdes())
    return batch.results()


@dg.workflow
def map_operation_serdes_replayed(_event: None):  # 9-20
    batch = yield dg.Map(
        upper, ["x", "y"], name="op-serde-replay", max_concurrency=1, serdes=OpSerdes()
    )
    yield dg.Wait(seconds=1)
    return batch.results()


HANDLERS = {
    "9-1": map_basic,
    "9-2": map_items_only,
    "9-3": map_item_and_index,
    "9-4": map_empty,
    "9-5": map_fail_fast,
    "9-6": map_raise_if_failed,
    "9-7": map_min_successful,
    "9-8": map_failure_tolerated,
    "9-9": map_failure_count_exceeded,
    "9-10": map_failure_percentage_exceeded,
    "9-11": map_concurrent,
    "9-12": map_flat,
    "9-13": map_item_namer,
    "9-14": map_item_serdes,
    "9-15": map_suspends_in_iteration,
    "9-16": map_large_result,
    "9-17": map_then_wait,
    "9-18": map_failure_then_wait,
    "9-19": map_operation_serdes,
    "9-20": map_operation_serdes_replayed,
}
