"""Results measurement (docs/plan-format.md, appendix I): outcome events joined to the
decisions that preceded them, per experiment arm, into sufficient statistics (n, sum, sum
of squares) and from those uplift, intervals, ROI and a verdict per rule.

:mod:`.metrics` and :mod:`.checks` are core (the plan model holds metrics); the rest are
adapters: :mod:`.attribution` the plain Python reference, :mod:`.duckdb_stats` and
:mod:`.spark_stats` the SQL back ends, :mod:`.statistics` the tests (statsmodels, scipy),
:mod:`.output` the tables. Nothing is imported here, so the core can import the metrics
model without pulling in the adapters.
"""
