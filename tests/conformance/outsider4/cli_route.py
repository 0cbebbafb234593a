"""Run a requirement with the command line, as docs/cli.md describes.

``durable-gen run MODULE:WORKFLOW --input JSON --skip-time --name NAME --checkpointing MODE
--db FILE`` runs the handler on a fresh SQLite file; ``durable-gen history NAME --json --db
FILE`` prints its ``GetDurableExecutionHistory`` events, which our matchers and AWS's published
validators judge with the exit status and the printed result. Only requirements without
callback answers, invoke targets or plugins run this way (the command takes none of them).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import durable_gen as dg

from ..matching import generate_variables, match_history, match_result, substitute
from ..runner import Result, check_published
from ..suite import Requirement

ROOT = Path(__file__).resolve().parents[3]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("DURABLE_GEN_DB", None)
    return subprocess.run(
        [sys.executable, "-m", "durable_gen.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
        check=False,
    )


def run_with_cli(
    req: Requirement,
    workflow: Callable[..., Any],
    db: Path,
    *,
    checkpointing: dg.CheckpointMode = "step",
) -> Result:
    variables = generate_variables(req.variables)
    generated = dict(variables)
    name = "outsider4-" + req.key
    ran = _cli(
        "run",
        f"{workflow.__module__}:{workflow.__qualname__}",
        "--input",
        json.dumps(substitute(req.input, variables)),
        "--skip-time",
        "--name",
        name,
        "--checkpointing",
        checkpointing,
        "--db",
        str(db),
    )
    shown = _cli("history", name, "--json", "--db", str(db))
    if shown.returncode != 0:
        return Result("failed", [f"history: {shown.stderr}", f"run: {ran.stderr}"])
    events = json.loads(shown.stdout)["Events"]
    # exit status 0: succeeded, the result printed; 1: the execution failed (docs/cli.md)
    status = {0: "SUCCEEDED", 1: "FAILED"}.get(ran.returncode, f"exit {ran.returncode}")
    result = ran.stdout.strip() if ran.returncode == 0 else None
    errors = match_history(req.expected_history, events, variables)
    errors += match_result(req.expected_result, status, result, None, variables)
    errors += check_published(req, events, status, result, generated)
    if ran.returncode not in (0, 1):
        errors.append(f"run exited {ran.returncode}: {ran.stderr}")
    return Result("failed" if errors else "passed", errors, 0.0, events, status)
