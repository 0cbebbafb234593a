"""Workflows of the round-10 crash trials (importable by the processes they start). Each step
appends a line ``start|end LABEL PID`` to the file ``STEP_LOG`` names, so a trial counts runs
across processes."""

from __future__ import annotations

import os
import time

import durable_gen as dg


def _ran(event: str, label: str) -> None:
    with open(os.environ["STEP_LOG"], "a", encoding="utf-8") as log:
        log.write(f"{event} {label} {os.getpid()}\n")


def _pause() -> None:
    time.sleep(float(os.environ.get("STEP_PAUSE", "0")))


@dg.step
def tick(label: str) -> str:
    _ran("start", label)
    _pause()
    _ran("end", label)
    return label.upper()


@dg.step(semantics=dg.AT_MOST_ONCE, retry=dg.Retry.never())
def once(label: str) -> str:
    _ran("start", label)
    _pause()
    _ran("end", label)
    return label.upper()


@dg.workflow
def ticks(n: int):  # type: ignore[no-untyped-def]
    out = []
    for i in range(n):
        out.append((yield tick(f"t{i}")))
        if i == n // 2:
            out.append((yield once("half")))
    return out


# --- a disk that fills up under sixteen executions committing together -------------------------

PAD = 20_000


@dg.step(retry=dg.Retry.never())
def chunk(label: str) -> str:
    """A sync step whose result is 20 KB: a few hundred of them fill a small disk."""
    _ran("start", label)
    _ran("end", label)
    return label + "=" + "x" * PAD


@dg.step(retry=dg.Retry.never())
async def achunk(label: str) -> str:
    """The same as an async step (it runs on the worker's event loop)."""
    _ran("start", label)
    _ran("end", label)
    return label + "=" + "y" * PAD


@dg.step(semantics=dg.AT_MOST_ONCE, retry=dg.Retry.never())
def seal(label: str) -> str:
    _ran("start", label)
    _ran("end", label)
    return label


@dg.workflow
def heavy(spec: list):  # type: ignore[no-untyped-def,type-arg]
    """``[tag, n]``: ``n`` steps of 20 KB results, sync and async in turn, and an at-most-once
    step halfway."""
    tag, n = spec
    out = []
    for i in range(n):
        fn = chunk if i % 2 == 0 else achunk
        result = yield fn(f"{tag}-{i}")
        out.append(f"{result.partition('=')[0]}:{len(result)}")
        if i == n // 2:
            out.append((yield seal(f"{tag}-seal")))
    return out


def heavy_result(tag: str, n: int) -> list[str]:
    out = []
    for i in range(n):
        label = f"{tag}-{i}"
        out.append(f"{label}:{len(label) + 1 + PAD}")
        if i == n // 2:
            out.append(f"{tag}-seal")
    return out


# --- kills in a Map under max_concurrency whose items retry ----------------------------------


def _starts_of(label: str) -> int:
    with open(os.environ["STEP_LOG"], encoding="utf-8") as log:
        return sum(1 for line in log if line.split()[:2] == ["start", label])


_RUNS: list[str] = []


def _run(label: str) -> None:
    """Log the start of ``label``; the ``DIE_AT``-th step this process runs kills it there,
    its outcome unrecorded."""
    _ran("start", label)
    die_at = int(os.environ.get("DIE_AT", "0"))
    if die_at:
        _RUNS.append(label)
        if len(_RUNS) == die_at:
            import signal

            _ran("die", label)
            os.kill(os.getpid(), signal.SIGKILL)


FLAKY_PACKS = ("b", "e")
FLAKY_STAMPS = ("c",)


@dg.step(retry=dg.Retry(max_attempts=3, initial_delay=1, backoff=1.0, jitter="none"))
def pack(item: str) -> str:
    """Fails the first time it runs for a flaky item."""
    label = f"pack-{item}"
    _run(label)
    if item in FLAKY_PACKS and _starts_of(label) == 1:
        raise RuntimeError(f"no box for {item}")
    return item.upper()


@dg.step(
    semantics=dg.AT_MOST_ONCE,
    retry=dg.Retry(max_attempts=3, initial_delay=1, backoff=1.0, jitter="none"),
)
def stamp(packed: str) -> str:
    """At most once per attempt; fails the first time it runs for a flaky item."""
    label = f"stamp-{packed.lower()}"
    _run(label)
    if packed.lower() in FLAKY_STAMPS and _starts_of(label) == 1:
        raise RuntimeError(f"no stamp for {packed}")
    return packed + "!"


def pack_and_stamp(item: str):  # type: ignore[no-untyped-def]
    return (yield stamp((yield pack(item))))


MAP_ITEMS = ["a", "b", "c", "d", "e", "f"]


@dg.workflow
def shipping(_: None):  # type: ignore[no-untyped-def]
    batch = yield dg.Map(pack_and_stamp, MAP_ITEMS, max_concurrency=2, name="shipping")
    return batch.results()
