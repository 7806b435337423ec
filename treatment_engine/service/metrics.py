"""Prometheus metrics for the service, in a registry of the app's own (no global state)."""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter, Histogram

from .batch import INVALID


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("treatment_http_requests_total", "HTTP requests by route and status",
                                ["route", "status"], registry=self.registry)
        self.latency = Histogram("treatment_http_request_seconds", "HTTP request latency by route",
                                 ["route"], registry=self.registry,
                                 buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5))
        self.decisions = Counter("treatment_decisions_total", "Decisions by treatment and rule",
                                 ["treatment", "rule"], registry=self.registry)
        self.invalid = Counter("treatment_invalid_profiles_total", "Profiles that could not be decided",
                               registry=self.registry)
        self.events = Counter("treatment_events_total", "Customer events by result", ["result"],
                              registry=self.registry)
        self.moments = Counter("treatment_moments_fired_total", "Moments of truth fired", ["moment"],
                               registry=self.registry)
        self.reloads = Counter("treatment_plan_reloads_total", "Plan reloads by result",
                               ["result"], registry=self.registry)

    def tally(self, counts: Mapping[tuple[str, str], int]) -> None:
        """Count decisions by (treatment, rule); under INVALID, the profiles not decided."""
        for (treatment, rule), times in counts.items():
            if (treatment, rule) == INVALID:
                self.invalid.inc(times)
            else:
                self.decisions.labels(treatment, rule).inc(times)
