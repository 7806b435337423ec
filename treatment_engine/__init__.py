"""The treatment plan engine: decide how to treat each customer from a YAML plan.

>>> from treatment_engine import Engine                       # doctest: +SKIP
>>> engine = Engine.load("path/to/plan")                       # doctest: +SKIP
>>> decision = engine.decide({"customer_id": "c1", "annual_value": 2400})  # doctest: +SKIP
>>> decision.treatment, decision.rule, decision.channels       # doctest: +SKIP
('contain', 'default', ['self_service'])
"""

from .compile import CompiledPlan
from .day import Day
from .decision import Decision, DecisionError, Trace
from .engine import Engine
from .errors import ExpressionError, Location, PlanError, PlanIssue, ProfileError, TreatmentError
from .expressions.parser import parse as parse_expression
from .plan import load_plan, plan_from_texts

__all__ = [
    "CompiledPlan",
    "Day",
    "Decision",
    "DecisionError",
    "Engine",
    "ExpressionError",
    "Location",
    "PlanError",
    "PlanIssue",
    "ProfileError",
    "Trace",
    "TreatmentError",
    "load_plan",
    "parse_expression",
    "plan_from_texts",
]
