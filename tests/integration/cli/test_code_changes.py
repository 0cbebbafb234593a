"""A deploy on the command line: an execution started by version 1 of a module, suspended on
a callback, is resumed by a worker running version 2 of the module. The worker's verdict (the
execution goes on, or fails with ``NonDeterminismError``) is the one ``replay`` gives for the
history that ``durable-gen history --json`` exported before the deploy."""

from __future__ import annotations

import importlib.util
import json
import shutil
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from durable_gen.testing import replay

Cli = Callable[..., Any]

HEAD = """
import durable_gen as dg

@dg.step
def reserve(x):
    return x + 1

@dg.step(name="reserve_v2")
def reserve_renamed(x):
    return x + 1

@dg.step
def ship(x):
    return x * 2

@dg.step
def notify(x):
    return x
"""

V1 = """
def order(x):
    r = yield reserve(x)
    answer = yield dg.WaitForCallback(lambda callback_id: None, name="approve")
    return (yield ship(r)), answer
"""

CHANGES = {
    "step renamed": (
        """
def order(x):
    r = yield reserve_renamed(x)
    answer = yield dg.WaitForCallback(lambda callback_id: None, name="approve")
    return (yield ship(r)), answer
""",
        "FAILED",
    ),
    "step inserted before the callback": (
        """
def order(x):
    r = yield reserve(x)
    yield notify(r)
    answer = yield dg.WaitForCallback(lambda callback_id: None, name="approve")
    return (yield ship(r)), answer
""",
        "FAILED",
    ),
    "the insert guarded by Patched": (
        """
def order(x):
    r = yield reserve(x)
    if (yield dg.Patched("notify")):
        yield notify(r)
    answer = yield dg.WaitForCallback(lambda callback_id: None, name="approve")
    return (yield ship(r)), answer
""",
        "SUCCEEDED",
    ),
    "a step appended after the callback": (
        """
def order(x):
    r = yield reserve(x)
    answer = yield dg.WaitForCallback(lambda callback_id: None, name="approve")
    yield notify(r)
    return (yield ship(r)), answer
""",
        "SUCCEEDED",
    ),
}


def _write(workdir: Path, body: str) -> None:
    shutil.rmtree(workdir / "__pycache__", ignore_errors=True)
    (workdir / "shop.py").write_text(textwrap.dedent(HEAD) + textwrap.dedent(body))


def _load(workdir: Path, name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, workdir / "shop.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.order


@pytest.mark.parametrize("change", list(CHANGES))
def test_a_worker_on_new_code_agrees_with_replay(change: str, workdir: Path, cli: Cli) -> None:
    new_code, expected = CHANGES[change]
    _write(workdir, V1)
    started = cli("start", "shop:order", "--input", "1", "--arn")
    assert started.code == 0, started
    arn = started.out.strip()
    assert cli("worker", "--once", "-q").code == 0
    exported = cli("history", arn, "--json")
    assert exported.code == 0, exported
    history = json.loads(exported.out)
    callback_id = next(
        e["CallbackStartedDetails"]["CallbackId"]
        for e in history["Events"]
        if e["EventType"] == "CallbackStarted"
    )

    _write(workdir, new_code)  # the deploy
    report = replay(_load(workdir, f"shop_{abs(hash(change))}"), history)
    assert cli("callback", "succeed", callback_id, '"yes"').code == 0
    cli("worker", "--once", "-q")
    listed = json.loads(cli("list", "--json").out)
    status = next(e["status"] for e in listed if e["arn"] == arn)

    assert status == expected
    assert report.status == ("diverged" if expected == "FAILED" else "ok"), report.message


def test_histories_exported_by_history_json_are_matched_by_workflow_name(
    workdir: Path, cli: Cli
) -> None:
    """docs/versioning.md exports running executions with ``durable-gen history ARN --json``
    into a folder, and docs/testing.md checks that folder with ``replay_folder`` and a mapping
    of names to workflows: each file must find its workflow by name."""
    _write(workdir, V1)
    arn = cli("start", "shop:order", "--input", "1", "--arn").out.strip()
    assert cli("worker", "--once", "-q").code == 0
    exported = cli("history", arn, "--json")
    assert exported.code == 0, exported
    data = json.loads(exported.out)
    assert data["DurableExecutionArn"] == arn
    assert data["FunctionName"] == "shop.order"
    folder = workdir / "exported-histories"
    folder.mkdir()
    (folder / f"{arn.rsplit('/', 1)[-1]}.json").write_text(exported.out)

    from durable_gen.testing import replay_folder

    order = _load(workdir, "shop_export")
    for key in ("order", "shop.order"):
        reports = replay_folder({key: order, "other": _load(workdir, "shop_other")}, folder)
        assert [r.status for r in reports] == ["ok"], [str(r) for r in reports]


@pytest.mark.parametrize(
    "broken",
    [
        "def order(x):\n    return x\n",
        "async def order(x):\n    return x\n",
    ],
    ids=["plain function", "async def"],
)
def test_a_deploy_that_breaks_the_workflow_leaves_its_executions_waiting(
    broken: str, workdir: Path, cli: Cli
) -> None:
    """A deploy whose ``order`` is no longer a generator function: the worker cannot serve its
    executions, so it says so and leaves them for a worker with the workflow, as it does for a
    workflow it cannot import. It failed them for good with FunctionNotRegisteredError and
    advice to call service.register()."""
    _write(workdir, V1)
    arn = cli("start", "shop:order", "--input", "1", "--arn").out.strip()
    assert cli("worker", "--once", "-q").code == 0
    history = json.loads(cli("history", arn, "--json").out)
    callback_id = next(
        e["CallbackStartedDetails"]["CallbackId"]
        for e in history["Events"]
        if e["EventType"] == "CallbackStarted"
    )
    assert cli("callback", "succeed", callback_id, '"yes"').code == 0

    _write(workdir, broken)  # the bad deploy
    worker = cli("worker", "--once", "-q")
    assert "not serving 'shop.order'" in worker.err and "not a workflow" in worker.err, worker
    listed = json.loads(cli("list", "--json").out)
    assert next(e["status"] for e in listed if e["arn"] == arn) == "RUNNING"

    _write(workdir, V1)  # deployed again, fixed
    assert cli("worker", "--once", "-q").code == 0
    listed = json.loads(cli("list", "--json").out)
    assert next(e["status"] for e in listed if e["arn"] == arn) == "SUCCEEDED"


@pytest.mark.parametrize(
    ("broken", "said"),
    [
        ("raise RuntimeError('no settings')\n", "RuntimeError: no settings"),
        ("import sys\nsys.exit(3)\n", "it called sys.exit(3) at import"),
        ("import sys\nsys.exit('SHOP_URL is not set')\n", "sys.exit('SHOP_URL is not set')"),
    ],
    ids=["raises", "sys.exit(3)", "sys.exit(message)"],
)
def test_a_deploy_whose_module_fails_at_import_leaves_its_executions_and_runs_the_others(
    broken: str, said: str, workdir: Path, cli: Cli
) -> None:
    """A module of workflows that fails when imported (a missing setting): the worker says so,
    leaves its executions RUNNING and runs the others. A module that called ``sys.exit()`` at
    import ended the worker itself, exit status 3 and no line, before it ran anything: one
    module of the database's workflows took every worker of the fleet down with it."""
    _write(workdir, V1)
    arn = cli("start", "shop:order", "--input", "1", "--arn").out.strip()
    other = cli("start", "flows:total", "--input", "3", "--arn").out.strip()
    (workdir / "shop.py").write_text(broken)
    shutil.rmtree(workdir / "__pycache__", ignore_errors=True)
    worker = cli("worker", "--once", "-q")
    assert worker.code == 0, worker
    assert "not serving 'shop.order'" in worker.err and said in worker.err, worker
    assert "Traceback" not in worker.err
    status = {e["arn"]: e["status"] for e in json.loads(cli("list", "--json").out)}
    assert status == {arn: "RUNNING", other: "SUCCEEDED"}
    # `run` of such a module is a usage error, as for any module that fails to import.
    run = cli("run", "shop:order", "--input", "1")
    assert run.code == 2 and said in run.err, run
