"""Option tables in the docs list every option the documented function takes."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

from durable_gen.aws import lambda_handler

ROOT = Path(__file__).resolve().parents[2]


def _table_options(page: str, first_row: str) -> set[str]:
    """The first-column names of the table whose first row starts with ``first_row``."""
    text = (ROOT / "docs" / page).read_text()
    start = text.index(first_row)
    rows = []
    for line in text[start:].splitlines():
        if not line.startswith("|"):
            break
        rows.append(line)
    return {m.group(1) for row in rows if (m := re.match(r"\| `(\w+)` \|", row))}


def test_the_lambda_handler_options_table_lists_every_option() -> None:
    taken = {
        name
        for name, p in inspect.signature(lambda_handler).parameters.items()
        if p.kind is inspect.Parameter.KEYWORD_ONLY
    }
    documented = _table_options("lambda.md", "| `client` |")
    assert taken - documented == set(), "options missing from lambda.md's table"
    assert documented - taken == set(), "lambda.md's table lists options lambda_handler lacks"
