"""docs/conformance.md is what ``python -m tests.conformance.report`` writes.

The page is generated; an edit made to the page alone is lost at the next run, and one made to
the template alone is missing from the page until then. The text around the figures must be
the template's, filled with the page's own figures, and the table must list every requirement.
"""

from __future__ import annotations

import re

from . import report
from .emulator_runner import GAP_NAMES
from .outsider import handlers as outsider_handlers
from .suite import load_requirements

_FIGURES = re.compile(
    r"\*\*Embedded engine: (\d+) passed, (\d+) failed, (\d+) without a handler, of (\d+)\n"
    r"requirements run\*\* \(whole run ([\d.]+) s\)\.\n(.*?)\n",
    re.S,
)


def test_the_page_is_the_templates_text_with_its_own_figures() -> None:
    page = report.DEFAULT_OUTPUT.read_text(encoding="utf-8")
    figures = _FIGURES.search(page)
    assert figures is not None, "the embedded-engine summary line is not on the page"
    intro = report.INTRO.format(
        emulator_summary=figures.group(6),
        gap_rows="\n".join(f"| {code} | {name} |" for code, name in GAP_NAMES.items()),
        dist=report.DIST_NAME,
        version=report.DIST_VERSION,
        passed=int(figures.group(1)),
        failed=int(figures.group(2)),
        skipped=int(figures.group(3)),
        total=int(figures.group(4)),
        seconds=float(figures.group(5)),
        outsider=len(outsider_handlers.HANDLERS),
    )
    assert page.startswith(intro), (
        "docs/conformance.md and the template in tests/conformance/report.py differ: "
        "edit the template and run `python -m tests.conformance.report --emulator`"
    )


def test_the_table_lists_every_requirement() -> None:
    page = report.DEFAULT_OUTPUT.read_text(encoding="utf-8")
    rows = set(re.findall(r"^\| (\w+) \| (\d+-\d+) \|", page, re.M))
    assert rows == {(req.suite, req.key) for req in load_requirements()}
