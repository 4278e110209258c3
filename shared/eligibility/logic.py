"""Kleene three-valued logic: the only truth the engine knows.

``UNKNOWN`` means "the data cannot decide", never "probably false": an unknown inclusion
or exclusion keeps a patient undetermined, never eligible.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import Enum


class Truth(Enum):
    FALSE = 0
    UNKNOWN = 1
    TRUE = 2

    def __invert__(self) -> Truth:
        return _NOT[self]

    @staticmethod
    def of(value: bool) -> Truth:
        return Truth.TRUE if value else Truth.FALSE


_NOT = {Truth.TRUE: Truth.FALSE, Truth.FALSE: Truth.TRUE, Truth.UNKNOWN: Truth.UNKNOWN}


def all_of(values: Iterable[Truth]) -> Truth:
    """Strong Kleene conjunction: any FALSE wins, else any UNKNOWN, else TRUE."""
    result = Truth.TRUE
    for value in values:
        if value is Truth.FALSE:
            return Truth.FALSE
        if value is Truth.UNKNOWN:
            result = Truth.UNKNOWN
    return result


def any_of(values: Iterable[Truth]) -> Truth:
    """Strong Kleene disjunction: any TRUE wins, else any UNKNOWN, else FALSE."""
    result = Truth.FALSE
    for value in values:
        if value is Truth.TRUE:
            return Truth.TRUE
        if value is Truth.UNKNOWN:
            result = Truth.UNKNOWN
    return result


def not_(value: Truth) -> Truth:
    return _NOT[value]


def at_least(n: int, values: Iterable[Truth]) -> Truth:
    """TRUE when surely at least ``n`` are TRUE; FALSE when even all UNKNOWNs cannot reach ``n``."""
    sure = possible = 0
    for value in values:
        if value is Truth.TRUE:
            sure += 1
            possible += 1
        elif value is Truth.UNKNOWN:
            possible += 1
    if sure >= n:
        return Truth.TRUE
    if possible < n:
        return Truth.FALSE
    return Truth.UNKNOWN


def compare_bounds(low: float, high: float, threshold: float, op: str) -> Truth:
    """Compare a value known only to lie in [low, high] with a threshold, three-valued."""
    lo_ok = compare(low, threshold, op)
    hi_ok = compare(high, threshold, op)
    if lo_ok and hi_ok:
        return Truth.TRUE
    if not lo_ok and not hi_ok:
        return Truth.FALSE
    return Truth.UNKNOWN


def compare(value: float, threshold: float, op: str) -> bool:
    if op == ">=":
        return value >= threshold
    if op == ">":
        return value > threshold
    if op == "<=":
        return value <= threshold
    if op == "<":
        return value < threshold
    if op == "==":
        return value == threshold
    raise ValueError(f"unknown comparison operator {op!r}")
