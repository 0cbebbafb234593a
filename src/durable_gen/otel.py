"""OpenTelemetry tracing for durable_gen (optional extra: ``pip install 'durable-gen[otel]'``).

``OpenTelemetryPlugin`` turns the instrumentation hooks into spans: one per invocation, one per
operation started and ended in it, one per step attempt, each with the execution ARN and
operation id as attributes.
"""

from __future__ import annotations

from typing import Any

from ._plugins import AttemptInfo, InvocationInfo, OperationInfo, Plugin

__all__ = ["OpenTelemetryPlugin"]


def _trace() -> Any:
    try:
        from opentelemetry import trace
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "OpenTelemetryPlugin needs opentelemetry-api: pip install 'durable-gen[otel]'"
        ) from exc
    return trace


class OpenTelemetryPlugin(Plugin):
    """Records invocations, operations and step attempts as OpenTelemetry spans.

    Args:
        tracer_provider: The provider to take the tracer from (default: the global one).
    """

    def __init__(self, tracer_provider: Any = None) -> None:
        trace = _trace()
        self._tracer = trace.get_tracer("durable_gen", tracer_provider=tracer_provider)
        self._status = trace.StatusCode
        self._invocation: Any = None
        self._operations: dict[str, Any] = {}
        self._attempts: dict[tuple[str, int], Any] = {}

    def on_invocation_start(self, info: InvocationInfo) -> None:
        self._invocation = self._tracer.start_span(
            "durable_gen.invocation",
            attributes={"durable.execution_arn": info.execution_arn, "durable.first": info.first},
        )

    def on_invocation_end(self, info: InvocationInfo, status: str) -> None:
        span, self._invocation = self._invocation, None
        if span is not None:
            span.set_attribute("durable.status", status)
            if status == "FAILED":
                span.set_status(self._status.ERROR)
            span.end()

    def _child(self, name: str, attributes: dict[str, Any]) -> Any:
        ctx = None
        if self._invocation is not None:
            ctx = _trace().set_span_in_context(self._invocation)
        return self._tracer.start_span(name, context=ctx, attributes=attributes)

    def on_operation_start(self, op: OperationInfo) -> None:
        self._operations[op.operation_id] = self._child(
            f"durable_gen.{op.type.lower()}",
            {
                "durable.execution_arn": op.execution_arn,
                "durable.operation_id": op.operation_id,
                "durable.operation_type": op.type,
                "durable.sub_type": op.sub_type or "",
                "durable.name": op.name or "",
            },
        )

    def on_operation_end(self, op: OperationInfo, status: str) -> None:
        span = self._operations.pop(op.operation_id, None)
        if span is not None:
            span.set_attribute("durable.status", status)
            if status == "FAILED":
                span.set_status(self._status.ERROR)
            span.end()

    def on_attempt_start(self, attempt: AttemptInfo) -> None:
        self._attempts[(attempt.operation_id, attempt.attempt)] = self._child(
            "durable_gen.attempt",
            {
                "durable.execution_arn": attempt.execution_arn,
                "durable.operation_id": attempt.operation_id,
                "durable.name": attempt.name or "",
                "durable.attempt": attempt.attempt,
            },
        )

    def on_attempt_end(
        self, attempt: AttemptInfo, outcome: str, error: BaseException | None
    ) -> None:
        span = self._attempts.pop((attempt.operation_id, attempt.attempt), None)
        if span is not None:
            span.set_attribute("durable.outcome", outcome)
            if error is not None:
                span.record_exception(error)
                span.set_status(self._status.ERROR)
            span.end()
