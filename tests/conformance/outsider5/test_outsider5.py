"""The fifth outsider handler set, through ``run_embedded`` and AWS's published checks.

Routes (each on a fresh engine with a virtual clock, the same checks applied):

- ``embedded``: the engine's own ``make_handler`` (the default ``"step"`` mode);
- ``lambda``: ``durable_gen.aws.lambda_handler`` given the JSON event Lambda sends, state in
  pages of 2 operations (``NextMarker``), in the handler's own mode (``"step"``; ``"eager"``
  for 3-12), in ``"eager"``, in ``"batch"`` and with ``payload_format="aws"`` (AWS's envelope
  writes a JSON value as plain JSON; the Map and Parallel results it writes otherwise are
  payloads no requirement asserts);
- ``host``: an invocation handler driving ``durable_gen.runtime.Interpreter`` by hand
  (``hosts.interpreter_host``), in the same modes and payload formats, on memory and on
  SQLite; not the plugin suite, whose hooks are called by the drivers, which this host
  replaces.

``variants.py`` writes some requirements again with ``async def`` steps, checks and
submitters; they run through the same routes. In ``"batch"`` mode 3-12 cannot be met (the
crash loses the step's START, which that mode sends only when the invocation suspends or ends:
docs/conformance.md), so it is left out there. With ``DURABLE_GEN_CONFORMANCE_EMULATOR=1`` the
handlers also run as Lambda functions through AWS's emulator (targets ``outsider5-echo``, ...),
where only its known gaps may fail them.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from durable_gen.local import SqliteStore

from ..handlers import Handler
from ..runner import run_embedded
from ..suite import Requirement, load_requirements
from . import handlers, hosts, variants


def _requirements() -> list[Requirement]:
    try:
        return [r for r in load_requirements() if r.key in handlers.HANDLERS]
    except Exception as exc:  # offline without the wheel
        pytest.skip(f"conformance requirements unavailable: {exc}", allow_module_level=True)
        raise


REQUIREMENTS = _requirements()
ROUTES: dict[str, Callable[..., None] | None] = {
    "embedded": None,
    "lambda-step": hosts.register_lambda_host,
    "lambda-eager": functools.partial(hosts.register_lambda_host, checkpointing="eager"),
    "lambda-batch": functools.partial(hosts.register_lambda_host, checkpointing="batch"),
    "lambda-aws-format": functools.partial(hosts.register_lambda_host, payload_format="aws"),
    "host-step": hosts.register_interpreter_host,
    "host-eager": functools.partial(hosts.register_interpreter_host, checkpointing="eager"),
    "host-batch": functools.partial(hosts.register_interpreter_host, checkpointing="batch"),
    "host-aws-format": functools.partial(hosts.register_interpreter_host, payload_format="aws"),
}


def _applies(route: str, req: Requirement) -> bool:
    if route.startswith("host") and req.suite == "plugin":
        return False
    return not (route.endswith("batch") and req.key == "3-12")


def _cases(table: dict[str, Handler]) -> Iterator[Any]:
    for route in ROUTES:
        for req in REQUIREMENTS:
            if req.key in table and _applies(route, req):
                yield pytest.param(route, req, id=f"{route}-{req.suite}/{req.key}")


def _check(route: str, req: Requirement, handler: Handler, **options: Any) -> None:
    handlers.reset()
    result = run_embedded(
        req, handler, handlers.FUNCTIONS, register=ROUTES[route], page_size=2, **options
    )
    assert result.status == "passed", "\n".join(result.errors)


@pytest.mark.parametrize(("route", "req"), list(_cases(handlers.HANDLERS)))
def test_outsider5(route: str, req: Requirement) -> None:
    _check(route, req, handlers.HANDLERS[req.key])


@pytest.mark.parametrize(("route", "req"), list(_cases(variants.VARIANTS)))
def test_outsider5_async_variants(route: str, req: Requirement) -> None:
    _check(route, req, variants.VARIANTS[req.key])


@pytest.mark.parametrize("req", REQUIREMENTS, ids=lambda r: f"{r.suite}/{r.key}")
def test_outsider5_on_aws_emulator(req: Requirement, emulator: Any) -> None:
    from durable_gen.aws import lambda_handler

    from ..conftest import GAPS_XFAIL
    from ..emulator_runner import GAP_NAMES, explain, run_emulator

    handler = handlers.HANDLERS[req.key]
    handlers.reset()
    function = lambda_handler(
        handler.workflow,
        client=emulator.emulator.client,
        checkpointing=handler.checkpointing,
        plugins=handler.plugins(),
    )
    result = run_emulator(req, emulator, function)
    if result.status == "passed":
        return
    gaps, rest = explain(req, result.errors)
    assert not rest, "\n  ".join(rest)
    pytest.xfail(GAPS_XFAIL + " " + "; ".join(GAP_NAMES[code] for code in gaps))


@pytest.mark.parametrize(
    "req", [r for r in REQUIREMENTS if r.suite != "plugin"], ids=lambda r: f"{r.suite}/{r.key}"
)
def test_outsider5_host_on_sqlite(req: Requirement, tmp_path: Path) -> None:
    store = SqliteStore(str(tmp_path / "outsider5.db"))
    try:
        _check("host-eager", req, handlers.HANDLERS[req.key], store=store)
    finally:
        store.close()


def _normalized(history: list[dict[str, Any]]) -> list[str]:
    """Events as text without what differs from run to run (times, request and callback ids,
    execution names, line numbers, and retry delays: full jitter is drawn from the execution's
    ARN, 1-13)."""
    out = []
    for event in history:
        text = json.dumps({k: v for k, v in event.items() if k != "EventTimestamp"}, sort_keys=True)
        text = re.sub(r'"(RequestId|CallbackId)": "[^"]*"', r'"\1": "*"', text)
        text = re.sub(r'"(Start|End|ScheduledEnd)Timestamp": \d+', r'"\1Timestamp": 0', text)
        text = re.sub(r'"NextAttemptDelaySeconds": \d+', '"NextAttemptDelaySeconds": 0', text)
        text = re.sub(r"[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}", "UUID", text)
        out.append(re.sub(r"line \d+", "line N", text))
    return out


@pytest.mark.parametrize(
    "req", [r for r in REQUIREMENTS if r.suite != "plugin"], ids=lambda r: f"{r.suite}/{r.key}"
)
def test_every_route_records_the_same_history(
    req: Requirement, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not only what the requirement asserts: every field of every event (payloads, error
    types, messages and stack traces) is the same whichever host ran the handler."""
    from .. import runner

    generated = runner.generate_variables(req.variables)
    monkeypatch.setattr(runner, "generate_variables", lambda _: dict(generated))
    histories = {}
    for route in ("embedded", "lambda-step", "host-step"):
        handlers.reset()
        result = run_embedded(
            req, handlers.HANDLERS[req.key], handlers.FUNCTIONS, register=ROUTES[route]
        )
        histories[route] = _normalized(result.history)
    assert histories["lambda-step"] == histories["embedded"]
    assert histories["host-step"] == histories["embedded"]
