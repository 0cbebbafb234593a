"""Requirements the embedded engine fails because of a durable_gen bug, with the reason.

Each entry is run as ``pytest.mark.xfail(strict=True)``: the suite stays green while the bug is
open, and the fix turns the test into an XPASS failure that says to remove the entry. A reason
says what the history has, what the requirement expects, and which function is at fault.
"""

from __future__ import annotations

from typing import Final

__all__ = ["EMBEDDED", "EMULATOR"]

#: "suite/key" -> reason, for the embedded engine.
EMBEDDED: Final[dict[str, str]] = {}

#: "suite/key" -> reason, for AWS's emulator (opt-in run), beyond the emulator's own known gaps.
EMULATOR: Final[dict[str, str]] = {}
