"""``workflow_name``: short names as they are, long names cut but kept apart."""

from __future__ import annotations

from typing import Any

from durable_gen.local import workflow_name


def _named(module: str, qualname: str) -> Any:
    def fn(_: Any):  # type: ignore[no-untyped-def]
        yield from ()

    fn.__module__, fn.__qualname__ = module, qualname
    return fn


def test_a_short_name_is_module_dot_qualname() -> None:
    assert workflow_name(_named("orders", "place")) == "orders.place"
    assert workflow_name(_named("orders", "<locals>.place")) == "orders.locals.place"


def test_long_names_sharing_their_first_64_characters_stay_apart() -> None:
    stem = "process_the_incoming_customer_order_and_charge_the_card"
    a = workflow_name(_named("long_names_mod", stem + "_then_ship"))
    b = workflow_name(_named("long_names_mod", stem + "_then_refund"))
    assert a != b
    assert len(a) == len(b) == 64
    assert a.startswith(("long_names_mod." + stem)[:55])
    assert a == workflow_name(_named("long_names_mod", stem + "_then_ship"))  # stable
