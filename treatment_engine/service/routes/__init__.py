"""The service's routes, one router per resource, in the order the OpenAPI document lists them."""

from . import decisions, events, log, ops, plan

__all__ = ["decisions", "events", "log", "ops", "plan"]
