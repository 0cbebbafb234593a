"""The interpreter and every module it imports stay pure: stdlib without I/O, and msgspec."""

from __future__ import annotations

import ast
import pathlib

PACKAGE = pathlib.Path(__file__).resolve().parents[2] / "src" / "durable_gen"
FORBIDDEN = {
    "anyio",
    "asyncio",
    "boto3",
    "botocore",
    "concurrent",
    "os",
    "random",
    "secrets",
    "socket",
    "sqlite3",
    "subprocess",
    "threading",
    "time",
    "urllib",
}


def module_level_imports(path: pathlib.Path) -> tuple[set[str], set[str]]:
    """(absolute top-level modules, relative sibling modules) imported at module level."""
    tree = ast.parse(path.read_text())
    absolute: set[str] = set()
    relative: set[str] = set()
    for node in tree.body:  # module level only: lazy imports inside functions are allowed
        if isinstance(node, ast.Import):
            absolute |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                relative.add(node.module or "")
            elif node.module:
                absolute.add(node.module.split(".")[0])
        elif isinstance(node, ast.If):  # `if TYPE_CHECKING:` blocks are not run
            continue
    return absolute, relative


def test_the_interpreter_imports_no_io_clock_thread_or_randomness() -> None:
    seen: set[str] = set()
    todo = ["_interpreter"]
    imported: dict[str, set[str]] = {}
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        absolute, relative = module_level_imports(PACKAGE / f"{name}.py")
        imported[name] = absolute
        todo += [r for r in relative if r]
    assert "_interpreter" in seen and "_commands" in seen and "_wire" in seen
    for name, modules in imported.items():
        assert not modules & FORBIDDEN, f"{name}.py imports {sorted(modules & FORBIDDEN)}"
        assert modules <= _STDLIB_PURE | {"msgspec", "__future__"}, (name, modules)


_STDLIB_PURE = {
    "collections",
    "contextlib",
    "contextvars",
    "dataclasses",
    "datetime",
    "functools",
    "hashlib",
    "inspect",
    "itertools",
    "math",
    "sys",
    "traceback",
    "warnings",
    "typing",
    "uuid",
    "enum",
    "re",
}
