"""Every public name of durable_gen.local is defined inside the engine package.

The names themselves are pinned with the rest of the public API in tests/unit/test_public_api.py.
"""

from __future__ import annotations

import durable_gen.local as local


def test_public_names_live_in_the_engine() -> None:
    for name in local.__all__:
        assert getattr(local, name).__module__.startswith("durable_gen.local."), name
