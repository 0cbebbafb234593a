"""Runtimes written from docs/embedding.md alone, for the embedding tests (public imports only).

``ThreadRuntime`` runs the steps an invocation hands out in a thread pool, truly side by side,
and reports each as it finishes (out of order), from the thread that talks to the store.
It keeps its store in a dict (``apply_updates``), its timers by (kind, operation), answers
callbacks through ``answer`` and runs ``Invoke`` targets from ``functions``. Options cover the
other kinds of host the docs allow: ``per_update=True`` records a ``Flush`` one update at a
time (a store that writes each update on its own), ``fresh=True`` builds a new interpreter for
every invocation from the store, and ``crash_after_run`` abandons an invocation after a step
ran and before its outcome is recorded.
"""

from __future__ import annotations

import concurrent.futures as cf
import json
from collections.abc import Callable
from typing import Any

import msgspec

import durable_gen as dg
from durable_gen import runtime as rt

Record = tuple[Any, ...]


class HostCrash(BaseException):
    """The host process dies (a BaseException: no step's ``except Exception`` catches it)."""


def start_store(input_json: str, now_ms: int) -> dict[str, rt.Operation]:
    """A store holding a new execution's EXECUTION operation."""
    return {
        "exec": rt.Operation(
            id="exec",
            type="EXECUTION",
            status="STARTED",
            start_timestamp=now_ms,
            execution_details=rt.ExecutionDetails(input_payload=input_json),
        )
    }


def _without_stack_traces(payload: str | None) -> Any:
    """A payload with the stack traces it holds (a batch result's failed items) left out:
    where a step ran (which host, which thread) changes its stack trace, not what it did."""

    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k != "StackTrace"}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    if payload is None:
        return None
    try:
        return json.dumps(strip(json.loads(payload)), sort_keys=True)
    except ValueError:
        return payload


def records(operations: Any) -> list[Record]:
    """What two runs of one workflow must agree on, operation by operation (sorted by id):
    not timestamps, stack traces nor callback ids, which differ from run to run."""
    out: list[Record] = []
    for op in operations:
        if op.type == "EXECUTION":
            continue
        details = (
            op.step_details
            or op.callback_details
            or op.chained_invoke_details
            or op.context_details
        )
        error = getattr(details, "error", None) if details is not None else None
        out.append(
            (
                op.id,
                op.parent_id,
                op.type,
                op.sub_type,
                op.name,
                op.status,
                op.step_details.attempt if op.step_details else None,
                _without_stack_traces(getattr(details, "result", None) if details else None),
                (error.error_type, error.error_message) if error is not None else None,
                op.wait_details.scheduled_end_timestamp - op.start_timestamp
                if op.wait_details
                and op.wait_details.scheduled_end_timestamp
                and op.start_timestamp
                else None,
            )
        )
    return sorted(out)


class ThreadRuntime:
    """One execution of ``workflow`` on a dict store, its steps in a thread pool."""

    def __init__(
        self,
        workflow: Callable[..., Any],
        input_json: str,
        *,
        checkpointing: rt.CheckpointMode = "step",
        functions: dict[str, Callable[[Any], Any]] | None = None,
        workers: int = 4,
        per_update: bool = False,
        announce: bool = False,
        arn: str = "arn:threads",
    ) -> None:
        self.workflow = workflow
        self.checkpointing: rt.CheckpointMode = checkpointing
        self.functions = functions or {}
        self.per_update = per_update
        #: call interp.started(task) for a task still running after 2 ms (true start times)
        self.announce = announce
        self.started_flushes = 0
        self.arn = arn
        self.now_ms = 1_700_000_000_000
        self.store = start_store(input_json, self.now_ms)
        self.timers: dict[tuple[str, str], rt.Timer] = {}
        self.pool = cf.ThreadPoolExecutor(max_workers=workers)
        self.invocations = 0
        self.flushes: list[list[rt.OperationUpdate]] = []
        #: (name, args) of the tasks in the order they were reported
        self.reported: list[tuple[str | None, tuple[Any, ...]]] = []
        #: how many tasks were running when each Flush was handed out
        self.running_at_flush: list[int] = []
        #: (operation id, attempt) of every step attempt that ran to its end
        self.ran: list[tuple[str, int]] = []
        #: (name, args) of the step attempts in the order they finished, in their threads
        self.finished: list[tuple[str | None, tuple[Any, ...]]] = []
        #: set to die before recording the k-th update (1-based; with ``per_update``, the
        #: updates of a Flush before it are on record: a store without transactions)
        self.crash_at_update: int | None = None
        #: steps run although their outcome was persisted (must stay empty)
        self.violations: list[str] = []
        #: set to abandon the invocation after the k-th task reported (1-based), before
        #: its outcome is recorded: a crash between running a step and recording it
        self.crash_after_run: int | None = None

    def close(self) -> None:
        self.pool.shutdown(wait=True)

    # --- the store ------------------------------------------------------------------------

    def checkpoint(self, updates: list[rt.OperationUpdate]) -> list[rt.Operation]:
        self.flushes.append(list(updates))
        batches = [[u] for u in updates] if self.per_update else [updates]
        changed: dict[str, rt.Operation] = {}
        for batch in batches:
            if self.crash_at_update is not None:
                self.crash_at_update -= len(batch)
                if self.crash_at_update <= 0:
                    self.crash_at_update = None
                    raise HostCrash("the store died in the middle of a Flush")
            applied = rt.apply_updates(self.store, batch, now_ms=self.now_ms)
            for timer in applied.timers:
                self.timers[timer.kind, timer.operation_id] = timer
            for op in applied.operations:
                changed[op.id] = op
            for request in applied.invokes:
                op = self._run_invoke(request)
                changed[op.id] = op
        return list(changed.values())

    def _run_invoke(self, request: rt.InvokeRequest) -> rt.Operation:
        fn = self.functions[request.function_name]
        payload = json.loads(request.payload) if request.payload else None
        try:
            result = json.dumps(fn(payload))
        except Exception as exc:
            error = rt.ErrorObject(error_type=type(exc).__name__, error_message=str(exc))
            return rt.complete_invoke(
                self.store, request.operation_id, now_ms=self.now_ms, error=error
            )
        return rt.complete_invoke(
            self.store, request.operation_id, now_ms=self.now_ms, result=result
        )

    # --- one invocation -------------------------------------------------------------------

    def invoke(self) -> rt.Outcome:
        self.invocations += 1
        interp = rt.Interpreter(
            self.workflow,
            list(self.store.values()),
            execution_arn=self.arn,
            checkpointing=self.checkpointing,
            clock=lambda: self.now_ms / 1000,
        )
        running: dict[cf.Future[Any], rt.StepTask] = {}
        announced: set[object] = set()
        try:
            while True:
                action = interp.next_action()
                if isinstance(action, rt.Flush):
                    self.running_at_flush.append(len(running))
                    interp.observe(self.checkpoint(action.updates))
                elif isinstance(action, rt.RunTasks):
                    for task in action.tasks:
                        running[self.pool.submit(self._call, task)] = task
                elif isinstance(action, rt.WaitForTasks):
                    timeout = 0.002 if self.announce else None
                    done, _ = cf.wait(running, timeout=timeout, return_when=cf.FIRST_COMPLETED)
                    if not done:
                        for task in running.values():
                            if task.id not in announced:
                                announced.add(task.id)
                                flush = interp.started(task)
                                if flush is not None:
                                    self.started_flushes += 1
                                    interp.observe(self.checkpoint(flush.updates))
                    for future in done:
                        task = running.pop(future)
                        self.reported.append((task.name, task.args))
                        if self.crash_after_run is not None:
                            self.crash_after_run -= 1
                            if self.crash_after_run == 0:
                                self.crash_after_run = None
                                raise HostCrash(task.name)
                        error = future.exception()
                        if error is None:
                            interp.task_succeeded(task, future.result())
                        elif isinstance(error, Exception):
                            interp.task_failed(task, error)
                        else:
                            raise error
                else:
                    assert isinstance(action, rt.Done)
                    return action.outcome
        finally:
            for future in running:
                future.cancel()
            cf.wait(running)  # a dying process takes its threads with it

    def _call(self, task: rt.StepTask) -> Any:
        recorded = self.store.get(task.operation_id)
        if recorded is not None and recorded.status == "SUCCEEDED":
            self.violations.append(f"{task.name} ran after its SUCCEED was persisted")
        try:
            return task.fn(*task.args, **task.kwargs)
        finally:
            self.ran.append((task.operation_id, task.attempt))
            self.finished.append((task.name, task.args))

    # --- between invocations --------------------------------------------------------------

    def open_callbacks(self) -> list[rt.Operation]:
        return [
            op for op in self.store.values() if op.type == "CALLBACK" and op.status == "STARTED"
        ]

    def answer(self, op: rt.Operation, result_json: str) -> None:
        assert op.callback_details is not None and op.callback_details.callback_id
        rt.complete_callback(
            self.store, op.callback_details.callback_id, now_ms=self.now_ms, result=result_json
        )
        self.timers.pop(("callback-timeout", op.id), None)
        self.timers.pop(("callback-heartbeat", op.id), None)

    def fire_next_timers(self) -> bool:
        """Move the clock to the next due timer and fire every timer due then."""
        if not self.timers:
            return False
        self.now_ms = max(self.now_ms, min(t.due_ms for t in self.timers.values()))
        for key, timer in list(self.timers.items()):
            if timer.due_ms <= self.now_ms:
                del self.timers[key]
                rt.fire_timer(self.store, timer, now_ms=self.now_ms)
        return True

    def end(self, outcome: rt.Outcome) -> None:
        """Record the end on the EXECUTION operation, as the docs ask."""
        status = "SUCCEEDED" if isinstance(outcome, rt.Succeeded) else "FAILED"
        self.store["exec"] = msgspec.structs.replace(
            self.store["exec"], status=status, end_timestamp=self.now_ms
        )

    def run(
        self,
        answer: Callable[[rt.Operation], str | None] | None = None,
        *,
        limit: int = 200,
    ) -> rt.Outcome:
        """Invoke until the execution ends: between invocations answer callbacks, else fire
        the next timers. A ``HostCrash`` abandons an invocation; the next one replays."""
        for _ in range(limit):
            try:
                outcome = self.invoke()
            except HostCrash:
                continue
            if not isinstance(outcome, rt.Suspended):
                self.end(outcome)
                return outcome
            answered = False
            for op in self.open_callbacks() if answer is not None else []:
                assert answer is not None
                value = answer(op)
                if value is not None:
                    self.answer(op, value)
                    answered = True
            if not answered and not self.fire_next_timers():
                raise AssertionError(f"stuck waiting on {outcome.waiting_on}")
        raise AssertionError(f"not done after {limit} invocations")


def engine_records(
    workflow: Callable[..., Any],
    value: Any,
    *,
    functions: dict[str, Callable[[Any], Any]] | None = None,
    answer: str = "ok",
) -> tuple[Any, list[Record]]:
    """The same workflow on the embedded engine under ``TestRunner``: result and records."""
    from durable_gen.testing import TestRunner

    runner = TestRunner(functions=functions or {})
    run = runner.run(workflow, value)
    while not run.done:
        for view in run.operations(type="CALLBACK"):
            if view.status == "STARTED":
                run.send_callback_success(view.name or "", answer)
        runner.run_until_idle()
    result = run.result() if run.status == "SUCCEEDED" else run.error
    return result, records(v.operation for v in run.operations())


__all__ = ["HostCrash", "ThreadRuntime", "dg", "engine_records", "records", "start_store"]
