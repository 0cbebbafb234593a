"""``python -m benchmarks.targets``: the rows the performance targets are judged on, ours only.

The floor (a bare generator ``send`` + one dict lookup per operation), the interpreter's replay
per operation, one sequential step end to end in memory, the engine's checkpoint alone, and
durable_gen's side of the rows compared with AWS's SDK (sequential steps, Map, Parallel, waits
and callbacks, a trivial execution, one invocation, the public replayer). Each is timed
``--rounds`` times in process CPU time and wall time (a fresh state and a ``gc.collect()``
before each run, as in ``python -m benchmarks``); one line of JSON gives each row's medians:
``{"row": [cpu_seconds, wall_seconds], ...}``, per operation where the row is per operation.

To compare two commits on a busy machine, run it from a checkout of each, taking turns, and
compare the ratios to the floor of the same process (``--table FILE...`` prints the CPU
medians and ranges, the ratios to the floor and the wall medians of several such lines,
grouped by the label before the JSON)::

    for i in 1 2 3 4 5; do
        (cd old && echo "old $(python -m benchmarks.targets)") >> runs.txt
        (cd new && echo "new $(python -m benchmarks.targets)") >> runs.txt
    done
    python -m benchmarks.targets --table runs.txt
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
from collections.abc import Callable

from . import _ours as ours
from ._harness import Trial

#: name -> (what it is, how to build its trial, timed runs per round)
ROWS: dict[str, tuple[str, Callable[[], Trial], int]] = {
    "floor": (
        "floor: bare generator send + dict lookup, per op",
        lambda: ours.floor_per_op(10_000),
        15,
    ),
    "interp": (
        "interpreter alone, replay per op (10,000)",
        lambda: ours.interpreter_per_op(10_000),
        15,
    ),
    "step": (
        "one sequential step end to end, per step (1,000, dg.run)",
        lambda: ours.sequential_per_step(1_000),
        15,
    ),
    "engine": (
        "engine alone, START + SUCCEED checkpoint, per step (2,000)",
        lambda: ours.engine_checkpoint_per_step(2_000),
        15,
    ),
    "seq10": ("sequential steps, N=10", lambda: ours.sequential(10), 15),
    "seq100": ("sequential steps, N=100", lambda: ours.sequential(100), 9),
    "seq1000": ("sequential steps, N=1,000", lambda: ours.sequential(1_000), 5),
    "replay": (
        "public replayer, 1,000-step history, per op",
        lambda: ours.replay_recorded(1_000),
        9,
    ),
    "map100": ("Map over 100 items", lambda: ours.map_items(100), 9),
    "map1000": ("Map over 1,000 items", lambda: ours.map_items(1_000), 3),
    "parallel10": ("Parallel, 10 branches", lambda: ours.parallel_branches(10), 15),
    "waits": ("100 waits + 100 callbacks", lambda: ours.waits_and_callbacks(100), 3),
    "invocation": ("one trivial invocation (handler call)", ours.invocation_overhead, 15),
    "trivial": ("trivial execution end to end", ours.end_to_end_trivial, 15),
}


#: Rows per operation, compared with the floor.
PER_OPERATION = frozenset({"interp", "step", "engine", "replay"})


def _time(trial: Trial) -> tuple[float, float]:
    state = trial.setup()
    gc.collect()
    cpu, wall = time.process_time(), time.perf_counter()
    inner = trial.run(state)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    trial.cleanup(state)
    if isinstance(inner, float):  # the trial timed a narrower region itself
        wall = cpu = inner
    return cpu / trial.per, wall / trial.per


def measure(names: list[str]) -> dict[str, tuple[float, float]]:
    """(median CPU seconds, median wall seconds) of each row, after one untimed run."""
    out = {}
    for name in names:
        _, build, runs = ROWS[name]
        trial = build()
        _time(trial)
        samples = [_time(trial) for _ in range(runs)]
        out[name] = (
            statistics.median(s[0] for s in samples),
            statistics.median(s[1] for s in samples),
        )
    return out


def _fmt(seconds: float) -> str:
    if seconds < 1e-6:
        return f"{seconds * 1e9:,.0f} ns"
    if seconds < 1e-3:
        return f"{seconds * 1e6:,.2f} µs"
    return f"{seconds * 1e3:,.2f} ms"


def table(paths: list[str]) -> str:
    """Medians and ranges of the lines ``LABEL {json}`` in ``paths``, by label."""
    runs: dict[str, list[dict[str, list[float]]]] = {}
    for path in paths:
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    label, _, data = line.partition(" ")
                    runs.setdefault(label, []).append(json.loads(data))
    lines = [
        "| row | "
        + " | ".join(f"{label}: CPU median (range); x floor; wall median" for label in runs)
        + " |",
        "| --- |" + " ---: |" * len(runs),
    ]
    names = [name for name in ROWS if all(name in r for rs in runs.values() for r in rs)]
    for name in names:
        cells = []
        for rs in runs.values():
            cpu = [r[name][0] for r in rs]
            cell = f"{_fmt(statistics.median(cpu))} ({_fmt(min(cpu))} to {_fmt(max(cpu))})"
            if name in PER_OPERATION and "floor" in rs[0]:
                ratios = [r[name][0] / r["floor"][0] for r in rs]
                low, high = min(ratios), max(ratios)
                cell += f"; {statistics.median(ratios):,.1f}x ({low:,.1f}x to {high:,.1f}x)"
            cell += f"; {_fmt(statistics.median(r[name][1] for r in rs))} wall"
            cells.append(cell)
        lines.append(f"| {ROWS[name][0]} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.targets", description=__doc__)
    parser.add_argument("rows", nargs="*", help=f"rows to time (default all): {', '.join(ROWS)}")
    parser.add_argument("--table", nargs="+", metavar="FILE", help="summarize saved lines")
    args = parser.parse_args(argv)
    if args.table:
        print(table(args.table))
        return 0
    unknown = [name for name in args.rows if name not in ROWS]
    if unknown:
        parser.error(f"unknown rows {unknown}; choose from {', '.join(ROWS)}")
    print(json.dumps(measure(args.rows or list(ROWS))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
