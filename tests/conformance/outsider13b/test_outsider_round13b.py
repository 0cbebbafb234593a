"""The handlers of ``handlers.py`` (written from the docs alone) pass AWS's requirements.

Each runs through ``run_embedded`` (history, result, logs, and AWS's published validators) in
the ``"step"``, ``"eager"`` and ``"batch"`` modes; on a ``SqliteStore`` with state in pages of
one operation; and through ``durable_gen.aws.lambda_handler`` fed the JSON events Lambda sends
(``outsider5.hosts``), in both payload formats. The plugin requirements run again with a plugin
that stamps each record with the ARN of the info its hook was given.
"""

from __future__ import annotations

import functools
import pathlib
from typing import Any, Literal

import pytest

from durable_gen import CheckpointMode
from durable_gen.local import SqliteStore

from ..handlers import Handler
from ..outsider5 import hosts
from ..runner import run_embedded
from ..suite import Requirement, load_requirements
from . import handlers


def _requirements(keys: Any) -> list[Requirement]:
    by_key = {req.key: req for req in load_requirements()}
    return [by_key[key] for key in keys]


def _handler(req: Requirement, mode: CheckpointMode = "step", plugins: Any = None) -> Handler:
    chosen = plugins if plugins is not None else handlers.PLUGINS.get(req.key, list)
    return Handler(handlers.HANDLERS[req.key], checkpointing=mode, plugins=chosen)


def _check(req: Requirement, handler: Handler, **options: Any) -> None:
    handlers.reset()
    result = run_embedded(req, handler, {}, **options)
    assert result.status == "passed", f"{req}: {req.description}\n  " + "\n  ".join(result.errors)


@pytest.mark.parametrize("mode", ["step", "eager", "batch"])
@pytest.mark.parametrize("req", _requirements(handlers.HANDLERS), ids=str)
def test_handler_in_each_mode(req: Requirement, mode: CheckpointMode) -> None:
    _check(req, _handler(req, mode))


@pytest.mark.parametrize("req", _requirements(handlers.HANDLERS), ids=str)
def test_handler_on_sqlite_in_pages_of_one(req: Requirement, tmp_path: pathlib.Path) -> None:
    _check(req, _handler(req, "batch"), store=SqliteStore(tmp_path / "db"), page_size=1)


@pytest.mark.parametrize("payload_format", ["json", "aws"])
@pytest.mark.parametrize("req", _requirements(handlers.HANDLERS), ids=str)
def test_handler_through_lambda_handler(
    req: Requirement, payload_format: Literal["json", "aws"]
) -> None:
    register = functools.partial(hosts.register_lambda_host, payload_format=payload_format)
    _check(req, _handler(req), register=register, page_size=1)


@pytest.mark.parametrize("mode", ["step", "batch"])
@pytest.mark.parametrize("req", _requirements(handlers.OWN_ARN_PLUGINS), ids=str)
def test_plugin_stamping_the_arn_of_each_hook(req: Requirement, mode: CheckpointMode) -> None:
    plugins = handlers.OWN_ARN_PLUGINS[req.key]
    _check(req, _handler(req, mode, plugins))
    _check(req, _handler(req, mode, plugins), register=hosts.register_lambda_host)
