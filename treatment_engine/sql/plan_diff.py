"""``treatment diff`` on DuckDB: both plans decide the whole file as ``simulate`` does (one
SQL query each, streamed to Parquet, memory bounded), and one join by row compares them.

The comparison is :func:`treatment_engine.plandiff.diff_plans`'s, in SQL: a row either plan
could not decide is invalid; a decided row is unchanged when rule, treatment, actions and
channels are all equal; transitions and arm moves keep their first customer in file order
as the example. tests/test_plan_diff.py checks the two agree.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

from ..compile import CompiledPlan
from ..errors import TreatmentError
from ..plandiff import PlanDiff
from .duckdb_backend import Settings, connect

# Both decision files, row by row: the Parquet files keep the input's order, and each
# row's customer id must match as well, or the files were not read alike (never seen; the
# diff refuses rather than compare different customers).
_PAIRS = """
        SELECT b.file_row_number AS place, n.customer_id,
               b.rule AS base_rule, b.treatment AS base_treatment, n.rule AS new_rule, n.treatment AS new_treatment,
               b.experiment AS base_experiment, b.arm AS base_arm, n.experiment AS new_experiment, n.arm AS new_arm,
               b.cost AS base_cost, n.cost AS new_cost,
               b.channels IS DISTINCT FROM n.channels AS channels_moved,
               b.error IS NOT NULL OR n.error IS NOT NULL AS invalid,
               b.rule IS NOT DISTINCT FROM n.rule AND b.treatment IS NOT DISTINCT FROM n.treatment
                 AND b.actions IS NOT DISTINCT FROM n.actions AND b.channels IS NOT DISTINCT FROM n.channels AS same
        FROM read_parquet(?, file_row_number = true) b
        JOIN read_parquet(?, file_row_number = true) n
          ON b.file_row_number = n.file_row_number AND b.customer_id IS NOT DISTINCT FROM n.customer_id"""


def diff_duckdb(base: CompiledPlan, new: CompiledPlan, path: str, as_of: date, fmt: str = "auto",
                memory_limit: str = "1GB") -> PlanDiff:
    from ..simulation import simulate_duckdb

    with tempfile.TemporaryDirectory(prefix="treatment-diff-") as scratch:
        decided = [str(Path(scratch) / "base.parquet"), str(Path(scratch) / "new.parquet")]
        for plan, target in zip((base, new), decided, strict=True):
            simulate_duckdb(plan, path, as_of, fmt, output=target, memory_limit=memory_limit)
        connection = connect(Settings(memory_limit=memory_limit))
        try:
            return _compared(connection, base, new, decided)
        finally:
            connection.close()


def _compared(connection: Any, base: CompiledPlan, new: CompiledPlan, decided: list[str]) -> PlanDiff:
    # The pairs once (DuckDB spills them past its memory limit): the four queries below read
    # them, where a CTE would join the two files again for each.
    connection.execute(f"CREATE TEMP TABLE pairs AS {_PAIRS}", decided)
    connection.execute("CREATE TEMP VIEW valid AS SELECT * FROM pairs WHERE NOT invalid")

    def rows(select: str) -> list[Any]:
        found: list[Any] = connection.execute(select).fetchall()
        return found

    result = PlanDiff(base.version, new.version)
    sizes = [connection.execute("SELECT count(*) FROM read_parquet(?)", [file]).fetchone()[0] for file in decided]
    (result.total, result.invalid, result.unchanged, result.channels_changed, base_cost, new_cost), = rows(
        "SELECT count(*), count(*) FILTER (WHERE invalid), count(*) FILTER (WHERE NOT invalid AND same), "
        "count(*) FILTER (WHERE NOT invalid AND channels_moved), "
        "coalesce(sum(base_cost) FILTER (WHERE NOT invalid), 0), coalesce(sum(new_cost) FILTER (WHERE NOT invalid), 0) "
        "FROM pairs")
    if not sizes[0] == sizes[1] == result.total:
        raise TreatmentError(f"diff: the two plans' decisions do not pair up row by row ({sizes[0]:,} and "
                             f"{sizes[1]:,} rows, {result.total:,} paired); try --backend python")
    result.base_cost, result.new_cost = float(base_cost), float(new_cost)
    for *key, count, example in rows("SELECT base_rule, base_treatment, new_rule, new_treatment, count(*), "
                                     "arg_min(customer_id, place) FROM valid WHERE NOT same GROUP BY ALL"):
        result.transitions[tuple(key)] = count
        result.examples[tuple(key)] = example
    for *move, count, example in rows(
            "SELECT base_experiment, base_arm, new_experiment, new_arm, count(*), arg_min(customer_id, place) "
            "FROM valid WHERE base_experiment IS DISTINCT FROM new_experiment OR base_arm IS DISTINCT FROM new_arm "
            "GROUP BY ALL"):
        result.arm_moves[tuple(move)] = count
        result.arm_examples[tuple(move)] = example
    result.rule_counts = Counter(dict(rows(
        "SELECT rule, sum(change) FROM (SELECT new_rule AS rule, 1 AS change FROM valid "
        "UNION ALL SELECT base_rule, -1 FROM valid) GROUP BY rule")))
    return result
