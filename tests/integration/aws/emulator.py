"""Run Lambda durable-function handlers against AWS's local durable-execution emulator.

Two pieces, both bound to 127.0.0.1 only:

* :class:`LambdaEndpoint` -- a tiny threaded HTTP server that speaks the
  Lambda ``Invoke`` API (``POST /2015-03-31/functions/{name}/invocations``)
  and dispatches each request to a Python handler registered by function name.
* :class:`Emulator` -- a ``dex-local-runner start-server`` subprocess (from the
  ``aws-durable-execution-sdk-python-testing`` package) pointed at a
  ``LambdaEndpoint``, plus a boto3 ``lambda`` client configured for it and
  helpers to start executions, wait for them, and read history.

The emulator plays the durable-execution service: it starts executions, sends
each handler invocation to the endpoint, serves the handler's checkpoint and
state calls, fires timers and accepts callback completions. Handlers are
called in-process (on the endpoint's request threads), so they can use
``emulator.client`` for their checkpoint calls.

This module deliberately does not import ``durable_gen``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple
from urllib.parse import parse_qs, unquote, urlsplit

LOOPBACK = "127.0.0.1"
REGION = "us-west-2"
ACCOUNT_ID = "123456789012"
TERMINAL_STATUSES = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "STOPPED"})

# Environment every boto3 client in the emulator process sees: fixed dummy
# credentials and no profile / metadata lookups, so nothing leaves the host.
_DUMMY_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "AWS_EC2_METADATA_DISABLED": "true",
}
_SCRUBBED_ENV = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_LAMBDA",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
)

Handler = Callable[[dict[str, Any], "InvocationContext"], Any]

# Used instead of ``python -m ...cli`` when a setting the CLI has no flag for
# is asked for: the module-level default is replaced before the CLI runs.
# ``sys.argv[1]`` is a JSON object of overrides.
_OVERRIDES_BOOTSTRAP = (
    "import json, sys\n"
    "from aws_durable_execution_sdk_python_testing import cli, executor, runner\n"
    "overrides = json.loads(sys.argv.pop(1))\n"
    "if 'page_bytes' in overrides:\n"
    "    runner.DEFAULT_MAX_INVOCATION_PAGE_BYTES = overrides['page_bytes']\n"
    "if 'retry_backoff' in overrides:\n"
    "    executor.Executor.RETRY_BACKOFF_SECONDS = overrides['retry_backoff']\n"
    "sys.exit(cli.main())\n"
)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


# --------------------------------------------------------------------------
# Lambda Invoke endpoint
# --------------------------------------------------------------------------


class CrashInvocation(Exception):
    """Raise from a handler to make the invocation look like a crashed runtime.

    The endpoint answers the way Lambda answers a caller when the runtime
    process dies mid-invocation: HTTP 200 with ``X-Amz-Function-Error:
    Unhandled`` and a ``Runtime.ExitError`` body. The emulator treats that as a
    failed invocation (nothing returned) and invokes the handler again after a
    back-off; it does not fail the execution on the first one.
    """

    def __init__(
        self,
        message: str = "Runtime exited with error: exit status 1",
        error_type: str = "Runtime.ExitError",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.error_type = error_type


class InvocationContext:
    """The Lambda context object passed to registered handlers."""

    def __init__(
        self,
        function_name: str,
        qualifier: str | None,
        request_id: str,
        timeout_seconds: float,
        tenant_id: str | None = None,
    ) -> None:
        self.aws_request_id = request_id
        self.function_name = function_name
        self.function_version = (
            qualifier if qualifier is not None and qualifier.isdigit() else "$LATEST"
        )
        suffix = f":{qualifier}" if qualifier else ""
        self.invoked_function_arn = (
            f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{function_name}{suffix}"
        )
        self.memory_limit_in_mb = "128"
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = f"local/{request_id}"
        self.tenant_id = tenant_id
        self.client_context: Any = None
        self.identity: Any = None
        self._deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))

    def log(self, msg: str) -> None:
        sys.stderr.write(str(msg))


@dataclass
class Invocation:
    """One Invoke request the endpoint received, and what it answered."""

    function_name: str
    qualifier: str | None
    request_id: str
    event: Any
    headers: dict[str, str]
    handler_invoke: bool  # carried the emulator's X-Dex-Handler-Invoke marker
    started: float
    finished: float | None = None
    response: Any = None
    function_error: str | None = None  # "Unhandled" when the handler raised
    error: dict[str, Any] | None = None

    @property
    def status(self) -> str | None:
        """The ``Status`` of a durable invocation output, if the handler returned one."""
        if isinstance(self.response, Mapping):
            value = self.response.get("Status")
            return value if isinstance(value, str) else None
        return None


_INVOKE_PREFIX = "/2015-03-31/functions/"
_INVOKE_SUFFIX = "/invocations"


class _EndpointServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    endpoint: LambdaEndpoint


class _InvokeRequestHandler(BaseHTTPRequestHandler):
    server: _EndpointServer
    protocol_version = "HTTP/1.0"

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        status, headers, payload = self.server.endpoint._dispatch(
            self.path, dict(self.headers.items()), body
        )
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:
        payload = b'{"message":"not found"}'
        self.send_response(404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class LambdaEndpoint:
    """A Lambda ``Invoke`` API on 127.0.0.1 that calls registered Python handlers.

    ``handler(event, context)`` gets the JSON-decoded request payload and an
    :class:`InvocationContext`; its return value is JSON-encoded as the
    response payload. A handler exception becomes a Lambda function error
    (``X-Amz-Function-Error: Unhandled``); :class:`CrashInvocation` makes it
    look like a runtime crash. Every request is recorded in
    :attr:`invocations`.
    """

    def __init__(self, *, invocation_timeout_seconds: float = 60.0) -> None:
        self._handlers: dict[str, Handler] = {}
        self._lock = threading.Lock()
        self._invocations: list[Invocation] = []
        self._server: _EndpointServer | None = None
        self._thread: threading.Thread | None = None
        self.invocation_timeout_seconds = invocation_timeout_seconds

    # lifecycle -------------------------------------------------------------

    def start(self) -> LambdaEndpoint:
        if self._server is not None:
            return self
        server = _EndpointServer((LOOPBACK, 0), _InvokeRequestHandler)
        server.endpoint = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="lambda-endpoint",
            daemon=True,
        )
        self._thread.start()
        return self

    def close(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> LambdaEndpoint:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("LambdaEndpoint is not started")
        port: int = self._server.server_address[1]
        return port

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    # registration ----------------------------------------------------------

    def register(self, function_name: str, handler: Handler) -> None:
        """Serve ``function_name`` (bare, or ``name:qualifier``) with ``handler``."""
        with self._lock:
            self._handlers[function_name] = handler

    def unregister(self, function_name: str) -> None:
        with self._lock:
            self._handlers.pop(function_name, None)

    def reset(self) -> None:
        """Forget every handler and recorded invocation."""
        with self._lock:
            self._handlers.clear()
            self._invocations.clear()

    @property
    def invocations(self) -> list[Invocation]:
        with self._lock:
            return list(self._invocations)

    def invocations_of(self, function_name: str) -> list[Invocation]:
        return [i for i in self.invocations if i.function_name == function_name]

    def invocations_for(self, execution_arn: str) -> list[Invocation]:
        """Handler invocations whose event names ``execution_arn``."""
        return [
            i
            for i in self.invocations
            if isinstance(i.event, Mapping) and i.event.get("DurableExecutionArn") == execution_arn
        ]

    # request handling ------------------------------------------------------

    def _resolve(self, name: str, qualifier: str | None) -> Handler | None:
        with self._lock:
            if qualifier is not None:
                handler = self._handlers.get(f"{name}:{qualifier}")
                if handler is not None:
                    return handler
            return self._handlers.get(name)

    @staticmethod
    def _error(status: int, code: str, message: str) -> tuple[int, dict[str, str], bytes]:
        body = json.dumps({"Type": "User", "message": message}).encode()
        return (
            status,
            {
                "Content-Type": "application/json",
                "x-amzn-ErrorType": code,
                "x-amzn-RequestId": str(uuid.uuid4()),
            },
            body,
        )

    def _dispatch(
        self, raw_path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        parts = urlsplit(raw_path)
        path = parts.path
        if not (path.startswith(_INVOKE_PREFIX) and path.endswith(_INVOKE_SUFFIX)):
            return self._error(404, "UnknownOperationException", f"Unknown path {path}")
        identifier = unquote(path[len(_INVOKE_PREFIX) : -len(_INVOKE_SUFFIX)])
        # Accept a bare name, name:qualifier, or a (partial) function ARN.
        if ":function:" in identifier:
            identifier = identifier.split(":function:", 1)[1]
        name, _, qualifier_part = identifier.partition(":")
        query_qualifier = parse_qs(parts.query).get("Qualifier", [None])[0]
        qualifier: str | None = qualifier_part or query_qualifier

        lower = {k.lower(): v for k, v in headers.items()}
        invocation_type = lower.get("x-amz-invocation-type", "RequestResponse")
        if invocation_type == "DryRun":
            return 204, {"x-amzn-RequestId": str(uuid.uuid4())}, b""
        if invocation_type != "RequestResponse":
            return self._error(
                400,
                "InvalidParameterValueException",
                f"Invocation type {invocation_type} is not supported by this endpoint",
            )

        handler = self._resolve(name, qualifier)
        if handler is None:
            return self._error(
                404,
                "ResourceNotFoundException",
                f"Function not found: arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{identifier}",
            )

        try:
            event: Any = json.loads(body.decode("utf-8")) if body else {}
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            return self._error(
                400, "InvalidRequestContentException", f"Could not parse request body: {exc}"
            )

        request_id = str(uuid.uuid4())
        record = Invocation(
            function_name=name,
            qualifier=qualifier,
            request_id=request_id,
            event=event,
            headers=dict(headers),
            handler_invoke=lower.get("x-dex-handler-invoke", "").lower() == "true",
            started=time.monotonic(),
        )
        with self._lock:
            self._invocations.append(record)

        context = InvocationContext(
            name,
            qualifier,
            request_id,
            self.invocation_timeout_seconds,
            tenant_id=lower.get("x-amz-tenant-id"),
        )
        response_headers = {
            "Content-Type": "application/json",
            "x-amzn-RequestId": request_id,
            "X-Amz-Executed-Version": context.function_version,
        }
        try:
            result = handler(event, context)
            payload = json.dumps(result).encode("utf-8")
        except CrashInvocation as crash:
            error: dict[str, Any] = {
                "errorType": crash.error_type,
                "errorMessage": f"RequestId: {request_id} Error: {crash.message}",
            }
            record.function_error, record.error = "Unhandled", error
            response_headers["X-Amz-Function-Error"] = "Unhandled"
            payload = json.dumps(error).encode("utf-8")
        except Exception as exc:  # a handler error is the function's error
            error = {
                "errorType": type(exc).__name__,
                "errorMessage": str(exc),
                "stackTrace": traceback.format_exception(exc),
            }
            record.function_error, record.error = "Unhandled", error
            response_headers["X-Amz-Function-Error"] = "Unhandled"
            payload = json.dumps(error).encode("utf-8")
        else:
            record.response = result
        finally:
            record.finished = time.monotonic()
        return 200, response_headers, payload


# --------------------------------------------------------------------------
# Emulator process
# --------------------------------------------------------------------------


class EmulatorError(RuntimeError):
    """The emulator process could not be started or did not answer."""


class Outcome(NamedTuple):
    """Terminal state of an execution, as GetDurableExecution reports it."""

    status: str
    result: str | None  # the raw result payload (a JSON string for SDK handlers)
    error: dict[str, Any] | None

    def json(self) -> Any:
        """The result payload, JSON-decoded."""
        return None if self.result is None else json.loads(self.result)


@dataclass
class Emulator:
    """A ``dex-local-runner start-server`` process on 127.0.0.1.

    ``lambda_endpoint_url`` is where the emulator sends its ``Invoke`` calls
    (normally ``LambdaEndpoint.url``). ``skip_time`` passes ``--skip-time``:
    wait timers and step-retry delays then fire at once while history keeps
    the modelled timestamps. ``function_configs`` (name -> Lambda-shaped
    config, e.g. ``{"Child": {"DurableConfig": {"ExecutionTimeout": 60}}}``)
    enables chained invokes. ``max_invocation_page_bytes`` shrinks the
    emulator's page budget (default 5 MiB) for the operations carried in the
    invocation input and returned by GetDurableExecutionState, to exercise a
    handler's paging. ``retry_backoff_seconds`` replaces the emulator's fixed
    5 s delay before it re-invokes after a failed invocation (function error,
    crash, timeout, unusable output); it is real time even with ``skip_time``.
    Both are applied by replacing the package default in the subprocess, as
    the CLI has no flag for them.
    """

    lambda_endpoint_url: str
    skip_time: bool = False
    store_type: str = "memory"  # memory | sqlite | filesystem
    store_path: str | None = None
    function_configs: Mapping[str, Any] | None = None
    invocation_timeout_seconds: int = 60
    execution_timeout_seconds: int = 300  # default ExecutionTimeoutSeconds for start()
    log_level: str = "INFO"
    startup_timeout: float = 20.0
    max_invocation_page_bytes: int | None = None
    retry_backoff_seconds: float | None = None
    extra_args: tuple[str, ...] = ()
    port: int = 0
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    _log: Any = field(default=None, init=False, repr=False)
    _client: Any = field(default=None, init=False, repr=False)
    _started: list[str] = field(default_factory=list, init=False, repr=False)
    _workdir: tempfile.TemporaryDirectory[str] | None = field(default=None, init=False, repr=False)

    # lifecycle -------------------------------------------------------------

    def command(self) -> list[str]:
        overrides: dict[str, Any] = {}
        if self.max_invocation_page_bytes is not None:
            overrides["page_bytes"] = self.max_invocation_page_bytes
        if self.retry_backoff_seconds is not None:
            overrides["retry_backoff"] = self.retry_backoff_seconds
        launcher = [sys.executable]
        if overrides:
            launcher += ["-c", _OVERRIDES_BOOTSTRAP, json.dumps(overrides)]
        else:
            launcher += ["-m", "aws_durable_execution_sdk_python_testing.cli"]
        args = [
            *launcher,
            "start-server",
            "--host",
            LOOPBACK,
            "--port",
            str(self.port),
            "--lambda-endpoint",
            self.lambda_endpoint_url,
            "--local-runner-endpoint",
            f"http://{LOOPBACK}:{self.port}",
            "--local-runner-region",
            REGION,
            "--store-type",
            self.store_type,
            "--invocation-timeout",
            str(self.invocation_timeout_seconds),
            "--log-level",
            self.log_level,
            "--skip-time" if self.skip_time else "--no-skip-time",
        ]
        store_path = self.store_path
        if store_path is None and self.store_type != "memory" and self._workdir is not None:
            # Without a path the sqlite store writes into the working directory.
            store_path = os.path.join(self._workdir.name, f"store-{self.store_type}")
        if store_path is not None:
            args += ["--store-path", store_path]
        if self.function_configs is not None:
            args += ["--function-configs", json.dumps(dict(self.function_configs))]
        if any(arg.split("=", 1)[0] in ("--host", "--port") for arg in self.extra_args):
            raise ValueError("extra_args must not override --host/--port")
        return args + list(self.extra_args)

    def launch(self) -> Emulator:
        """Start the server process and wait until it answers on /health."""
        if self._process is not None:
            return self
        pick_port = not self.port
        for attempt in range(3):
            if pick_port:
                self.port = free_port()
            try:
                self._spawn()
                self._wait_ready()
                return self
            except EmulatorError as exc:
                lost_port_race = "Address already in use" in str(exc)
                self.close()
                if not (pick_port and lost_port_race and attempt < 2):
                    raise
            except BaseException:
                self.close()
                raise
        raise AssertionError("unreachable")

    def _spawn(self) -> None:
        env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED_ENV}
        env.update(_DUMMY_AWS_ENV)
        env.update(
            {
                # The CLI defaults to 0.0.0.0; pin every address to loopback.
                "AWS_DEX_HOST": LOOPBACK,
                "AWS_DEX_PORT": str(self.port),
                "AWS_DEX_LOCAL_RUNNER_ENDPOINT": f"http://{LOOPBACK}:{self.port}",
                "AWS_DEX_LAMBDA_ENDPOINT": self.lambda_endpoint_url,
                "PYTHONUNBUFFERED": "1",
            }
        )
        # Both kept for the life of the process and released in close(). The
        # process runs in its own scratch directory, so nothing it writes
        # lands in the caller's working directory.
        self._workdir = tempfile.TemporaryDirectory(prefix="dex-local-runner-")
        self._log = tempfile.TemporaryFile(prefix="dex-local-runner-", suffix=".log")  # noqa: SIM115
        self._process = subprocess.Popen(
            self.command(),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=self._workdir.name,
        )

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            assert self._process is not None
            code = self._process.poll()
            if code is not None:
                raise EmulatorError(
                    f"dex-local-runner exited with code {code} before it was ready:\n"
                    + self.log_text()
                )
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=1) as resp:
                    if resp.status == 200:
                        return
            except urllib.error.HTTPError as exc:
                exc.close()
                last_error = exc
            except (urllib.error.URLError, OSError) as exc:
                last_error = exc
            time.sleep(0.05)
        raise EmulatorError(
            f"dex-local-runner did not answer on {self.url} within "
            f"{self.startup_timeout:g}s (last error: {last_error}):\n" + self.log_text()
        )

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            # SIGINT lets the CLI leave its serve loop and shut down.
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._workdir is not None:
            self._workdir.cleanup()
            self._workdir = None

    def __enter__(self) -> Emulator:
        return self.launch()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def log_text(self, limit: int = 20_000) -> str:
        """The tail of the emulator's combined stdout/stderr."""
        if self._log is None:
            return ""
        self._log.flush()
        self._log.seek(0, os.SEEK_END)
        size = self._log.tell()
        self._log.seek(max(0, size - limit))
        text: str = self._log.read().decode("utf-8", "replace")
        self._log.seek(0, os.SEEK_END)
        return text

    # clients ---------------------------------------------------------------

    @property
    def client(self) -> Any:
        """A boto3 ``lambda`` client for the emulator's durable-execution API."""
        if self._client is None:
            self._client = self.new_client()
        return self._client

    def new_client(self, *, read_timeout: float = 30.0, max_attempts: int = 2) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.session.Session().client(
            "lambda",
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            aws_session_token="testing",
            config=Config(
                connect_timeout=2,
                read_timeout=read_timeout,
                retries={"max_attempts": max_attempts, "mode": "standard"},
            ),
        )

    def client_environment(self) -> dict[str, str]:
        """Environment variables that point a default ``boto3.client("lambda")``
        at this emulator with dummy credentials (for handlers that build their
        own client, e.g. ``os.environ.update(emulator.client_environment())``)."""
        return {**_DUMMY_AWS_ENV, "AWS_ENDPOINT_URL_LAMBDA": self.url}

    def _post_json(self, path: str, payload: Mapping[str, Any], method: str = "POST") -> Any:
        request = urllib.request.Request(
            f"{self.url}{path}",
            data=json.dumps(payload).encode("utf-8"),
            headers={"Content-Type": "application/json"},
            method=method,
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as resp:
                body = resp.read()
        except urllib.error.HTTPError as exc:
            with exc:
                detail = exc.read().decode("utf-8", "replace")
            raise EmulatorError(f"{method} {path} -> HTTP {exc.code}: {detail}") from None
        return json.loads(body) if body else None

    # executions ------------------------------------------------------------

    def start(
        self,
        function_name: str,
        input: Any = None,
        *,
        name: str | None = None,
        qualifier: str = "$LATEST",
        execution_timeout_seconds: int | None = None,
        raw_input: str | None = None,
        tenant_id: str | None = None,
    ) -> str:
        """Start a durable execution of ``function_name``; returns its ARN.

        ``input`` is JSON-encoded; pass ``raw_input`` to send a payload string
        as-is. The emulator has no Invoke route of its own: executions start
        through its ``POST /start-durable-execution`` API.
        """
        payload: dict[str, Any] = {
            "AccountId": ACCOUNT_ID,
            "FunctionName": function_name,
            "FunctionQualifier": qualifier,
            "ExecutionName": name or f"{function_name}-{uuid.uuid4().hex[:12]}",
            "ExecutionTimeoutSeconds": (
                execution_timeout_seconds
                if execution_timeout_seconds is not None
                else self.execution_timeout_seconds
            ),
            "ExecutionRetentionPeriodDays": 1,
            "InvocationId": str(uuid.uuid4()),
        }
        if raw_input is not None:
            payload["Input"] = raw_input
        elif input is not None:
            payload["Input"] = json.dumps(input)
        if tenant_id is not None:
            payload["TenantId"] = tenant_id
        answer = self._post_json("/start-durable-execution", payload)
        arn: str = answer["ExecutionArn"]
        self._started.append(arn)
        return arn

    def stop_unfinished(self) -> list[str]:
        """Stop every execution started through :meth:`start` that is not terminal."""
        started, self._started = self._started, []
        stopped: list[str] = []
        if not self.running:
            return stopped
        for arn in started:
            try:
                if self.describe(arn).get("Status") not in TERMINAL_STATUSES:
                    self.stop(arn)
                    stopped.append(arn)
            except Exception:  # best-effort cleanup
                continue
        return stopped

    def describe(self, arn: str) -> dict[str, Any]:
        """GetDurableExecution, without ResponseMetadata."""
        response = dict(self.client.get_durable_execution(DurableExecutionArn=arn))
        response.pop("ResponseMetadata", None)
        return response

    def wait(self, arn: str, timeout: float = 10.0, poll: float = 0.05) -> Outcome:
        """Poll until the execution is terminal; raise TimeoutError otherwise."""
        deadline = time.monotonic() + timeout
        while True:
            info = self.describe(arn)
            status = info.get("Status", "")
            if status in TERMINAL_STATUSES:
                return Outcome(status, info.get("Result"), info.get("Error"))
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"execution {arn} still {status} after {timeout:g}s; "
                    f"emulator log tail:\n{self.log_text(4000)}"
                )
            time.sleep(poll)

    def history(
        self, arn: str, *, include_execution_data: bool = True, page_size: int | None = None
    ) -> list[dict[str, Any]]:
        """Every event of GetDurableExecutionHistory, following NextMarker."""
        events: list[dict[str, Any]] = []
        marker: str | None = None
        for _ in range(10_000):
            kwargs: dict[str, Any] = {
                "DurableExecutionArn": arn,
                "IncludeExecutionData": include_execution_data,
            }
            if page_size is not None:
                kwargs["MaxItems"] = page_size
            if marker:
                kwargs["Marker"] = marker
            page = self.client.get_durable_execution_history(**kwargs)
            events.extend(page.get("Events", []))
            marker = page.get("NextMarker")
            if not marker:
                return events
        raise EmulatorError("history pagination did not terminate")

    def event_types(self, arn: str) -> list[str]:
        return [event["EventType"] for event in self.history(arn)]

    def state(
        self, arn: str, checkpoint_token: str, *, max_items: int | None = None
    ) -> list[dict[str, Any]]:
        """Every operation of GetDurableExecutionState, following NextMarker.

        Like the service, the emulator answers this only while an invocation
        of the execution is running and ``checkpoint_token`` is its current
        token; otherwise it is an InvalidParameterValueException.
        """
        operations: list[dict[str, Any]] = []
        marker: str | None = None
        for _ in range(10_000):
            kwargs: dict[str, Any] = {
                "DurableExecutionArn": arn,
                "CheckpointToken": checkpoint_token,
            }
            if max_items is not None:
                kwargs["MaxItems"] = max_items
            if marker:
                kwargs["Marker"] = marker
            page = self.client.get_durable_execution_state(**kwargs)
            operations.extend(page.get("Operations", []))
            marker = page.get("NextMarker")
            if not marker:
                return operations
        raise EmulatorError("state pagination did not terminate")

    def stop(self, arn: str, error: Mapping[str, Any] | None = None) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"DurableExecutionArn": arn}
        if error is not None:
            kwargs["Error"] = dict(error)
        response = dict(self.client.stop_durable_execution(**kwargs))
        response.pop("ResponseMetadata", None)
        return response

    # callbacks -------------------------------------------------------------

    def callback_id(
        self, arn: str, name: str | None = None, timeout: float = 5.0, poll: float = 0.05
    ) -> str:
        """Wait for an open callback of ``arn`` (optionally by operation name).

        Returns the CallbackId from its ``CallbackStarted`` history event once
        the invocation that created it has ended (an ``InvocationCompleted``
        event follows), which is when a real caller could have learned it.
        """
        deadline = time.monotonic() + timeout
        while True:
            events = self.history(arn)
            closed = {
                e["Id"]
                for e in events
                if e["EventType"] in ("CallbackSucceeded", "CallbackFailed", "CallbackTimedOut")
            }
            for index, event in enumerate(events):
                if event["EventType"] != "CallbackStarted" or event["Id"] in closed:
                    continue
                if name is not None and event.get("Name") != name:
                    continue
                if not any(e["EventType"] == "InvocationCompleted" for e in events[index + 1 :]):
                    continue
                callback: str = event["CallbackStartedDetails"]["CallbackId"]
                return callback
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"no open callback{f' named {name!r}' if name else ''} on {arn} "
                    f"after {timeout:g}s; events: {[e['EventType'] for e in events]}"
                )
            time.sleep(poll)

    def send_callback_success(self, callback_id: str, result: bytes | str | None = None) -> None:
        kwargs: dict[str, Any] = {"CallbackId": callback_id}
        if result is not None:
            kwargs["Result"] = result.encode("utf-8") if isinstance(result, str) else result
        self.client.send_durable_execution_callback_success(**kwargs)

    def send_callback_failure(
        self,
        callback_id: str,
        error_message: str | None = None,
        error_type: str | None = None,
        error_data: str | None = None,
    ) -> None:
        error: dict[str, Any] = {}
        if error_message is not None:
            error["ErrorMessage"] = error_message
        if error_type is not None:
            error["ErrorType"] = error_type
        if error_data is not None:
            error["ErrorData"] = error_data
        kwargs: dict[str, Any] = {"CallbackId": callback_id}
        if error:
            kwargs["Error"] = error
        self.client.send_durable_execution_callback_failure(**kwargs)

    def send_callback_heartbeat(self, callback_id: str) -> None:
        self.client.send_durable_execution_callback_heartbeat(CallbackId=callback_id)

    # endpoint --------------------------------------------------------------

    def set_lambda_endpoint(self, url: str) -> None:
        """Point executions started from now on at another Invoke endpoint."""
        self._post_json("/lambda-endpoint", {"EndpointUrl": url, "RegionName": REGION}, "PUT")
        self.lambda_endpoint_url = url


@contextlib.contextmanager
def running_emulator(
    endpoint: LambdaEndpoint | None = None, **options: Any
) -> Iterator[tuple[Emulator, LambdaEndpoint]]:
    """Start a LambdaEndpoint (unless given) and an Emulator pointed at it."""
    with contextlib.ExitStack() as stack:
        if endpoint is None:
            endpoint = stack.enter_context(LambdaEndpoint())
        emulator = stack.enter_context(Emulator(endpoint.url, **options))
        yield emulator, endpoint
