"""A value of a declared type reaches the workflow the same on its first run and on replay.

The step returns a random value of a dataclass holding the types the codec round-trips
(``Decimal``, ``date``, ``datetime``, ``UUID``, an enum, a set, a tuple). The workflow keeps
what its yield gave it in the invocation that ran the step, and again in the next invocation,
which replays the step from its record: both must equal the value returned, with the same types.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import durable_gen as dg
from durable_gen.testing import TestRunner


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


@dataclass(frozen=True)
class Parcel:
    id: uuid.UUID
    price: Decimal
    shipped: dt.date
    seen_at: dt.datetime
    color: Color
    tags: frozenset[int]
    dims: tuple[int, str]


parcels = st.builds(
    Parcel,
    id=st.uuids(),
    price=st.decimals(allow_nan=False, allow_infinity=False, places=2, max_value=10**9),
    shipped=st.dates(),
    seen_at=st.datetimes(timezones=st.just(dt.UTC)),
    color=st.sampled_from(Color),
    tags=st.frozensets(st.integers(-(2**31), 2**31)),
    dims=st.tuples(st.integers(-(2**31), 2**31), st.text(max_size=5)),
)

CURRENT: dict[str, Any] = {}


@dg.step
def pack() -> Parcel:
    parcel: Parcel = CURRENT["parcel"]
    return parcel


def ship(_: Any):  # type: ignore[no-untyped-def]
    parcel = yield pack()
    CURRENT["seen"].append(parcel)
    yield dg.Wait(seconds=1)  # the next invocation replays pack() from its record
    return None


@settings(
    max_examples=60,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(parcels)
def test_a_typed_value_is_the_same_on_the_first_run_and_on_replay(parcel: Parcel) -> None:
    CURRENT.update(parcel=parcel, seen=[])
    run = TestRunner().run(ship, None)
    assert run.status == "SUCCEEDED", run.error
    first, replayed = CURRENT["seen"]
    assert first == replayed == parcel
    for field in ("id", "price", "shipped", "seen_at", "color", "tags", "dims"):
        assert type(getattr(first, field)) is type(getattr(parcel, field)), field
        assert type(getattr(replayed, field)) is type(getattr(parcel, field)), field
