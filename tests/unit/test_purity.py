"""The interpreter and every module it imports stay pure: stdlib without I/O, and msgspec.

Every import counts, at module level or inside a function (a lazy import runs too); only
``if TYPE_CHECKING:`` blocks are skipped. Clock, randomness and entropy reads are refused by
name as well, whatever module they come from.
"""

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
    "select",
    "selectors",
    "socket",
    "sqlite3",
    "subprocess",
    "threading",
    "time",
    "urllib",
}
#: Calls that read a clock or entropy: ``datetime.now()``, ``uuid.uuid4()``...
FORBIDDEN_CALLS = {
    "now",
    "utcnow",
    "today",
    "time",
    "time_ns",
    "monotonic",
    "perf_counter",
    "uuid1",
    "uuid4",
    "urandom",
    "getrandbits",
    "token_hex",
    "token_bytes",
}
#: (module, imported module) pairs allowed despite FORBIDDEN, each with its reason.
ALLOWED = {
    # ``Random.from_seed`` builds ``random.Random(seed)`` from a seed derived from the
    # execution: a seeded generator reads no global state (checked below: only
    # ``random.Random`` is used).
    ("_versioning", "random"): {"Random"},
    # The codec looks pydantic up in ``sys.modules`` (never imports it): only if the user did.
    ("_codec", "sys"): {"modules"},
    # The codec parses the NaN/Infinity tokens Python's json module writes with that module.
    ("_codec", "json"): {"loads"},
    # An error object is measured as the service counts it against its 32 KiB: the JSON
    # Python's json module writes, non-ASCII characters escaped.
    ("_failure", "json"): {"dumps"},
    # The mistake guard reads where a command was built and whether anything still holds it.
    ("_guard", "sys"): {"_getframe", "getrefcount"},
    # The replay-aware logger, and the failed-attempt line the interpreter writes where it
    # decides the retry (so every host logs it): records go to the application's handlers;
    # nothing read back reaches the workflow.
    ("_logger", "logging"): {
        "CRITICAL",
        "DEBUG",
        "ERROR",
        "INFO",
        "Logger",
        "WARNING",
        "getLogger",
    },
}
_STDLIB_PURE = {
    "__future__",
    "collections",
    "contextlib",
    "contextvars",
    "dataclasses",
    "datetime",
    "enum",
    "functools",
    "hashlib",
    "inspect",
    "itertools",
    "math",
    "re",
    "traceback",
    "warnings",
    "typing",
    "uuid",
    "base64",
    "decimal",
    "difflib",  # closest-name suggestions in error messages (pure string matching)
    "dis",  # which call failed in a workflow body, for ArgumentError (reads bytecode only)
    "operator",
    "types",
}


def _type_checking_blocks(tree: ast.Module) -> set[int]:
    """ids of the nodes inside ``if TYPE_CHECKING:`` blocks (never run)."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                skipped |= {id(n) for n in ast.walk(child)}
    return skipped


def imports(path: pathlib.Path) -> tuple[set[str], set[str], ast.Module]:
    """(absolute top-level modules, relative sibling modules, the tree), every import."""
    tree = ast.parse(path.read_text())
    skipped = _type_checking_blocks(tree)
    absolute: set[str] = set()
    relative: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            absolute |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level == 1 and node.module:
                relative.add(node.module)
            elif node.level == 1:
                relative |= {alias.name for alias in node.names}
            elif node.level:
                raise AssertionError(f"{path.name}: import from a parent package: {node.module}")
            elif node.module:
                absolute.add(node.module.split(".")[0])
    return absolute, relative, tree


def interpreter_modules() -> dict[str, tuple[set[str], ast.Module]]:
    """Every module of the package the interpreter imports, directly or not."""
    seen: dict[str, tuple[set[str], ast.Module]] = {}
    todo = ["_interpreter"]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        path = PACKAGE / f"{name}.py"
        if not path.exists():  # `from . import _context`: a module by its own name
            path = PACKAGE / name / "__init__.py"
        absolute, relative, tree = imports(path)
        seen[name] = (absolute, tree)
        todo += sorted(relative)
    return seen


def test_the_interpreter_imports_no_io_clock_thread_or_randomness() -> None:
    modules = interpreter_modules()
    for name in (
        "_interpreter",
        "_interpreter_core",
        "_interpreter_batch",
        "_interpreter_steps",
        "_actions",
    ):
        assert name in modules, f"{name} is no longer imported by the interpreter"
    assert {"_commands", "_wire", "_context", "_versioning", "_failure"} <= modules.keys()
    for name, (absolute, _) in modules.items():
        bad = {m for m in absolute & FORBIDDEN if (name, m) not in ALLOWED}
        assert not bad, f"{name}.py imports {sorted(bad)}"
        assert absolute <= _STDLIB_PURE | {"msgspec"} | {m for (n, m) in ALLOWED if n == name}, (
            name,
            absolute - _STDLIB_PURE,
        )


def test_the_interpreter_reads_no_clock_or_entropy() -> None:
    for name, (_, tree) in interpreter_modules().items():
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                assert node.func.attr not in FORBIDDEN_CALLS, (
                    f"{name}.py line {node.lineno} calls .{node.func.attr}(): the interpreter "
                    "must get time and entropy from its host"
                )


def test_allowed_exceptions_use_only_what_they_are_allowed_for() -> None:
    modules = interpreter_modules()
    for (name, module), attributes in ALLOWED.items():
        _, tree = modules[name]
        uses = {
            node.attr
            for node in ast.walk(tree)
            if isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == module
        }
        assert uses <= attributes, f"{name}.py uses {module}.{sorted(uses - attributes)}"


def test_the_walker_sees_imports_inside_functions(tmp_path: pathlib.Path) -> None:
    source = tmp_path / "m.py"
    source.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    import socket\n"
        "def f():\n    import time\n    from . import _x\n    return time.time()\n"
    )
    absolute, relative, _ = imports(source)
    assert "time" in absolute and "socket" not in absolute and relative == {"_x"}
