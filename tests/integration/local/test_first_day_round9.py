"""A new user's first day, round 9: three applications written from README.md, docs/guide.md,
docs/engine.md and docs/cli.md alone, other shapes than round 8's, run through
``durable_gen.run``, ``Worker`` (on SQLite and on Postgres) and the command line.

The applications:

1. a document intake: an OCR job polled with ``WaitForCondition``, its pages read by a
   ``Map`` with ``max_concurrency`` and a failure tolerance inside a ``Child``, run in the
   ``batch`` and ``eager`` checkpointing modes too;
2. a subscription renewal: an idempotency key from ``dg.UUID()``, the renewal date from
   ``dg.Now()``, a payment gateway that keeps a ``CreateCallback`` alive with heartbeats
   (``durable-gen callback heartbeat``) before it answers, and an execution timeout;
3. a catalogue sync on a fleet: executions started by name from "another program" (a
   ``Worker`` that never runs), an at-most-once step, an ``Invoke`` of a plain function
   registered by the workers, two ``durable-gen worker --concurrency 2`` processes on one
   database, and each history replayed by ``durable_gen.testing.replay``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import durable_gen as dg
from durable_gen.local import Worker

APPS = textwrap.dedent(
    """
    import os

    import durable_gen as dg


    def _note(what):
        path = os.environ.get("FIRST_DAY9_LOG")
        if path:
            with open(path, "a") as f:
                f.write(what + "\\n")


    # 1. Document intake -------------------------------------------------------------------

    @dg.step
    def submit_ocr(doc: dict) -> dict:
        _note(f"submit {doc['id']}")
        return {"job": f"ocr-{doc['id']}", "checks": 0, "done": False}


    @dg.step
    def poll_ocr(state: dict) -> dict:
        _note(f"poll {state['job']}")
        checks = state["checks"] + 1
        return {**state, "checks": checks, "done": checks >= 3}


    @dg.step(retry=dg.Retry.never())
    def read_page(page: int) -> dict:
        _note(f"read {page}")
        if page % 7 == 0:
            raise ValueError(f"page {page} is unreadable")
        return {"page": page, "words": page * 10}


    @dg.workflow
    def read_pages(pages: list):
        batch = yield dg.Map(
            read_page,
            pages,
            name="pages",
            max_concurrency=3,
            completion=dg.Completion(tolerated_failure_count=2),
            item_namer=lambda page, index: f"page-{page}",
        )
        return {
            "words": sum(r["words"] for r in batch.results()),
            "unreadable": [e.error_message for e in batch.errors()],
            "reason": batch.completion_reason,
        }


    @dg.workflow
    def intake(doc: dict):
        job = yield submit_ocr(doc)
        done = yield dg.WaitForCondition(
            poll_ocr,
            initial_state=job,
            wait_strategy=dg.WaitStrategy(until=lambda s: s["done"], delay=1, max_attempts=5),
            name="ocr",
        )
        summary = yield dg.Child(read_pages, (list(range(1, doc["pages"] + 1)),), name="read")
        return {"job": done["job"], "checks": done["checks"], **summary}


    # 2. Subscription renewal ----------------------------------------------------------------

    @dg.step
    def charge(customer: str, amount: int, key: str) -> dict:
        _note(f"charge {customer} {key}")
        return {"customer": customer, "amount": amount, "key": key}


    @dg.step
    def ask_gateway(customer: str, callback_id: str) -> None:
        _note(f"gateway {callback_id}")


    @dg.workflow
    def renew(sub: dict):
        key = str((yield dg.UUID()))
        started = yield dg.Now(name="renewal started")
        receipt = yield charge(sub["customer"], sub["amount"], key)
        handle = yield dg.CreateCallback(name="3ds", timeout=600, heartbeat_timeout=4)
        yield ask_gateway(sub["customer"], handle.callback_id)
        verdict = yield handle
        yield dg.Wait(seconds=1, name="grace")
        return {
            "receipt": receipt,
            "verdict": verdict,
            "same_key": receipt["key"] == key,
            "year": started.year,
        }


    # 3. Catalogue sync on a fleet -------------------------------------------------------------

    @dg.step(semantics=dg.AT_MOST_ONCE, retry=dg.Retry.never())
    def publish(sku: str, price: float) -> str:
        _note(f"publish {sku}")
        return f"published {sku} at {price}"


    @dg.step(retry=dg.Retry(max_attempts=3, initial_delay=1, jitter="none"))
    def fetch_supplier_price(sku: str) -> float:
        path = os.environ.get("FIRST_DAY9_LOG")
        tries = 0
        if path and os.path.exists(path):
            with open(path) as f:
                tries = sum(1 for line in f if line == f"fetch {sku}\\n")
        _note(f"fetch {sku}")
        if tries == 0:
            raise ConnectionError(f"supplier timed out for {sku}")
        return 10.0 + len(sku)


    def pricing(payload: dict) -> dict:
        return {"price": round(payload["cost"] * 1.25, 2)}


    @dg.workflow
    def sync_item(sku: str):
        cost = yield fetch_supplier_price(sku)
        quote = yield dg.Invoke("pricing", {"cost": cost}, name="price")
        published = yield publish(sku, quote["price"])
        return {"sku": sku, "price": quote["price"], "published": published}
    """
)

INTAKE_RESULT = {
    "job": "ocr-d1",
    "checks": 3,
    "words": sum(p * 10 for p in range(1, 16) if p % 7),
    "unreadable": ["page 7 is unreadable", "page 14 is unreadable"],
    "reason": "ALL_COMPLETED",
}


@pytest.fixture
def apps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    (tmp_path / "day9apps.py").write_text(APPS)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("FIRST_DAY9_LOG", str(tmp_path / "effects.log"))
    import day9apps

    yield day9apps
    sys.modules.pop("day9apps", None)


def effects(tmp_path: Path) -> list[str]:
    path = tmp_path / "effects.log"
    return path.read_text().splitlines() if path.exists() else []


class Cli:
    def __init__(self, workdir: Path, db: str) -> None:
        self.workdir = workdir
        self.env = {k: v for k, v in os.environ.items() if k != "DURABLE_GEN_DB"}
        self.env["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(workdir), os.environ.get("PYTHONPATH")])
        )
        self.env["DURABLE_GEN_DB"] = db
        self.env["FIRST_DAY9_LOG"] = str(workdir / "effects.log")

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "durable_gen.cli", *args]

    def __call__(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(*args),
            cwd=self.workdir,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def spawn(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.command(*args),
            cwd=self.workdir,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def records(self) -> dict[str, dict[str, Any]]:
        result = self("list", "--json")
        assert result.returncode == 0, result
        return {r["name"]: r for r in json.loads(result.stdout)}


# --- 1. document intake ------------------------------------------------------------------------


@pytest.mark.parametrize("checkpointing", ["step", "eager", "batch"])
def test_intake_through_run(apps: ModuleType, checkpointing: Any) -> None:
    result = dg.run(
        apps.intake, {"id": "d1", "pages": 15}, skip_time=True, checkpointing=checkpointing
    )
    assert result == INTAKE_RESULT


def test_intake_on_the_command_line_with_its_timeline(apps: ModuleType, tmp_path: Path) -> None:
    cli = Cli(tmp_path, str(tmp_path / "intake.db"))
    began = time.monotonic()
    run = cli(
        "run", "day9apps:intake", "--input", '{"id": "d1", "pages": 15}', "--name", "d1",
        "--checkpointing", "batch",
    )  # fmt: skip
    assert run.returncode == 0, run
    assert json.loads(run.stdout) == INTAKE_RESULT
    assert time.monotonic() - began >= 2  # two real 1 s waits between the three polls
    log = effects(tmp_path)
    assert log.count("submit d1") == 1 and log.count("poll ocr-d1") == 3
    assert sorted(x for x in log if x.startswith("read")) == sorted(
        f"read {p}" for p in range(1, 16)
    )
    show = cli("show", "d1")
    assert show.returncode == 0 and "SUCCEEDED" in show.stdout
    # every page is an item named by the namer, under the child context, and the two
    # unreadable ones say why
    for page in (1, 7, 15):
        assert f"page-{page}" in show.stdout, show.stdout
    # (the item and its step, each)
    assert show.stdout.count("FAILED") == 4
    assert show.stdout.count("✗ ValueError: page 7 is unreadable") == 2
    html = cli("show", "d1", "--html", "-")
    assert html.returncode == 0 and "page 7 is unreadable" in html.stdout
    assert "<script" not in html.stdout
    # the history replays against the code
    history = tmp_path / "d1.json"
    history.write_text(cli("history", "d1", "--json").stdout)
    from durable_gen.testing import replay

    replay(apps.intake, str(history)).raise_for_status()


# --- 2. subscription renewal ---------------------------------------------------------------


def gateway_callback(tmp_path: Path) -> str:
    for line in effects(tmp_path):
        if line.startswith("gateway "):
            return line.split()[1]
    raise AssertionError("the gateway was never asked")


def test_renewal_kept_alive_by_heartbeats_from_the_command_line(
    apps: ModuleType, tmp_path: Path
) -> None:
    cli = Cli(tmp_path, f"sqlite:///{tmp_path.name}.db")
    cli.workdir = tmp_path.parent  # sqlite:///NAME.db is relative to the working directory
    cli.env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), cli.env["PYTHONPATH"]])
    started = cli(
        "start", "day9apps:renew", "--input", '{"customer": "c-9", "amount": 30}',
        "--name", "renew-c-9", "--timeout", "120",
    )  # fmt: skip
    assert started.returncode == 0, started
    worker = cli.spawn("worker", "--poll", "0.1", "-q")
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not any(
            x.startswith("gateway") for x in effects(tmp_path)
        ):
            time.sleep(0.1)
        cid = gateway_callback(tmp_path)
        # the gateway is slow: it heartbeats every second for 6 s, past the 4 s heartbeat
        # timeout, which each heartbeat restarts
        for _ in range(6):
            beat = cli("callback", "heartbeat", cid)
            assert beat.returncode == 0, beat
            assert beat.stdout == f"callback {cid}: heartbeat sent\n"
            time.sleep(1)
        assert cli.records()["renew-c-9"]["status"] == "RUNNING"
        assert "waits on  callback '3ds'" in cli("show", "renew-c-9").stdout
        assert cli("callback", "succeed", cid, '{"3ds": "ok"}').returncode == 0
        while (
            time.monotonic() < deadline + 20 and cli.records()["renew-c-9"]["status"] == "RUNNING"
        ):
            time.sleep(0.2)
    finally:
        worker.send_signal(signal.SIGTERM)
        _out, err = worker.communicate(timeout=30)
    assert worker.returncode == 0, err
    record = cli.records()["renew-c-9"]
    assert record["status"] == "SUCCEEDED", record
    assert record["execution_timeout"] == 120
    result = json.loads(record["result"])
    assert result["verdict"] == {"3ds": "ok"} and result["same_key"] is True
    assert result["year"] == time.gmtime().tm_year
    charges = [x for x in effects(tmp_path) if x.startswith("charge")]
    assert len(charges) == 1 and result["receipt"]["key"] in charges[0]
    # an answer after the execution ended is refused, exit status 1
    late = cli("callback", "heartbeat", cid)
    assert late.returncode == 1 and "UnknownCallbackError" in late.stderr


def test_renewal_whose_gateway_goes_quiet_times_out_on_its_heartbeat(
    apps: ModuleType, tmp_path: Path
) -> None:
    # Through Worker.drive, as `run` would: nobody heartbeats, so the callback times out
    # after 4 s; the workflow does not catch the CallbackTimeoutError, so the execution
    # fails with the callback's error, as engine.md's error types name it.
    with Worker(tmp_path / "renew.db") as worker:
        name = worker.register(apps.renew)
        arn = worker.service.start(name, json.dumps({"customer": "c-1", "amount": 5}))
        began = time.monotonic()
        record = worker.drive(arn)
        took = time.monotonic() - began
    assert record.status == "FAILED", record
    assert record.error is not None and record.error.error_type == "Callback.Heartbeat"
    assert "heartbeat timeout of 4 seconds" in (record.error.error_message or "")
    assert 3.5 <= took < 20, took


# --- 3. catalogue sync on a fleet ----------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgres"])
def fleet_db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "fleet.db")
    return str(request.getfixturevalue("postgres_url"))


def test_catalogue_sync_on_two_command_line_workers(
    apps: ModuleType, tmp_path: Path, fleet_db: str
) -> None:
    skus = [f"sku-{i}" for i in range(6)]
    # "another program" starts the executions by name, and runs none of them
    with Worker(fleet_db, functions={"pricing": "day9apps:pricing"}) as client:
        name = client.register(apps.sync_item)
        assert name == "day9apps.sync_item"
        arns = {
            sku: client.service.start(name, json.dumps(sku), execution_name=sku) for sku in skus
        }
        # starting one again by name is idempotent
        assert (
            client.service.start(name, json.dumps("sku-0"), execution_name="sku-0") == arns["sku-0"]
        )
    cli = Cli(tmp_path, fleet_db)
    workers = [cli.spawn("worker", "--poll", "0.1", "--concurrency", "2") for _ in range(2)]
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            statuses = {r["status"] for r in cli.records().values()}
            if statuses == {"SUCCEEDED"}:
                break
            time.sleep(0.3)
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        outputs = [worker.communicate(timeout=30) for worker in workers]
    assert [w.returncode for w in workers] == [0, 0], outputs
    records = cli.records()
    assert sorted(records) == skus
    log = effects(tmp_path)
    from durable_gen.testing import replay

    for sku in skus:
        price = round((10.0 + len(sku)) * 1.25, 2)
        assert json.loads(records[sku]["result"]) == {
            "sku": sku,
            "price": price,
            "published": f"published {sku} at {price}",
        }
        assert log.count(f"publish {sku}") == 1  # at most once, and it ran
        assert log.count(f"fetch {sku}") == 2  # one failed attempt, one retry
        history = tmp_path / f"{sku}.json"
        history.write_text(cli("history", sku, "--json").stdout)
        replay(apps.sync_item, str(history)).raise_for_status()
    # each worker logged each execution it picked up and how it ended, and nothing else broke
    logs = "".join(err for _, err in outputs)
    assert "Traceback" not in logs
    assert logs.count("finished day9apps.sync_item") >= len(skus)
    assert cli("list", "--status", "SUCCEEDED").stdout.count("day9apps.sync_item") == len(skus)
