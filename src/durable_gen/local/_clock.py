"""Time for the embedded engine: the ``Clock`` protocol, the wall clock and a virtual clock.

The engine reads the time through ``now_ms()`` and, when nothing is due, hands its condition
variable to ``wait()``: the real clock blocks on it until the next deadline or a notification
(a callback sent from another thread); the virtual clock jumps to the deadline instead, so a
wait of days finishes at once.
"""

from __future__ import annotations

import threading
import time
from typing import Final, Protocol, runtime_checkable

from .._arguments import checked
from .._errors import ValidationError, finite, shown
from .._wire import LATEST_MS as LATEST_MS  # the latest time a VirtualClock may show

__all__ = ["Clock", "RealClock", "VirtualClock"]

#: Where a ``VirtualClock`` starts unless told otherwise: 2025-01-01T00:00:00Z.
DEFAULT_VIRTUAL_START_MS: Final = 1_735_689_600_000


def timer_past_the_end(due_ms: int) -> ValidationError:
    """The error of a virtual clock asked to skip to a timer due after ``LATEST_MS``."""
    from ._text import format_time  # rare: only on this error

    return ValidationError(
        f"the next timer is due at {format_time(due_ms)}, after 9999-12-31T23:59:59.999Z, the "
        "latest time a virtual clock holds (what a datetime holds), so it cannot fire: start "
        "the clock earlier (VirtualClock(start_ms=...), TestRunner(start=...)); waiting_on() "
        "names the operation, which stays recorded and waiting"
    )


@runtime_checkable
class Clock(Protocol):
    """The engine's source of time."""

    def now_ms(self) -> int:
        """The current time, in integer epoch milliseconds."""
        ...

    def wait(self, condition: threading.Condition, deadline_ms: int) -> bool:
        """Let time pass until ``deadline_ms``; called with ``condition`` held.

        A real clock blocks on ``condition`` (which the engine notifies when work arrives from
        another thread) until the deadline; a virtual clock moves itself to the deadline.

        Returns:
            False when time cannot pass by itself (a virtual clock that does not skip), so the
            engine should stop waiting; True otherwise.
        """
        ...


class RealClock:
    """Wall-clock time; waiting blocks the calling thread (no polling, no sleeping threads)."""

    def now_ms(self) -> int:
        """The current wall-clock time in epoch milliseconds."""
        return time.time_ns() // 1_000_000

    def now(self) -> float:
        """The current wall-clock time in epoch seconds (what ``Now()`` reads on the engine)."""
        return time.time()

    def wait(self, condition: threading.Condition, deadline_ms: int) -> bool:
        """Block on ``condition`` until ``deadline_ms`` or until notified."""
        delay = (deadline_ms - self.now_ms()) / 1000
        if delay > 0:
            condition.wait(delay)
        return True

    def __repr__(self) -> str:
        return "RealClock()"


class VirtualClock:
    """Time that only moves when told to, or when the engine has nothing else to do.

    Args:
        start_ms: The initial time in epoch milliseconds (default 2025-01-01T00:00:00Z).
        auto_advance: When True (the default) the engine skips the clock to its next timer
            whenever nothing is due; when False, time moves only through ``advance()``.

    Example:
        >>> clock = VirtualClock(start_ms=0)
        >>> clock.advance(90)
        >>> clock.now_ms()
        90000
    """

    #: Its time is whole milliseconds: ``Now()`` takes ``now_ms()`` exactly (a float of
    #: seconds cannot hold every millisecond far in the future).
    _whole_ms: Final = True

    @checked
    def __init__(
        self, start_ms: int = DEFAULT_VIRTUAL_START_MS, *, auto_advance: bool = True
    ) -> None:
        if (
            isinstance(start_ms, bool)
            or not isinstance(start_ms, int)
            or not 0 <= start_ms <= LATEST_MS
        ):
            raise ValidationError(
                f"start_ms must be whole epoch milliseconds >= 0 (an int), at most {LATEST_MS} "
                f"(9999-12-31T23:59:59.999Z, the latest time a datetime holds), "
                f"got {shown(start_ms)}"
            )
        if type(auto_advance) is not bool:
            raise ValidationError(
                f"auto_advance must be True (skip to the next timer) or False (move only with "
                f"advance()), got {shown(auto_advance)}"
            )
        self._now = int(start_ms)
        self.auto_advance = auto_advance

    def now_ms(self) -> int:
        """The current virtual time in epoch milliseconds."""
        return self._now

    def now(self) -> float:
        """The current virtual time in epoch seconds (what ``Now()`` reads on the engine)."""
        return self._now / 1000

    @checked
    def advance(self, seconds: float) -> None:
        """Move the clock forward by ``seconds`` (not negative)."""
        if (
            isinstance(seconds, bool)
            or not isinstance(seconds, int | float)
            or not finite(seconds)
            or seconds < 0
        ):
            raise ValidationError(
                "advance() needs a number of seconds >= 0 (a clock cannot go back), "
                f"got {seconds!r}"
            )
        target = self._now + round(seconds * 1000)
        if target > LATEST_MS:
            raise ValidationError(
                f"advance({seconds!r}) would move the clock past 9999-12-31T23:59:59.999Z, the "
                "latest time a datetime holds (what Now() gives)"
            )
        self._now = target

    @checked
    def advance_to(self, epoch_ms: int) -> None:
        """Move the clock to ``epoch_ms``; an earlier time leaves it where it is."""
        if isinstance(epoch_ms, bool) or not isinstance(epoch_ms, int) or epoch_ms > LATEST_MS:
            raise ValidationError(
                f"advance_to() needs whole epoch milliseconds (an int) up to {LATEST_MS} "
                f"(9999-12-31T23:59:59.999Z, the latest time a datetime holds), got {epoch_ms!r}"
            )
        if epoch_ms > self._now:
            self._now = epoch_ms

    def wait(self, condition: threading.Condition, deadline_ms: int) -> bool:
        """Jump to ``deadline_ms`` when skipping is on; otherwise report that time is stuck.

        Raises:
            ValidationError: the deadline is past ``LATEST_MS`` (a timer set near the end of
                the clock's range), where the clock cannot go; the timer stays pending.
        """
        if not self.auto_advance:
            return False
        if deadline_ms > LATEST_MS:
            raise timer_past_the_end(deadline_ms)
        self.advance_to(deadline_ms)
        return True

    def __repr__(self) -> str:
        return f"VirtualClock(start_ms={self._now}, auto_advance={self.auto_advance})"
