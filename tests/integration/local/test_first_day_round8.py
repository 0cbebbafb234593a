"""A new user's first day: five applications written from README.md, docs/guide.md,
docs/engine.md and docs/cli.md alone, run on SQLite through ``durable_gen.run``,
``LocalService``, ``Worker`` and the command line, one of them killed and restarted mid-way,
and inspected with ``list``, ``show``, ``history`` and ``show --html``.

The applications: an order saga with compensations, an ETL over a ``Map`` of thousands of
rows with failures and an ``item_namer``, a human approval through ``WaitForCallback``
answered from the command line (and timing out), a scheduler of long waits under real time
and ``--skip-time``, and a fan-out that ``Invoke``s registered functions and runs a
``Parallel`` with a completion rule.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import durable_gen as dg
from durable_gen.local import LocalService, SqliteStore, Worker
from durable_gen.runtime import ErrorObject, make_handler

APPS = textwrap.dedent(
    """
    import os

    import durable_gen as dg


    def _note(what):
        path = os.environ.get("FIRST_DAY_LOG")
        if path:
            with open(path, "a") as f:
                f.write(what + "\\n")


    # 1. An order saga: reserve, charge, ship; a failure undoes what was done, last first.
    class Declined(Exception):
        pass


    def release_stock(reservation: str) -> str:
        _note(f"release {reservation}")
        return f"released {reservation}"


    @dg.step(compensate=release_stock)
    def reserve_stock(order: dict) -> str:
        _note(f"reserve {order['id']}")
        return f"res-{order['id']}"


    @dg.step(name="refund", retry=dg.Retry.never())
    def refund(receipt: str) -> str:
        _note(f"refund {receipt}")
        return f"refunded {receipt}"


    @dg.step(
        compensate=refund,
        retry=dg.Retry(
            max_attempts=2, initial_delay=1, retry_if=lambda e: not isinstance(e, Declined)
        ),
    )
    def charge(order: dict) -> str:
        if order["amount"] > 100:
            raise Declined(f"card declined for {order['id']}")
        _note(f"charge {order['id']}")
        return f"rcpt-{order['id']}"


    @dg.step(retry=dg.Retry.never())
    def ship(order: dict) -> str:
        if order.get("ship_fail"):
            raise RuntimeError("no courier")
        return f"shipped {order['id']}"


    @dg.workflow
    def order_saga(order: dict):
        try:
            r = yield reserve_stock(order)
            c = yield charge(order)
            s = yield ship(order)
        except dg.StepFailedError as exc:
            undone = yield dg.RunCompensations()
            return {
                "status": "rolled back",
                "why": exc.error_type,
                "undone": [[u.name, u.status, u.result] for u in undone],
            }
        return {"status": "ok", "steps": [r, c, s]}


    # 2. An ETL over thousands of rows; a few rows are bad, the batch tolerates 5 %.
    @dg.step(retry=dg.Retry.never())
    def transform(row: int) -> int:
        if row % 97 == 13:
            raise ValueError(f"bad row {row}")
        return row * 2


    def row_name(row: int, index: int) -> str:
        return f"row-{row}"


    @dg.workflow
    def etl(n: int):
        batch = yield dg.Map(
            transform,
            list(range(n)),
            item_namer=row_name,
            max_concurrency=50,
            completion=dg.Completion(tolerated_failure_percentage=5),
            name="rows",
        )
        return {
            "ok": batch.success_count,
            "failed": batch.failure_count,
            "reason": batch.completion_reason,
            "sum": sum(batch.results()),
            "first_error": batch.errors()[0].error_message,
            "names": [item.name for item in batch.items[12:14]],
        }


    # 3. A human approval: a ticket carries the callback id; answered, rejected or expired.
    @dg.step
    def open_ticket(callback_id: str) -> None:
        _note(f"ticket {callback_id}")


    @dg.workflow
    def approval(request: dict):
        try:
            decision = yield dg.WaitForCallback(
                open_ticket, name="approve", timeout=request.get("timeout", 3600)
            )
        except dg.CallbackTimeoutError as exc:
            return {"decision": "expired", "type": exc.error_type}
        except dg.CallbackFailedError as exc:
            return {"decision": "rejected", "type": exc.error_type, "why": exc.error_message}
        return {"decision": decision}


    # 4. A scheduler: a tick, then a long wait, a few times over.
    @dg.step
    def tick(i: int) -> int:
        _note(f"tick {i}")
        return i


    @dg.workflow
    def scheduler(spec: dict):
        start = yield dg.Now()
        ticks = []
        for i in range(spec["runs"]):
            ticks.append((yield tick(i)))
            yield dg.Wait(seconds=spec["every"], name=f"sleep-{i}")
        end = yield dg.Now()
        return {"ticks": ticks, "elapsed": round((end - start).total_seconds())}


    # 5. A fan-out: two registered functions invoked, then two suppliers raced.
    def price(payload: dict) -> float:
        return payload["qty"] * 1.5


    @dg.workflow
    def stock(payload: dict):
        sku = yield dg.Step(lambda: payload["sku"].upper(), name="lookup")
        return {"sku": sku}


    def supplier_a() -> str:
        raise RuntimeError("supplier a is down")


    def supplier_b() -> str:
        return "supplier-b"


    @dg.workflow
    def fanout(request: dict):
        p = yield dg.Invoke("price", {"qty": request["qty"]}, name="price")
        s = yield dg.Invoke("stock", {"sku": request["sku"]}, name="stock")
        first = yield dg.Parallel(
            [dg.Branch(supplier_a, name="a"), dg.Branch(supplier_b, name="b")],
            completion=dg.Completion.first_successful(),
            name="suppliers",
        )
        return {
            "price": p,
            "stock": s,
            "supplier": first.results(),
            "reason": first.completion_reason,
        }
    """
)

SAGA_OK = {"status": "ok", "steps": ["res-o1", "rcpt-o1", "shipped o1"]}
SAGA_DECLINED = {
    "status": "rolled back",
    "why": "Declined",
    "undone": [["reserve_stock", "SUCCEEDED", "released res-o2"]],
}
SAGA_NOT_SHIPPED = {
    "status": "rolled back",
    "why": "RuntimeError",
    "undone": [
        ["charge", "SUCCEEDED", "refunded rcpt-o3"],
        ["reserve_stock", "SUCCEEDED", "released res-o3"],
    ],
}
FANOUT = {
    "price": 3.0,
    "stock": {"sku": "AB"},
    "supplier": ["supplier-b"],
    "reason": "MIN_SUCCESSFUL_REACHED",
}


def etl_expected(n: int) -> dict[str, object]:
    bad = [r for r in range(n) if r % 97 == 13]
    return {
        "ok": n - len(bad),
        "failed": len(bad),
        "reason": "ALL_COMPLETED",
        "sum": sum(2 * r for r in range(n) if r % 97 != 13),
        "first_error": "bad row 13",
        "names": ["row-12", "row-13"],
    }


@pytest.fixture
def apps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """The applications' module, ``first_day_apps``, importable here and by subprocesses."""
    (tmp_path / "first_day_apps.py").write_text(APPS)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("FIRST_DAY_LOG", str(tmp_path / "effects.log"))
    monkeypatch.chdir(tmp_path)
    import first_day_apps  # type: ignore[import-not-found]

    yield first_day_apps
    sys.modules.pop("first_day_apps", None)


def effects(tmp_path: Path) -> list[str]:
    path = tmp_path / "effects.log"
    return path.read_text().splitlines() if path.exists() else []


class Cli:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.env = {k: v for k, v in os.environ.items() if k != "DURABLE_GEN_DB"}
        self.env["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(workdir), os.environ.get("PYTHONPATH")])
        )
        self.env["DURABLE_GEN_DB"] = str(workdir / "first.db")
        self.env["FIRST_DAY_LOG"] = str(workdir / "effects.log")

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

    def spawn(self, *args: str, stderr: Path) -> subprocess.Popen[bytes]:
        with stderr.open("ab") as err:
            return subprocess.Popen(self.command(*args), cwd=self.workdir, env=self.env, stderr=err)


@pytest.fixture
def cli(apps: object, tmp_path: Path) -> Cli:
    return Cli(tmp_path)


# --- durable_gen.run ----------------------------------------------------------------------


def test_every_app_through_run(apps: object) -> None:
    a: dict[str, Callable[..., object]] = vars(apps)
    assert dg.run(a["order_saga"], {"id": "o1", "amount": 10}) == SAGA_OK
    assert dg.run(a["order_saga"], {"id": "o2", "amount": 500}) == SAGA_DECLINED
    assert dg.run(a["order_saga"], {"id": "o3", "amount": 5, "ship_fail": True}) == (
        SAGA_NOT_SHIPPED
    )
    assert dg.run(a["etl"], 2000) == etl_expected(2000)
    assert dg.run(a["approval"], {"timeout": 60}, skip_time=True) == {
        "decision": "expired",
        "type": "Callback.Timeout",
    }
    assert dg.run(a["scheduler"], {"runs": 3, "every": 86400}, skip_time=True) == {
        "ticks": [0, 1, 2],
        "elapsed": 3 * 86400,
    }
    functions = {"price": a["price"], "stock": a["stock"]}
    assert dg.run(a["fanout"], {"qty": 2, "sku": "ab"}, functions=functions) == FANOUT


# --- LocalService on a SQLite file ----------------------------------------------------------


def test_local_service_on_sqlite(apps: object, tmp_path: Path) -> None:
    a = vars(apps)
    with SqliteStore(tmp_path / "service.db") as store:
        service = LocalService(store=store)
        service.register("saga", make_handler(a["order_saga"], service))
        arn = service.start("saga", json.dumps({"id": "o3", "amount": 5, "ship_fail": True}))
        record = service.run(arn)
        assert record.status == "SUCCEEDED"
        assert json.loads(record.result or "") == SAGA_NOT_SHIPPED
        kinds = [e.event_type for e in service.get_history(arn)]
        assert kinds.count("ContextSucceeded") == 2  # one context per undo
        assert effects(tmp_path)[-2:] == ["refund rcpt-o3", "release res-o3"]

        service.register("approval", make_handler(a["approval"], service))
        arn = service.start("approval", json.dumps({"timeout": 600}), execution_name="req-1")
        record = service.run(arn, until=service.clock.now_ms() + 300)
        assert record.status == "RUNNING"
        (line,) = service.waiting_on(arn)
        assert "approve create callback id" in line
        callback_id = effects(tmp_path)[-1].removeprefix("ticket ")
        assert callback_id in line
        service.send_callback_failure(
            callback_id, ErrorObject(error_type="Rejected", error_message="no budget")
        )
        record = service.run(arn)
        assert json.loads(record.result or "") == {
            "decision": "rejected",
            "type": "Rejected",
            "why": "no budget",
        }


# --- Worker from Python -----------------------------------------------------------------------


def test_worker_serves_invoke_targets(apps: object, tmp_path: Path) -> None:
    a = vars(apps)
    functions = {"price": "first_day_apps:price", "stock": "first_day_apps:stock"}
    with Worker(tmp_path / "worker.db", functions=functions, log=lambda line: None) as worker:
        name = worker.register(a["fanout"])
        assert name == "first_day_apps.fanout"
        arn = worker.service.start(name, json.dumps({"qty": 2, "sku": "ab"}), execution_name="f")
        record = worker.drive(arn)
        assert record.status == "SUCCEEDED"
        assert json.loads(record.result or "") == FANOUT
        children = [r for r in worker.service.list_executions() if r.parent_arn == arn]
        assert sorted(r.function_name for r in children) == ["stock"]  # price is a plain one


# --- the command line -------------------------------------------------------------------------


def test_run_registers_invoke_targets(cli: Cli) -> None:
    """`durable-gen run` serves the functions a workflow invokes with `--register`, as
    `worker` does; before, a fan-out could only be run after a `worker --register`."""
    done = cli(
        "run",
        "first_day_apps:fanout",
        "--input",
        '{"qty": 2, "sku": "ab"}',
        "--register",
        "price=first_day_apps:price",
        "--register",
        "stock=first_day_apps:stock",
        "--skip-time",
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == FANOUT
    # remembered in the database, as a worker's --register is
    again = cli("run", "first_day_apps:fanout", "--input", '{"qty": 2, "sku": "ab"}')
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout) == FANOUT

    bad = cli("run", "first_day_apps:fanout", "--input", "{}", "--register", "price")
    assert bad.returncode == 2
    assert "--register takes NAME=MODULE:FUNCTION" in bad.stderr
    missing = cli("run", "first_day_apps:fanout", "--register", "price=first_day_apps:nope")
    assert missing.returncode == 2
    assert "nope" in missing.stderr and "Traceback" not in missing.stderr


def test_unregistered_invoke_target_says_how_to_register(cli: Cli) -> None:
    done = cli("run", "first_day_apps:fanout", "--input", '{"qty": 2, "sku": "ab"}')
    assert done.returncode == 1
    (line,) = done.stderr.strip().splitlines()
    assert "FunctionNotRegisteredError" in line
    assert "durable-gen worker --register price=MODULE:FUNCTION" in line
    assert "`durable-gen run` takes --register too" in line
    # each piece of advice once, and no "LocalService" a command-line user never made
    assert line.count("--register price=MODULE:FUNCTION") == 1
    assert "this LocalService" not in line


def test_unknown_option_points_at_the_commands_help(cli: Cli) -> None:
    done = cli("run", "first_day_apps:etl", "--input", "3", "-q")
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "durable-gen run: error: unrecognized arguments: -q (see durable-gen run --help)"
    )
    done = cli("list", "--foo")
    assert done.returncode == 2
    assert "(see durable-gen list --help)" in done.stderr


def test_saga_and_etl_from_the_command_line(cli: Cli, tmp_path: Path) -> None:
    declined = cli("run", "first_day_apps:order_saga", "--input", '{"id": "o2", "amount": 500}')
    assert declined.returncode == 0, declined.stderr
    assert json.loads(declined.stdout) == SAGA_DECLINED
    assert "card declined for o2; not retried" in declined.stderr

    etl = cli("run", "first_day_apps:etl", "--input", "3000", "--name", "nightly")
    assert etl.returncode == 0, etl.stderr
    assert json.loads(etl.stdout) == etl_expected(3000)

    listed = json.loads(cli("list", "--json").stdout)
    assert [r["function_name"] for r in listed] == [
        "first_day_apps.order_saga",
        "first_day_apps.etl",
    ]
    assert all(r["status"] == "SUCCEEDED" for r in listed)
    shown = cli("show", "nightly")
    assert shown.returncode == 0, shown.stderr
    assert "operations (6001)" in shown.stdout
    assert "    row-13 " in shown.stdout and "FAILED" in shown.stdout
    html = cli("show", "nightly", "--html", "-")
    assert html.returncode == 0
    assert "row-13" in html.stdout and "bad row 13" in html.stdout
    history = json.loads(cli("history", "nightly", "--json").stdout)
    assert history["Events"][0]["EventType"] == "ExecutionStarted"
    assert history["Events"][-1]["EventType"] == "ExecutionSucceeded"
    failed = [e for e in history["Events"] if e["EventType"] == "StepFailed"]
    assert len(failed) == 31


def test_approval_answered_from_the_command_line(cli: Cli, tmp_path: Path) -> None:
    started = cli("start", "first_day_apps:approval", "--input", '{"timeout": 600}')
    assert started.returncode == 0, started.stderr
    exec_id = started.stdout.strip()
    assert cli("worker", "--once", "-q").returncode == 0
    shown = cli("show", exec_id[:8]).stdout
    callback_id = effects(tmp_path)[-1].removeprefix("ticket ")
    assert f"CallbackId {callback_id}" in shown
    answered = cli("callback", "succeed", callback_id, '"approved"')
    assert answered.returncode == 0, answered.stderr
    again = cli("callback", "succeed", callback_id, '"twice"')
    assert again.returncode == 1
    assert cli("worker", "--once", "-q").returncode == 0
    record = json.loads(cli("list", "--json").stdout)[0]
    assert record["status"] == "SUCCEEDED"
    assert json.loads(record["result"]) == {"decision": "approved"}

    # a callback left unanswered past its timeout expires, even while no worker ran
    started = cli("start", "first_day_apps:approval", "--input", '{"timeout": 1}')
    exec_id = started.stdout.strip()
    assert cli("worker", "--once", "-q").returncode == 0
    callback_id = effects(tmp_path)[-1].removeprefix("ticket ")
    time.sleep(1.5)
    late = cli("callback", "succeed", callback_id, '"approved"')
    assert late.returncode == 1
    assert cli("worker", "--once", "-q").returncode == 0
    shown = cli("show", exec_id[:8]).stdout
    assert '{"decision":"expired","type":"Callback.Timeout"}' in shown


def test_scheduler_under_skip_time_and_real_time_with_a_crash(cli: Cli, tmp_path: Path) -> None:
    skipped = cli(
        "run", "first_day_apps:scheduler", "--input", '{"runs": 2, "every": 86400}', "--skip-time"
    )
    assert skipped.returncode == 0, skipped.stderr
    assert json.loads(skipped.stdout) == {"ticks": [0, 1], "elapsed": 172800}

    # real time: the worker is killed during the second wait and another one finishes
    started = cli(
        "start", "first_day_apps:scheduler", "--input", '{"runs": 3, "every": 2}', "--name", "cron"
    )
    assert started.returncode == 0, started.stderr
    log = tmp_path / "worker.log"
    first = cli.spawn("worker", "--poll", "0.1", stderr=log)
    try:
        deadline = time.monotonic() + 30
        while effects(tmp_path).count("tick 1") < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    assert effects(tmp_path).count("tick 1") == 2
    shown = cli("show", "cron").stdout
    assert "RUNNING" in shown and "sleep-1" in shown
    second = cli.spawn("worker", "--poll", "0.1", stderr=log)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            listed = json.loads(cli("list", "--status", "SUCCEEDED", "--json").stdout)
            if any(r["name"] == "cron" for r in listed):
                break
            time.sleep(0.2)
    finally:
        second.send_signal(signal.SIGTERM)
        assert second.wait(30) == 0
    record = next(r for r in json.loads(cli("list", "--json").stdout) if r["name"] == "cron")
    assert record["status"] == "SUCCEEDED"
    result = json.loads(record["result"])
    assert result["ticks"] == [0, 1, 2]
    assert result["elapsed"] >= 6
    ticks = [e for e in effects(tmp_path) if e.startswith("tick")]
    # the skip-time run's two ticks, then each tick of the crashed execution once
    assert ticks == ["tick 0", "tick 1", "tick 0", "tick 1", "tick 2"]


def test_a_timed_out_execution_says_timed_out_in_words(cli: Cli, apps: object) -> None:
    """`run` of an execution past its `--timeout` says "execution timed out", not the
    status's spelling "timed_out"; `dg.run`'s error reads the same."""
    done = cli("run", "first_day_apps:approval", "--input", "{}", "--timeout", "1")
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("durable-gen: ExecutionFailedError: execution timed out: ")
    assert "Execution.Timeout" in last
    error = dg.ExecutionFailedError("Execution.Timeout", "late", status="TIMED_OUT")
    assert str(error) == "execution timed out: Execution.Timeout: late"
    assert error.status == "TIMED_OUT"


def test_a_workflow_registered_from_a_script_is_explained_to_other_workers(
    cli: Cli, tmp_path: Path
) -> None:
    """A first program registers the workflow it defines in the script it runs; another
    worker cannot import `__main__:greet`, and says why and what to do."""
    script = tmp_path / "starter.py"
    script.write_text(
        textwrap.dedent(
            """
            import sys
            import durable_gen as dg
            from durable_gen.local import Worker

            @dg.workflow
            def greet(name: str):
                return (yield dg.Step(lambda: f"hello {name}", name="hello"))

            if __name__ == "__main__":
                with Worker(sys.argv[1], log=lambda line: None) as worker:
                    name = worker.register(greet)
                    print(worker.service.start(name, '"bob"'))
            """
        )
    )
    subprocess.run(
        [sys.executable, str(script), str(tmp_path / "first.db")],
        check=True,
        cwd=tmp_path,
        env=cli.env,
        capture_output=True,
        timeout=60,
    )
    done = cli("worker", "--once")
    assert done.returncode == 0, done.stderr
    assert "not serving '__main__.greet'" in done.stderr
    assert "registered by a program run as a script" in done.stderr
    assert "define the workflow in a module" in done.stderr
    (record,) = json.loads(cli("list", "--json").stdout)
    assert record["status"] == "RUNNING"  # kept for a worker that can import it


def test_drive_waits_for_a_callback_with_a_timeout(apps: object, tmp_path: Path) -> None:
    """docs/cli.md: `Worker.drive` does what `run` does: a callback with a timeout keeps it
    going (until answered or timed out); one without a timeout returns it RUNNING."""
    a = vars(apps)
    with Worker(tmp_path / "drive.db", log=lambda line: None) as worker:
        name = worker.register(a["approval"])
        arn = worker.service.start(name, json.dumps({"timeout": 1}))
        began = time.monotonic()
        record = worker.drive(arn)
        assert time.monotonic() - began >= 0.9
        assert record.status == "SUCCEEDED"
        assert json.loads(record.result or "") == {
            "decision": "expired",
            "type": "Callback.Timeout",
        }


def test_show_of_an_invoked_execution_names_its_parent(cli: Cli) -> None:
    """`durable-gen show` of an execution an `Invoke` started says which execution invoked
    it, so one can go from a fan-out's child back to the fan-out."""
    done = cli(
        "run",
        "first_day_apps:fanout",
        "--input",
        '{"qty": 2, "sku": "ab"}',
        "--register",
        "price=first_day_apps:price",
        "--register",
        "stock=first_day_apps:stock",
        "--name",
        "fan",
    )
    assert done.returncode == 0, done.stderr
    records = json.loads(cli("list", "--json").stdout)
    parent = next(r for r in records if r["name"] == "fan")
    child = next(r for r in records if r["function_name"] == "stock")
    assert child["parent_arn"] == parent["arn"]
    shown = cli("show", child["name"]).stdout.splitlines()
    parent_id = parent["arn"].rsplit("/", 1)[-1]
    assert shown[3] == f"  parent    {parent_id}"
    assert not any(line.startswith("  parent") for line in cli("show", "fan").stdout.splitlines())


def test_an_item_namer_of_non_ascii_data_says_how_to_name_items() -> None:
    """An ETL naming rows after customers ('zoë') is refused, as documented, with a message
    that says what to write instead."""

    def upper(text: str) -> str:
        return text.upper()

    @dg.workflow
    def customers(names: list[str]):
        batch = yield dg.Map(upper, names, item_namer=lambda name, i: f"cust-{name}")
        return batch.results()

    with pytest.raises(dg.ExecutionFailedError) as caught:
        dg.run(customers, ["ann", "zoë"])
    assert caught.value.error_type == "ValidationError"
    message = caught.value.error_message or ""
    assert "got 'cust-zoë'" in message
    assert "name it by an ASCII key" in message and "backslashreplace" in message


def test_waits_on_writes_times_as_show_writes_them(apps: object, tmp_path: Path) -> None:
    """`show`'s "waits on" line wrote `...T00:34:02.955000Z` under a `started` line written
    `...T00:33:58.427+00:00`; both are now UTC with milliseconds, as `history` writes too."""
    from durable_gen.local import VirtualClock

    a = vars(apps)
    with SqliteStore(tmp_path / "times.db") as store:
        service = LocalService(store=store, clock=VirtualClock(auto_advance=False))
        service.register("scheduler", make_handler(a["scheduler"], service))
        arn = service.start("scheduler", json.dumps({"runs": 1, "every": 90}))
        service.run(arn)
        (line,) = service.waiting_on(arn)
        assert line == "wait 'sleep-0' until 2025-01-01T00:01:30.000+00:00"
