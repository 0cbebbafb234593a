"""The workloads, their sizes, and how each becomes rows of the table.

Both sides of a comparison are measured here, taking turns, in the same process and run.
"""

from __future__ import annotations

import importlib
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from . import _ours as ours
from ._harness import Row, Trial, measure, measure_stats, ratio

__all__ = ["Options", "load_theirs", "run_suite"]

MiB = 1024 * 1024


@dataclass(frozen=True)
class Options:
    """What to run.

    Attributes:
        quick: Only the smallest size of each workload.
        repeat: Timed runs per measurement (the median is reported).
        warmup: Untimed runs before them.
        min_time: Timed runs go on until this many seconds have passed (at least ``repeat``).
        theirs: The AWS side's module, or None to measure durable_gen only.
        theirs_why_not: Why ``theirs`` is None (shown in the notes).
        theirs_max_steps: The largest sequential-step count run on the AWS side.
    """

    quick: bool = False
    repeat: int = 5
    warmup: int = 1
    min_time: float = 0.0
    theirs: types.ModuleType | None = None
    theirs_why_not: str = ""
    theirs_max_steps: int = 1000


def load_theirs() -> tuple[types.ModuleType | None, str]:
    """The AWS side's module, or None and the reason it cannot be imported."""
    try:
        return importlib.import_module("benchmarks._theirs"), ""
    except ImportError as exc:
        return None, f"AWS's SDK is not importable ({exc}); install the 'bench' extra"


class _Suite:
    def __init__(self, options: Options) -> None:
        self.o = options

    def time(self, *trials: Trial) -> list[float]:
        """The median of each trial, the trials taking turns (see ``measure``)."""
        return measure(
            *trials, repeat=self.o.repeat, warmup=self.o.warmup, min_time=self.o.min_time
        )

    def compare(
        self,
        workload: str,
        our_trial: Callable[[], Trial],
        their_trial: Callable[[], Trial] | None,
        *,
        unit: str = "s",
        note: str | None = None,
        skip_theirs: str | None = None,
    ) -> Row:
        """Time both sides of one workload, taking turns; ``their_trial`` builds the AWS side's."""
        if self.o.theirs is None:
            note = _join(note, self.o.theirs_why_not)
        elif skip_theirs:
            note = _join(note, skip_theirs)
        elif their_trial is not None:
            mine, their = measure_stats(
                our_trial(),
                their_trial(),
                repeat=self.o.repeat,
                warmup=self.o.warmup,
                min_time=self.o.min_time,
            )
            return Row(
                workload,
                mine.wall,
                their.wall,
                ratio(mine.wall, their.wall),
                unit,
                note,
                cpu_ratio=ratio(mine.cpu, their.cpu),
                ours_spread=mine.spread,
                theirs_spread=their.spread,
            )
        (mine,) = measure_stats(
            our_trial(), repeat=self.o.repeat, warmup=self.o.warmup, min_time=self.o.min_time
        )
        return Row(workload, mine.wall, None, None, unit, note, ours_spread=mine.spread)

    # --- the workloads -------------------------------------------------------------------------

    def sequential(self) -> Iterator[Row]:
        theirs = self.o.theirs
        for n in (10,) if self.o.quick else (10, 100, 1_000, 10_000):
            skip = None
            if n > self.o.theirs_max_steps:
                skip = (
                    f"AWS side not run above {self.o.theirs_max_steps:,} steps (its time per "
                    "step grows with the history; raise --theirs-max-steps to run it)"
                )
            yield self.compare(
                f"sequential steps, N={n:,}",
                lambda n=n: ours.sequential(n),
                theirs and (lambda n=n: theirs.sequential(n)),
                skip_theirs=skip,
            )

    def replay(self) -> Iterator[Row]:
        theirs = self.o.theirs
        n = 10 if self.o.quick else 1_000
        yield self.compare(
            f"replay of a completed {n:,}-step history, per operation",
            lambda: ours.replay_recorded(n),
            theirs and (lambda: theirs.replay_recorded(n)),
            unit="s/op",
            note=(
                "the same layer on both sides: ours, durable_gen.testing.replay over the "
                "operations the engine recorded; theirs, their handler called on the history "
                "their runner recorded, timed until the workflow body returns (the bare "
                "interpreter has its own rows below)"
            ),
        )

    def batches(self) -> Iterator[Row]:
        theirs = self.o.theirs
        for n in (100,) if self.o.quick else (100, 1_000):
            yield self.compare(
                f"Map over {n:,} items (max_concurrency=10)",
                lambda n=n: ours.map_items(n),
                theirs and (lambda n=n: theirs.map_items(n)),
            )
        yield self.compare(
            "Parallel, 10 branches",
            lambda: ours.parallel_branches(10),
            theirs and (lambda: theirs.parallel_branches(10)),
        )

    def waits_and_callbacks(self) -> Iterator[Row]:
        theirs = self.o.theirs
        n = 2 if self.o.quick else 100
        yield self.compare(
            f"{n} waits + {n} callbacks, time skipped",
            lambda: ours.waits_and_callbacks(n),
            theirs and (lambda: theirs.waits_and_callbacks(n)),
        )

    def invocation(self) -> Iterator[Row]:
        theirs = self.o.theirs
        yield self.compare(
            "one invocation of a trivial workflow",
            ours.invocation_overhead,
            theirs and theirs.invocation_overhead,
            note="the handler call as the engine / their runner makes it, timed around it",
        )
        yield self.compare(
            "trivial execution end to end (start, invoke, finish)",
            ours.end_to_end_trivial,
            theirs and theirs.end_to_end_trivial,
        )
        yield self._lambda_overhead()

    def _lambda_overhead(self) -> Row:
        name = "Lambda handler invocation with one step, in process (lambda_overhead.py)"
        try:
            module = importlib.import_module("benchmarks.lambda_overhead")
        except ImportError:
            return Row(name, None, None, None, note="benchmarks/lambda_overhead.py is absent")
        try:
            seconds = float(module.measure(self.o.repeat))
        except Exception as exc:  # a module of its own: report its failure in the row
            return Row(name, None, None, None, note=f"lambda_overhead.measure failed: {exc!r}")
        return Row(name, seconds, None, None)

    def checkpoints(self) -> Iterator[Row]:
        theirs = self.o.theirs
        small = self.o.quick
        cases = (
            ("sequential", 10 if small else 100, "{n} sequential steps"),
            ("map", 10 if small else 100, "Map over {n} items"),
            ("waits_callbacks", 2 if small else 10, "{n} waits + {n} callbacks"),
        )
        note = None if theirs is not None else self.o.theirs_why_not
        for workload, n, label in cases:
            what = label.format(n=n)
            calls, sent = ours.checkpoint_traffic(workload, n)
            batch_calls, _ = ours.checkpoint_traffic(workload, n, "batch")
            their_calls = their_bytes = None
            if theirs is not None:
                their_calls, their_bytes = theirs.checkpoint_traffic(workload, n)
            for name, mine, their, unit in (
                (f"checkpoint calls, {what}", calls, their_calls, "calls"),
                (f"checkpoint bytes, {what}", sent, their_bytes, "bytes"),
                (
                    f"checkpoint calls, {what}, ours in batch mode",
                    batch_calls,
                    their_calls,
                    "calls",
                ),
            ):
                yield Row(name, mine, their, ratio(mine, their), unit, note)

    def memory(self) -> Iterator[Row]:
        sizes = (1_000, 5_000, 10_000) if self.o.quick else (10_000, 50_000, 100_000)
        peaks = {n: ours.replay_memory(n) for n in sizes}
        for n, peak in peaks.items():
            note = f"tracemalloc peak: {peak / n:,.0f} bytes per operation"
            yield Row(
                f"peak memory replaying {n:,} operations", peak / MiB, None, None, "MiB", note
            )
        small, large = sizes[0], sizes[-1]
        growth = (peaks[large] / large) / (peaks[small] / small)
        yield Row(
            f"memory per operation, {large:,} vs {small:,} operations",
            growth,
            None,
            None,
            "x",
            "1.00x is exactly linear growth",
        )

    def engine(self) -> Iterator[Row]:
        """The embedded engine: a sequential step against the floor, and linear checkpoints."""
        steps = 100 if self.o.quick else 1_000
        per_step, floor = self.time(
            ours.cpu_time(ours.sequential_per_step(steps)),
            ours.cpu_time(ours.floor_per_op(10_000)),
        )
        yield Row(
            f"one sequential step end to end in memory, per step ({steps:,} steps, dg.run)",
            per_step,
            None,
            None,
            "s/op",
            f"CPU time; {per_step / floor:,.0f}x the floor of a bare generator send + dict "
            f"lookup ({floor * 1e9:,.0f} ns CPU time, taking turns with it)",
        )
        small, large = (200, 1_600) if self.o.quick else (2_000, 16_000)
        small_s, large_s = self.time(
            ours.engine_checkpoint_per_step(small), ours.engine_checkpoint_per_step(large)
        )
        for n, seconds in ((small, small_s), (large, large_s)):
            yield Row(
                f"engine alone, one checkpoint of START + SUCCEED, per step ({n:,} steps)",
                seconds,
                None,
                None,
                "s/op",
                f"CPU time; {seconds / floor:,.0f}x the floor above",
            )
        growth = large_s / small_s
        verdict = "linear" if growth < 3 else "NOT linear: a per-checkpoint copy of the history?"
        yield Row(
            f"engine checkpoint cost per step, {large:,} vs {small:,} steps",
            growth,
            None,
            None,
            "x",
            f"1.00x is a flat cost per step; under 3x passes ({verdict})",
        )

    def interpreter(self) -> Iterator[Row]:
        n = 100 if self.o.quick else 10_000
        per_op, cold, untyped, floor = self.time(
            ours.interpreter_per_op(n),
            ours.interpreter_per_op(n, cold=True),
            ours.interpreter_per_op(n, typed=False),
            ours.floor_per_op(n),
        )
        yield Row(
            f"interpreter alone, replay per operation ({n:,} in memory)",
            per_op,
            None,
            None,
            "s/op",
            f"{per_op / floor:,.1f}x the floor below; operation ids already memoized",
        )
        yield Row(
            "interpreter alone, replay per operation, cold id cache",
            cold,
            None,
            None,
            "s/op",
            f"{cold / floor:,.1f}x the floor; every operation id hashed (blake2b) again",
        )
        yield Row(
            "interpreter alone, replay per operation, untyped step results",
            untyped,
            None,
            None,
            "s/op",
            f"{untyped / floor:,.1f}x the floor; the rows above decode each result into the "
            f"step's declared int: typed / untyped = {per_op / untyped:,.2f}x",
        )
        yield Row(
            "floor: bare generator send + dict lookup, per operation", floor, None, None, "s/op"
        )


def _join(a: str | None, b: str | None) -> str | None:
    parts = [p for p in (a, b) if p]
    return "; ".join(parts) or None


#: The workloads, in the order they run (``--only`` picks some by these names).
WORKLOADS: tuple[str, ...] = (
    "sequential",
    "replay",
    "batches",
    "waits_and_callbacks",
    "invocation",
    "checkpoints",
    "memory",
    "engine",
    "interpreter",
)


def run_suite(
    options: Options,
    report: Callable[[Row], None] = lambda row: None,
    only: tuple[str, ...] = WORKLOADS,
) -> list[Row]:
    """Run the workloads named in ``only`` (default all); ``report`` sees each row as soon as
    it is measured."""
    suite = _Suite(options)
    rows: list[Row] = []
    for name in WORKLOADS:
        if name not in only:
            continue
        workload: Callable[[], Iterator[Row]] = getattr(suite, name)
        for row in workload():
            report(row)
            rows.append(row)
    return rows
