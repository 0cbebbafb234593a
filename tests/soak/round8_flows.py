"""Workflows of the round-8 crash trials (``test_crash_round8.py``).

Every step draws a fresh nonce (``uuid4``) and returns ``LABEL/NONCE``, and logs
``start LABEL PID`` before its work and ``end LABEL PID NONCE`` after it. A step whose
success was recorded and that ran again would change its value in the history: the trials
compare every recorded step result they saw along the way with the final one, and the final
results with the nonces the log says were produced.
"""

from __future__ import annotations

import asyncio
import functools
import os
import random
import time
import uuid
from typing import Any

import durable_gen as dg

from .flows import LOG_ENV

#: Set by a trial to make steps slower (seconds), so that signals land inside them.
SLOW_ENV = "DURABLE_GEN_ROUND8_SLOW"


def log(*fields: str) -> None:
    with open(os.environ[LOG_ENV], "a", encoding="utf-8") as out:
        out.write(" ".join([*fields[:2], str(os.getpid()), *fields[2:]]) + "\n")
        out.flush()


def _pause() -> None:
    slow = float(os.environ.get(SLOW_ENV, "0") or 0)
    time.sleep(slow if slow else random.uniform(0, 0.004))


def _nonce(label: str) -> str:
    log("start", label)
    _pause()
    value = f"{label}/{uuid.uuid4().hex[:12]}"
    log("end", label, value)
    return value


@dg.step(retry=dg.Retry(max_attempts=1))
def nonce(label: str) -> str:
    return _nonce(label)


@dg.step(semantics=dg.AT_MOST_ONCE, retry=dg.Retry.never())
def once(label: str) -> str:
    return _nonce(label)


@dg.step(retry=dg.Retry(max_attempts=1))
async def anonce(label: str) -> str:
    log("start", label)
    await asyncio.sleep(random.uniform(0, 0.004))
    value = f"{label}/{uuid.uuid4().hex[:12]}"
    log("end", label, value)
    return value


def item(label: str) -> str:
    return _nonce(label)


@dg.workflow
def child_body(tag: str):  # type: ignore[no-untyped-def]
    a = yield nonce(f"{tag}-c1")
    try:
        b = yield once(f"{tag}-c2")
    except dg.StepFailedError:
        b = "interrupted"
    return [a, b]


def branch_one(tag: str) -> str:
    return _nonce(f"{tag}-p1")


@dg.workflow
def branch_two(tag: str):  # type: ignore[no-untyped-def]
    x = yield nonce(f"{tag}-p2a")
    y = yield nonce(f"{tag}-p2b")
    return [x, y]


@dg.workflow
def mixed(tag: str):  # type: ignore[no-untyped-def]
    """Steps, an at-most-once step, a Map, a Parallel, a Child, an async step, a Wait."""
    out: dict[str, Any] = {}
    out["a"] = yield nonce(f"{tag}-a")
    batch = yield dg.Map(item, [f"{tag}-m{i}" for i in range(4)], max_concurrency=2)
    out["m"] = batch.results()
    yield dg.Wait(seconds=1, name="pause")
    try:
        out["o"] = yield once(f"{tag}-o")
    except dg.StepFailedError:
        out["o"] = "interrupted"
    par = yield dg.Parallel(
        [
            dg.Branch(functools.partial(branch_one, tag), name="one"),
            dg.Branch(functools.partial(branch_two, tag), name="two"),
        ]
    )
    out["p"] = par.results()
    out["c"] = yield dg.Child(child_body, (tag,), name="kid")
    out["z"] = yield anonce(f"{tag}-z")
    out["v"] = yield dg.Child(child_body, (f"{tag}-v",), virtual=True)
    return out


@dg.step(retry=dg.Retry(max_attempts=1))
def hand_over(tag: str, callback_id: str) -> None:
    log("cb", tag, callback_id)


@dg.workflow
def napper(spec: dict[str, Any]):  # type: ignore[no-untyped-def]
    """A step, a wait of ``spec["wait"]`` seconds, a step."""
    tag = spec["tag"]
    a = yield nonce(f"{tag}-a")
    yield dg.Wait(seconds=spec["wait"], name="nap")
    b = yield nonce(f"{tag}-b")
    return [a, b]


@dg.workflow
def gate(spec: dict[str, Any]):  # type: ignore[no-untyped-def]
    """A step, a callback with the timeouts of ``spec``, a step."""
    tag = spec["tag"]
    a = yield nonce(f"{tag}-a")
    handle = yield dg.CreateCallback(
        name="gate", timeout=spec.get("timeout"), heartbeat_timeout=spec.get("heartbeat")
    )
    yield hand_over(tag, handle.callback_id)
    try:
        answer = yield handle
    except dg.CallbackTimeoutError as exc:
        answer = f"timed out: {exc.error_type}"
    b = yield nonce(f"{tag}-b")
    return [a, answer, b]


async def aitem(label: str) -> str:
    log("start", label)
    slow = float(os.environ.get(SLOW_ENV, "0") or 0)
    await asyncio.sleep(slow if slow else random.uniform(0, 0.004))
    value = f"{label}/{uuid.uuid4().hex[:12]}"
    log("end", label, value)
    return value


@dg.workflow
def wide(tag: str):  # type: ignore[no-untyped-def]
    """Sync steps side by side in the worker's pool, async ones on its loop, then a wait."""
    sync = yield dg.Map(item, [f"{tag}-m{i}" for i in range(3)])
    both = yield dg.Parallel(
        [functools.partial(aitem, f"{tag}-p1"), functools.partial(item, f"{tag}-p2")]
    )
    yield dg.Wait(seconds=1, name="pause")
    last = yield nonce(f"{tag}-b")
    return [sync.results(), both.results(), last]


def plain(tag: str) -> str:
    """A plain ``Invoke`` target (``--register r8plain=...``)."""
    return _nonce(f"{tag}-plain")


@dg.workflow
def caller(tag: str):  # type: ignore[no-untyped-def]
    """Invokes of a plain function and of a workflow, around a step."""
    a = yield nonce(f"{tag}-a")
    p = yield dg.Invoke("r8plain", tag, name="plain")
    c = yield dg.Invoke("r8child", tag, name="child")
    b = yield nonce(f"{tag}-b")
    return [a, p, c, b]


@dg.workflow
def chain(spec: dict[str, Any]):  # type: ignore[no-untyped-def]
    """``spec["n"]`` steps in a row, then a wait, then one more."""
    out = []
    for i in range(spec["n"]):
        out.append((yield nonce(f"{spec['tag']}-s{i}")))
    yield dg.Wait(seconds=1)
    out.append((yield nonce(f"{spec['tag']}-end")))
    return out


@dg.workflow
def chain_with_once(spec: dict[str, Any]):  # type: ignore[no-untyped-def]
    """Steps in a row, every third one at-most-once, then a wait."""
    out = []
    for i in range(spec["n"]):
        step = once if i % 3 == 2 else nonce
        out.append((yield step(f"{spec['tag']}-s{i}" + ("-o" if i % 3 == 2 else ""))))
    yield dg.Wait(seconds=1)
    return out


@dg.workflow
def approval(tag: str):  # type: ignore[no-untyped-def]
    """A step, a WaitForCallback answered from another process, a Map, a step."""
    a = yield nonce(f"{tag}-a")
    answer = yield dg.WaitForCallback(
        functools.partial(hand_over, tag), name="approve", timeout=120
    )
    batch = yield dg.Map(item, [f"{tag}-m{i}" for i in range(3)], max_concurrency=3)
    try:
        b = yield once(f"{tag}-b-o")
    except dg.StepFailedError:
        b = "interrupted"
    return [a, answer, batch.results(), b]


@dg.step(retry=dg.Retry(max_attempts=3, initial_delay=1, backoff=2.0, jitter="none"))
def flaky(label: str) -> str:
    """Fails its first two attempts (counted in the step log), then succeeds."""
    with open(os.environ[LOG_ENV], encoding="utf-8") as text:
        lines = text.read().splitlines()
    tries = sum(1 for line in lines if line.startswith(f"start {label} "))
    log("start", label)
    if tries < 2:
        log("fail", label, str(tries))
        raise ConnectionError(f"attempt {tries + 1} of {label} fails")
    value = f"{label}/{uuid.uuid4().hex[:12]}"
    log("end", label, value)
    return value


@dg.workflow
def retrying(tag: str):  # type: ignore[no-untyped-def]
    a = yield nonce(f"{tag}-a")
    r = yield flaky(f"{tag}-r")
    b = yield nonce(f"{tag}-b")
    return [a, r, b]
