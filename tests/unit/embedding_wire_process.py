"""A runtime that keeps an execution in a file in AWS's wire format, one process per invocation.

Written from docs/embedding.md alone ("Keeping a store on disk"): the operations are
``msgspec.json.encode``d as ``GetDurableExecutionState`` returns them, beside the armed
``Timer``s and the virtual clock. Each invocation is a fresh process
(``python -m tests.unit.embedding_wire_process PATH MODE [EXIT_AFTER]``) that reads the file,
replays, runs steps in a thread pool, writes every checkpoint to the file (atomically) before it
calls ``observe()``, and writes the outcome. With ``EXIT_AFTER`` = k it dies (``os._exit``)
right after its k-th checkpoint is on disk: the next process resumes from the file.
Between invocations ``step_time`` fires due timers and ``answer_callbacks`` answers open
callbacks, each reading and writing the file as a process of its own would.
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import os
import sys
from pathlib import Path
from typing import Any

import msgspec

import durable_gen as dg
from durable_gen import runtime as rt

# --- the workflow (importable by every process) --------------------------------------------


@dg.step
def square(i: int) -> int:
    return i * i


@dg.step(retry=dg.Retry(max_attempts=3, initial_delay=1, jitter="none"))
def unlucky(i: int) -> int:
    raise RuntimeError(f"unlucky {i}")


def item(i: int) -> Any:
    """A Map item that waits in the middle: the Map suspends with items half done."""
    a = yield square(i)
    yield dg.Wait(seconds=1 + i, name="nap")
    return (yield square(a))


def waits_for_answer() -> Any:
    return (yield dg.WaitForCallback(_send, name="answer", timeout=3600))


def _send(callback_id: str) -> None:
    assert callback_id


def waits_then_works() -> Any:
    yield dg.Wait(seconds=3, name="pause")
    return (yield square(5))


def invokes() -> Any:
    return (yield dg.Invoke("triple", 7, name="call"))


def fails_after_retries() -> Any:
    try:
        return (yield unlucky(1))
    except dg.StepFailedError as exc:
        return exc.error_type


@dg.workflow
def workflow(items: list[int]) -> Any:
    mapped = yield dg.Map(item, items, max_concurrency=2, name="items")
    par = yield dg.Parallel(
        [waits_for_answer, waits_then_works, invokes, fails_after_retries],
        max_concurrency=3,
        name="branches",
    )
    return {"mapped": mapped.results(), "parallel": par.results()}


EXPECTED = {"mapped": [1, 16, 81, 256], "parallel": ["yes", 25, 21, "RuntimeError"]}
FUNCTIONS = {"triple": lambda x: 3 * x}

# --- the file store -----------------------------------------------------------------------


class Saved(msgspec.Struct, kw_only=True):
    """The file: operations in AWS's wire JSON, armed timers, clock, outcome."""

    now_ms: int
    operations: list[rt.Operation]
    timers: list[rt.Timer] = []
    outcome: str | None = None
    invocations: int = 0


def new_execution(path: Path, input_json: str, now_ms: int = 1_700_000_000_000) -> None:
    execution = rt.Operation(
        id="execution",
        type="EXECUTION",
        status="STARTED",
        start_timestamp=now_ms,
        execution_details=rt.ExecutionDetails(input_payload=input_json),
    )
    save(path, Saved(now_ms=now_ms, operations=[execution]))


def load(path: Path) -> tuple[Saved, dict[str, rt.Operation]]:
    saved = msgspec.json.decode(path.read_bytes(), type=Saved)
    return saved, {op.id: op for op in saved.operations}


def save(path: Path, saved: Saved, store: dict[str, rt.Operation] | None = None) -> None:
    if store is not None:
        saved.operations = list(store.values())
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(msgspec.json.encode(saved))
    os.replace(tmp, path)


def arm(saved: Saved, timers: list[rt.Timer]) -> None:
    """Keep one timer per kind and operation: a new one replaces the one armed before."""
    keys = {(t.kind, t.operation_id) for t in timers}
    saved.timers = [t for t in saved.timers if (t.kind, t.operation_id) not in keys] + timers


# --- one invocation, in a process of its own ------------------------------------------------


def invoke(path: Path, mode: rt.CheckpointMode, exit_after: int | None) -> None:
    saved, store = load(path)
    saved.invocations += 1
    save(path, saved)
    interp = rt.Interpreter(
        workflow,
        list(store.values()),
        execution_arn=f"arn:file:{path.name}",
        checkpointing=mode,
        clock=lambda: saved.now_ms / 1000,
    )
    flushes = 0
    running: dict[cf.Future[Any], rt.StepTask] = {}
    with cf.ThreadPoolExecutor(max_workers=4) as pool:
        while True:
            action = interp.next_action()
            if isinstance(action, rt.Flush):
                applied = rt.apply_updates(store, action.updates, now_ms=saved.now_ms)
                arm(saved, list(applied.timers))
                changed = list(applied.operations)
                for request in applied.invokes:
                    value = FUNCTIONS[request.function_name](json.loads(request.payload or "null"))
                    changed.append(
                        rt.complete_invoke(
                            store,
                            request.operation_id,
                            now_ms=saved.now_ms,
                            result=json.dumps(value),
                        )
                    )
                save(path, saved, store)  # on disk before observe()
                flushes += 1
                if exit_after is not None and flushes >= exit_after:
                    os._exit(17)  # the process dies with the checkpoint on disk
                interp.observe(changed)
            elif isinstance(action, rt.RunTasks):
                for task in action.tasks:
                    running[pool.submit(task.fn, *task.args, **task.kwargs)] = task
            elif isinstance(action, rt.WaitForTasks):
                done, _ = cf.wait(running, return_when=cf.FIRST_COMPLETED)
                for future in done:
                    task = running.pop(future)
                    error = future.exception()
                    if error is None:
                        interp.task_succeeded(task, future.result())
                    elif isinstance(error, Exception):
                        interp.task_failed(task, error)
                    else:
                        raise error
            else:
                assert isinstance(action, rt.Done)
                outcome = action.outcome
                if isinstance(outcome, rt.Succeeded | rt.Failed):
                    status = "SUCCEEDED" if isinstance(outcome, rt.Succeeded) else "FAILED"
                    store["execution"] = msgspec.structs.replace(
                        store["execution"], status=status, end_timestamp=saved.now_ms
                    )
                saved.outcome = msgspec.json.encode(outcome).decode()
                save(path, saved, store)
                return


# --- between invocations, each a process of its own in a real deployment ---------------------


def step_time(path: Path) -> bool:
    """Move the clock to the next timer and fire every timer due then; False if none."""
    saved, store = load(path)
    if not saved.timers:
        return False
    saved.now_ms = max(saved.now_ms, min(t.due_ms for t in saved.timers))
    for timer in [t for t in saved.timers if t.due_ms <= saved.now_ms]:
        rt.fire_timer(store, timer, now_ms=saved.now_ms)
    saved.timers = [t for t in saved.timers if t.due_ms > saved.now_ms]
    save(path, saved, store)
    return True


def answer_callbacks(path: Path, answer: str) -> bool:
    """Answer every open callback with ``answer`` (JSON); False if none was open."""
    saved, store = load(path)
    answered = False
    for op in list(store.values()):
        if op.type == "CALLBACK" and op.status == "STARTED" and op.callback_details is not None:
            rt.complete_callback(
                store, op.callback_details.callback_id, now_ms=saved.now_ms, result=answer
            )
            saved.timers = [t for t in saved.timers if t.operation_id != op.id]
            answered = True
    save(path, saved, store)
    return answered


if __name__ == "__main__":
    invoke(
        Path(sys.argv[1]),
        sys.argv[2],  # type: ignore[arg-type]
        int(sys.argv[3]) if len(sys.argv) > 3 else None,
    )
