"""The service's routes, one router per resource, in the order the OpenAPI document lists them."""

from . import decisions, events, journeys, log, ops, plan, results
from .resource import ResourceRouter, add_routes

__all__ = ["ResourceRouter", "add_routes", "decisions", "events", "journeys", "log", "ops", "plan", "results"]
