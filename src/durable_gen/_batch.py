"""Map and Parallel results, and the completion-policy rules that decide a batch.

Pure data and arithmetic. The rules, in the order they are applied after every item completes:

1. Failure tolerance first: the batch is decided as ``FAILURE_TOLERANCE_EXCEEDED`` when failures
   exceed ``tolerated_failure_count``, or when failures as a percentage of *all* items exceed
   ``tolerated_failure_percentage`` (strictly greater). With no policy field set at all, the
   first failure decides it.
2. Then ``ALL_COMPLETED`` once every item completed, also when the last item to complete is
   the one whose success reaches ``min_successful`` (as AWS's SDKs decide it).
3. Then ``MIN_SUCCESSFUL_REACHED`` once successes reach ``min_successful`` with items left.
"""

from __future__ import annotations

from typing import Final, Generic, Literal, TypeVar

import msgspec

from ._arguments import checked
from ._commands import Completion
from ._errors import BatchFailedError, failure_text
from ._wire import ErrorObject

__all__ = ["BatchItem", "BatchResult", "CompletionReason", "decide"]

CompletionReason = Literal["ALL_COMPLETED", "MIN_SUCCESSFUL_REACHED", "FAILURE_TOLERANCE_EXCEEDED"]
T = TypeVar("T")
ItemStatus = Literal["SUCCEEDED", "FAILED", "STARTED", "NOT_STARTED"]

ALL_COMPLETED: Final = "ALL_COMPLETED"
MIN_SUCCESSFUL_REACHED: Final = "MIN_SUCCESSFUL_REACHED"
FAILURE_TOLERANCE_EXCEEDED: Final = "FAILURE_TOLERANCE_EXCEEDED"


def decide(
    policy: Completion | None, total: int, succeeded: int, failed: int
) -> CompletionReason | None:
    """The reason the batch is decided now, or None while it must go on."""
    if failed:
        if policy is None or (
            policy.min_successful is None
            and policy.tolerated_failure_count is None
            and policy.tolerated_failure_percentage is None
        ):
            return FAILURE_TOLERANCE_EXCEEDED
        if policy.tolerated_failure_count is not None and failed > policy.tolerated_failure_count:
            return FAILURE_TOLERANCE_EXCEEDED
        pct = policy.tolerated_failure_percentage
        if pct is not None and total and failed * 100 / total > pct:
            return FAILURE_TOLERANCE_EXCEEDED
    if succeeded + failed >= total:
        return ALL_COMPLETED
    if (
        policy is not None
        and policy.min_successful is not None
        and (succeeded >= policy.min_successful)
    ):
        return MIN_SUCCESSFUL_REACHED
    return None


class BatchItem(
    msgspec.Struct, Generic[T], frozen=True, kw_only=True, rename="camel", omit_defaults=True
):
    """One item or branch of a batch: its index, status, and result or error."""

    index: int
    status: ItemStatus
    result: T | None = None
    error: ErrorObject | None = None
    name: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.status == "SUCCEEDED"


class BatchResult(msgspec.Struct, Generic[T], frozen=True, kw_only=True, rename="camel"):
    """The outcome of a ``Map`` or ``Parallel``, items in index order whatever finished first.

    Item failures do not raise by themselves; call ``raise_if_failed()`` or read ``errors()``.
    """

    items: list[BatchItem[T]]
    completion_reason: CompletionReason

    @checked
    def results(self) -> list[T]:
        """Results of the items that succeeded, in index order."""
        return [i.result for i in self.items if i.status == "SUCCEEDED"]  # type: ignore[misc]

    @checked
    def all_results(self) -> list[T | None]:
        """One entry per item: its result, or None when it did not succeed."""
        return [i.result if i.status == "SUCCEEDED" else None for i in self.items]

    @checked
    def errors(self) -> list[ErrorObject]:
        """Errors of the items that failed, in index order."""
        return [i.error for i in self.items if i.status == "FAILED" and i.error is not None]

    @property
    def success_count(self) -> int:
        return sum(1 for i in self.items if i.status == "SUCCEEDED")

    @property
    def failure_count(self) -> int:
        return sum(1 for i in self.items if i.status == "FAILED")

    @property
    def started_count(self) -> int:
        """Items that started but were not waited for once the batch was decided."""
        return sum(1 for i in self.items if i.status == "STARTED")

    @property
    def not_started_count(self) -> int:
        return sum(1 for i in self.items if i.status == "NOT_STARTED")

    @property
    def total_count(self) -> int:
        return len(self.items)

    @property
    def has_failure(self) -> bool:
        return any(i.status == "FAILED" for i in self.items)

    @checked
    def raise_if_failed(self) -> None:
        """Raise ``BatchFailedError`` (with the first failure) if any item failed."""
        for item in self.items:
            if item.status == "FAILED":
                err = item.error or ErrorObject()
                raise BatchFailedError(
                    f"{self.failure_count} of {self.total_count} items failed; first: item "
                    f"{item.index}: {failure_text(err.error_type, err.error_message)}",
                    error_type=err.error_type,
                    error_data=err.error_data,
                )

    @checked
    def get_results(self) -> list[T]:
        """Results in index order; raise ``BatchFailedError`` if any item failed."""
        self.raise_if_failed()
        return self.results()
