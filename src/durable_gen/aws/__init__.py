"""Run durable_gen workflows as AWS Lambda durable functions.

``lambda_handler(workflow)`` is the function's handler; ``LambdaService`` is the
``DurableService`` it checkpoints through, over boto3's ``lambda`` client. boto3 is imported
only when a client is created (``pip install 'durable-gen[aws]'``). See ``docs/lambda.md``.
"""

from ._client import create_client as create_client
from ._handler import LambdaHandler as LambdaHandler
from ._handler import lambda_handler as lambda_handler
from ._handler import parse_event as parse_event
from ._service import LambdaService as LambdaService
from ._service import ServiceUnavailableError as ServiceUnavailableError

__all__ = [
    "LambdaHandler",
    "LambdaService",
    "ServiceUnavailableError",
    "create_client",
    "lambda_handler",
    "parse_event",
]
