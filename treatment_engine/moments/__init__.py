"""Moments of truth: patterns over a customer's events that trigger a decision.

events (validated, ordered) -> correlation (durable-rules, in a worker process) ->
fired moments -> a decision for the customer's profile with the moment's `set` applied.
See docs/plan-format.md (appendix D) and docs/design.md for the design and its limits.
"""

from .correlator import Correlator, Fired, ReplaySummary
from .events import Event, EventError, parse_event

__all__ = ["Correlator", "Event", "EventError", "Fired", "ReplaySummary", "parse_event"]
