"""treatment measure --report (#15 item 5): per metric a forest plot, ROI bars and the
metric over the days after the decision per arm, each with a caption; the curves end
where the measured arm means are."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from treatment_engine.cli import cli
from treatment_engine.measure.curves import RUNNING, curves
from treatment_engine.measure.inputs import parse_instant, read_decision_file, read_event_file
from treatment_engine.plan import load_plan

from .conftest import REPO

AS_OF = "2027-03-01"


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report")
    runner = CliRunner()
    for args in (["simulate", "--plan", str(REPO), "--sample", "3000", "--as-of", "2026-11-01", "-q",
                  "--output", str(out / "decisions.parquet")],
                 ["sample", "--plan", str(REPO), "--outcomes", str(out / "decisions.parquet"),
                  "--output", str(out / "outcomes.jsonl")]):
        result = runner.invoke(cli, args)
        assert result.exit_code == 0, result.output
    return out


def test_the_report_has_each_chart_with_its_caption(inputs: Path) -> None:
    report = inputs / "results.html"
    result = CliRunner().invoke(cli, ["measure", "--plan", str(REPO), "--decisions", str(inputs / "decisions.parquet"),
                                      "--events", str(inputs / "outcomes.jsonl"), "--as-of", AS_OF,
                                      "--report", str(report)])
    assert result.exit_code == 0, result.output
    page = report.read_text(encoding="utf-8")
    charts = set(re.findall(r'data-chart="([^"]+)"', page))
    for metric in ("churned_90d", "revenue_90d", "complaints_30d"):
        assert f"forest-{metric}" in charts
    assert {"roi-churned_90d", "roi-revenue_90d"} <= charts and "roi-complaints_30d" not in charts  # no value
    assert any(name.startswith("curve-revenue_90d-decline-gold-retention") for name in charts)
    assert not any(name.startswith("curve-nps_60d") for name in charts)  # a last value has no running total
    for caption in ("the range the true change very likely lies in (95%)", "Above 0%, a rule pays for itself",
                    "How the metric builds up over the days after the decision", "Sample ratio"):
        assert caption in page
    assert page.count("<svg") == page.count("</svg>") and "<script" not in page
    assert page.count('class="mark"') <= page.count("<title>")  # every mark says its figure on hover


def test_the_curves_end_at_the_measured_means(inputs: Path) -> None:
    plan = load_plan(REPO)
    decisions = list(read_decision_file(str(inputs / "decisions.parquet")))
    drawn = curves(plan, decisions, read_event_file(str(inputs / "outcomes.jsonl")), parse_instant(AS_OF) or 0)
    result = CliRunner().invoke(cli, ["measure", "--plan", str(REPO), "--decisions", str(inputs / "decisions.parquet"),
                                      "--events", str(inputs / "outcomes.jsonl"), "--as-of", AS_OF, "--format", "json"])
    checked = 0
    for row in json.loads(result.stdout)["comparisons"]:
        arms = drawn.get((row["metric"], row["experiment"], row["rule"]))
        if arms is None or not arms.get(row["arm"]) or row["arm_n"] == 0:
            continue
        assert arms[row["arm"]][-1][1] == pytest.approx(row["arm_mean"]), row
        assert arms[row["arm"]][0][0] == 0
        checked += 1
    assert checked > 20


@pytest.mark.parametrize("limit", [5_000, 40])
@pytest.mark.parametrize("measured", [False, True], ids=["alone", "measured"])
def test_duckdb_draws_the_reference_curves(inputs: Path, limit: int, measured: bool) -> None:
    """The report's curves drawn inside DuckDB (what --report uses unless --backend python)
    are the reference's, point for point; with a small per-arm limit both draw the same
    customers (the first by the MD5 of their id), so the sampling rule is checked too.
    Drawn alone (for --backend spark) or with the measurement (split --by segment, which
    the curves are not), whose own results are then measure_duckdb's."""
    from treatment_engine.measure.curves_sql import curves_duckdb

    plan = load_plan(REPO)
    as_of = parse_instant(AS_OF) or 0
    decisions, events = str(inputs / "decisions.parquet"), str(inputs / "outcomes.jsonl")
    reference = curves(plan, read_decision_file(decisions), read_event_file(events), as_of, limit=limit)
    if measured:
        from treatment_engine.measure.curves_sql import measure_with_curves_duckdb
        from treatment_engine.measure.duckdb_stats import measure_duckdb

        results, drawn = measure_with_curves_duckdb(plan, decisions, events, as_of, by=("segment",), limit=limit)
        alone = measure_duckdb(plan, decisions, events, as_of, by=("segment",))
        assert results.assigned == alone.assigned
        assert [g.key for g in results.groups] == [g.key for g in alone.groups] and len(alone.groups) > 50
        for ours, theirs in zip(results.groups, alone.groups, strict=True):
            assert (ours.customers, ours.n) == (theirs.customers, theirs.n)
            assert (ours.sum, ours.sum_squares, ours.cost) == pytest.approx((theirs.sum, theirs.sum_squares, theirs.cost))
    else:
        drawn = curves_duckdb(plan, decisions, events, as_of, limit=limit)
    assert drawn.keys() == reference.keys() and len(reference) > 10
    points = 0
    for key, arms in reference.items():
        assert drawn[key].keys() == arms.keys(), key
        for arm, curve in arms.items():
            assert [day for day, _ in drawn[key][arm]] == [day for day, _ in curve], (key, arm)
            assert [mean for _, mean in drawn[key][arm]] == pytest.approx([mean for _, mean in curve]), (key, arm)
            points += len(curve)
    assert points > 100


class _CountedScans:
    """A DuckDB connection that counts, per file, how many times the queries run on it
    scan that file (from DuckDB's profiler: a scan operator names the files it read)."""

    def __init__(self, connection: Any, scans: Counter[str]) -> None:
        self._connection, self._scans = connection, scans
        connection.execute("PRAGMA enable_profiling = 'no_output'")

    def execute(self, query: str, *args: Any) -> Any:
        result = self._connection.execute(query, *args)
        pending = [json.loads(self._connection.get_profiling_information(format="json"))]
        while pending:
            operator = pending.pop()
            for path in str(operator.get("extra_info", {}).get("Filename(s)", "")).split(","):
                if path.strip():
                    self._scans[Path(path.strip()).name] += 1
            pending += operator.get("operator", []) + operator.get("children", [])
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self._connection, name)


@pytest.fixture()
def scans(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Every scan of a file by a measuring connection, by the file's name."""
    from treatment_engine.measure import duckdb_stats

    counted: Counter[str] = Counter()
    real = duckdb_stats.connect
    monkeypatch.setattr(duckdb_stats, "connect", lambda settings: _CountedScans(real(settings), counted))
    return counted


def test_the_curves_scan_the_events_once(inputs: Path, scans: Counter[str]) -> None:
    """Several of the plan's metrics have a running total; their curves are drawn from one
    scan of the events (of the drawn customers'), not one scan per metric."""
    from treatment_engine.measure.curves_sql import curves_duckdb

    plan = load_plan(REPO)
    assert sum(metric.compute in RUNNING for metric in plan.metrics) > 1
    curves_duckdb(plan, str(inputs / "decisions.parquet"), str(inputs / "outcomes.jsonl"), parse_instant(AS_OF) or 0)
    assert scans == {"decisions.parquet": 1, "outcomes.jsonl": 1}


def test_measure_with_a_report_reads_the_decisions_once(inputs: Path, scans: Counter[str]) -> None:
    """The report's curves are drawn on the measurement's connection, from its first
    decisions: the decisions file is read once. The events are scanned twice, by the
    measurement and for the drawn customers (curves_sql says why not once), not once more
    per metric."""
    report = inputs / "once.html"
    result = CliRunner().invoke(cli, ["measure", "--plan", str(REPO), "--decisions", str(inputs / "decisions.parquet"),
                                      "--events", str(inputs / "outcomes.jsonl"), "--as-of", AS_OF,
                                      "--report", str(report), "--by", "segment"])
    assert result.exit_code == 0, result.output
    assert scans == {"decisions.parquet": 1, "outcomes.jsonl": 2}
    assert "curve-revenue_90d-decline-gold-retention" in report.read_text(encoding="utf-8")


def test_the_report_says_arms_not_checked_rather_than_right() -> None:
    """Arms with no sample-ratio test (another plan version's: their shares are not
    known) were reported as right: "every experiment's arms are the sizes the plan gives
    them" above the charts, and "ok" in every row's SRM column."""
    from treatment_engine.measure.attribution import GroupStats, Measured
    from treatment_engine.measure.report import render
    from treatment_engine.measure.results import compare
    from treatment_engine.plan import plan_from_texts

    plan = plan_from_texts({"rules/p.yaml": "rules:\n  - {id: r, then: {treatment: none, holdout: 0.5}}\n"
                            "metrics:\n  - {id: churn, event: churned, compute: rate, within: 1d}\n"})

    def measured(version: str, holdout: int) -> Measured:
        groups = tuple(GroupStats(version, "r", "r", "", arm, "churn", n, n, n * 0.2, n * 0.2, 0.0)
                       for arm, n in (("champion", 500), ("holdout", holdout)))
        return Measured(groups, {(version, "r", "r", "", g.arm): g.customers for g in groups})

    older = compare(plan, measured("older", 500))
    assert [c.srm_p for c in older] == [None]
    page = render(plan, older, {}, "2026-12-01")
    assert "sizes the plan gives them (no chi-square" not in page
    assert "not checked" in page and "<td>ok</td>" not in page
    own = compare(plan, measured(plan.version, 500))  # tested, and fair: still said so
    page = render(plan, own, {}, "2026-12-01")
    assert "sizes the plan gives them (no chi-square p below 0.001)" in page and "<td>ok</td>" in page
    both = render(plan, older + own, {}, "2026-12-01")  # one tested, one not: neither claim spreads
    assert "not checked" in both and "<td>ok</td>" in both
