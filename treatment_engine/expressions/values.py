"""The value rules of spec section 6, shared by every evaluator written in Python.

Values are JSON's: numbers (``int``/``float``, never ``bool``), strings, booleans,
null (``None``), objects and arrays. Comparisons and arithmetic of numbers happen in
64-bit floating point so that Python and SQL (``DOUBLE``) agree to the bit.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

# Whole-value ISO 8601: a date, or a date-time whose time part is hh[:mm[:ss[.frac]]]
# with an optional zone. [0-9] rather than \d: \d also matches non-ASCII digits.
_ISO_DATE = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})"
    r"(?:[T ]([0-9]{2})(?::([0-9]{2})(?::([0-9]{2})(?:[.,][0-9]+)?)?)?"
    r"(?:Z|[+-]([0-9]{2})(?::?([0-9]{2}))?)?)?"
)


def is_number(value: object) -> bool:
    kind = type(value)
    return kind is int or kind is float


def to_float(value: int | float) -> float:
    """A JSON number as a 64-bit float; integers too large for one become infinities."""
    try:
        return float(value)
    except OverflowError:
        return float("inf") if value > 0 else float("-inf")


_ORDINALS: dict[str, int] = {}  # valid date texts seen, and their ordinals
_ORDINALS_KEPT = 65_536
_LONGEST_KEPT = 40  # a date-time with a zone; longer valid texts (long fractions) are not kept


def date_ordinal(text: str) -> int | None:
    """The proleptic ordinal of the date a string starts with, or None if the whole
    string is not a valid ISO 8601 date or date-time (its zone is ignored).

    Only valid, short texts are remembered, and at most 65,536 of them: profiles are
    input, and a cache that kept every string it was shown (a 1 MB "date" per request)
    grew without bound."""
    ordinal = _ORDINALS.get(text)
    if ordinal is None:
        ordinal = _parse_ordinal(text)
        if ordinal is not None and len(text) <= _LONGEST_KEPT and len(_ORDINALS) < _ORDINALS_KEPT:
            _ORDINALS[text] = ordinal
    return ordinal


def _parse_ordinal(text: str) -> int | None:
    match = _ISO_DATE.fullmatch(text)
    if match is None:
        return None
    year, month, day, hour, minute, second, zone_hours, zone_minutes = match.groups()
    if hour is not None and int(hour) > 23:
        return None
    if minute is not None and int(minute) > 59:
        return None
    if second is not None and int(second) > 59:
        return None
    if zone_hours is not None and int(zone_hours) > 23:
        return None
    if zone_minutes is not None and int(zone_minutes) > 59:
        return None
    try:
        return date(int(year), int(month), int(day)).toordinal()
    except ValueError:
        return None


def days_since(value: object, as_of_ordinal: int) -> int | None:
    if type(value) is not str:
        return None
    ordinal = date_ordinal(value)
    return None if ordinal is None else as_of_ordinal - ordinal


def equals(left: Any, right: Any) -> bool | None:
    """``==``: null if either side is null; false across types; numbers as floats."""
    if left is None or right is None:
        return None
    left_kind, right_kind = type(left), type(right)
    if left_kind is int or left_kind is float:
        if right_kind is int or right_kind is float:
            return to_float(left) == to_float(right)
        return False
    if left_kind is not right_kind:
        return False
    return bool(left == right)


def order(operator: str, left: Any, right: Any) -> bool | None:
    """``< <= > >=``: numbers with numbers, strings with strings by code point; else null."""
    if is_number(left) and is_number(right):
        a: Any = to_float(left)
        b: Any = to_float(right)
    elif type(left) is str and type(right) is str:
        a, b = left, right
    else:
        return None
    if operator == "<":
        return bool(a < b)
    if operator == "<=":
        return bool(a <= b)
    if operator == ">":
        return bool(a > b)
    return bool(a >= b)


def arithmetic(operator: str, left: Any, right: Any) -> float | None:
    if not (is_number(left) and is_number(right)):
        return None
    a, b = to_float(left), to_float(right)
    if operator == "+":
        return a + b
    if operator == "-":
        return a - b
    if operator == "*":
        return a * b
    if b == 0.0:
        return None
    return a / b


def member(element: Any, container: Any) -> bool | None:
    """``in``: null for a null element or a non-list container; else any ``==`` holds."""
    if element is None or type(container) is not list:
        return None
    return any(equals(element, item) is True for item in container)


def lookup(profile: dict[str, Any], path: tuple[str, ...]) -> Any:
    """A dotted field: each part walks into a nested object; absent anywhere is null."""
    value: Any = profile
    for part in path:
        if type(value) is not dict:
            return None
        value = value.get(part)
    return value
