"""Run the outsider handlers by hand: ``python -m tests.conformance.outsider.run [KEY...]``."""

from __future__ import annotations

import sys

from ..runner import Result, run_embedded
from ..suite import load_requirements
from . import handlers


def run(key: str) -> Result:
    req = next(r for r in load_requirements() if str(r) == key)
    handlers.reset()
    return run_embedded(req, handlers.HANDLERS[key], handlers.FUNCTIONS)


if __name__ == "__main__":
    for key in sys.argv[1:] or list(handlers.HANDLERS):
        result = run(key)
        print(f"{key}: {result.status}")
        for error in result.errors:
            print("   ", error[:400])
