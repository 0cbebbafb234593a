"""Timing and reporting: one ``Trial`` is timed ``repeat`` times, the median is a ``Row``.

Every run gets a fresh state from ``setup`` (untimed), a ``gc.collect()`` before it, and
``time.perf_counter`` around ``run``. Warm-up runs are timed the same way and thrown away.
"""

from __future__ import annotations

import gc
import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["Row", "Trial", "format_table", "measure", "ratio", "row_dicts"]


def _nothing() -> None:
    return None


def _ignore(state: Any) -> None:
    del state


@dataclass(frozen=True)
class Trial:
    """One thing to time.

    Attributes:
        run: Called with the state from ``setup``; timed. It may return the seconds of a
            narrower region it timed itself (a float); that is then used instead.
        setup: Builds a fresh state for one run; not timed.
        cleanup: Releases the state after the run; not timed.
        per: The time is divided by this (operations per run, for per-operation costs).
    """

    run: Callable[[Any], float | None]
    setup: Callable[[], Any] = _nothing
    cleanup: Callable[[Any], None] = _ignore
    per: int = 1


#: No measurement takes more timed runs than this, whatever ``min_time`` asks.
MAX_RUNS = 1000


def measure(*trials: Trial, repeat: int, warmup: int, min_time: float = 0.0) -> list[float]:
    """The median seconds of each trial's ``run``, divided by its ``per``.

    ``warmup`` runs of each are thrown away. Then the trials take turns, ``repeat`` rounds:
    in each round every trial runs at least once, and again until its share of ``min_time``
    (``min_time / repeat`` seconds of wall time, setup and ``gc.collect`` included) is used.
    Taking turns puts both sides of a comparison under the same load when the machine's load
    changes; the extra runs give fast workloads more samples, so that a scheduler hiccup moves
    their median less.
    """
    for trial in trials:
        for _ in range(warmup):
            _once(trial)
    samples: list[list[float]] = [[] for _ in trials]
    share = min_time / repeat
    for _ in range(repeat):
        for trial, times in zip(trials, samples, strict=True):
            deadline = time.perf_counter() + share
            times.append(_once(trial))
            while time.perf_counter() < deadline and len(times) < MAX_RUNS:
                times.append(_once(trial))
    return [
        statistics.median(times) / trial.per for trial, times in zip(trials, samples, strict=True)
    ]


def _once(trial: Trial) -> float:
    state = trial.setup()
    gc.collect()
    try:
        start = time.perf_counter()
        inner = trial.run(state)
        elapsed = time.perf_counter() - start
    finally:
        trial.cleanup(state)
    return inner if inner is not None else elapsed


@dataclass(frozen=True)
class Row:
    """One line of the table.

    ``ours_s`` and ``theirs_s`` are seconds unless ``unit`` says otherwise (``"s/op"``,
    ``"calls"``, ``"bytes"``, ``"MiB"``, ``"x"``); None means not measured (``note`` says why).
    ``ratio`` is theirs / ours: above 1, durable_gen is faster (or sends less).
    """

    workload: str
    ours_s: float | None
    theirs_s: float | None
    ratio: float | None
    unit: str = "s"
    note: str | None = None


def ratio(ours: float | None, theirs: float | None) -> float | None:
    """theirs / ours, or None when either side is missing or ours is zero."""
    if ours is None or theirs is None or ours <= 0:
        return None
    return theirs / ours


def row_dicts(rows: Sequence[Row]) -> list[dict[str, Any]]:
    """The rows as JSON-ready dicts (keys ``workload``, ``ours_s``, ``theirs_s``, ``ratio``...)."""
    return [asdict(row) for row in rows]


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit in ("calls", "bytes"):
        return f"{value:,.0f}"
    if unit == "MiB":
        return f"{value:,.2f} MiB"
    if unit == "x":
        return f"{value:,.2f}x"
    # seconds: pick a readable scale
    for scale, suffix in ((1.0, "s"), (1e-3, "ms"), (1e-6, "µs"), (1e-9, "ns")):
        if abs(value) >= scale or scale == 1e-9:
            per = "/op" if unit == "s/op" else ""
            return f"{value / scale:,.3g} {suffix}{per}"
    raise AssertionError("unreachable")


def _fmt_ratio(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "-"
    return f"{value:,.1f}x" if value >= 10 else f"{value:,.2f}x"


def format_table(rows: Sequence[Row]) -> str:
    """A Markdown table of the rows, then their notes, numbered (a repeated note once)."""
    lines = [
        "| workload | ours (median) | theirs (median) | ratio (theirs/ours) |",
        "| --- | ---: | ---: | ---: |",
    ]
    notes: dict[str, int] = {}
    for row in rows:
        name = row.workload
        if row.note:
            number = notes.setdefault(row.note, len(notes) + 1)
            name += f" [{number}]"
        lines.append(
            f"| {name} | {_fmt(row.ours_s, row.unit)} | {_fmt(row.theirs_s, row.unit)} "
            f"| {_fmt_ratio(row.ratio)} |"
        )
    if notes:
        lines.append("")
        lines.extend(f"[{number}] {note}" for note, number in notes.items())
    return "\n".join(lines)
