"""The durable_gen side: workflows, and trials running them on the embedded engine.

Steps are trivial (``x + 1``) so that what is measured is the library, not the work. Each
engine-backed trial builds its engine in ``setup`` or uses ``dg.run`` (which builds one; that
costs microseconds and is counted).
"""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable, Generator, Sequence
from typing import Any

import msgspec

import durable_gen as dg
from durable_gen._ids import operation_id
from durable_gen._interpreter_core import clear_id_cache
from durable_gen._wire import (
    CheckpointResponse,
    ExecutionDetails,
    ExecutionState,
    InvocationInput,
    InvocationOutput,
    Operation,
    OperationUpdate,
    StepDetails,
)
from durable_gen.local import LocalService, VirtualClock
from durable_gen.local._run import workflow_name
from durable_gen.runtime import Done
from durable_gen.testing import replay

from ._harness import Trial

__all__ = [
    "WORKFLOWS",
    "CountingService",
    "checkpoint_traffic",
    "cpu_time",
    "end_to_end_trivial",
    "engine_checkpoint_per_step",
    "floor_per_op",
    "interpreter_per_op",
    "invocation_overhead",
    "map_items",
    "parallel_branches",
    "replay_memory",
    "replay_recorded",
    "sequential",
    "sequential_per_step",
    "waits_and_callbacks",
]

Gen = Generator[Any, Any, Any]

# --- workflows --------------------------------------------------------------------------------


@dg.step
def inc(x: int) -> int:
    return x + 1


@dg.step
def one() -> int:
    return 1


def sequential_wf(n: int) -> Gen:
    x = 0
    for _ in range(n):
        x = yield inc(x)
    return x


@dg.step(name="inc")
def inc_untyped(x):  # type: ignore[no-untyped-def]  # no annotation: plain JSON decoding
    return x + 1


def sequential_untyped_wf(n: int) -> Gen:
    x = 0
    for _ in range(n):
        x = yield inc_untyped(x)
    return x


def map_wf(n: int) -> Gen:
    result = yield dg.Map(inc, list(range(n)), max_concurrency=10)
    return len(result.items)


def parallel_wf(n: int) -> Gen:
    result = yield dg.Parallel([one] * n)
    return len(result.items)


def waits_callbacks_wf(n: int) -> Gen:
    for i in range(n):
        yield dg.Wait(seconds=60, name=f"w-{i}")
        handle = yield dg.CreateCallback(name=f"cb-{i}")
        yield handle
    return n


def trivial_wf(x: Any) -> Gen:
    return x
    yield  # a generator function that yields nothing


# --- the engine -------------------------------------------------------------------------------


class CountingService:
    """A ``DurableService`` in front of the engine that counts checkpoint calls and bytes.

    Bytes are the JSON of the ``Updates`` list as the Lambda API would receive it.
    """

    def __init__(self, inner: LocalService) -> None:
        self.inner = inner
        self.calls = 0
        self.bytes = 0

    def checkpoint(
        self, execution_arn: str, checkpoint_token: str, updates: Sequence[OperationUpdate]
    ) -> CheckpointResponse:
        self.calls += 1
        self.bytes += len(msgspec.json.encode(list(updates)))
        return self.inner.checkpoint(execution_arn, checkpoint_token, updates)

    def get_state(self, execution_arn: str, checkpoint_token: str, marker: str) -> ExecutionState:
        return self.inner.get_state(execution_arn, checkpoint_token, marker)


def _engine(
    workflow: Callable[..., Any],
    *,
    checkpointing: dg.CheckpointMode = "step",
    counter: bool = False,
) -> tuple[LocalService, str, CountingService | None]:
    """A fresh engine (virtual clock) with ``workflow`` registered; optionally counted."""
    engine = LocalService(clock=VirtualClock())
    service = CountingService(engine) if counter else None
    name = workflow_name(workflow)
    engine.register(name, dg.make_handler(workflow, service or engine, checkpointing=checkpointing))
    return engine, name, service


def _drive(engine: LocalService, name: str, input: Any) -> str:
    """Start an execution and run it to its end, answering each callback it stops on."""
    arn = engine.start(name, msgspec.json.encode(input).decode())
    while (record := engine.run(arn)).status == "RUNNING":
        last = engine.get_operations(arn)[-1]
        if last.type != "CALLBACK" or last.callback_details is None:
            raise RuntimeError(f"expected an open callback, found {last}")
        engine.send_callback_success(last.callback_details.callback_id or "", '"ok"')
    if record.status != "SUCCEEDED":
        raise RuntimeError(f"benchmark execution ended {record.status}: {record.error}")
    return arn


def _dg_run(workflow: Callable[..., Any], n: int) -> Trial:
    def run(_: None) -> None:
        dg.run(workflow, n, skip_time=True)

    return Trial(run=run)


# --- trials -------------------------------------------------------------------------------------


def sequential(n: int) -> Trial:
    """``n`` sequential trivial steps, one execution, ``dg.run`` on the embedded engine."""
    return _dg_run(sequential_wf, n)


def sequential_per_step(n: int) -> Trial:
    """``sequential(n)`` per step: one step end to end in memory (engine, driver, interpreter)."""
    return Trial(run=_dg_run(sequential_wf, n).run, per=n)


def cpu_time(trial: Trial) -> Trial:
    """``trial`` timed in process CPU time instead of wall time (what ``run`` returns is ignored).

    On a machine shared with other work, a long run is preempted more often than a short one,
    which skews the ratio of a long workload to the floor in wall time; CPU time does not.
    """

    def run(state: Any) -> float:
        start = time.process_time()
        trial.run(state)
        return time.process_time() - start

    return Trial(run=run, setup=trial.setup, cleanup=trial.cleanup, per=trial.per)


def map_items(n: int) -> Trial:
    """``Map`` of one trivial step over ``n`` items, at most 10 in flight."""
    return _dg_run(map_wf, n)


def parallel_branches(n: int) -> Trial:
    """``Parallel`` of ``n`` branches, one trivial step each."""
    return _dg_run(parallel_wf, n)


def replay_recorded(n: int) -> Trial:
    """Replay an ``n``-step execution recorded by the engine with the public replayer."""
    engine, name, _ = _engine(sequential_wf)
    arn = _drive(engine, name, n)
    operations = engine.get_operations(arn)

    def run(_: None) -> None:
        report = replay(sequential_wf, operations, execution_arn=arn)
        if not report.ok:
            raise RuntimeError(f"replay did not succeed: {report.message}")

    return Trial(run=run, per=n)


def waits_and_callbacks(n: int) -> Trial:
    """``n`` x (a 60 s wait, then a callback answered from outside between engine runs)."""

    def run(state: tuple[LocalService, str]) -> None:
        _drive(*state, n)

    return Trial(run=run, setup=lambda: _engine(waits_callbacks_wf)[:2])


def invocation_overhead() -> Trial:
    """One invocation of a trivial workflow by the engine: the handler call, as timed inside."""

    def setup() -> tuple[LocalService, str, list[float]]:
        engine = LocalService(clock=VirtualClock())
        handler = dg.make_handler(trivial_wf, engine)
        timings: list[float] = []

        def timed(event: Any) -> Any:
            start = time.perf_counter()
            output = handler(event)
            timings.append(time.perf_counter() - start)
            return output

        engine.register("trivial", timed)
        return engine, "trivial", timings

    def run(state: tuple[LocalService, str, list[float]]) -> float:
        engine, name, timings = state
        _drive(engine, name, 1)
        (elapsed,) = timings
        return elapsed

    return Trial(run=run, setup=setup)


def end_to_end_trivial() -> Trial:
    """Start and finish an execution of a trivial workflow (``dg.run``)."""
    return _dg_run(trivial_wf, 1)


WORKFLOWS: dict[str, Callable[..., Any]] = {
    "sequential": sequential_wf,
    "map": map_wf,
    "waits_callbacks": waits_callbacks_wf,
}


def checkpoint_traffic(
    workload: str, n: int, checkpointing: dg.CheckpointMode = "step"
) -> tuple[int, int]:
    """(checkpoint calls, bytes of updates) for one execution of ``WORKFLOWS[workload](n)``.

    Callbacks are answered from outside each time the execution stops on one.
    """
    engine, name, counter = _engine(WORKFLOWS[workload], checkpointing=checkpointing, counter=True)
    assert counter is not None
    _drive(engine, name, n)
    return counter.calls, counter.bytes


# --- the engine alone -------------------------------------------------------------------------


def engine_checkpoint_per_step(n: int) -> Trial:
    """The engine's cost of ``n`` steps checkpointed by one invocation; per step.

    Each step is one checkpoint of START + SUCCEED, as the driver sends it, prepared in
    advance: only ``LocalService.checkpoint`` is timed (no interpreter, no driver), in process
    CPU time, which a busy machine disturbs less than wall time.
    """
    batches = [
        (
            OperationUpdate(id=operation_id(None, i), type="STEP", action="START", name="inc",
                            sub_type="Step"),
            OperationUpdate(id=operation_id(None, i), type="STEP", action="SUCCEED",
                            name="inc", sub_type="Step", payload=str(i)),
        )
        for i in range(1, n + 1)
    ]  # fmt: skip

    def run(_: None) -> float:
        engine = LocalService(clock=VirtualClock())
        spent: list[float] = []

        def handler(event: InvocationInput) -> InvocationOutput:
            checkpoint = engine.checkpoint
            arn, token = event.durable_execution_arn, event.checkpoint_token
            start = time.process_time()
            for batch in batches:
                token = checkpoint(arn, token, batch).checkpoint_token
            spent.append(time.process_time() - start)
            return InvocationOutput(status="SUCCEEDED", result=str(n))

        engine.register("steps", handler)
        record = engine.run(engine.start("steps"))
        if record.status != "SUCCEEDED" or len(engine.get_history(record.arn)) != 2 * n + 3:
            raise RuntimeError(f"the engine did not record {n} steps: {record}")
        return spent[0]

    return Trial(run=run, per=n)


# --- the interpreter alone ----------------------------------------------------------------------


def synthetic_history(n: int) -> list[Operation]:
    """The history ``sequential_wf(n)`` records, built in memory (no engine)."""
    ts = 1_735_689_600_000
    ops = [
        Operation(
            id="execution",
            type="EXECUTION",
            status="SUCCEEDED",
            start_timestamp=ts,
            end_timestamp=ts,
            execution_details=ExecutionDetails(input_payload=str(n)),
        )
    ]
    for i in range(1, n + 1):
        ops.append(
            Operation(
                id=operation_id(None, i),
                type="STEP",
                status="SUCCEEDED",
                name="inc",
                sub_type="Step",
                start_timestamp=ts,
                end_timestamp=ts,
                step_details=StepDetails(attempt=1, result=str(i)),
            )
        )
    return ops


def _replay(
    operations: list[Operation],
    arn: str = "arn:bench",
    workflow: Callable[..., Any] = sequential_wf,
) -> None:
    """Replay a complete history: the first action must be the workflow's success."""
    action = dg.Interpreter(workflow, operations, execution_arn=arn).next_action()
    if not (isinstance(action, Done) and isinstance(action.outcome, dg.Succeeded)):
        raise RuntimeError(f"replay did not succeed: {action}")


def interpreter_per_op(n: int, *, cold: bool = False, typed: bool = True) -> Trial:
    """Replay an in-memory ``n``-step history with the interpreter alone; per operation.

    Operation ids are memoized per process; ``cold`` clears those memos before each run, as in
    a fresh process (each id is then hashed again). ``typed``: the step declares ``-> int``
    and its results are decoded into it; otherwise it declares nothing (plain JSON).
    """
    operations = synthetic_history(n)
    workflow = sequential_wf if typed else sequential_untyped_wf

    def run(_: None) -> None:
        _replay(operations, workflow=workflow)

    if cold:
        return Trial(run=run, setup=clear_id_cache, per=n)
    return Trial(run=run, per=n)


_COMMAND = object()


def _bare(n: int) -> Gen:
    x = None
    for _ in range(n):
        x = yield _COMMAND
    return x


def floor_per_op(n: int) -> Trial:
    """The floor: a bare generator ``send`` loop with one dict lookup per operation."""
    operations = synthetic_history(n)
    history = {op.id: op for op in operations}
    ids = [op.id for op in operations[1:]]

    def run(_: None) -> None:
        gen = _bare(len(ids))
        next(gen)
        try:
            for op_id in ids:
                gen.send(history[op_id])
        except StopIteration:
            return
        raise RuntimeError("the bare generator did not finish")

    return Trial(run=run, per=n)


def replay_memory(n: int) -> int:
    """Peak bytes allocated (tracemalloc) while replaying an ``n``-step history.

    The history is built before tracing starts: what is counted is what replay adds. Building
    it fills the operation-id cache with the ids of the last 65,536 operations, so the cache is
    cleared first: every size then starts cold, as a fresh process does.
    """
    operations = synthetic_history(n)
    clear_id_cache()
    tracemalloc.start()
    try:
        _replay(operations)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak
