"""Handlers of the ``parallel`` requirements (8-x): ``dg.Parallel``, ``dg.Branch``."""

from __future__ import annotations

from typing import Any

import durable_gen as dg

from ._support import batch_projection, returns

COUNTS = ("completionReason", "successCount", "failureCount", "totalCount")


def fails():
    raise RuntimeError("branch failed")
    yield  # a generator function: the branch runs as its own context, without operations


@dg.step
def task_1() -> str:
    return "task-1"


@dg.step
def task_2() -> str:
    return "task-2"


@dg.step
def flat_a() -> str:
    return "fa"


@dg.step
def flat_b() -> str:
    return "fb"


@dg.step
def branch_zero() -> str:
    return "b0"


@dg.step
def inner_1() -> str:
    return "i1"


@dg.step
def inner_2() -> str:
    return "i2"


def wait_then_b1():
    yield dg.Wait(seconds=2)
    return "b1"


def inner_parallel():
    batch = yield dg.Parallel([inner_1, inner_2], name="inner", max_concurrency=1)
    return batch.results()


@dg.workflow
def parallel_basic(_event: None):  # 8-1
    batch = yield dg.Parallel([task_1, task_2], name="parallel", max_concurrency=1)
    return batch.results()


@dg.workflow
def parallel_branches_only(_event: None):  # 8-2
    batch = yield dg.Parallel([returns("alpha"), returns("beta")], max_concurrency=1)
    return batch.results()


@dg.workflow
def parallel_named_branches(_event: None):  # 8-3
    branches = [dg.Branch(returns("one"), name="first"), dg.Branch(returns("two"), name="second")]
    batch = yield dg.Parallel(branches, name="named", max_concurrency=1)
    return batch.results()


@dg.workflow
def parallel_heterogeneous(_event: None):  # 8-4
    branches = [returns("hello"), returns(42), returns({"k": "v"})]
    batch = yield dg.Parallel(branches, name="hetero", max_concurrency=1)
    return batch.results()


@dg.workflow
def parallel_empty(_event: None):  # 8-5
    batch = yield dg.Parallel([], name="empty")
    return batch.results()


def _run(name: str, branches: list[Any], **completion: Any) -> dg.Parallel:
    return dg.Parallel(
        branches, name=name, max_concurrency=1, completion=dg.Completion(**completion)
    )


@dg.workflow
def parallel_fail_fast(_event: None):  # 8-6
    branches = [returns("ok"), fails, returns("never")]
    batch = yield _run("failfast", branches, tolerated_failure_count=0)
    return batch_projection(batch)


@dg.workflow
def parallel_raise_if_failed(_event: None):  # 8-7
    batch = yield _run("throwing", [fails, returns("never")], tolerated_failure_count=0)
    batch.raise_if_failed()
    return batch.results()


@dg.workflow
def parallel_min_successful(_event: None):  # 8-8
    branches = [returns(f"b{i}") for i in range(4)]
    batch = yield _run("min-successful", branches, min_successful=2)
    return batch_projection(batch, "completionReason", "successCount", "totalCount")


@dg.workflow
def parallel_failure_tolerated(_event: None):  # 8-9
    branches = [returns("ok"), fails, returns("ok")]
    batch = yield _run("tolerated", branches, tolerated_failure_count=1)
    return batch_projection(batch)


@dg.workflow
def parallel_failure_count_exceeded(_event: None):  # 8-10
    branches = [fails, fails, returns("never")]
    batch = yield _run("tolerated-exceeded", branches, tolerated_failure_count=1)
    return batch_projection(batch, *COUNTS)


@dg.workflow
def parallel_concurrent(_event: None):  # 8-11
    branches = [returns("r0"), returns("r1"), returns("r2")]
    batch = yield dg.Parallel(branches, name="concurrent", max_concurrency=2)
    return batch.results()


@dg.workflow
def parallel_flat(_event: None):  # 8-12
    batch = yield dg.Parallel([flat_a, flat_b], name="flat", max_concurrency=1, nesting="flat")
    return batch.results()


@dg.workflow
def parallel_failure_percentage_exceeded(_event: None):  # 8-13
    branches = [fails, fails, returns("never"), returns("never")]
    batch = yield _run("tolerated-pct", branches, tolerated_failure_percentage=25)
    return batch_projection(batch, *COUNTS)


@dg.workflow
def parallel_replay_across_wait(_event: None):  # 8-14
    batch = yield dg.Parallel([branch_zero, wait_then_b1], name="replay", max_concurrency=1)
    return batch.results()


class WrappedJson:
    """Records a branch result ``v`` as ``{"wrapped": v}`` and reads ``v`` back."""

    def serialize(self, value: Any) -> str:
        return dg.JsonSerdes().serialize({"wrapped": value})

    def deserialize(self, payload: str) -> Any:
        return dg.JsonSerdes().deserialize(payload)["wrapped"]


@dg.workflow
def parallel_item_serdes(_event: None):  # 8-15
    batch = yield dg.Parallel(
        [returns("x"), returns("y")], name="serde", max_concurrency=1, item_serdes=WrappedJson()
    )
    return batch.results()


@dg.workflow
def parallel_all_fail(_event: None):  # 8-16
    batch = yield _run("all-fail", [fails, fails, fails], tolerated_failure_count=3)
    return batch_projection(batch)


@dg.workflow
def parallel_min_successful_not_reached(_event: None):  # 8-17
    branches = [returns("ok"), fails, returns("ok")]
    batch = yield _run("min-not-reached", branches, min_successful=3)
    return batch_projection(batch)


@dg.workflow
def parallel_combined_completion(_event: None):  # 8-18
    branches = [fails, fails, returns("never"), returns("never")]
    batch = yield _run("combined", branches, min_successful=3, tolerated_failure_count=1)
    return batch_projection(batch, *COUNTS)


@dg.workflow
def parallel_invalid_concurrency(_event: None):  # 8-19
    branches = [returns("a"), returns("b")]
    batch = yield dg.Parallel(branches, name="bad-concurrency", max_concurrency=0)
    return batch.results()


@dg.workflow
def parallel_accessors(_event: None):  # 8-20
    branches = [returns("ok"), fails, returns("ok")]
    batch = yield _run("accessors", branches, tolerated_failure_count=1)
    return {
        "hasFailure": batch.has_failure,
        "successCount": len(batch.results()),
        "failureCount": batch.failure_count,
        "errorCount": len(batch.errors()),
    }


@dg.workflow
def parallel_nested(_event: None):  # 8-21
    batch = yield dg.Parallel([inner_parallel], name="outer", max_concurrency=1)
    return batch.results()


@dg.workflow
def parallel_percentage_boundary(_event: None):  # 8-22
    branches = [fails, returns("ok"), returns("ok"), returns("ok")]
    batch = yield _run("pct-boundary", branches, tolerated_failure_percentage=25)
    return batch_projection(batch)


HANDLERS = {
    "8-1": parallel_basic,
    "8-2": parallel_branches_only,
    "8-3": parallel_named_branches,
    "8-4": parallel_heterogeneous,
    "8-5": parallel_empty,
    "8-6": parallel_fail_fast,
    "8-7": parallel_raise_if_failed,
    "8-8": parallel_min_successful,
    "8-9": parallel_failure_tolerated,
    "8-10": parallel_failure_count_exceeded,
    "8-11": parallel_concurrent,
    "8-12": parallel_flat,
    "8-13": parallel_failure_percentage_exceeded,
    "8-14": parallel_replay_across_wait,
    "8-15": parallel_item_serdes,
    "8-16": parallel_all_fail,
    "8-17": parallel_min_successful_not_reached,
    "8-18": parallel_combined_completion,
    "8-19": parallel_invalid_concurrency,
    "8-20": parallel_accessors,
    "8-21": parallel_nested,
    "8-22": parallel_percentage_boundary,
}
