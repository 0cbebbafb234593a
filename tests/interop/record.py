"""Record the interop corpus with AWS's SDK on AWS's emulator, into ``fixtures/``.

Run ``python -m tests.interop.record [case ...]`` (needs the ``bench`` extra for
``aws-durable-execution-sdk-python`` and the ``test`` extra for the emulator). Each case of
``workflows.CASES`` runs as the AWS SDK handler of the same key in ``aws_corpus.py``, served
by the Lambda endpoint of ``tests/integration/aws/emulator.py`` to a ``dex-local-runner``
started with ``--skip-time`` on 127.0.0.1. Written per case:

* ``<case>.history.json``: every ``GetDurableExecutionHistory`` event (with execution data),
  timestamps as ISO 8601 strings as the AWS CLI prints them, and the execution's outcome;
* ``<case>.state.json``: the ``GetDurableExecutionState`` operations at the end of the last
  invocation, and the ``InitialExecutionState`` operations each invocation started from.

``<case>.history-pages.json`` holds the raw history pages (``MaxItems=4``) of a few cases.
The tests read only the committed files, so CI does not need the emulator.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from aws_durable_execution_sdk_python.execution import durable_execution

from tests.integration.aws.emulator import TERMINAL_STATUSES, Emulator, LambdaEndpoint

from . import aws_corpus
from .workflows import CALLEE, CASES, Case

FIXTURES = Path(__file__).parent / "fixtures"
#: Cases whose raw history pages are kept too (paging tests).
PAGED = ("step_shapes", "map_tolerated_failures", "wait_for_callback_success")
PAGE_SIZE = 4


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items() if k != "ResponseMetadata"}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


class _TokenClient:
    """The emulator's boto3 client, remembering the newest checkpoint token per execution."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.tokens: dict[str, str] = {}
        self._lock = threading.Lock()

    def checkpoint_durable_execution(self, **kwargs: Any) -> Any:
        response = self._client.checkpoint_durable_execution(**kwargs)
        with self._lock:
            self.tokens[kwargs["DurableExecutionArn"]] = response["CheckpointToken"]
        return response

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


class _Recorder:
    def __init__(self, emulator: Emulator, endpoint: LambdaEndpoint) -> None:
        self.emulator = emulator
        self.endpoint = endpoint
        self.client = _TokenClient(emulator.client)
        self.final_state: dict[str, list[dict[str, Any]]] = {}
        self.initial_states: dict[str, list[list[dict[str, Any]]]] = {}
        endpoint.register(CALLEE, self._wrap(aws_corpus.callee))

    def _wrap(self, body: Callable[..., Any]) -> Callable[[Any, Any], Any]:
        handler = durable_execution(boto3_client=self.client)(body)

        def serve(event: Any, context: Any) -> Any:
            arn = event["DurableExecutionArn"]
            self.client.tokens[arn] = event["CheckpointToken"]
            self.initial_states.setdefault(arn, []).append(
                event["InitialExecutionState"]["Operations"]
            )
            result = handler(event, context)
            # Still inside the invocation: the service answers GetDurableExecutionState.
            self.final_state[arn] = self.emulator.state(arn, self.client.tokens[arn])
            return result

        return serve

    def run(self, key: str, case: Case) -> dict[str, Any]:
        aws_corpus.ATTEMPTS.clear()
        name = f"interop-{key.replace('_', '-')}"[:64]
        self.endpoint.register(name, self._wrap(aws_corpus.HANDLERS[key]))
        arn = self.emulator.start(name, case.input, execution_timeout_seconds=120)
        answers = list(case.callbacks)
        answered: set[str] = set()
        deadline = time.monotonic() + 90
        while True:
            events = self.emulator.history(arn)
            if self.emulator.describe(arn).get("Status") in TERMINAL_STATUSES:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{key}: still running; events {[e['EventType'] for e in events]}"
                )
            for i, event in enumerate(events):
                if event["EventType"] != "CallbackStarted" or event["Id"] in answered:
                    continue
                if not any(e["EventType"] == "InvocationCompleted" for e in events[i + 1 :]):
                    continue
                answered.add(event["Id"])
                answer = answers.pop(0) if answers else None
                callback_id = event["CallbackStartedDetails"]["CallbackId"]
                if answer is None or answer.action == "none":
                    continue
                if answer.action == "succeed":
                    self.emulator.send_callback_success(callback_id, answer.payload)
                else:
                    error = answer.error or {}
                    self.emulator.send_callback_failure(
                        callback_id, error.get("ErrorMessage"), error.get("ErrorType")
                    )
            time.sleep(0.05)
        info = self.emulator.describe(arn)
        events = self.emulator.history(arn)
        history = {
            "DurableExecutionArn": arn,
            "FunctionName": key,
            "Status": info.get("Status"),
            "Result": info.get("Result"),
            "Error": info.get("Error"),
            "Events": events,
        }
        state = {
            "DurableExecutionArn": arn,
            "FunctionName": key,
            "Operations": self.final_state.get(arn, []),
            "InvocationStates": self.initial_states.get(arn, []),
        }
        pages = None
        if key in PAGED:
            pages = []
            marker = None
            while True:
                kwargs: dict[str, Any] = {
                    "DurableExecutionArn": arn,
                    "IncludeExecutionData": True,
                    "MaxItems": PAGE_SIZE,
                }
                if marker:
                    kwargs["Marker"] = marker
                page = self.emulator.client.get_durable_execution_history(**kwargs)
                pages.append(page)
                marker = page.get("NextMarker")
                if not marker:
                    break
        return {"history": history, "state": state, "pages": pages}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cases", nargs="*", help="case keys (default: all)")
    args = parser.parse_args(argv)
    keys = args.cases or list(CASES)
    unknown = [k for k in keys if k not in CASES or k not in aws_corpus.HANDLERS]
    if unknown:
        parser.error(f"unknown cases: {unknown}")
    FIXTURES.mkdir(exist_ok=True)
    configs = {CALLEE: {"DurableConfig": {"ExecutionTimeout": 60}}}
    with LambdaEndpoint() as endpoint:
        emulator = Emulator(
            endpoint.url, skip_time=True, function_configs=configs, retry_backoff_seconds=0.2
        )
        with emulator.launch():
            recorder = _Recorder(emulator, endpoint)
            for key in keys:
                began = time.monotonic()
                out = recorder.run(key, CASES[key])
                for kind in ("history", "state"):
                    path = FIXTURES / f"{key}.{kind}.json"
                    path.write_text(json.dumps(_jsonable(out[kind]), indent=1) + "\n")
                if out["pages"] is not None:
                    path = FIXTURES / f"{key}.history-pages.json"
                    path.write_text(json.dumps(_jsonable(out["pages"]), indent=1) + "\n")
                status = out["history"]["Status"]
                events = len(out["history"]["Events"])
                print(f"{key}: {status}, {events} events ({time.monotonic() - began:.1f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
