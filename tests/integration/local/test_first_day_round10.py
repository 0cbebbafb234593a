"""A new user's first day, round 10: the shell blocks of README.md and docs/versioning.md, run
as written with ``durable-gen`` from the built wheel (not an editable install), and the
Quick start's log line, which shows once the workflow's module configures logging.

The wheel is built from this checkout and installed, without its dependencies, into a fresh
virtual environment whose ``durable_gen`` is the wheel's (its dependencies come from the test
environment through a ``.pth`` line). The blocks run in a folder that holds only what the page
says the reader has: ``examples/`` for the Quick start, the reader's workflow module for the
export loop.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
PIP = [sys.executable, "-m", "pip"]
BASH = re.compile(r"^```bash\n(.*?)^```", re.S | re.M)


def bash_blocks(page: str) -> list[str]:
    return [m.group(1) for m in BASH.finditer((ROOT / page).read_text())]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The ``bin`` folder of a fresh virtual environment holding the wheel of this checkout."""
    if shutil.which("bash") is None:
        pytest.skip("no bash to run the shell blocks with")
    root = tmp_path_factory.mktemp("wheel")
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(root), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr
    [wheel] = root.glob("durable_gen-*.whl")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    done = subprocess.run(
        [*PIP, "--python", str(python), "install", "-q", "--no-deps", "--no-index", str(wheel)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # msgspec and anyio (and psycopg, for the fleet) from the test environment, after the
    # wheel's own folder: a .pth line adds a folder, not the .pth files in it, so the
    # checkout's editable install stays out of sight
    Path(purelib, "zz_test_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    where = subprocess.run(
        [str(python), "-c", "import durable_gen; print(durable_gen.__file__)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert where.startswith(purelib), where  # the wheel's, not the checkout's
    yield venv / "bin"


def shell(script: str, cwd: Path, bin_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if k not in ("DURABLE_GEN_DB", "PYTHONPATH")}
    full["PATH"] = os.pathsep.join([str(bin_dir), full.get("PATH", "")])
    full.update(env)
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=cwd,
        env=full,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_quick_start_from_the_wheel(installed: Path, tmp_path: Path) -> None:
    [block, _tests] = bash_blocks("README.md")
    lines = block.strip().splitlines()
    # the first two lines make a virtual environment and install the checkout: done by the
    # fixture, from the wheel; the rest is what the reader runs
    assert lines[0].startswith("python3 -m venv") and lines[1].startswith("pip install")
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    ran = shell("\n".join(lines[2:]), tmp_path, installed)
    assert ran.returncode == 0, ran
    assert json.loads(ran.stdout) == {
        "receipt": "receipt-o-1-42",
        "labels": ["label:book", "label:pen"],
        "tax": 8.4,
    }
    assert (tmp_path / "durable.db").stat().st_mode & 0o777 == 0o600
    listed = shell("durable-gen list --json", tmp_path, installed)
    [record] = json.loads(listed.stdout)
    assert record["status"] == "SUCCEEDED"
    assert record["function_name"] == "examples.order.place_order"


FLOWS_V1 = textwrap.dedent(
    """
    import durable_gen as dg


    @dg.step
    def charge(order_id, amount):
        return f"receipt-{order_id}-{amount}"


    @dg.workflow
    def place_order(order):
        receipt = yield charge(order["id"], order["amount"])
        yield dg.Wait(seconds=3600, name="cooling-off")
        return receipt
    """
)

#: The deploy: the step renamed, which the running executions recorded under its old name.
FLOWS_V2 = FLOWS_V1.replace("def charge(", "def charge_card(").replace(
    "yield charge(", "yield charge_card("
)

REPLAY = textwrap.dedent(
    """
    import json
    from durable_gen.testing import replay_folder
    from flows import place_order

    reports = replay_folder({"place_order": place_order}, "exported-histories/")
    print(json.dumps(sorted([r.status, r.message or ""] for r in reports)))
    """
)


def test_the_export_loop_of_versioning_md_feeds_replay_folder(
    installed: Path, tmp_path: Path
) -> None:
    [block] = [b for b in bash_blocks("docs/versioning.md") if "exported-histories" in b]
    (tmp_path / "flows.py").write_text(FLOWS_V1)
    cli = "\n".join(
        [
            'durable-gen start flows:place_order --input \'{"id": "o-1", "amount": 5}\'',
            'durable-gen start flows:place_order --input \'{"id": "o-2", "amount": 7}\' '
            "--name second",
            'durable-gen run flows:place_order --input \'{"id": "o-3", "amount": 9}\' --skip-time',
            "durable-gen worker --once -q",
        ]
    )
    env = {"PYTHONPATH": str(tmp_path)}
    started = shell(cli, tmp_path, installed, **env)
    assert started.returncode == 0, started
    exported = shell(block, tmp_path, installed, **env)
    assert exported.returncode == 0, exported
    files = sorted((tmp_path / "exported-histories").glob("*.json"))
    assert len(files) == 2  # the two RUNNING ones; the one `run` finished is not exported
    for file in files:
        history = json.loads(file.read_text())
        assert history["FunctionName"] == "flows.place_order"
        assert history["DurableExecutionArn"].endswith("/" + file.stem)

    (tmp_path / "replay_check.py").write_text(REPLAY)
    same = shell("python replay_check.py", tmp_path, installed, **env)
    assert same.returncode == 0, same
    # ok: the code replays each history and waits where its execution waits
    assert [status for status, _ in json.loads(same.stdout)] == ["ok", "ok"]

    (tmp_path / "flows.py").write_text(FLOWS_V2)
    changed = shell("python replay_check.py", tmp_path, installed, **env)
    assert changed.returncode == 0, changed
    reports = json.loads(changed.stdout)
    assert [status for status, _ in reports] == ["diverged", "diverged"]
    assert all("name='charge'" in m and "name='charge_card'" in m for _, m in reports), reports


LOGGING = textwrap.dedent(
    """
    import logging

    logging.basicConfig(level=logging.INFO, format="LOG %(name)s %(message)s")
    """
)


def test_the_quick_starts_log_line_shows_once_when_logging_is_configured(
    installed: Path, tmp_path: Path
) -> None:
    # docs/cli.md: the command line leaves logging as it finds it; a module that configures
    # it sees the workflow's INFO line once per execution, through `run`, and through two
    # worker processes of which the first suspends at the Wait and the second resumes.
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    order = '{"id": "o-1", "amount": 42, "items": ["book"]}'
    quiet = shell(
        f"durable-gen run examples.order:place_order --input '{order}'", tmp_path, installed
    )
    assert quiet.returncode == 0 and "charged" not in quiet.stderr, quiet
    # the module that defines the workflow: what a worker imports (by the import path the
    # database remembers), where a module that only imports it would not be
    source = (ROOT / "examples" / "order.py").read_text()
    source = source.replace("from __future__ import annotations\n", "")
    (tmp_path / "logged.py").write_text(LOGGING + source.replace('"examples.order"', '"orders"'))
    env = {"PYTHONPATH": str(tmp_path)}
    ran = shell(f"durable-gen run logged:place_order --input '{order}'", tmp_path, installed, **env)
    assert ran.returncode == 0, ran
    assert ran.stderr.count("LOG orders charged receipt-o-1-42") == 1, ran.stderr
    workers = shell(
        f"durable-gen start logged:place_order --input '{order}' --name w\n"
        "durable-gen worker --once -q\n"  # charges, then suspends at the one-second Wait
        "sleep 1.2\n"  # the Wait's own second: nothing to synchronise on but the clock
        "durable-gen worker --once -q\n"
        "durable-gen list --status SUCCEEDED --json",
        tmp_path,
        installed,
        **env,
    )
    assert workers.returncode == 0, workers
    assert workers.stderr.count("LOG orders charged receipt-o-1-42") == 1, workers
    listed = json.loads(workers.stdout.splitlines()[-1])  # after the id `start` printed
    assert "w" in {r["name"] for r in listed}, workers.stdout
