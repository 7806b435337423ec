"""The HTTP decision service: a thin FastAPI adapter over :class:`treatment_engine.Engine`."""

from .app import create_app
from .plans import PlanHolder

__all__ = ["PlanHolder", "create_app"]
