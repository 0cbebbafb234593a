"""A corpus of Map, Parallel and saga programs written from the guide, with the results the
guide promises, for running on every engine (``test_batch_corpus.py``: memory, SQLite, the
Lambda handler; ``tests/integration/aws/test_lambda_batch_corpus.py``: AWS's emulator).

Every program returns plain JSON built from what the docs say a ``BatchResult`` or a
``CompensationResult`` exposes, so one expected value holds on every engine. Steps never retry
(``Retry.never()``) and batches whose outcome depends on which item ends first run one item at
a time (``max_concurrency=1``), so each expected value is exact. ``RAN`` records which step
bodies ran: a completion policy must not start the items after the one that decided it.
"""

from __future__ import annotations

import functools
import threading
from typing import Any

import durable_gen as dg

RAN: list[Any] = []
_LOCK = threading.Lock()


def ran(value: Any) -> None:
    with _LOCK:
        RAN.append(value)


@dg.step(retry=dg.Retry.never())
def double(x: int) -> int:
    ran(x)
    if x < 0:
        raise ValueError(f"negative {x}")
    return 2 * x


@dg.step(retry=dg.Retry.never())
def with_index(x: int, index: int) -> list[int]:
    ran(x)
    return [x, index]


@dg.workflow
def waiting_item(x: int, index: int) -> dg.Workflow[list[int]]:
    yield from dg.Wait(seconds=1 + index % 3)
    return [(yield from double(x)), index]


def summary(batch: dg.BatchResult[Any]) -> dict[str, Any]:
    """What a BatchResult exposes, as JSON."""
    return {
        "reason": batch.completion_reason,
        "all": batch.all_results(),
        "results": batch.results(),
        "items": [[i.index, i.name, i.status] for i in batch.items],
        "errors": [[e.error_type, e.error_message] for e in batch.errors()],
        "counts": [
            batch.success_count,
            batch.failure_count,
            batch.started_count,
            batch.not_started_count,
            batch.total_count,
        ],
        "has_failure": batch.has_failure,
    }


def _items(statuses: str) -> list[list[Any]]:
    """``"SFN"`` -> items 0.. named map-item-i with SUCCEEDED/FAILED/NOT_STARTED/STARTED."""
    full = {"S": "SUCCEEDED", "F": "FAILED", "N": "NOT_STARTED", "T": "STARTED"}
    return [[i, f"map-item-{i}", full[s]] for i, s in enumerate(statuses)]


def _expect(
    items: list[int], statuses: str, reason: str, *, prefix: str = "map-item"
) -> dict[str, Any]:
    """The summary the guide promises for ``Map(double, items)`` ending in ``statuses``."""
    all_ = [2 * x if s == "S" else None for x, s in zip(items, statuses, strict=True)]
    full = {"S": "SUCCEEDED", "F": "FAILED", "N": "NOT_STARTED", "T": "STARTED"}
    return {
        "reason": reason,
        "all": all_,
        "results": [r for r in all_ if r is not None],
        "items": [[i, f"{prefix}-{i}", full[s]] for i, s in enumerate(statuses)],
        "errors": [
            ["ValueError", f"negative {x}"]
            for x, s in zip(items, statuses, strict=True)
            if s == "F"
        ],
        "counts": [
            statuses.count("S"),
            statuses.count("F"),
            statuses.count("T"),
            statuses.count("N"),
            len(items),
        ],
        "has_failure": "F" in statuses,
    }


ALL, MIN, TOL = "ALL_COMPLETED", "MIN_SUCCESSFUL_REACHED", "FAILURE_TOLERANCE_EXCEEDED"
C = dg.Completion

#: (case id, items, max_concurrency, completion, statuses, completion_reason), one item at a
#: time where the order matters: failures at the start, in the middle, at the end.
MAP_POLICIES: list[tuple[str, list[int], int | None, dg.Completion | None, str, str]] = [
    ("empty", [], None, None, "", ALL),
    ("empty-min-successful", [], None, C(min_successful=3), "", ALL),
    ("empty-percentage", [], 1, C(tolerated_failure_percentage=10), "", ALL),
    ("one", [1], None, None, "S", ALL),
    ("one-failing", [-1], None, None, "F", TOL),
    ("all-succeed", [1, 2, 3], None, None, "SSS", ALL),
    ("concurrency-over-count", [1, 2, 3], 100, None, "SSS", ALL),
    ("fail-first", [-1, 2, 3], 1, None, "FNN", TOL),
    ("fail-middle", [1, -2, 3], 1, None, "SFN", TOL),
    ("fail-last", [1, 2, -3], 1, None, "SSF", TOL),
    ("count-0", [1, -2, 3, 4], 1, C(tolerated_failure_count=0), "SFNN", TOL),
    ("count-1-two-fail", [1, -2, 3, -4, 5], 1, C(tolerated_failure_count=1), "SFSFN", TOL),
    ("count-2-two-fail", [1, -2, 3, -4, 5], 1, C(tolerated_failure_count=2), "SFSFS", ALL),
    ("percent-50-of-4", [1, -2, 3, -4], 1, C(tolerated_failure_percentage=50), "SFSF", ALL),
    ("percent-49-of-4", [1, -2, 3, -4], 1, C(tolerated_failure_percentage=49), "SFSF", TOL),
    ("percent-25-of-4", [-1, -2, 3, 4], 1, C(tolerated_failure_percentage=25), "FFNN", TOL),
    ("percent-0", [1, 2, -3], 1, C(tolerated_failure_percentage=0), "SSF", TOL),
    ("percent-100-all-fail", [-1, -2, -3], 1, C(tolerated_failure_percentage=100), "FFF", ALL),
    ("min-1-first", [1, -2, 3], 1, C(min_successful=1), "SNN", MIN),
    ("min-1-after-failures", [-1, -2, 3, 4], 1, C(min_successful=1), "FFSN", MIN),
    ("min-1-never", [-1, -2, -3], 1, C(min_successful=1), "FFF", ALL),
    ("min-2", [1, 2, 3], 1, C(min_successful=2), "SSN", MIN),
    ("min-over-count", [1, 2, 3], 1, C(min_successful=5), "SSS", ALL),
    ("min-2-count-0", [-1, 2, 3], 1, C(min_successful=2, tolerated_failure_count=0), "FNN", TOL),
    # the last item to end reaches min_successful: every item ended, as AWS's SDK decides it
    ("min-2-count-1", [-1, 2, 3], 1, C(min_successful=2, tolerated_failure_count=1), "FSS", ALL),
    ("min-3-of-3", [1, 2, 3], 1, C(min_successful=3), "SSS", ALL),
    (
        "min-3-percent-40",
        [-1, 2, -3, 4, 5],
        1,
        C(min_successful=3, tolerated_failure_percentage=40),
        "FSFSS",
        ALL,
    ),
    (
        "min-3-percent-39",
        [-1, 2, -3, 4, 5],
        1,
        C(min_successful=3, tolerated_failure_percentage=39),
        "FSFNN",
        TOL,
    ),
    ("all-completed", [-1, 2, -3], 1, C.all_completed(), "FSF", ALL),
    ("first-successful", [-1, 2, 3], 1, C.first_successful(), "FSN", MIN),
    ("first-successful-never", [-1, -2], 1, C.first_successful(), "FF", ALL),
    ("all-successful", [1, -2, 3], 1, C.all_successful(), "SFN", TOL),
    ("all-successful-ok", [1, 2, 3], 1, C.all_successful(), "SSS", ALL),
]


def map_program(
    items: list[int], max_concurrency: int | None, completion: dg.Completion | None
) -> Any:
    @dg.workflow
    def program(_: Any) -> dg.Workflow[Any]:
        batch = yield from dg.Map(
            double, items, max_concurrency=max_concurrency, completion=completion
        )
        return summary(batch)

    return program


def parallel_program(
    values: list[int], max_concurrency: int | None, completion: dg.Completion | None
) -> Any:
    @dg.workflow
    def program(_: Any) -> dg.Workflow[Any]:
        batch = yield from dg.Parallel(
            [functools.partial(double, v) for v in values],
            max_concurrency=max_concurrency,
            completion=completion,
        )
        return summary(batch)

    return program


# --- other shapes: (case id, workflow, expected result) ------------------------------------


@dg.workflow
def thousands(_: Any) -> dg.Workflow[Any]:
    batch = yield from dg.Map(double, list(range(2000)), max_concurrency=64)
    return [
        batch.completion_reason,
        sum(batch.results()),
        batch.total_count,
        [i.index for i in batch.items] == list(range(2000)),
        batch.results() == [2 * i for i in range(2000)],
    ]


@dg.workflow
def thousands_tolerated(_: Any) -> dg.Workflow[Any]:
    items = [-i if i % 100 == 0 else i for i in range(1, 1001)]
    batch = yield from dg.Map(
        double, items, completion=dg.Completion(tolerated_failure_percentage=1)
    )
    return [batch.completion_reason, batch.success_count, batch.failure_count, batch.total_count]


@dg.workflow
def indexes_and_names(_: Any) -> dg.Workflow[Any]:
    batch = yield from dg.Map(
        with_index, [5, 6, 7], item_namer=lambda item, index: f"n{item}-{index}"
    )
    return [batch.results(), [i.name for i in batch.items]]


@dg.workflow
def generator_items(_: Any) -> dg.Workflow[Any]:
    batch = yield from dg.Map(
        waiting_item, [1, -2, 3, 4], completion=dg.Completion(tolerated_failure_count=1)
    )
    return summary(batch)


@dg.workflow
def generator_items_min_successful(_: Any) -> dg.Workflow[Any]:
    # waits of 1, 2, 3, 1, 2 s: items 0 and 3 succeed first, at second 1
    batch = yield from dg.Map(
        waiting_item, [1, 2, 3, 4, 5], max_concurrency=5, completion=dg.Completion(min_successful=2)
    )
    return [batch.completion_reason, [i.status for i in batch.items], batch.results()]


@dg.workflow
def inner_map() -> dg.Workflow[Any]:
    batch = yield from dg.Map(double, [1, -1], completion=dg.Completion(tolerated_failure_count=1))
    return batch.all_results()


@dg.workflow
def parallel_of_maps(_: Any) -> dg.Workflow[Any]:
    batch = yield from dg.Parallel(
        [inner_map, dg.Branch(inner_map, name="second"), functools.partial(double, 7)]
    )
    return summary(batch)


@dg.workflow
def nested(_: Any) -> dg.Workflow[Any]:
    return (yield from dg.Child(parallel_of_maps, (None,), name="outer"))


@dg.workflow
def raise_if_failed(_: Any) -> dg.Workflow[Any]:
    batch = yield from dg.Map(double, [1, -2, 3], completion=dg.Completion.all_completed())
    try:
        batch.raise_if_failed()
    except dg.BatchFailedError as exc:
        return ["raised", exc.error_type, str(exc)]
    return ["not raised"]


@dg.workflow
def get_results_ok(_: Any) -> dg.Workflow[Any]:
    batch = yield from dg.Map(double, [1, 2])
    batch.raise_if_failed()
    return batch.get_results()


@dg.workflow
def get_results_uncaught(_: Any) -> dg.Workflow[Any]:
    batch = yield from dg.Map(double, [1, -2, 3], completion=dg.Completion.all_completed())
    return batch.get_results()


def _undo(tag: str) -> Any:
    def undo(result: str) -> str:
        ran(f"undo {result}")
        return f"{tag} {result}"

    undo.__name__ = f"undo_{tag}"
    return undo


def _broken_undo(result: str) -> str:
    ran(f"broken {result}")
    raise RuntimeError(f"cannot undo {result}")


@dg.step(compensate=_undo("release"))
def reserve(item: str) -> str:
    return f"reserved {item}"


@dg.step(compensate=_undo("refund"))
def charge(amount: int) -> str:
    return f"charged {amount}"


@dg.step(compensate=dg.step(retry=dg.Retry.never())(_broken_undo))
def ship(item: str) -> str:
    return f"shipped {item}"


@dg.step(retry=dg.Retry.never())
def declined(_: Any) -> str:
    raise RuntimeError("declined")


def undone(results: list[dg.CompensationResult]) -> list[list[Any]]:
    return [[u.name, u.status, u.result, u.error_type, u.error_message] for u in results]


@dg.workflow
def saga_lifo(_: Any) -> dg.Workflow[Any]:
    yield from reserve("book")
    yield from charge(10)
    yield from reserve("pen")
    return undone((yield from dg.RunCompensations()))


@dg.workflow
def saga_runs_once(_: Any) -> dg.Workflow[Any]:
    yield from reserve("book")
    first = yield from dg.RunCompensations()
    second = yield from dg.RunCompensations()
    return [undone(first), undone(second)]


@dg.workflow
def saga_failing_undo(_: Any) -> dg.Workflow[Any]:
    yield from reserve("book")
    yield from ship("book")
    yield from charge(5)
    return undone((yield from dg.RunCompensations()))


@dg.workflow
def saga_after_failure(_: Any) -> dg.Workflow[Any]:
    try:
        yield from reserve("book")
        yield dg.Wait(seconds=5, name="hold")
        yield from declined(None)
    except dg.StepFailedError:
        return undone((yield from dg.RunCompensations()))
    return "booked"


@dg.workflow
def booking(item: str) -> dg.Workflow[Any]:
    yield from reserve(item)
    yield from charge(len(item))
    return undone((yield from dg.RunCompensations()))


@dg.workflow
def booking_kept(item: str) -> dg.Workflow[str]:
    yield from reserve(item)
    return item


@dg.workflow
def saga_nested(_: Any) -> dg.Workflow[Any]:
    yield from reserve("outer")
    inner = yield from dg.Child(booking, ("inner",))
    kept = yield from dg.Child(booking_kept, ("kept",))  # its undo stays in the child
    items = yield from dg.Map(booking, ["a", "bc"])
    outer = yield from dg.RunCompensations()
    return [inner, kept, items.results(), undone(outer)]


def _undone(*rows: tuple[str, str, str]) -> list[list[Any]]:
    return [[name, "SUCCEEDED", f"{tag} {result}", None, None] for name, tag, result in rows]


OTHERS: list[tuple[str, Any, Any, list[Any] | None]] = [
    ("thousands", thousands, ["ALL_COMPLETED", 3998000, 2000, True, True], None),
    ("thousands-tolerated", thousands_tolerated, ["ALL_COMPLETED", 990, 10, 1000], None),
    (
        "indexes-and-names",
        indexes_and_names,
        [[[5, 0], [6, 1], [7, 2]], ["n5-0", "n6-1", "n7-2"]],
        [5, 6, 7],
    ),
    (
        "generator-items",
        generator_items,
        {
            **_expect([1, -2, 3, 4], "SFSS", ALL),
            "all": [[2, 0], None, [6, 2], [8, 3]],
            "results": [[2, 0], [6, 2], [8, 3]],
        },
        [-2, 1, 3, 4],
    ),
    (
        "generator-items-min-successful",
        generator_items_min_successful,
        [MIN, ["SUCCEEDED", "STARTED", "STARTED", "SUCCEEDED", "STARTED"], [[2, 0], [8, 3]]],
        [1, 4],
    ),
    (
        "nested",
        nested,
        {
            "reason": ALL,
            "all": [[2, None], [2, None], 14],
            "results": [[2, None], [2, None], 14],
            "items": [
                [0, "parallel-branch-0", "SUCCEEDED"],
                [1, "second", "SUCCEEDED"],
                [2, "parallel-branch-2", "SUCCEEDED"],
            ],
            "errors": [],
            "counts": [3, 0, 0, 0, 3],
            "has_failure": False,
        },
        [-1, -1, 1, 1, 7],
    ),
    (
        "raise-if-failed",
        raise_if_failed,
        ["raised", "ValueError", "1 of 3 items failed; first: item 1: ValueError: negative -2"],
        [-2, 1, 3],
    ),
    ("get-results", get_results_ok, [2, 4], [1, 2]),
    (
        "saga-lifo",
        saga_lifo,
        _undone(
            ("reserve", "release", "reserved pen"),
            ("charge", "refund", "charged 10"),
            ("reserve", "release", "reserved book"),
        ),
        ["undo charged 10", "undo reserved book", "undo reserved pen"],
    ),
    (
        "saga-runs-once",
        saga_runs_once,
        [_undone(("reserve", "release", "reserved book")), []],
        ["undo reserved book"],
    ),
    (
        "saga-failing-undo",
        saga_failing_undo,
        [
            ["charge", "SUCCEEDED", "refund charged 5", None, None],
            ["ship", "FAILED", None, "RuntimeError", "cannot undo shipped book"],
            ["reserve", "SUCCEEDED", "release reserved book", None, None],
        ],
        ["broken shipped book", "undo charged 5", "undo reserved book"],
    ),
    (
        "saga-after-failure",
        saga_after_failure,
        _undone(("reserve", "release", "reserved book")),
        ["undo reserved book"],
    ),
    (
        "saga-nested",
        saga_nested,
        [
            _undone(("charge", "refund", "charged 5"), ("reserve", "release", "reserved inner")),
            "kept",
            [
                _undone(("charge", "refund", "charged 1"), ("reserve", "release", "reserved a")),
                _undone(("charge", "refund", "charged 2"), ("reserve", "release", "reserved bc")),
            ],
            _undone(("reserve", "release", "reserved outer")),
        ],
        sorted(
            [
                "undo charged 5",
                "undo reserved inner",
                "undo charged 1",
                "undo reserved a",
                "undo charged 2",
                "undo reserved bc",
                "undo reserved outer",
            ]
        ),
    ),
]

#: Programs that end the execution FAILED: (case id, workflow, error type, error message).
FAILING: list[tuple[str, Any, str, str]] = [
    (
        "get-results-uncaught",
        get_results_uncaught,
        "ValueError",
        "1 of 3 items failed; first: item 1: ValueError: negative -2",
    ),
]


def sorted_ran() -> list[Any]:
    with _LOCK:
        return sorted(RAN, key=repr)
