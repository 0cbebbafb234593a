"""The ``durable-gen`` command line: run workflows on the embedded engine.

Every user mistake (a bad module path, bad JSON) is one clear line on stderr and a non-zero
exit status, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from ._errors import DurableGenError

__all__ = ["main"]


class CliError(Exception):
    """A user error: printed as one line, exit status 2."""


def load_workflow(spec: str) -> Callable[..., Any]:
    """Import ``MODULE:ATTR`` (the working directory is importable)."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise CliError(
            f"workflow must be given as MODULE:FUNCTION (e.g. app.flows:order), got {spec!r}"
        )
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise CliError(f"cannot import module {module_name!r}: {exc}") from exc
    obj: Any = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise CliError(f"module {module_name!r} has no attribute {attr!r}") from None
    if not callable(obj):
        raise CliError(f"{spec} is not a function")
    return obj  # type: ignore[no-any-return]


def parse_json(text: str | None, what: str = "--input") -> Any:
    """Parse a JSON argument, with a clear error."""
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise CliError(
            f"{what} is not valid JSON ({exc.msg} at position {exc.pos}): {text!r}"
        ) from exc


def _cmd_run(args: argparse.Namespace) -> int:
    from ._api import run

    workflow = load_workflow(args.workflow)
    result = run(workflow, parse_json(args.input), skip_time=args.skip_time)
    print(json.dumps(result, indent=2 if args.pretty else None))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="durable-gen", description="Run and operate durable_gen workflows."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run", help="run a workflow to completion and print its result (JSON)")
    p.add_argument("workflow", help="MODULE:FUNCTION of the workflow")
    p.add_argument("--input", help="the workflow input, as JSON")
    p.add_argument("--skip-time", action="store_true", help="skip waits and retry delays")
    p.add_argument("--pretty", action="store_true", help="indent the JSON result")
    p.set_defaults(handler=_cmd_run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``durable-gen``."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.handler(args)
        return code
    except CliError as exc:
        print(f"durable-gen: error: {exc}", file=sys.stderr)
        return 2
    except DurableGenError as exc:
        print(f"durable-gen: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
