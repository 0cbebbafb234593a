"""Creating the boto3 ``lambda`` client: the one place boto3 is imported.

boto3 is an optional dependency (the ``aws`` extra), imported only when a client is created.
Missing configuration (region, credentials) is reported here, when the client is made, rather
than as a signing error halfway through an invocation.
"""

from __future__ import annotations

import os
from typing import Any, Final

from .._arguments import checked
from .._errors import ValidationError, shown

__all__ = ["check_client", "create_client", "import_botocore_exceptions"]

#: Connect and read timeouts of the client durable_gen creates. Checkpoint calls are small and
#: quick; a stuck connection is better retried than waited on until the function times out.
CONNECT_TIMEOUT: Final = 3.0
READ_TIMEOUT: Final = 15.0

_INSTALL_HINT: Final = "durable_gen.aws needs boto3: pip install 'durable-gen[aws]'"


def _import_boto3() -> Any:
    try:
        import boto3
    except ImportError as exc:
        raise ImportError(_INSTALL_HINT) from exc
    return boto3


def import_botocore_exceptions() -> Any:
    """The ``botocore.exceptions`` module, with the install hint when it is missing."""
    try:
        from botocore import exceptions
    except ImportError as exc:
        raise ImportError(_INSTALL_HINT) from exc
    return exceptions


#: The durable-execution methods of boto3's ``lambda`` client (boto3 1.42 or later).
_DURABLE_METHODS: Final = ("checkpoint_durable_execution", "get_durable_execution_state")


def check_client_region(client: object, region: str | None) -> None:
    """A ``ValidationError`` when ``region=`` is given with a ``client=`` made for another
    region (or with a client that has none): ``region`` names the region of a client to
    create, and a given client is used as it is, so the two would silently disagree."""
    if region is None:
        return
    made_for = getattr(getattr(client, "meta", None), "region_name", None)
    if region != made_for:
        raise ValidationError(
            f"region={region!r} names the region of the client to create, but client= is "
            f"given (a client made for {made_for!r}), which is used as it is: leave region= "
            "out, or create the client for that region (boto3.client('lambda', "
            "region_name=...))"
        )


def check_client(client: object, option: str = "client") -> None:
    """A ``ValidationError`` unless ``client`` can checkpoint: a boto3 ``lambda`` client with
    the durable-execution API, or an object with its ``checkpoint_durable_execution`` method
    (a test double; ``get_durable_execution_state`` is needed only when the state is paged).

    Checked where the handler or service is built: a wrong client found at the first
    checkpoint would fail after a step had run, leaving nothing of it recorded.
    """
    model = getattr(getattr(client, "meta", None), "service_model", None)
    service_name = getattr(model, "service_name", None)
    if isinstance(service_name, str):  # a botocore client: of which service, how recent
        if service_name != "lambda":
            raise ValidationError(
                f"{option} must be a boto3 'lambda' client, got a client of {service_name!r}: "
                "pass boto3.client('lambda') (or leave it out to have one created)"
            )
        missing = [m for m in _DURABLE_METHODS if not callable(getattr(client, m, None))]
        if missing:
            raise ValidationError(
                f"{option} is a boto3 'lambda' client without the durable-execution API "
                f"({', '.join(missing)}): its botocore is older than the first release with "
                "it; install boto3 1.42 or later (pip install 'durable-gen[aws]')"
            )
        return
    if not callable(getattr(client, _DURABLE_METHODS[0], None)):
        raise ValidationError(
            f"{option} must be a boto3 'lambda' client (boto3.client('lambda')), or an object "
            f"with its checkpoint_durable_execution and get_durable_execution_state methods; "
            f"got {type(client).__name__} {shown(client, 80)}"
        )


@checked
def create_client(region: str | None = None) -> Any:
    """A boto3 ``lambda`` client for the durable-execution API.

    The region is ``region``, else the one boto3 finds (``AWS_DEFAULT_REGION``, the config
    file), else ``AWS_REGION``. The endpoint follows boto3's usual settings
    (``AWS_ENDPOINT_URL_LAMBDA``, ``AWS_ENDPOINT_URL``). botocore's own retries are turned off:
    ``LambdaService`` retries transient errors itself, with a checkpoint-aware policy.

    Args:
        region: The AWS region (default: from the environment).

    Raises:
        ImportError: boto3 is not installed.
        ValidationError: no region or no credentials could be found, the region or the
            endpoint is malformed, or boto3 cannot use the AWS configuration (a missing
            profile, a file it cannot parse).
    """
    boto3 = _import_boto3()
    from botocore.exceptions import BotoCoreError

    if region is not None and not isinstance(region, str):
        raise ValidationError(
            f"region must be an AWS region name such as 'us-east-1', got {region!r}"
        )
    try:
        return _create(boto3, region)
    except BotoCoreError as exc:  # the AWS configuration itself: a profile, a file, an option
        raise ValidationError(
            f"the AWS configuration cannot be used for the durable-execution client: {exc}. "
            "It comes from the AWS_* environment variables (AWS_PROFILE, AWS_CONFIG_FILE, "
            "AWS_SHARED_CREDENTIALS_FILE, ...) and the files they name (~/.aws/config, "
            "~/.aws/credentials): fix or unset the setting it names, or pass a ready client="
        ) from exc


def _create(boto3: Any, region: str | None) -> Any:
    from botocore.config import Config

    session = boto3.session.Session()
    if region:
        source = "region="
    elif session.region_name:
        region, source = session.region_name, "AWS_DEFAULT_REGION or the AWS config file"
    else:
        region, source = os.environ.get("AWS_REGION"), "AWS_REGION"
    if not region:
        raise ValidationError(
            "no AWS region is configured for the durable-execution client: set AWS_REGION "
            "(Lambda sets it for every function) or AWS_DEFAULT_REGION, or pass region= "
            "(or a ready client=) to lambda_handler / LambdaService"
        )
    if session.get_credentials() is None:
        raise ValidationError(
            "no AWS credentials were found for the durable-execution client: on Lambda they "
            "come from the function's execution role; elsewhere set AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY (or AWS_PROFILE), or pass a ready client="
        )
    config = Config(
        connect_timeout=CONNECT_TIMEOUT,
        read_timeout=READ_TIMEOUT,
        retries={"mode": "standard", "total_max_attempts": 1},
        user_agent_appid="durable-gen",
    )
    from botocore.exceptions import InvalidRegionError

    if region != region.lower():  # botocore takes it, and every signed call is then refused
        raise ValidationError(
            f"the AWS region {region!r} (from {source}) is not a region name: region names "
            f"are lowercase, such as {region.lower()!r}"
        )
    try:
        return session.client("lambda", region_name=region, config=config)
    except InvalidRegionError as exc:
        raise ValidationError(
            f"the AWS region {region!r} (from {source}) is not a region name such as "
            "'us-east-1': check it for typos and stray spaces"
        ) from exc
    except ValueError as exc:  # botocore: "Invalid endpoint: ..."
        raise ValidationError(
            f"the durable-execution client cannot be created: {exc}. The endpoint comes from "
            "AWS_ENDPOINT_URL_LAMBDA or AWS_ENDPOINT_URL (or the AWS config file): set it to "
            "a URL such as 'http://127.0.0.1:5000', or unset it to use AWS's"
        ) from exc
