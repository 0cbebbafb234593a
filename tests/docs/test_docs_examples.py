"""Every ``python`` code block of README.md and docs/*.md runs as written.

The blocks of one page run in order in one namespace, as a reader would paste them into one
file. Names a page leaves to the reader (a payments client, an HTTP call, a metrics sink) are
stubbed by ``placeholders`` below; the pages do not show them. Real clocks are swapped for
virtual ones, so a page's ``Wait(seconds=3600)`` finishes at once. A block that defines pytest
tests taking no fixture has them called too. A few pages read files or modules of the reader's
own (``orders.workflows``, exported histories): ``SETUP`` makes them from the project's test
fixtures. A block that cannot run on a test machine (a deployment, a call to AWS) is preceded
by ``<!-- docs-test: skip REASON -->`` and must say why (docs/engine.md's fleet blocks run
against a real Postgres server in ``tests/postgres/test_engine_md_fleet_blocks.py``).
"""

from __future__ import annotations

import logging
import re
import subprocess
import sys
import types
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
SKIP = re.compile(r"<!-- docs-test: skip (?P<reason>[^>]+?) -->\s*$")


@dataclass(frozen=True)
class Block:
    page: Path
    line: int
    code: str
    skip: str | None


def blocks(page: Path) -> list[Block]:
    text = page.read_text()
    found = []
    for match in FENCE.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        skip = SKIP.search(before)
        found.append(Block(page, line, match.group(1), skip["reason"] if skip else None))
    return found


class _Payments:
    def charge(self, order_id: str, amount: int) -> str:
        return f"receipt-{order_id}-{amount}"

    def refund(self, *args: Any) -> None:
        return None


class _Metrics:
    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def count(self, name: str, value: int = 1) -> None:
        self.counts[name] = self.counts.get(name, 0) + value


def placeholders() -> dict[str, Any]:
    """What the pages leave to the reader, as the simplest thing that works."""
    return {
        "payments": _Payments(),
        "metrics": _Metrics(),
        "http_get": lambda url: f"<html>{url}</html>",
        "manager": "manager@example.com",
        "tax": lambda payload: {"tax": round(payload["amount"] * 0.2, 2)},
    }


@pytest.fixture
def virtual_time(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    from durable_gen.local import VirtualClock, _engine, _run

    for module in (_run, _engine):
        monkeypatch.setattr(module, "RealClock", VirtualClock)
    monkeypatch.chdir(tmp_path)  # files a page writes land in a fresh folder
    yield


def _setup_migration() -> None:
    """The reader's ``orders.workflows.process_order`` and an exported AWS-recorded history."""
    from tests.interop import workflows

    fixture = ROOT / "tests" / "interop" / "fixtures" / "waits.history.json"
    target = Path("exported-histories/orders/order-o-1.json")
    target.parent.mkdir(parents=True)
    target.write_text(fixture.read_text())
    orders = types.ModuleType("orders")
    orders_workflows = types.ModuleType("orders.workflows")
    orders_workflows.process_order = workflows.waits  # type: ignore[attr-defined]
    orders.workflows = orders_workflows  # type: ignore[attr-defined]
    sys.modules["orders"] = orders
    sys.modules["orders.workflows"] = orders_workflows


def _setup_cli() -> None:
    """The reader's ``app.tax`` module, a plain ``Invoke`` target."""
    app = types.ModuleType("app")
    tax = types.ModuleType("app.tax")
    tax.compute = lambda payload: {"tax": round(payload["amount"] * 0.2, 2)}  # type: ignore[attr-defined]
    app.tax = tax  # type: ignore[attr-defined]
    sys.modules["app"] = app
    sys.modules["app.tax"] = tax


def _setup_testing() -> None:
    """The folder the page's CI check replays (empty: no execution is running here)."""
    Path("exported-histories").mkdir()


SETUP = {
    "docs/migration.md": _setup_migration,
    "docs/cli.md": _setup_cli,
    "docs/testing.md": _setup_testing,
}


def _run_page(page: Path) -> None:
    module = types.ModuleType(f"docs_{page.stem.replace('-', '_')}")
    module.__dict__.update(placeholders())
    sys.modules[module.__name__] = module  # workflows name themselves after their module
    setup = SETUP.get(str(page.relative_to(ROOT)))
    if setup is not None:
        setup()
    try:
        for block in blocks(page):
            if block.skip:
                continue
            where = f"{page.relative_to(ROOT)}:{block.line}"
            code = compile(block.code, where, "exec")
            before = set(module.__dict__)
            try:
                exec(code, module.__dict__)
                for name in sorted(set(module.__dict__) - before):
                    test = module.__dict__[name]
                    if name.startswith("test_") and callable(test) and not _parameters(test):
                        test()
            except BaseException as exc:
                raise AssertionError(f"the block at {where} failed: {exc!r}") from exc
    finally:
        for name in (module.__name__, "orders", "orders.workflows", "app", "app.tax"):
            sys.modules.pop(name, None)


def _parameters(fn: Any) -> list[str]:
    import inspect

    try:
        return list(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return []


#: Pages whose blocks do not run yet, and why. A page leaves this list when it is fixed (the
#: xfail is strict: a listed page that passes fails the run, so the list cannot go stale).
NOT_YET: dict[str, str] = {}


def _params() -> list[Any]:
    params = []
    for page in PAGES:
        if not blocks(page):
            continue
        name = str(page.relative_to(ROOT))
        marks = [pytest.mark.xfail(reason=NOT_YET[name], strict=True)] if name in NOT_YET else []
        params.append(pytest.param(page, id=name, marks=marks))
    return params


@pytest.mark.parametrize("page", _params())
def test_page_blocks_run(
    page: Path, virtual_time: None, capsys: pytest.CaptureFixture[str], caplog: Any
) -> None:
    caplog.set_level(logging.CRITICAL)
    _run_page(page)


def test_skip_marker_needs_a_reason(tmp_path: Path) -> None:
    page = tmp_path / "p.md"
    page.write_text("<!-- docs-test: skip deploys to AWS -->\n```python\nraise SystemExit\n```\n")
    assert [b.skip for b in blocks(page)] == ["deploys to AWS"]


#: What the pages leave to the reader, declared for the type checker (see ``placeholders``).
_PLACEHOLDER_TYPES = (
    "from typing import Any\npayments: Any\nmetrics: Any\nhttp_get: Any\nmanager: str\ntax: Any\n"
)


def test_page_blocks_type_check(tmp_path: Path) -> None:
    """mypy accepts every page's blocks, read as one module each (as they run above).

    Pages show variants of one function one after the other, so redefinitions are allowed.
    """
    pytest.importorskip("mypy")
    files = []
    for page in PAGES:
        runnable = [b for b in blocks(page) if not b.skip]
        if not runnable:
            continue
        source = _PLACEHOLDER_TYPES + "\n".join(
            f"# --- {page.name}:{b.line}\n{b.code}" for b in runnable
        )
        target = tmp_path / f"docs_{page.stem.replace('-', '_')}.py"
        target.write_text(source)
        files.append(target.name)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--ignore-missing-imports",
            "--allow-redefinition",
            "--disable-error-code=no-redef",
            "--no-error-summary",
            "--cache-dir",
            str(tmp_path / ".mypy_cache"),
            *files,
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
