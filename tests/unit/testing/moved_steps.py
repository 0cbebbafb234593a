"""Functions of the code-change corpus as they look once moved to another module by a
refactoring: the same names, another import path."""

from __future__ import annotations


def twice(x: int) -> int:
    return x * 2


def scaled(x: int, factor: int = 2) -> int:
    return x * factor
