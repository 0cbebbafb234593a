"""OpenTelemetry tracing for durable_gen (optional extra: ``pip install 'durable-gen[otel]'``).

``OpenTelemetryPlugin`` turns the plugin hooks into the spans of AWS's OpenTelemetry contract for
durable executions. Rules:

1. One trace per execution: its trace id, the ``Workflow`` span id, the id of each operation's
   first span and a synthetic parent of ``Workflow`` are derived from the execution ARN and the
   operation id (sha256), so every invocation of an execution, on any machine, adds to one trace.
2. ``Workflow`` (emitted by the invocation that ends the execution) covers the execution and
   carries ``durable.execution.status``; ``Invocation`` covers one invocation and carries
   ``durable.invocation.first`` and ``durable.invocation.status`` (``PENDING`` when it
   suspends). Each step attempt is a span ``"<name> attempt <n>"`` under its operation's span.
3. View ``"invocation"`` (default): an operation gets a span in every invocation that starts,
   advances or ends it, under ``Invocation`` (or its parent operation's span of the same
   invocation), linked to its first span and to ``Workflow``; a span still open when the
   invocation ends has status UNSET and ``durable.operation.status`` ``STARTED``.
   View ``"execution"``: an operation gets one span when it ends, from its recorded start to its
   recorded end, under ``Workflow`` (or its parent operation), linked to the invocation that saw
   it end; attempts link to the invocation that ran them.
4. Status: OK for what succeeded (and for an invocation that suspends), ERROR for what failed,
   UNSET for an operation still running. All spans are INTERNAL.
5. A virtual child context (``Child(..., virtual=True)``) records nothing, yet gets its span
   like a recorded one, from the plugin hooks (``OperationInfo.virtual``): in the invocation
   view, from its start hook to its end hook in the invocation that runs it (an invocation
   that ends one started earlier opens its span at the end, linked to the first); in the
   execution view, one span when it ends, from its start as this process saw it (else the
   start of the invocation that ends it). Its operations record the enclosing context as
   their parent, so their spans are its siblings, not its children.
6. Times come from ``clock`` (epoch nanoseconds, default ``time.time_ns``); an operation's or the
   execution's recorded timestamps are widened to contain the spans below them, so a clock that
   differs from the service's never puts a child outside its parent.

Deterministic ids need the OpenTelemetry SDK's tracer (``opentelemetry-sdk``); with another
implementation, ids come from it and only the trace id and parents stay deterministic.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from ._arguments import checked
from ._errors import ValidationError, failure_text, shown
from ._plugins import (
    TERMINAL,
    AttemptInfo,
    ExecutionInfo,
    InvocationInfo,
    OperationInfo,
    OperationSnapshot,
    Plugin,
    PluginClock,
    checked_clock,
)

__all__ = ["OpenTelemetryPlugin", "OtelView", "trace_id_of"]

OtelView = Literal["invocation", "execution"]

#: Suspended executions whose open state this plugin keeps (oldest dropped first).
_REMEMBERED_EXECUTIONS = 1024


def _trace() -> Any:
    try:
        from opentelemetry import trace
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "OpenTelemetryPlugin needs opentelemetry-api: pip install 'durable-gen[otel]'"
        ) from exc
    return trace


def _derive(arn: str, salt: str, nbytes: int) -> int:
    digest = hashlib.sha256(f"{arn}\0{salt}".encode()).digest()
    return int.from_bytes(digest[:nbytes], "big") or 1


@checked
def trace_id_of(execution_arn: str) -> int:
    """The trace id of an execution's spans (128 bits, from its ARN).

    Raises:
        ValidationError: ``execution_arn`` is not a non-empty str.
    """
    if not isinstance(execution_arn, str) or not execution_arn:
        raise ValidationError(
            f"trace_id_of() takes an execution's ARN (a non-empty str), got {shown(execution_arn)}"
        )
    return _derive(execution_arn, "trace", 16)


def _span_id(arn: str, salt: str) -> int:
    return _derive(arn, salt, 8)


class _Ids:
    """An SDK id generator that hands out a chosen span id once, then defers to the default."""

    def __init__(self, fallback: Any) -> None:
        self.fallback = fallback
        self.local = threading.local()

    def generate_span_id(self) -> int:
        chosen = getattr(self.local, "span_id", None)
        if chosen is not None:
            self.local.span_id = None
            return int(chosen)
        return int(self.fallback.generate_span_id())

    def generate_trace_id(self) -> int:
        return int(self.fallback.generate_trace_id())


@dataclass
class _Meta:
    type: str
    sub_type: str | None
    name: str | None
    parent_id: str | None


@dataclass
class _Execution:
    """What the plugin keeps about one execution while this process runs it."""

    arn: str
    trace_id: int
    start_ns: int
    meta: dict[str, _Meta] = field(default_factory=dict)
    existing: set[str] = field(default_factory=set)
    invocation: Any = None
    open: dict[str, Any] = field(default_factory=dict)
    attempts: dict[tuple[str, int], Any] = field(default_factory=dict)
    last_attempt: dict[str, int] = field(default_factory=dict)
    #: per operation id ("" for the workflow), the earliest start and latest end below it
    extents: dict[str, list[int]] = field(default_factory=dict)
    #: virtual contexts started and not ended yet: when they started (execution view)
    virtual_starts: dict[str, int] = field(default_factory=dict)
    #: the recorded status of each operation, as last seen
    statuses: dict[str, str] = field(default_factory=dict)

    def widen(self, key: str, start: int, end: int) -> None:
        ext = self.extents.get(key)
        if ext is None:
            self.extents[key] = [start, end]
        else:
            ext[0] = min(ext[0], start)
            ext[1] = max(ext[1], end)


class OpenTelemetryPlugin(Plugin):
    """Records executions, invocations, operations and step attempts as OpenTelemetry spans.

    Args:
        tracer_provider: The provider to take the tracer from (default: the global one).
        view: ``"invocation"`` (default) or ``"execution"`` (see the module docs).
        clock: Epoch nanoseconds for span times (default ``time.time_ns``).
    """

    @checked
    def __init__(
        self,
        tracer_provider: Any = None,
        *,
        view: OtelView = "invocation",
        clock: Callable[[], int] | None = None,
    ) -> None:
        if view not in ("invocation", "execution"):
            raise ValidationError(f"view must be 'invocation' or 'execution', got {shown(view)}")
        if clock is not None:
            clock = checked_clock(
                clock,
                "nanoseconds",
                "OpenTelemetryPlugin",
                "on a VirtualClock: lambda: service.clock.now_ms() * 1_000_000",
            )
        trace = _trace()
        if tracer_provider is not None and not callable(
            getattr(tracer_provider, "get_tracer", None)
        ):
            raise ValidationError(
                "tracer_provider must be an OpenTelemetry TracerProvider (with get_tracer), "
                f"or None for the global one, got {shown(tracer_provider)}"
            )
        self._api = trace
        self._tracer = trace.get_tracer("durable_gen", tracer_provider=tracer_provider)
        self._ids: _Ids | None = None
        #: The global provider is read again until it is the SDK's: a plugin built at import
        #: time, before the provider is set, has only a proxy of it.
        self._global = tracer_provider is None
        self._bind(self._tracer)
        self.view: OtelView = view
        #: ``clock``, or the wall clock; a test runner lends its virtual clock (milliseconds)
        #: to a plugin without ``clock`` while it runs workflows.
        self._clock = PluginClock(clock, time.time_ns, 1_000_000)
        self._lock = threading.RLock()
        self._executions: dict[str, _Execution] = {}

    # --- helpers ------------------------------------------------------------------------------

    def _bind(self, tracer: Any) -> None:
        """Use ``tracer``, and choose its span ids when it is the SDK's."""
        fallback = getattr(tracer, "id_generator", None)
        if fallback is not None:  # the SDK's tracer: let us choose span ids
            self._tracer = tracer
            self._ids = _Ids(fallback)
            tracer.id_generator = self._ids

    def _now(self) -> int:
        # strictly increasing by at least 1 us: exporters and backends keep microseconds
        return self._clock.increasing(1_000)

    def _context(self, ex: _Execution, span_id: int) -> Any:
        trace = self._api
        ctx = trace.SpanContext(
            trace_id=ex.trace_id,
            span_id=span_id,
            is_remote=True,
            trace_flags=trace.TraceFlags(trace.TraceFlags.SAMPLED),
        )
        return trace.set_span_in_context(trace.NonRecordingSpan(ctx))

    def _link(self, ex: _Execution, span_id: int) -> Any:
        trace = self._api
        ctx = trace.SpanContext(
            trace_id=ex.trace_id,
            span_id=span_id,
            is_remote=False,
            trace_flags=trace.TraceFlags(trace.TraceFlags.SAMPLED),
        )
        return trace.Link(ctx)

    def _start(
        self,
        name: str,
        parent: Any,
        start_ns: int,
        attributes: dict[str, Any],
        links: list[Any],
        span_id: int | None = None,
    ) -> Any:
        if span_id is not None and self._ids is not None:
            self._ids.local.span_id = span_id
        try:
            return self._tracer.start_span(
                name,
                context=parent,
                kind=self._api.SpanKind.INTERNAL,
                attributes=attributes,
                links=links,
                start_time=start_ns,
            )
        finally:
            if self._ids is not None:
                self._ids.local.span_id = None

    def _end(self, span: Any, ok: bool | None, end_ns: int, why: str | None = None) -> None:
        status = self._api.StatusCode
        if ok:
            span.set_status(self._api.Status(status.OK))
        elif ok is not None:
            span.set_status(self._api.Status(status.ERROR, why))
        span.end(end_time=end_ns)

    def _execution(self, arn: str, start_ms: int | None = None) -> _Execution:
        ex = self._executions.get(arn)
        if ex is None:
            start = start_ms * 1_000_000 if start_ms is not None else self._now()
            ex = self._executions[arn] = _Execution(arn, trace_id_of(arn), start)
            while len(self._executions) > _REMEMBERED_EXECUTIONS:
                del self._executions[next(iter(self._executions))]
        return ex

    def _invocation_context(self, ex: _Execution) -> Any:
        current = self._api.get_current_span().get_span_context()
        if current.is_valid and current.trace_id == ex.trace_id:
            return self._api.set_span_in_context(self._api.get_current_span())
        return self._context(ex, _span_id(ex.arn, "root"))

    def _op_attributes(self, ex: _Execution, op_id: str, meta: _Meta) -> dict[str, Any]:
        attrs: dict[str, Any] = {
            "durable.execution.arn": ex.arn,
            "durable.operation.id": op_id,
            "durable.operation.type": meta.type,
        }
        if meta.sub_type:
            attrs["durable.operation.subtype"] = meta.sub_type
        if meta.name:
            attrs["durable.operation.name"] = meta.name
        return attrs

    def _remember(self, ex: _Execution, op_id: str, meta: _Meta) -> _Meta:
        known = ex.meta.get(op_id)
        if known is None or (known.name is None and meta.name is not None):
            ex.meta[op_id] = meta
            return meta
        return known

    # --- invocation view: one span per operation per invocation -------------------------------

    def _open(self, ex: _Execution, op_id: str, now: int) -> Any:
        span = ex.open.get(op_id)
        if span is not None:
            return span
        meta = ex.meta.get(op_id) or _Meta("STEP", None, None, None)
        if meta.parent_id is not None and meta.parent_id in ex.meta:
            parent = self._api.set_span_in_context(self._open(ex, meta.parent_id, now))
        elif ex.invocation is not None:
            parent = self._api.set_span_in_context(ex.invocation)
        else:
            parent = self._invocation_context(ex)
        first_id = _span_id(ex.arn, f"op\0{op_id}")
        links = [self._link(ex, _span_id(ex.arn, "workflow"))]
        span_id: int | None = first_id
        if op_id in ex.existing:  # started by an earlier invocation: link to its first span
            links.insert(0, self._link(ex, first_id))
            span_id = None
        span = self._start(
            meta.name or meta.type,
            parent,
            now,
            self._op_attributes(ex, op_id, meta),
            links,
            span_id,
        )
        ex.open[op_id] = span
        return span

    def _close(
        self,
        ex: _Execution,
        op_id: str,
        status: str,
        attempt: int | None,
        why: str | None = None,
    ) -> None:
        span = ex.open.pop(op_id, None)
        if span is None:
            return
        terminal = status in TERMINAL
        span.set_attribute("durable.operation.status", status if terminal else "STARTED")
        meta = ex.meta.get(op_id)
        if terminal and meta is not None and meta.type == "STEP":
            number = ex.last_attempt.get(op_id, attempt)
            if number:
                span.set_attribute("durable.attempt.number", number)
        self._end(span, None if not terminal else status == "SUCCEEDED", self._now(), why)

    def _close_open(self, ex: _Execution) -> None:
        """End the spans still open: an operation still running ends STARTED; one that had
        already ended (its span was opened here as the parent of a later change, e.g. the item
        of a finished Map whose wait fired) ends with the status it was recorded with."""
        for op_id in reversed(list(ex.open)):
            recorded = ex.statuses.get(op_id)
            self._close(ex, op_id, recorded if recorded in TERMINAL else "STARTED", None)

    def _abandon(self, ex: _Execution) -> None:
        """End what an earlier invocation left open here (it crashed before its end hook)."""
        now = self._now()
        for key in list(ex.attempts):
            self._end(ex.attempts.pop(key), False, now, "the invocation ended during the attempt")
        self._close_open(ex)
        if ex.invocation is not None:
            span, ex.invocation = ex.invocation, None
            self._end(span, False, self._now(), "the invocation ended without an outcome")

    # --- hooks --------------------------------------------------------------------------------

    def on_invocation_start(self, info: InvocationInfo) -> None:
        with self._lock:
            if self._ids is None and self._global:
                self._bind(self._api.get_tracer("durable_gen"))
            ex = self._execution(info.execution_arn)
            self._abandon(ex)
            ex.existing = {op.operation_id for op in info.operations}
            ex.statuses = {op.operation_id: op.status for op in info.operations}
            for op in info.operations:
                self._remember(ex, op.operation_id, _meta_of(op))
            ex.last_attempt.clear()
            ex.invocation = self._start(
                "Invocation",
                self._invocation_context(ex),
                self._now(),
                {"durable.execution.arn": ex.arn, "durable.invocation.first": info.first},
                [],
            )

    def on_execution_start(self, info: ExecutionInfo) -> None:
        with self._lock:
            ex = self._execution(info.execution_arn)
            if info.start_timestamp is not None:
                ex.start_ns = min(ex.start_ns, info.start_timestamp * 1_000_000)

    def on_operation_start(self, op: OperationInfo) -> None:
        with self._lock:
            ex = self._execution(op.execution_arn)
            self._remember(ex, op.operation_id, _Meta(op.type, op.sub_type, op.name, op.parent_id))
            if self.view == "invocation":
                self._open(ex, op.operation_id, self._now())
            elif op.virtual:
                ex.virtual_starts[op.operation_id] = self._now()

    def on_operation_end(self, op: OperationInfo, status: str) -> None:
        # A recorded operation's span ends with its snapshot (``on_operation_change``); a
        # virtual context has none, so its end hook ends it.
        if not op.virtual:
            return
        with self._lock:
            ex = self._execution(op.execution_arn)
            meta = self._remember(
                ex, op.operation_id, _Meta(op.type, op.sub_type, op.name, op.parent_id)
            )
            if self.view == "invocation":
                if op.operation_id not in ex.open:  # started by an earlier invocation
                    ex.existing.add(op.operation_id)
                    self._open(ex, op.operation_id, self._now())
                self._close(ex, op.operation_id, status, None)
                return
            end = self._now()
            start = ex.virtual_starts.pop(op.operation_id, None)
            if start is None:  # started by an earlier invocation in another process
                invocation = ex.invocation
                start = getattr(invocation, "start_time", None) or end
            self._emit_span(ex, op.operation_id, meta, status, start or end, end, None, None)

    def on_operation_change(self, op: OperationSnapshot) -> None:
        with self._lock:
            ex = self._execution(op.execution_arn)
            ex.meta[op.operation_id] = _meta_of(op)
            ex.statuses[op.operation_id] = op.status
            if self.view == "invocation":
                if op.status in TERMINAL or op.operation_id not in ex.open:
                    self._open(ex, op.operation_id, self._now())
                if op.status in TERMINAL:
                    self._close(ex, op.operation_id, op.status, op.attempt, _why(op))
            elif op.status in TERMINAL:
                self._emit_operation(ex, op)

    def _emit_operation(self, ex: _Execution, op: OperationSnapshot) -> None:
        now = self._now()
        start = op.start_timestamp * 1_000_000 if op.start_timestamp is not None else now
        end = op.end_timestamp * 1_000_000 if op.end_timestamp is not None else now
        self._emit_span(ex, op.operation_id, _meta_of(op), op.status, start, end, op.attempt,
                        _why(op))  # fmt: skip

    def _emit_span(
        self,
        ex: _Execution,
        op_id: str,
        meta: _Meta,
        status: str,
        start: int,
        end: int,
        attempt: int | None,
        why: str | None,
    ) -> None:
        """The execution view's one span of an operation that ended (times in ns)."""
        ext = ex.extents.pop(op_id, None)
        if ext is not None:
            # a recorded start within 1 ms before the first span below it is that start
            # rounded down to the millisecond: keep the precise one
            start = ext[0] if 0 <= ext[0] - start < 1_000_000 else min(start, ext[0])
            end = max(end, ext[1])
        end = max(start, end)
        parent_key = meta.parent_id or ""
        ex.widen(parent_key, start, end)
        parent_id = _span_id(ex.arn, f"op\0{meta.parent_id}" if meta.parent_id else "workflow")
        attrs = self._op_attributes(ex, op_id, meta)
        attrs["durable.operation.status"] = status
        if meta.type == "STEP":
            number = ex.last_attempt.get(op_id, attempt)
            if number:
                attrs["durable.attempt.number"] = number
        links = [ex.invocation.get_span_context()] if ex.invocation is not None else []
        span = self._start(
            meta.name or meta.type,
            self._context(ex, parent_id),
            start,
            attrs,
            [self._api.Link(ctx) for ctx in links],
            _span_id(ex.arn, f"op\0{op_id}"),
        )
        self._end(span, status == "SUCCEEDED", end, why)

    def on_attempt_start(self, attempt: AttemptInfo) -> None:
        with self._lock:
            ex = self._execution(attempt.execution_arn)
            meta = self._remember(
                ex,
                attempt.operation_id,
                _Meta(attempt.type, attempt.sub_type, attempt.name, attempt.parent_id),
            )
            now = self._now()
            attrs = self._op_attributes(ex, attempt.operation_id, meta)
            attrs["durable.attempt.number"] = attempt.attempt
            if self.view == "invocation":
                parent = self._api.set_span_in_context(self._open(ex, attempt.operation_id, now))
                links = [self._link(ex, _span_id(ex.arn, "workflow"))]
            else:
                parent = self._context(ex, _span_id(ex.arn, f"op\0{attempt.operation_id}"))
                links = [self._api.Link(ex.invocation.get_span_context())] if ex.invocation else []
            name = f"{meta.name or meta.type} attempt {attempt.attempt}"
            span = self._start(name, parent, now, attrs, links)
            ex.attempts[(attempt.operation_id, attempt.attempt)] = span

    def on_attempt_end(
        self, attempt: AttemptInfo, outcome: str, error: BaseException | None
    ) -> None:
        with self._lock:
            ex = self._execution(attempt.execution_arn)
            span = ex.attempts.pop((attempt.operation_id, attempt.attempt), None)
            ex.last_attempt[attempt.operation_id] = attempt.attempt
            if span is None:
                return
            span.set_attribute("durable.attempt.outcome", outcome)
            if error is not None:
                span.record_exception(error)
            now = self._now()
            # a span that records nothing (no SDK, or sampled out) has no start_time
            ex.widen(attempt.operation_id, getattr(span, "start_time", None) or now, now)
            why = None if error is None else failure_text(type(error).__name__, str(error))
            self._end(span, error is None, now, why)

    def on_execution_end(
        self, info: ExecutionInfo, status: str, result: str | None, error: Any
    ) -> None:
        with self._lock:
            ex = self._execution(info.execution_arn, info.start_timestamp)
            if self.view == "invocation":
                self._close_open(ex)
            now = self._now()
            start = ex.start_ns
            if info.start_timestamp is not None:
                start = min(start, info.start_timestamp * 1_000_000)
            ext = ex.extents.get("")
            if ext is not None:
                start, now = min(start, ext[0]), max(now, ext[1])
            span = self._start(
                "Workflow",
                self._context(ex, _span_id(ex.arn, "root")),
                start,
                {"durable.execution.arn": ex.arn, "durable.execution.status": status},
                [],
                _span_id(ex.arn, "workflow"),
            )
            why = None
            if error is not None:
                why = failure_text(
                    getattr(error, "error_type", None), getattr(error, "error_message", None)
                )
            self._end(span, status == "SUCCEEDED", now, why)

    def on_invocation_end(self, info: InvocationInfo, status: str) -> None:
        with self._lock:
            ex = self._execution(info.execution_arn)
            for key in list(ex.attempts):
                self._end(ex.attempts.pop(key), None, self._now())
            self._close_open(ex)
            span, ex.invocation = ex.invocation, None
            if span is not None:
                span.set_attribute("durable.invocation.status", status)
                self._end(span, status != "FAILED", self._now())
            if status in ("SUCCEEDED", "FAILED"):
                self._executions.pop(info.execution_arn, None)


def _meta_of(op: OperationSnapshot) -> _Meta:
    return _Meta(op.type, op.sub_type, op.name, op.parent_id)


def _why(op: OperationSnapshot) -> str | None:
    if op.error_type is None and op.error_message is None:
        return None
    return failure_text(op.error_type, op.error_message)
