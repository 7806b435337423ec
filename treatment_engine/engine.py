"""The embedding API, and the one door to deciding: load a plan once, then decide,
explain and stream.

Adapters (the CLI, the service, simulations, moments) decide through an
:class:`Engine`; none calls the evaluator directly. The day arrives as a :class:`Day`
(or a date, made into one here), worked out once per call rather than per decision.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from . import evaluate, explain
from .compile import CompiledPlan
from .contacts import NO_LIMITS, Contact, ContactState, contact_state
from .day import Day
from .decision import Decision, DecisionError
from .plan import load_plan, plan_from_texts


def utc_today() -> date:
    """``as_of`` when a caller sets none: today's date in UTC (spec 8)."""
    return datetime.now(UTC).date()


class Engine:
    """A compiled plan with the operations callers need.

    An Engine is immutable and safe to share between threads: ``decide`` reads the
    compiled plan and writes nothing. To change the plan, load a new Engine and swap
    the reference; decisions in flight finish on the plan they started with.

    Every call takes the day as ``as_of``: a :class:`Day`, a ``date``, or None for
    today by the engine's clock.

    >>> engine = Engine.load("path/to/plan")                     # doctest: +SKIP
    >>> engine.decide({"customer_id": "c1", "annual_value": 900}).treatment  # doctest: +SKIP
    'contain'
    """

    def __init__(self, plan: CompiledPlan, *, clock: Callable[[], date] = utc_today) -> None:
        self.plan = plan
        self._clock = clock

    @classmethod
    def load(cls, path: str | Path, *, clock: Callable[[], date] = utc_today) -> Engine:
        """Read, validate and compile a plan directory. Raises :class:`PlanError`."""
        return cls(load_plan(str(path)), clock=clock)

    @classmethod
    def from_texts(cls, texts: Mapping[str, str], *, clock: Callable[[], date] = utc_today) -> Engine:
        """Compile a plan from ``{"rules/x.yaml": text, ...}``. Raises :class:`PlanError`."""
        return cls(plan_from_texts(texts), clock=clock)

    def today(self) -> date:
        """The ``as_of`` used when a caller gives none."""
        return self._clock()

    def day(self, as_of: Day | date | None = None) -> Day:
        """The Day a call decides for: ``as_of``, or today by the engine's clock."""
        if type(as_of) is Day:
            return as_of
        return Day.of(as_of or self._clock())

    @property
    def version(self) -> str:
        """The plan's content hash, recorded in every decision."""
        return self.plan.version

    def decide(self, profile: Mapping[str, Any], as_of: Day | date | None = None, *,
               trace: bool = False, history: Iterable[Contact] = (),
               limits: ContactState | None = None) -> Decision:
        """Decide one profile. Raises :class:`ProfileError` for an invalid one.

        ``trace=True`` attaches why (slower: every rule is visited). ``history`` is the
        customer's past contacts, for a plan with contact caps or a delight cooldown;
        ``limits`` is what they rule out, when the caller worked it out already
        (:meth:`DecisionLog.limits <treatment_engine.store.DecisionLog.limits>`).
        """
        day = as_of if type(as_of) is Day else Day.of(as_of or self._clock())  # self.day, inlined
        state = limits if limits is not None else self._limits(history, day)
        if trace:
            return explain.explain(self.plan, profile, day, state)
        return evaluate.decide(self.plan, profile, day, state)

    def decide_or_error(self, profile: Any, as_of: Day | date | None = None, *,
                        limits: ContactState | None = None) -> Decision | DecisionError:
        """One profile's decision, or the error record that stands in for an invalid one."""
        return evaluate.decide_or_error(self.plan, profile, self.day(as_of), limits)

    def explain(self, profile: Mapping[str, Any], as_of: Day | date | None = None, *,
                history: Iterable[Contact] = (), limits: ContactState | None = None) -> Decision:
        """The decision with its trace: resolution steps and every rule's fate."""
        return self.decide(profile, as_of, trace=True, history=history, limits=limits)

    def decide_many(self, profiles: Iterable[Any], as_of: Day | date | None = None, *,
                    histories: Mapping[str, Iterable[Contact]] | None = None,
                    limits: Mapping[str, ContactState] | None = None) -> Iterator[Decision | DecisionError]:
        """Decide a stream lazily and in order; an invalid profile yields a DecisionError.

        ``histories`` maps customer ids to their past contacts (see :meth:`decide`);
        ``limits`` maps them to what those rule out (a customer it leaves out has none).
        """
        day = self.day(as_of)
        if limits is None and histories:
            limits = {cid: self._limits(h, day) for cid, h in histories.items()}
        return evaluate.decide_many(self.plan, profiles, day, limits or None)

    def limits(self, history: Iterable[Contact], as_of: Day | date) -> ContactState:
        """What a customer's past contacts rule out on ``as_of`` under this plan."""
        return self._limits(history, self.day(as_of))

    def _limits(self, history: Iterable[Contact], day: Day) -> ContactState:
        rules = self.plan.contact_rules
        return NO_LIMITS if rules is None else contact_state(rules, history, day.ordinal)
