"""Prints how many AWS-recorded histories, final states and prefixes replay cleanly."""

from __future__ import annotations

from typing import Any

from ._support import COUNTS


def pytest_terminal_summary(terminalreporter: Any) -> None:
    h, st, p = COUNTS["histories"], COUNTS["states"], COUNTS["prefixes"]
    if not (h["total"] or st["total"] or p["total"]):
        return
    terminalreporter.write_line(
        f"interop: {h['clean']} histories clean of {h['total']}, {st['clean']} final states "
        f"clean of {st['total']}, {p['clean']} prefixes clean of {p['total']}"
    )
    a = COUNTS["accepted by AWS's SDK"]
    if a["total"]:
        terminalreporter.write_line(
            f"interop: AWS's SDK accepts {a['clean']} of {a['total']} histories durable_gen "
            "recorded"
        )
