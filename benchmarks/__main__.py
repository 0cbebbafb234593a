"""``python -m benchmarks``: durable_gen against AWS's Python SDK, in one run on one machine.

Prints a Markdown table (workload, ours, theirs, theirs/ours); ``--json FILE`` writes the same
rows. See benchmarks/README.md for what each row measures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from importlib import metadata

from ._harness import Row, format_table, row_dicts
from ._suite import WORKLOADS, Options, load_theirs, run_suite


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> str:
    """One line naming the interpreter, the CPU and the versions compared."""
    return (
        f"Python {platform.python_version()} ({platform.python_implementation()}), "
        f"{os.cpu_count()} CPUs, {_cpu_model()}, {platform.system()} {platform.release()}; "
        f"durable-gen {_version('durable-gen')}, "
        f"aws-durable-execution-sdk-python {_version('aws-durable-execution-sdk-python')}, "
        f"aws-durable-execution-sdk-python-testing "
        f"{_version('aws-durable-execution-sdk-python-testing')}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="the smallest sizes only")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per measurement")
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs before them")
    parser.add_argument(
        "--min-time",
        type=float,
        default=None,
        help="keep timing a workload (beyond --repeat runs) until this many seconds have "
        "passed (default 0.5; 0 with --quick)",
    )
    parser.add_argument("--json", metavar="FILE", help="also write the rows to FILE as JSON")
    parser.add_argument("--ours-only", action="store_true", help="skip AWS's SDK")
    parser.add_argument(
        "--theirs-max-steps",
        type=int,
        default=1000,
        help="largest sequential-step count run on AWS's SDK (default 1000)",
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=WORKLOADS,
        metavar="WORKLOAD",
        help=f"run only this workload (repeatable): {', '.join(WORKLOADS)}",
    )
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.warmup < 0:
        parser.error("--repeat must be at least 1 and --warmup at least 0")
    if args.min_time is None:
        args.min_time = 0.0 if args.quick else 0.5

    theirs, why_not = (None, "AWS side not run (--ours-only)") if args.ours_only else load_theirs()
    options = Options(
        quick=args.quick,
        repeat=args.repeat,
        warmup=args.warmup,
        min_time=args.min_time,
        theirs=theirs,
        theirs_why_not=why_not,
        theirs_max_steps=args.theirs_max_steps,
    )

    def progress(row: Row) -> None:
        print(f"  measured: {row.workload}", file=sys.stderr, flush=True)

    started = time.perf_counter()
    rows = run_suite(options, progress, tuple(args.only or WORKLOADS))
    elapsed = time.perf_counter() - started

    print(machine())
    print(
        f"repeat={args.repeat} warmup={args.warmup} min-time={args.min_time:g}s"
        f"{' quick' if args.quick else ''}; "
        f"suite took {elapsed:.0f} s\n"
    )
    print(format_table(rows))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(row_dicts(rows), f, indent=2)
            f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
