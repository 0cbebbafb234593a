"""``LambdaService``: the ``DurableService`` protocol over boto3's ``lambda`` client.

It owns three things: turning boto3's shapes into our wire Structs (one conversion of
``datetime`` timestamps to epoch milliseconds, then ``msgspec.convert``), sorting boto3 errors
by who must act (``classify``), and retrying the transient ones with jittered exponential
backoff. Rejected requests are never retried here.
"""

from __future__ import annotations

import functools
import json
import math
import random
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final, TypeVar

import msgspec

from .._arguments import checked
from .._errors import (
    DurableGenError,
    ExecutionNotFoundError,
    InvalidCheckpointError,
    InvalidCheckpointTokenError,
    InvalidInputError,
    ServiceError,
    ValidationError,
    shown,
)
from .._paging import read_pages
from .._wire import (
    CheckpointResponse,
    ExecutionState,
    Operation,
    OperationUpdate,
    wire_enc_hook,
)
from ._client import (
    check_client,
    check_client_region,
    create_client,
    import_botocore_exceptions,
)

__all__ = ["LambdaService", "ServiceUnavailableError", "classify", "to_wire"]

T = TypeVar("T")

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND: Final = timedelta(milliseconds=1)

#: Error codes that mean "slow down": retried whatever their HTTP status.
_THROTTLING_CODES: Final = frozenset(
    {
        "TooManyRequestsException",
        "ThrottlingException",
        "Throttling",
        "ThrottledException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "RequestThrottledException",
        "SlowDown",
        "EC2ThrottledException",
    }
)
#: Error codes of a service-side fault: retried.
_SERVER_CODES: Final = frozenset(
    {"ServiceException", "InternalFailure", "InternalError", "ServiceUnavailable"}
)
#: Error codes of a request that timed out or met another in flight (botocore's transient
#: errors): retried, as botocore would retry them if its own retries were on.
_TRANSIENT_CODES: Final = frozenset(
    {"RequestTimeout", "RequestTimeoutException", "PriorRequestNotComplete"}
)
#: Error codes that no retry can fix although their HTTP status is 5xx (the function's KMS key
#: is missing, disabled or not usable by the service): the execution cannot go on.
_PERMANENT_CODES: Final = frozenset(
    {
        "KMSAccessDeniedException",
        "KMSDisabledException",
        "KMSInvalidStateException",
        "KMSNotFoundException",
    }
)
#: Error codes of a request the caller's role or credentials may not make (HTTP 403): a
#: configuration problem of the function, not of the updates.
_ACCESS_DENIED_CODES: Final = frozenset(
    {"AccessDeniedException", "AccessDenied", "UnrecognizedClientException"}
)
#: Statuses of the EXECUTION operation in a checkpoint reply that mean it ended from outside
#: its code (``StopDurableExecution``, its timeout) while the invocation ran.
_ENDED_FROM_OUTSIDE: Final = frozenset({"STOPPED", "TIMED_OUT"})
#: How the service words a stale or unknown checkpoint token.
_STALE_TOKEN_PREFIX: Final = "Invalid checkpoint token"


class ServiceUnavailableError(ServiceError):
    """The service kept failing with transient errors (throttling, 5xx, timeouts, lost
    connections) through every retry. Nothing was rejected: trying the invocation again later
    is the fix, and the Lambda handler lets the service do that."""


#: The most updates one CheckpointDurableExecution call carries (as AWS's SDK batches).
MAX_UPDATES_PER_CALL: Final = 250
#: The most bytes of JSON one call's updates take, non-ASCII characters escaped as botocore
#: sends them (as AWS's SDK batches); one larger update (a step result of up to 1 MiB) goes
#: alone.
MAX_BYTES_PER_CALL: Final = 750 * 1024


def _calls(updates: Sequence[OperationUpdate]) -> list[list[Any]]:
    """``updates`` as the ``Updates`` of one call or more, in order, within the limits above."""
    calls: list[list[Any]] = [[]]
    size = 0
    for update in updates:
        data = msgspec.to_builtins(update)
        encoded = _json.encode(data)
        # botocore sends the request as Python's json writes it, every non-ASCII character
        # escaped (six bytes for "é", twelve beyond the BMP); counted so, as AWS's SDK counts.
        n = len(encoded) if encoded.isascii() else len(json.dumps(data, separators=(",", ":")))
        if calls[-1] and (len(calls[-1]) >= MAX_UPDATES_PER_CALL or size + n > MAX_BYTES_PER_CALL):
            calls.append([])
            size = 0
        calls[-1].append(data)
        size += n
    return calls


_json: Final = msgspec.json.Encoder(enc_hook=wire_enc_hook)


def to_wire(value: Any) -> Any:
    """boto3 data with every ``datetime`` turned into integer epoch milliseconds.

    This is the one conversion between boto3's response shapes and ``durable_gen._wire``:
    boto3 parses the API's timestamps into ``datetime`` objects, our Structs (like the
    invocation event) carry integers. Dicts and lists are copied; everything else is shared.
    ``ResponseMetadata`` is dropped.
    """
    if isinstance(value, dict):
        # `"Operations": null` (a page without operations) reads as an empty page, as in AWS's
        # SDK.
        return {
            k: to_wire(v)
            for k, v in value.items()
            if k != "ResponseMetadata" and (v is not None or k != "Operations")
        }
    if isinstance(value, list):
        return [to_wire(v) for v in value]
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return (value - _EPOCH) // _MILLISECOND
    return value


def _decode(data: Any, shape: type[T], api: str) -> T:
    try:
        return msgspec.convert(to_wire(data), shape)
    except msgspec.ValidationError as exc:
        raise InvalidInputError(
            f"{api} returned execution state that durable_gen cannot read: {exc}. An operation "
            "is truncated or of a kind this version does not know; upgrade durable-gen if the "
            "service added new operation types"
        ) from exc


def classify(exc: BaseException, api: str) -> tuple[DurableGenError | None, bool]:
    """Sort an exception raised by a boto3 call: (our error, whether to retry it).

    Retried: throttling (429 or a throttling code), service faults (5xx), timeouts (a
    client-side timeout, HTTP 408, ``RequestTimeout``, ``PriorRequestNotComplete``) and
    connection errors. Not retried: a stale checkpoint token (``InvalidCheckpointTokenError``),
    an unknown execution (``ExecutionNotFoundError``), a request the function's role may not
    make (403, ``ValidationError`` naming the permission), any other rejected request
    (``InvalidCheckpointError`` for a checkpoint, ``ServiceError`` otherwise), KMS problems,
    missing credentials. The emulator reports errors as a ``ClientError`` whose code is the
    HTTP status, so the status decides whenever the code is not telling.

    Args:
        exc: What the boto3 call raised.
        api: The API name, for the message (``"CheckpointDurableExecution"``).

    Returns:
        ``(None, False)`` when ``exc`` is not a botocore error (a bug to let through).
    """
    bexc = import_botocore_exceptions()
    if isinstance(exc, bexc.ClientError):
        response: dict[str, Any] = getattr(exc, "response", None) or {}
        error = response.get("Error") or {}
        code = str(error.get("Code") or "")
        message = str(error.get("Message") or "")
        status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
        if not isinstance(status, int):
            status = int(code) if code.isdigit() else 0
        label = f"HTTP {status} {code}" if code and code != str(status) else f"HTTP {status}"
        what = f"{api} was refused ({label}): {message or 'no message'}"
        if code in _PERMANENT_CODES:
            return ServiceError(f"{what}. Check the function's KMS key and its permissions"), False
        if code in _THROTTLING_CODES or status == 429:
            return ServiceUnavailableError(f"{api} was throttled ({label}): {message}"), True
        if code in _TRANSIENT_CODES or status == 408:
            return ServiceUnavailableError(f"{api} timed out ({what})"), True
        if code in _SERVER_CODES or status >= 500:
            return ServiceUnavailableError(f"{api} failed on the service side ({what})"), True
        if message.startswith(_STALE_TOKEN_PREFIX):
            return (
                InvalidCheckpointTokenError(
                    f"{what}. Only the newest checkpoint token is accepted: another invocation "
                    "of this execution may have taken over, or a checkpoint was already "
                    "applied. The invocation must start again from the recorded state"
                ),
                False,
            )
        if code in _ACCESS_DENIED_CODES or status == 403:
            if code not in ("AccessDeniedException", "AccessDenied", str(status)):
                return (  # InvalidSignatureException, UnrecognizedClientException, ...
                    ValidationError(
                        f"{what}. The service does not accept the credentials the request was "
                        "signed with: check the credentials (on Lambda, the execution role's), "
                        "the client's region and the clock"
                    ),
                    False,
                )
            return (
                ValidationError(
                    f"{what}. The function's credentials (on Lambda, its execution role) may "
                    f"not call lambda:{api}: grant lambda:CheckpointDurableExecution and "
                    "lambda:GetDurableExecutionState on the function's versions "
                    "(arn:aws:lambda:<region>:<account>:function:"
                    "<name>:*), as the managed policy AWSLambdaBasicDurableExecutionRolePolicy "
                    "does; the execution goes on from what it recorded once the role allows it"
                ),
                False,
            )
        if code == "ResourceNotFoundException" or status == 404:
            return ExecutionNotFoundError(f"{what}. The execution does not exist (any more)"), False
        if api == "CheckpointDurableExecution":
            return (
                InvalidCheckpointError(f"{what}. The service does not accept these updates"),
                False,
            )
        return ServiceError(what), False
    if isinstance(exc, (bexc.NoCredentialsError, bexc.PartialCredentialsError)):
        return (
            ValidationError(
                f"{api} could not be signed: no usable AWS credentials ({exc}). On Lambda they "
                "come from the execution role; elsewhere set AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY or AWS_PROFILE"
            ),
            False,
        )
    if isinstance(exc, bexc.NoRegionError):
        return ValidationError(f"{api}: no AWS region; set AWS_REGION or pass region="), False
    if isinstance(exc, (bexc.HTTPClientError, bexc.ConnectionError)):
        return ServiceUnavailableError(f"{api} did not get an answer: {exc}"), True
    if isinstance(exc, bexc.ParamValidationError):
        return (
            InvalidCheckpointError(f"{api}: the request does not match the API: {exc}"),
            False,
        )
    if isinstance(exc, bexc.BotoCoreError):
        return ServiceError(f"{api} failed: {exc}"), False
    return None, False


class LambdaService:
    """A ``DurableService`` that talks to the Lambda durable-execution API through boto3.

    Transient failures (throttling, 5xx, timeouts, connection errors) are retried up to
    ``max_attempts`` calls in all, sleeping a random time in ``[0, min(max_delay,
    base_delay * 2 ** (n - 1))]`` before retry ``n`` (full jitter). Each checkpoint carries a
    ``ClientToken`` that stays the same across its retries, so the service can recognise a
    retry of a checkpoint it already applied. Rejected requests raise at once.

    Args:
        client: A boto3 ``lambda`` client. Default: one created by ``create_client(region)``
            (botocore retries off, short timeouts); creating it checks region and credentials.
        region: The region of the client created when ``client`` is not given.
        max_attempts: Calls per request, the first included.
        base_delay: Seconds of the first backoff bound.
        max_delay: Upper bound of a backoff, in seconds.
        page_size: ``MaxItems`` of ``GetDurableExecutionState`` (None: the service default).
        sleep: How to wait between attempts (tests pass a recorder).
        rng: A source of floats in [0, 1) for the jitter.

    Raises:
        ImportError: boto3 is needed (no client given) and not installed.
        ValidationError: no region or credentials for the client to create, or a
            ``client`` that is not a boto3 ``lambda`` client with the durable-execution API.
    """

    @checked
    def __init__(
        self,
        client: Any | None = None,
        *,
        region: str | None = None,
        max_attempts: int = 5,
        base_delay: float = 0.1,
        max_delay: float = 2.0,
        page_size: int | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: Callable[[], float] = random.random,
    ) -> None:
        if isinstance(max_attempts, bool) or not isinstance(max_attempts, int) or max_attempts < 1:
            raise ValidationError(
                f"max_attempts must be an int of at least 1, got {shown(max_attempts)}"
            )
        for option, delay in (("base_delay", base_delay), ("max_delay", max_delay)):
            if (
                isinstance(delay, bool)
                or not isinstance(delay, int | float)
                or not 0 <= delay < math.inf
            ):
                raise ValidationError(
                    f"{option} is seconds between retries of a throttled call: a finite number "
                    f"that must not be negative, got {shown(delay)}"
                )
        if page_size is not None and (
            isinstance(page_size, bool)
            or not isinstance(page_size, int)
            or not 1 <= page_size <= 1000
        ):
            raise ValidationError(
                f"page_size must be an int between 1 and 1000 (or None), got {shown(page_size)}"
            )
        for option, function, shape in (
            ("sleep", sleep, "seconds -> None, such as time.sleep"),
            ("rng", rng, "() -> a float in [0, 1), such as random.random"),
        ):
            if not callable(function):  # else found only at the first retry, mid-invocation
                raise ValidationError(
                    f"{option} must be a function ({shape}), got {shown(function)}"
                )
        if region is not None and not isinstance(region, str):
            raise ValidationError(
                f"region must be an AWS region name such as 'us-east-1', got {shown(region)}"
            )
        if client is not None:
            check_client(client)
            check_client_region(client, region)
        self.client: Any = client if client is not None else create_client(region)
        self.max_attempts = max_attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.page_size = page_size
        self._sleep = sleep
        self._rng = rng

    def checkpoint(
        self,
        execution_arn: str,
        checkpoint_token: str,
        updates: Sequence[OperationUpdate],
    ) -> CheckpointResponse:
        """Send ``updates`` with ``checkpoint_token``; the new token and the changed operations.

        A batch of more than ``MAX_UPDATES_PER_CALL`` updates or ``MAX_BYTES_PER_CALL`` bytes
        goes out in several calls, in order, each with the token the one before returned (an
        update larger than that alone goes in a call of its own); the reply joins theirs. If a
        later call fails, the earlier ones are recorded: a prefix of the batch, in order. A reply
        showing the execution stopped or timed out ends the batch there: nothing more is sent,
        and the reply joins those of the calls made.

        Raises:
            InvalidCheckpointTokenError: the token is not the newest one.
            InvalidCheckpointError: the service refused the updates.
            ExecutionNotFoundError: the execution does not exist.
            ServiceUnavailableError: transient errors through every retry.
            InvalidInputError: the reply holds operations durable_gen cannot read.
        """
        api = "CheckpointDurableExecution"
        calls = _calls(updates)
        changed: dict[str, Operation] = {}  # by id, the newest version of each
        token = checkpoint_token
        for n, part in enumerate(calls, 1):
            reply = self._call(
                api,
                self.client.checkpoint_durable_execution,
                DurableExecutionArn=execution_arn,
                CheckpointToken=token,
                Updates=part,
                ClientToken=uuid.uuid4().hex,
            )
            response = _decode(reply, CheckpointResponse, api)
            if n == len(calls) == 1:
                return response  # the driver reads any further pages itself
            state = response.new_execution_state
            operations = state.operations
            if response.checkpoint_token is None:  # paused: the rest cannot be sent
                changed.update((op.id, op) for op in operations)
                return CheckpointResponse(
                    new_execution_state=ExecutionState(operations=list(changed.values()))
                )
            token = response.checkpoint_token
            if state.next_marker:  # its pages now, while its token is the newest
                operations = read_pages(
                    state, functools.partial(self.get_state, execution_arn, token)
                )
            changed.update((op.id, op) for op in operations)
            if n < len(calls) and any(
                op.type == "EXECUTION" and op.status in _ENDED_FROM_OUTSIDE for op in operations
            ):
                break  # stopped or timed out meanwhile: the rest would be refused
        return CheckpointResponse(
            checkpoint_token=token,
            new_execution_state=ExecutionState(operations=list(changed.values())),
        )

    def get_state(self, execution_arn: str, checkpoint_token: str, marker: str) -> ExecutionState:
        """The page of operations that starts at ``marker``.

        Raises:
            ServiceError: the service refused the request (or ``ServiceUnavailableError``).
            InvalidInputError: the page holds operations durable_gen cannot read.
        """
        api = "GetDurableExecutionState"
        params: dict[str, Any] = {
            "DurableExecutionArn": execution_arn,
            "CheckpointToken": checkpoint_token,
            "Marker": marker,
        }
        if self.page_size is not None:
            params["MaxItems"] = self.page_size
        reply = self._call(api, self.client.get_durable_execution_state, **params)
        return _decode(reply, ExecutionState, api)

    def backoff(self, retry: int) -> float:
        """Seconds to sleep before retry number ``retry`` (1-based), jittered."""
        bound = min(self.max_delay, self.base_delay * 2.0 ** (retry - 1))
        return bound * self._rng()

    def _call(self, api: str, method: Callable[..., Any], **params: Any) -> Any:
        attempt = 1
        while True:
            try:
                return method(**params)
            except Exception as exc:
                error, retryable = classify(exc, api)
                if error is None:
                    raise
                if not retryable:
                    raise error from exc
                if attempt >= self.max_attempts:
                    raise ServiceUnavailableError(
                        f"{error} (gave up after {attempt} attempts)"
                    ) from exc
                self._sleep(self.backoff(attempt))
                attempt += 1
