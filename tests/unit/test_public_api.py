"""The public surface is pinned: adding or removing a name must be a deliberate change."""

from __future__ import annotations

import pathlib

import durable_gen

DOCS = pathlib.Path(__file__).resolve().parents[2] / "docs"

EXPECTED = {
    "AT_LEAST_ONCE",
    "AT_MOST_ONCE",
    "ArgumentError",
    "BatchFailedError",
    "BatchItem",
    "BatchResult",
    "Branch",
    "CallbackError",
    "CallbackFailedError",
    "CallbackHandle",
    "CallbackTimeoutError",
    "CheckpointMode",
    "Child",
    "ChildFailedError",
    "Command",
    "CompensationResult",
    "Completion",
    "CreateCallback",
    "DurableGenError",
    "ExecutionFailedError",
    "ExecutionNotFoundError",
    "ExecutionSuspendedError",
    "FunctionNotRegisteredError",
    "InvalidCheckpointError",
    "InvalidCheckpointTokenError",
    "InvalidInputError",
    "Invoke",
    "InvokeFailedError",
    "JsonSerdes",
    "Map",
    "NonDeterminismError",
    "OperationError",
    "Parallel",
    "PayloadTooLargeError",
    "ReplayAwareLogger",
    "Retry",
    "RunCompensations",
    "Serdes",
    "SerializationError",
    "ServiceError",
    "Step",
    "StepFailedError",
    "StepFunction",
    "StepInterruptedError",
    "StepTimeoutError",
    "UnknownCallbackError",
    "UnyieldedCommandWarning",
    "ValidationError",
    "Wait",
    "WaitConditionNotMetError",
    "WaitDecision",
    "WaitForCallback",
    "WaitForCondition",
    "WaitStrategy",
    "Workflow",
    "WorkflowDefinitionError",
    "__version__",
    "get_logger",
    "logger",
    "run",
    "step",
    "workflow",
    "Plugin",
    "Patched",
    "Deprecated",
    "Now",
    "UUID",
    "Random",
    "lambda_handler",
    "StoreError",
}

SUBPACKAGES = {
    "durable_gen.local": {
        "Clock",
        "DamagedRecordError",
        "ExecutionRecord",
        "ExecutionStore",
        "LeaseLostError",
        "LocalService",
        "MemoryStore",
        "PostgresStore",
        "RealClock",
        "SqliteStore",
        "StoreUnavailableError",
        "VirtualClock",
        "Worker",
        "open_store",
        "register_function",
        "run",
        "workflow_name",
    },
    "durable_gen.testing": {
        "Crash",
        "CrashSchedule",
        "DeterminismCheck",
        "Divergence",
        "DurableRun",
        "History",
        "HistorySource",
        "OperationView",
        "ReplayReport",
        "ReplayStatus",
        "RunSummary",
        "TestRunner",
        "assert_deterministic",
        "current_attempt",
        "load_history",
        "operations_from_events",
        "replay",
        "replay_folder",
    },
    "durable_gen.runtime": {
        "Action",
        "Applied",
        "CallbackDetails",
        "CallbackOptions",
        "ChainedInvokeDetails",
        "ChainedInvokeOptions",
        "CheckpointMode",
        "CheckpointResponse",
        "ContextDetails",
        "ContextOptions",
        "Coverage",
        "Done",
        "DurableService",
        "ErrorObject",
        "ExecutionDetails",
        "ExecutionState",
        "Failed",
        "Flush",
        "Interpreter",
        "InvocationHandler",
        "InvocationInput",
        "InvocationOutput",
        "InvokeRequest",
        "Operation",
        "OperationUpdate",
        "Outcome",
        "RunTasks",
        "StepCall",
        "StepDetails",
        "StepOptions",
        "StepTask",
        "Succeeded",
        "Suspended",
        "Timer",
        "VirtualContextEvent",
        "WaitDetails",
        "WaitForTasks",
        "WaitOptions",
        "apply_updates",
        "complete_callback",
        "complete_invoke",
        "fire_timer",
        "heartbeat_callback",
        "invoke",
        "invoke_async",
        "make_handler",
        "run_step_call",
    },
    "durable_gen.otel": {"OpenTelemetryPlugin", "OtelView", "trace_id_of"},
    "durable_gen.telemetry": {"RECORD_TYPE", "SCHEMA_VERSION", "TelemetryPlugin"},
    "durable_gen.plugins": {
        "AttemptInfo",
        "ExecutionInfo",
        "InvocationInfo",
        "OperationInfo",
        "OperationSnapshot",
        "Plugin",
    },
    "durable_gen.aws": {
        "LambdaHandler",
        "LambdaService",
        "ServiceUnavailableError",
        "create_client",
        "lambda_handler",
        "parse_event",
    },
}


def test_public_names_are_pinned() -> None:
    assert set(durable_gen.__all__) == EXPECTED
    for name in durable_gen.__all__:
        assert hasattr(durable_gen, name), name


def test_every_public_name_is_documented() -> None:
    text = "\n".join(p.read_text() for p in DOCS.glob("*.md"))
    missing = [n for n in durable_gen.__all__ if n != "__version__" and f"`{n}" not in text]
    assert not missing, f"document these public names in docs/: {missing}"
    api = (DOCS / "api.md").read_text()  # "every public name of durable_gen, in one place"
    unlisted = [n for n in durable_gen.__all__ if n != "__version__" and f"`{n}`" not in api]
    assert not unlisted, f"list these public names in docs/api.md: {unlisted}"


def test_subpackage_names_are_pinned_and_documented() -> None:
    import importlib

    text = "\n".join(p.read_text() for p in DOCS.glob("*.md"))
    for module_name, names in SUBPACKAGES.items():
        module = importlib.import_module(module_name)
        assert set(module.__all__) == names, module_name
        missing = [n for n in names if f"`{n}" not in text]
        assert not missing, f"document these names of {module_name} in docs/: {missing}"


def test_moved_names_still_resolve_at_the_top_level() -> None:
    import durable_gen.plugins
    import durable_gen.runtime

    for name, home in durable_gen._MOVED.items():
        module = durable_gen.runtime if home == "durable_gen.runtime" else durable_gen.plugins
        assert getattr(durable_gen, name) is getattr(module, name), name
        assert name not in durable_gen.__all__
