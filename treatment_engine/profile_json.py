"""What a JSON profile is: the one rule every reader follows (docs/plan-format.md, Appendix F).

The Python back end reads every line with :func:`parse_line`; the SQL back ends read most lines
with their own JSON parsers and hand this module every line whose reading could differ
(see :mod:`treatment_engine.sql.lines`), so all back ends agree line for line. The service
reads request bodies with :func:`parse_document`, the same rule without the line parts.

The rule: a profile line is UTF-8 text holding one JSON value (RFC 8259: no ``NaN`` or
``Infinity``, no trailing commas, no comments), strings hold Unicode characters (an
escaped lone surrogate such as ``\\ud800`` is refused, as I-JSON does), nesting is at most
:data:`MAX_DEPTH` levels, a name repeated in one object keeps its last value, and a number
of any size is read (compared as a 64-bit float: beyond the double range it is infinite).
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

MAX_DEPTH = 512
BLANK = b" \t\r\n"  # JSON's own whitespace: a line of nothing else is skipped
BOM = b"\xef\xbb\xbf"
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(rb"[\[\]{}]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_MAX_INT_DIGITS = 4000  # below Python's int-conversion limit (4,300); wider is read as a float


class NotAProfileLine(ValueError):
    """A line no engine decides; ``reason`` is the message, without the line number."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def parse_line(raw: bytes) -> Any:
    """One line's JSON value by the rule above; :class:`NotAProfileLine` if it breaks it.

    orjson reads almost every line; what it refuses is read again by the standard library,
    which takes what JSON allows and orjson does not (integers wider than 64 bits, numbers
    beyond the double range) and refuses the rest with its own message."""
    if len(raw) > 2 * MAX_DEPTH and raw.count(b"[") + raw.count(b"{") > MAX_DEPTH:
        _check_depth(raw)  # orjson allows 1,024 levels: the rule's limit is checked here
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return _parse_slowly(raw)


def parse_document(raw: bytes | str) -> Any:
    """A whole JSON document (a request body) by the same rule."""
    return parse_line(raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw)


def line_reason(number: int, error: NotAProfileLine) -> str:
    return f"line {number} {error.reason}"


def is_blank(raw: bytes) -> bool:
    return not raw.strip(BLANK)


def _parse_slowly(raw: bytes) -> Any:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise NotAProfileLine(f"is not UTF-8 text (byte {error.start + 1})") from None
    _check_depth(raw)
    try:
        value = json.loads(text, parse_constant=_refuse_constant, parse_int=_integer)
    except (ValueError, RecursionError) as error:
        raise NotAProfileLine(f"is not valid JSON: {_first_line(error)}") from None
    _check_characters(value)
    return value


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _integer(digits: str) -> int | float:
    # Every number compares as a double, so an integer too wide to convert exactly (Python
    # refuses past 4,300 digits) is the double it would round to anyway.
    return int(digits) if len(digits) <= _MAX_INT_DIGITS else float(digits)


def _check_depth(raw: bytes) -> None:
    depth = deepest = 0
    for bracket in _BRACKET.findall(_STRING.sub(b"", raw)):
        if bracket in b"[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    if deepest > MAX_DEPTH:
        raise NotAProfileLine(f"is nested deeper than {MAX_DEPTH} levels")


def _check_characters(value: Any) -> None:
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            texts = [item]
        elif isinstance(item, dict):
            texts = list(item)
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
            continue
        else:
            continue
        for text in texts:
            if _SURROGATE.search(text):
                raise NotAProfileLine("is not valid JSON: a string holds a lone surrogate "
                                      "escape (\\ud800-\\udfff), which is not a character")


def _first_line(error: BaseException) -> str:
    return str(error).splitlines()[0] if str(error) else type(error).__name__
