"""What typed decoding costs per payload, against untyped decoding, in the same run.

Each row decodes one recorded payload the way replay reads a step result: ``msgspec`` with no
type (the decoder replay used before the codec), the codec with no declared type, and the codec
with the declared type (the step's return annotation, looked up per call from the function),
and a typed ``reader`` made once per type, as the interpreter can hold one per command. The
floor of the replay budget (a generator ``send`` and a dict lookup) is printed first. Figures
are nanoseconds per decode, the best of several rounds.

    python -m benchmarks.codec_decode [rounds]
"""

from __future__ import annotations

import dataclasses
import sys
import time
import uuid
from collections.abc import Callable, Generator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import msgspec

from durable_gen._codec import decode, encode, reader, result_type

__all__ = ["measure"]


@dataclasses.dataclass
class Receipt:
    id: str
    amount: Decimal
    at: datetime


class Line(msgspec.Struct):
    sku: str
    qty: int
    price: float


def _int() -> int:
    return 42


def _str() -> str:
    return "receipt-42"


def _dict() -> dict[str, Any]:
    return {"user": "ana", "count": 2, "ok": True}


def _receipt() -> Receipt:
    return Receipt("r-1", Decimal("10.50"), datetime(2025, 1, 1, tzinfo=UTC))


def _lines() -> list[Line]:
    return [Line(f"sku-{i}", i, 9.99) for i in range(10)]


def _uuid() -> uuid.UUID:
    return uuid.UUID(int=42)


CASES: list[Callable[[], Any]] = [_int, _str, _dict, _receipt, _lines, _uuid]


def _per_call(fn: Callable[[], Any], n: int, rounds: int) -> float:
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        samples.append((time.perf_counter() - start) / n)
    return min(samples) * 1e9  # the least disturbed round: the machine is shared


def _floor(n: int, rounds: int) -> float:
    table = {"a": 1}

    def gen() -> Generator[int, int, None]:
        while True:
            yield table["a"]

    g = gen()
    next(g)
    return _per_call(lambda: g.send(1), n, rounds)


def measure(rounds: int = 7, n: int = 20_000) -> list[dict[str, Any]]:
    """Rows of (payload, ns untyped msgspec, ns codec untyped, ns codec typed)."""
    raw = msgspec.json.Decoder().decode
    rows = []
    for make in CASES:
        payload = encode(make())
        aws = encode(make(), format="aws")
        declared = result_type(make)
        read = reader(declared)
        assert decode(payload, declared) == make()
        rows.append(
            {
                "payload": make.__name__.lstrip("_"),
                "bytes": len(payload),
                "msgspec_untyped_ns": _per_call(lambda p=payload: raw(p), n, rounds),
                "codec_untyped_ns": _per_call(lambda p=payload: decode(p), n, rounds),
                "codec_typed_ns": _per_call(
                    lambda p=payload, f=make: decode(p, result_type(f)), n, rounds
                ),
                "reader_typed_ns": _per_call(
                    lambda p=payload, r=read: r(p, "the result"), n, rounds
                ),
                "codec_typed_aws_ns": _per_call(
                    lambda p=aws, f=make: decode(p, result_type(f)), n, rounds
                ),
            }
        )
    return rows


def main(argv: list[str]) -> None:
    rounds = int(argv[0]) if argv else 7
    print(f"floor (generator send + dict lookup): {_floor(200_000, rounds):.0f} ns")
    print(
        "| payload | bytes | msgspec untyped | codec untyped | codec typed | "
        "typed reader | codec typed, AWS envelope |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in measure(rounds):
        print(
            f"| {r['payload']} | {r['bytes']} | {r['msgspec_untyped_ns']:.0f} ns | "
            f"{r['codec_untyped_ns']:.0f} ns | {r['codec_typed_ns']:.0f} ns | "
            f"{r['reader_typed_ns']:.0f} ns | "
            f"{r['codec_typed_aws_ns']:.0f} ns |"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
