"""The day a decision is made for: one immutable value, built once on the way in.

Deciding reads the day twice, as a number (``days_since`` subtracts ordinals) and as
text (every decision records its ``as_of``). Both are worked out here, once, instead of
being passed around as a pair of parameters that could disagree.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True, slots=True)
class Day:
    """A calendar day: the date, its proleptic ordinal and its ISO 8601 text."""

    date: datetime.date
    ordinal: int  # date.toordinal(): what days_since subtracts from
    text: str  # date.isoformat(): what a decision records as its as_of

    @staticmethod
    def of(value: Day | datetime.date | str) -> Day:
        """The Day of a date, of ISO text (``2026-11-01``), or a Day itself.

        Raises ValueError for text that is not a date. Days are cached: a caller that
        passes the same date with every decision builds its Day once.
        """
        if type(value) is Day:
            return value
        return _day_of(value)

    def __str__(self) -> str:
        return self.text


@lru_cache(maxsize=256)
def _day_of(value: datetime.date | str) -> Day:
    day = datetime.date.fromisoformat(value) if isinstance(value, str) else value
    return Day(day, day.toordinal(), day.isoformat())
