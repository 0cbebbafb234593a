"""The ``Serdes`` protocol: what an operation's ``serdes=`` must be.

Its own module, below the commands and the codec, so that commands can name it without
importing the codec (which reads commands to find declared types).
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

__all__ = ["Serdes"]


@runtime_checkable
class Serdes(Protocol):
    """Turns values into payload strings and back. Must be deterministic.

    The parameters are positional-only: an implementation may name them as it likes
    (``def deserialize(self, text: str)``), which type checkers then accept.
    """

    def serialize(self, value: Any, /) -> str:
        """The payload string for ``value``."""
        ...

    def deserialize(self, payload: str, /) -> Any:
        """The value of a payload string produced by ``serialize``."""
        ...
