"""The runtimes written from the docs import only public names of durable_gen."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RUNTIMES = [
    "tests/unit/embedding_runtimes.py",
    "tests/unit/embedding_wire_process.py",
    "tests/unit/test_embedding_anyio.py",
    "tests/unit/test_embedding_threadpool.py",
    "tests/unit/test_embedding_host_crash.py",
    "tests/unit/test_embedding_misdelivery.py",
    "tests/unit/test_embedding_service_errors.py",
    "tests/unit/test_embedding_wrong_news.py",
    "tests/unit/test_embedding_interpreter_options.py",
    "tests/unit/test_embedding_corrupt_types.py",
    "tests/property/test_embedding_interleavings.py",
]
PUBLIC = {
    "durable_gen",
    "durable_gen.runtime",
    "durable_gen.testing",
    "durable_gen.testing.strategies",
}


@pytest.mark.parametrize("path", RUNTIMES)
def test_a_runtime_from_the_docs_needs_no_private_import(path: str) -> None:
    tree = ast.parse((ROOT / path).read_text())
    used: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            used |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            used.add(node.module)
            if node.module == "durable_gen":
                used |= {f"durable_gen.{alias.name}" for alias in node.names}
    ours = {name for name in used if name.split(".")[0] == "durable_gen"}
    assert ours <= PUBLIC, sorted(ours - PUBLIC)
