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
EMULATOR: Final[dict[str, str]] = {
    "step/1-17": (
        "the interrupted at-most-once step runs a second time: AWS's service counts "
        "StepDetails.Attempt as attempts finished (0 while the first attempt is STARTED; AWS's "
        "SDK uses Attempt + 1 as the current attempt), but Interpreter._on_step "
        "(src/durable_gen/_interpreter.py) takes Attempt as the current attempt, so it sees "
        "attempt 0, Retry.never() (max_attempts=1) allows a retry, and it checkpoints RETRY "
        "instead of FAIL. History: StepFailed with RetryDetails {CurrentAttempt: 1, "
        "NextAttemptDelaySeconds: 2}, then StepStarted and a second crash; expected: StepFailed "
        "with CurrentAttempt 1 and no retry, the step logging its input once. The embedded "
        "engine counts attempts begun (Attempt 1 while the first runs, local/_state.py), which "
        "matches the interpreter, so it passes there; both diverge from the service's counting"
    ),
}
