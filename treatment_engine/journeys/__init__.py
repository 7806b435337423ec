"""Customer journeys (docs/plan-format.md, appendix J): ordered steps over a customer's
events, measured as runs: entered, completed, abandoned or still in progress, and whether
the journey as a whole succeeded while each touchpoint met its own target.

The core half (imports no adapter): :mod:`.model` (the plan's shape), :mod:`.checks`
(located plan errors), :mod:`.compiled` (conditions as closures), :mod:`.reference`
(what a run is: the one plain statement of the rules) and :mod:`.summary` (the report
of a journey from its runs). The adapters: :mod:`.source` (events from a file or the
store), :mod:`.sql` (the runs as DuckDB window-function SQL), :mod:`.spark` and
:mod:`.output` (table, JSON, CSV).
"""

# The plan model first: treatment_engine.model refers to this package's models, and this
# package's models build on it, so whichever is imported first, the plan model completes
# its own definitions before ours read them.
from .. import model as _plan_model  # noqa: F401
