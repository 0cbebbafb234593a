"""docs/migration.md maps AWS's SDK to durable_gen: each mapping is checked against AWS's SDK.

A port is written from that table, so every name it gives must exist in AWS's SDK, every
default it quotes must be AWS's, and every translation must decide as AWS's SDK does.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest

import durable_gen as dg

aws = pytest.importorskip("aws_durable_execution_sdk_python")

from aws_durable_execution_sdk_python import config as aws_config  # noqa: E402
from aws_durable_execution_sdk_python import exceptions as aws_exceptions  # noqa: E402
from aws_durable_execution_sdk_python import retries as aws_retries  # noqa: E402
from aws_durable_execution_sdk_python import waits as aws_waits  # noqa: E402
from aws_durable_execution_sdk_python.concurrency.models import (  # noqa: E402
    BatchItem as AwsBatchItem,
)
from aws_durable_execution_sdk_python.concurrency.models import (  # noqa: E402
    BatchResult as AwsBatchResult,
)
from aws_durable_execution_sdk_python.concurrency.models import (  # noqa: E402
    CompletionReason,
)
from aws_durable_execution_sdk_python.config import BatchItemStatus  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
PAGE = (ROOT / "docs" / "migration.md").read_text()


def _block_defining(name: str) -> dict[str, Any]:
    """Run the page's python block that defines ``name`` and return its namespace."""
    for code in re.findall(r"^```python\n(.*?)^```", PAGE, re.S | re.M):
        if re.search(rf"^{name} = ", code, re.M):
            namespace: dict[str, Any] = {}
            exec(compile(code, "docs/migration.md", "exec"), namespace)
            return namespace
    raise AssertionError(f"docs/migration.md has no python block defining {name}")


ERRORS: list[BaseException] = [
    TimeoutError("read timed out"),
    ConnectionError("reset"),
    ValueError("request throttled by the service"),
    ValueError("Throttled"),  # a substring match is case-sensitive
    RuntimeError("HTTP 503 from upstream"),
    RuntimeError("HTTP 5xx"),
    KeyError("HTTP 404"),
    RuntimeError("thr.ttled"),  # a string filter is not a regular expression
]


def test_the_ported_retry_policy_decides_as_aws_does() -> None:
    ported: dg.Retry = _block_defining("ported_retry")["ported_retry"]
    theirs = aws_retries.create_retry_strategy(
        aws_retries.RetryStrategyConfig(
            max_attempts=4,
            initial_delay=aws_config.Duration.from_seconds(2),
            max_delay=aws_config.Duration.from_minutes(1),
            backoff_rate=3,
            jitter_strategy=aws_config.JitterStrategy.HALF,
            retryable_errors=["throttled", re.compile(r"HTTP 5\d\d")],
            retryable_error_types=[TimeoutError],
        )
    )
    for error in ERRORS:
        for attempt in range(1, 6):
            decision = theirs(error, attempt)  # type: ignore[arg-type]
            assert ported.should_retry(attempt, error) == decision.should_retry, (error, attempt)
            if decision.should_retry:
                # HALF jitter: AWS's delay lies in [base/2, base], rounded up; so does ours.
                low, high = ported.delay(attempt, 0.0), ported.delay(attempt, 0.999999)
                assert low <= decision.delay_seconds <= high, (attempt, low, high)


def test_retry_defaults_quoted_for_aws_are_aws_s() -> None:
    # "RetryStrategyConfig's own defaults (3 attempts, 5 min largest delay)"
    cfg = aws_retries.RetryStrategyConfig()
    assert cfg.max_attempts == 3 and cfg.max_delay_seconds == 300
    # "AWS's default preset, which has dg.Retry()'s defaults (6 attempts, 5 s, x2, 60 s, full)"
    preset = aws_retries.RetryPresets.default()
    ours = dg.Retry()
    assert (ours.max_attempts, ours.initial_delay, ours.backoff, ours.max_delay, ours.jitter) == (
        6,
        5,
        2.0,
        60,
        "full",
    )
    error = RuntimeError("any")
    for attempt in range(1, 8):
        decision = preset(error, attempt)
        assert decision.should_retry == ours.should_retry(attempt, error), attempt
        if decision.should_retry:
            assert 1 <= decision.delay_seconds <= ours.delay(attempt, 0.999999)


def test_wait_strategy_defaults_quoted_for_aws_are_aws_s() -> None:
    cfg: Any = aws_waits.WaitStrategyConfig(should_continue_polling=lambda s: True)
    assert (cfg.max_attempts, cfg.backoff_rate) == (60, 1.5)
    assert cfg.jitter_strategy is aws_config.JitterStrategy.FULL  # "full by default"
    ours = dg.WaitStrategy(until=lambda s: False)
    assert (ours.max_attempts, ours.backoff) == (None, 1.0)
    # "dg.WaitStrategy waits exactly its delay": no jitter, as AWS's with jitter NONE.
    theirs: Any = aws_waits.create_wait_strategy(
        aws_waits.WaitStrategyConfig[Any](
            should_continue_polling=lambda s: True,
            max_attempts=100,
            initial_delay=aws_config.Duration.from_seconds(3),
            max_delay=aws_config.Duration.from_seconds(40),
            backoff_rate=1.7,
            jitter_strategy=aws_config.JitterStrategy.NONE,
        )
    )
    mine = dg.WaitStrategy(until=lambda s: False, delay=3, max_delay=40, backoff=1.7)
    for attempt in range(1, 12):
        assert mine(None, attempt) == dg.WaitDecision.again(theirs(None, attempt).delay_seconds)


@pytest.mark.parametrize("preset", ["first_successful", "all_completed", "all_successful"])
def test_completion_presets_have_aws_s_fields(preset: str) -> None:
    theirs = getattr(aws_config.CompletionConfig, preset)()
    ours = getattr(dg.Completion, preset)()
    for field in ("min_successful", "tolerated_failure_count", "tolerated_failure_percentage"):
        assert getattr(ours, field) == getattr(theirs, field), (preset, field)


def test_completion_config_fields_are_dg_completion_s() -> None:
    theirs = {f.name for f in dataclasses.fields(aws_config.CompletionConfig)}
    assert theirs - {"should_complete"} == set(dg.Completion.__struct_fields__)


@pytest.mark.parametrize(
    ("theirs", "ours"),
    [
        ("StepError", dg.StepFailedError),
        ("InvokeError", dg.InvokeFailedError),
        ("ChildContextError", dg.ChildFailedError),
        ("CallbackTimeoutError", dg.CallbackTimeoutError),
        ("CallbackExternalError", dg.CallbackFailedError),
        ("CallbackSubmitterError", dg.CallbackFailedError),
    ],
)
def test_the_exception_rows_name_aws_s_exceptions(theirs: str, ours: type[Exception]) -> None:
    assert isinstance(getattr(aws_exceptions, theirs), type)
    if ours is not dg.StepFailedError and ours is not dg.InvokeFailedError:
        assert issubclass(ours, dg.OperationError)
    if theirs.startswith("Callback"):
        assert issubclass(ours, dg.CallbackError)  # "dg.CallbackError catches all three"


def test_the_config_rows_name_aws_s_options() -> None:
    def fields(cls: Any) -> set[str]:
        return {f.name for f in dataclasses.fields(cls)}

    assert aws_config.StepSemantics.AT_MOST_ONCE_PER_RETRY
    assert aws_config.NestingType.FLAT
    assert {"tenant_id"} <= fields(aws_config.InvokeConfig)
    assert {"is_virtual", "summary_generator"} <= fields(aws_config.ChildConfig)
    assert {"item_serdes", "serdes", "summary_generator", "item_namer", "nesting_type"} <= fields(
        aws_config.MapConfig
    )
    assert {"summary_generator", "nesting_type"} <= fields(aws_config.ParallelConfig)
    assert {"timeout"} <= fields(aws_config.CallbackConfig)
    for decorator in (
        "durable_step",
        "durable_with_child_context",
        "durable_wait_for_callback",
        "durable_parallel_branch",
    ):
        assert callable(getattr(aws, decorator)), decorator


def _aws_batch() -> AwsBatchResult[int]:
    items = [
        AwsBatchItem(0, BatchItemStatus.SUCCEEDED, result=1),
        AwsBatchItem(1, BatchItemStatus.FAILED, result=None),
        AwsBatchItem(2, BatchItemStatus.STARTED, result=None),
    ]
    return AwsBatchResult(items, CompletionReason.FAILURE_TOLERANCE_EXCEEDED)


def test_the_batch_rows_name_aws_s_methods() -> None:
    batch = _aws_batch()
    for method in ("throw_if_error", "get_results", "get_errors", "succeeded", "failed", "started"):
        assert callable(getattr(batch, method)), method
    # "AWS's [get_results] returns the results of the items that succeeded" (no raise)
    assert batch.get_results() == [1]
    # "AWS's [total_count holds] only the items started"
    assert batch.total_count == len(batch.all) == 3


def test_dg_batch_counterparts_behave_as_the_rows_say() -> None:
    def item(x: int) -> int:
        if x == 1:
            raise ValueError("one")
        return x

    @dg.workflow
    def batch(_: None) -> dg.Workflow[dict[str, Any]]:
        result = yield from dg.Map(item, [0, 1, 2], completion=dg.Completion.all_completed())
        try:
            result.get_results()
            raised = False
        except dg.BatchFailedError:
            raised = True
        return {
            "results": result.results(),
            "raised": raised,
            "started": result.success_count + result.failure_count + result.started_count,
            "total": result.total_count,
        }

    out = dg.run(batch, None, skip_time=True)
    assert out == {"results": [0, 2], "raised": True, "started": 3, "total": 3}


def test_what_replays_today_counts_the_corpus() -> None:
    """ "51 executions ... all 51 histories, all 51 final states and all 586 in-flight prefixes"
    are the corpus's counts (the replays themselves are tests/interop/test_replay_aws.py)."""
    from tests.interop import _support as support
    from tests.interop.workflows import CASES

    section = PAGE.split("## What replays today", 1)[1].split("\n## ", 1)[0]
    text = " ".join(section.split())
    found = re.search(
        r"\((\d+) executions recorded by AWS's Python SDK.*?all (\d+) histories, all (\d+) final "
        r"states and all (\d+) in-flight prefixes replay",
        text,
    )
    assert found, "the paragraph that counts the corpus changed: update this test"
    executions, histories, states, prefixes = map(int, found.groups())
    assert executions == histories == states == len(CASES)
    assert prefixes == sum(len(list(support.prefixes(case))) for case in CASES)
