"""Timing and reporting: one ``Trial`` is timed ``repeat`` times, the median is a ``Row``.

Every run gets a fresh state from ``setup`` (untimed), a ``gc.collect()`` before it, and
``time.perf_counter`` (wall) and ``time.process_time`` (CPU of the whole process, every thread)
around ``run``. Warm-up runs are timed the same way and thrown away. A peer that sleeps or
polls looks slow in wall time but not in CPU time: the table shows both ratios.
"""

from __future__ import annotations

import gc
import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

__all__ = [
    "Row",
    "Stats",
    "Trial",
    "format_table",
    "measure",
    "measure_stats",
    "ratio",
    "row_dicts",
]


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


@dataclass(frozen=True)
class Stats:
    """What the timed runs of one trial gave, each divided by the trial's ``per``.

    Attributes:
        wall: Median wall-clock seconds.
        cpu: Median process CPU seconds (None when ``run`` timed a narrower region itself).
        spread: Interquartile range of the wall times relative to their median (0.05 = 5%).
        runs: How many timed runs the figures come from.
    """

    wall: float
    cpu: float | None
    spread: float
    runs: int


def measure(*trials: Trial, repeat: int, warmup: int, min_time: float = 0.0) -> list[float]:
    """The median wall seconds of each trial (see ``measure_stats``)."""
    stats = measure_stats(*trials, repeat=repeat, warmup=warmup, min_time=min_time)
    return [s.wall for s in stats]


def measure_stats(*trials: Trial, repeat: int, warmup: int, min_time: float = 0.0) -> list[Stats]:
    """The medians and spread of each trial's ``run``, divided by its ``per``.

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
    samples: list[list[tuple[float, float | None]]] = [[] for _ in trials]
    share = min_time / repeat
    for _ in range(repeat):
        for trial, times in zip(trials, samples, strict=True):
            deadline = time.perf_counter() + share
            times.append(_once(trial))
            while time.perf_counter() < deadline and len(times) < MAX_RUNS:
                times.append(_once(trial))
    return [_stats(times, trial.per) for trial, times in zip(trials, samples, strict=True)]


def _stats(times: list[tuple[float, float | None]], per: int) -> Stats:
    walls = sorted(wall for wall, _ in times)
    cpus = [cpu for _, cpu in times if cpu is not None]
    median = statistics.median(walls)
    if len(walls) >= 4:
        q1, _, q3 = statistics.quantiles(walls, n=4)
        spread = (q3 - q1) / median if median > 0 else 0.0
    else:
        spread = (walls[-1] - walls[0]) / median if median > 0 else 0.0
    cpu = statistics.median(cpus) / per if len(cpus) == len(times) else None
    return Stats(wall=median / per, cpu=cpu, spread=spread, runs=len(walls))


def _once(trial: Trial) -> tuple[float, float | None]:
    state = trial.setup()
    gc.collect()
    try:
        cpu_start = time.process_time()
        start = time.perf_counter()
        inner = trial.run(state)
        elapsed = time.perf_counter() - start
        cpu = time.process_time() - cpu_start
    finally:
        trial.cleanup(state)
    if inner is not None:
        return inner, None
    return elapsed, cpu


@dataclass(frozen=True)
class Row:
    """One line of the table.

    ``ours_s`` and ``theirs_s`` are seconds unless ``unit`` says otherwise (``"s/op"``,
    ``"calls"``, ``"bytes"``, ``"MiB"``, ``"x"``); None means not measured (``note`` says why).
    ``ratio`` is theirs / ours: above 1, durable_gen is faster (or sends less). ``cpu_ratio`` is
    the same ratio in process CPU time, and ``ours_spread``/``theirs_spread`` the interquartile
    range of the wall times relative to their median, when they were measured.
    """

    workload: str
    ours_s: float | None
    theirs_s: float | None
    ratio: float | None
    unit: str = "s"
    note: str | None = None
    cpu_ratio: float | None = None
    ours_spread: float | None = None
    theirs_spread: float | None = None


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


def _fmt_spread(spread: float | None) -> str:
    return "" if spread is None else f" ± {spread:.0%}"


def format_table(rows: Sequence[Row]) -> str:
    """A Markdown table of the rows, then their notes, numbered (a repeated note once)."""
    lines = [
        "| workload | ours (median ± IQR) | theirs (median ± IQR) | wall ratio | CPU ratio |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    notes: dict[str, int] = {}
    for row in rows:
        name = row.workload
        if row.note:
            number = notes.setdefault(row.note, len(notes) + 1)
            name += f" [{number}]"
        ours = _fmt(row.ours_s, row.unit) + _fmt_spread(row.ours_spread)
        theirs = _fmt(row.theirs_s, row.unit) + _fmt_spread(row.theirs_spread)
        lines.append(
            f"| {name} | {ours} | {theirs} | {_fmt_ratio(row.ratio)} "
            f"| {_fmt_ratio(row.cpu_ratio)} |"
        )
    if notes:
        lines.append("")
        lines.extend(f"[{number}] {note}" for note, number in notes.items())
    return "\n".join(lines)
