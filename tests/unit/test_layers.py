"""The package's layers: no import cycle between its modules, and a light top-level import."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import durable_gen

PACKAGE_DIR = Path(durable_gen.__file__).parent


def _module_names() -> dict[str, Path]:
    names = {}
    for path in PACKAGE_DIR.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def _imports(module: str, path: Path, known: dict[str, Path]) -> set[str]:
    """Every durable_gen module ``module`` imports, at module level or inside a function.

    Imports under ``if TYPE_CHECKING:`` are left out: they never run.
    """
    tree = ast.parse(path.read_text())
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(child) for stmt in node.body for child in ast.walk(stmt))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.add(sub if sub in known else target)
    return {name for name in found if name in known and name != module}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_no_import_cycle_between_modules() -> None:
    known = _module_names()
    graph = {name: _imports(name, path, known) for name, path in known.items()}
    # A package's __init__ re-exports its submodules: an edge from a submodule up to its own
    # package is not a layering cycle.
    for name, deps in graph.items():
        graph[name] = {d for d in deps if not name.startswith(d + ".")}
    assert _cycles(graph) == []


def test_cycle_finder_sees_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == [["a", "b", "c"]]


def test_top_level_import_loads_neither_aws_nor_the_engine() -> None:
    code = (
        "import sys, durable_gen\n"
        "heavy = [m for m in ('boto3', 'sqlite3', 'durable_gen.aws', 'durable_gen.local')"
        " if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == ""


def test_running_sync_workflows_loads_neither_asyncio_nor_difflib() -> None:
    # asyncio (with ssl and subprocess) comes with the first async step or event loop, difflib
    # with the first message that suggests a name: a larger heap makes every full collection
    # of the garbage collector longer, and every cold run slower.
    code = (
        "import sys, durable_gen as dg\n"
        "@dg.step\n"
        "def inc(x: int) -> int:\n"
        "    return x + 1\n"
        "def wf(n):\n"
        "    x = yield inc(n)\n"
        "    yield dg.Wait(seconds=5)\n"
        "    return x\n"
        "assert dg.run(wf, 1, skip_time=True) == 2\n"
        "heavy = [m for m in ('asyncio', 'ssl', 'subprocess', 'difflib', 'signal')"
        " if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == ""


def test_lazy_top_level_names_resolve() -> None:
    from durable_gen.aws import lambda_handler
    from durable_gen.local import run

    assert durable_gen.run is run
    assert durable_gen.lambda_handler is lambda_handler
