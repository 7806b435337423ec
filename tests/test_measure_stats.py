"""Results measurement (#15 items 4 and 8): statistics from sufficient statistics, the
sample-ratio check, verdicts, recovery of known effects, and ``treatment measure``."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from scipy import stats

from treatment_engine.cli import cli
from treatment_engine.experiments.buckets import bucket
from treatment_engine.measure.attribution import GroupStats, Measured
from treatment_engine.measure.results import DOES_NOT_PAY_BACK, NO_EFFECT, NOT_MEASURABLE, PAYS_BACK, compare
from treatment_engine.measure.statistics import SRM_ALPHA, arm_summary, difference, holm, sample_ratio_p
from treatment_engine.measure.synthetic import check_recovery, sample_decisions
from treatment_engine.plan import load_plan, plan_from_texts

from .conftest import REPO


def _sufficient(values: np.ndarray) -> tuple[int, float, float]:
    return len(values), float(values.sum()), float((values * values).sum())


def test_welch_from_sufficient_statistics_is_welch_on_the_raw_values() -> None:
    rng = np.random.default_rng(3)
    treated, control = rng.normal(5, 2, 60), rng.exponential(4, 90)
    found = difference(False, _sufficient(treated), _sufficient(control))
    expected = stats.ttest_ind(treated, control, equal_var=False)
    assert found is not None
    assert found.p_value == pytest.approx(expected.pvalue, rel=1e-9)
    assert (found.low, found.high) == pytest.approx(tuple(expected.confidence_interval()), rel=1e-9)
    arm = arm_summary(False, *_sufficient(treated))
    assert (arm.low, arm.high) == pytest.approx(stats.t.interval(0.95, 59, treated.mean(), stats.sem(treated)))


def test_rates_use_wilson_newcombe_and_the_score_test() -> None:
    from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint

    found = difference(True, (200, 60.0, 60.0), (180, 36.0, 36.0))
    assert found is not None
    assert (found.low, found.high) == pytest.approx(confint_proportions_2indep(60, 200, 36, 180, method="newcomb"))
    assert found.absolute == pytest.approx(0.1) and found.relative == pytest.approx(0.5)
    assert 0.01 < found.p_value < 0.05
    arm = arm_summary(True, 200, 60.0, 60.0)
    assert (arm.low, arm.high) == pytest.approx(proportion_confint(60, 200, method="wilson"))


def test_holm_orders_and_adjusts() -> None:
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])


def _arms(plan, seed: int, customers: int, drop_holdout: float = 0.0) -> list[int]:
    """Assigned customers per arm of decline-gold-retention, by the real bucket hash; a
    logging fault that loses ``drop_holdout`` of the holdout's decisions skews them."""
    experiment = next(r.experiment for r in plan.rules if r.id == "decline-gold-retention")
    rng = random.Random(seed)
    counts = {"holdout": 0, "champion": 0}
    for index in range(customers):
        arm = experiment.arm_for(bucket(experiment.salt, f"s{seed}-{index}"))
        name = "champion" if arm is None else arm.id
        if name == "holdout" and rng.random() < drop_holdout:
            continue
        counts[name] += 1
    return [counts["holdout"], counts["champion"]]


def test_a_skewed_assignment_is_flagged_and_a_fair_one_is_not_over_seeds() -> None:
    plan = load_plan(REPO)
    shares = [0.1, 0.9]  # the default plan's holdout on decline-gold-retention
    fair = [sample_ratio_p(_arms(plan, seed, 5000), shares) for seed in range(20)]
    skewed = [sample_ratio_p(_arms(plan, seed, 5000, drop_holdout=0.25), shares) for seed in range(20)]
    assert all(p is not None and p >= SRM_ALPHA for p in fair), fair
    assert all(p is not None and p < SRM_ALPHA for p in skewed), skewed


@pytest.mark.parametrize(("customers", "share"), [(50, 0.01), (100, 0.01), (40, 0.1)])
def test_a_fair_assignment_of_few_customers_is_not_flagged_beyond_the_stated_rate(customers: int,
                                                                                 share: float) -> None:
    """Where an arm expects fewer than 5 customers, the chi-square's approximation fails:
    50 customers with a 1% holdout (0.5 expected in it) were flagged 'sample ratio
    mismatch' in about 1.5% of fair, hash-assigned runs, 15 times the 0.1% the check
    states. Over 2,000 salts no more than a chance excess over 0.1% may be flagged, and
    a holdout far larger than declared still is."""
    size = round(share * 10_000)
    shares = [size / 10_000, 1 - size / 10_000]
    flagged = 0
    for seed in range(2000):
        held = sum(bucket(f"salt{seed}", f"c{i}") < size for i in range(customers))
        p = sample_ratio_p([held, customers - held], shares)
        flagged += p is not None and p < SRM_ALPHA
    assert flagged <= 6, flagged  # 0.1% of 2,000 is 2; P(Poisson(2) > 6) < 0.5%
    skewed = sample_ratio_p([customers // 2, customers - customers // 2], shares)
    assert skewed is not None and skewed < SRM_ALPHA


def _group(arm: str, n: int, total: float, cost: float, metric: str = "churn", version: str = "v") -> GroupStats:
    return GroupStats(version, "r", "r", "", arm, metric, n, n, total, total, cost * n)


PRICED = {"rules/p.yaml": "rules:\n  - {id: r, then: {treatment: none, holdout: 0.5}}\n"
          "metrics:\n  - {id: churn, event: churned, compute: rate, within: 1d, higher_is_better: false, "
          "value: 100}\n"}


@pytest.mark.parametrize(("treated_churn", "cost", "verdict"), [
    (2000, 5.0, PAYS_BACK),  # 10 points less churn x 100 = 10 a customer, for 5
    (2000, 20.0, DOES_NOT_PAY_BACK),  # the same gain for 20: its whole interval is below the cost
    (4000, 0.0, NO_EFFECT),  # no change, and 20,000 a side is plenty to see the break-even
])
def test_verdicts_weigh_the_value_interval_against_the_cost(treated_churn: int, cost: float, verdict: str) -> None:
    plan = plan_from_texts(PRICED)
    v = plan.version
    measured = Measured((_group("champion", 20_000, treated_churn, cost, version=v),
                         _group("holdout", 20_000, 4000, 0.0, version=v)),
                        {(v, "r", "r", "", "champion"): 20_000, (v, "r", "r", "", "holdout"): 20_000})
    [found] = compare(plan, measured)
    assert found.verdict == verdict
    assert found.cost == pytest.approx(cost)
    assert found.srm_p is not None and not found.srm


def test_too_few_customers_say_how_many_more_each_arm_needs() -> None:
    plan = plan_from_texts(PRICED)
    v = plan.version
    measured = Measured((_group("champion", 200, 36, 5.0, version=v), _group("holdout", 200, 40, 0.0, version=v)),
                        {(v, "r", "r", "", "champion"): 200, (v, "r", "r", "", "holdout"): 120})
    [found] = compare(plan, measured)
    # Break-even is 5 / 100 = 5 points of churn, down from 20% to 15%: about 900 a side
    # (statsmodels' power), some 700 more than the 200 there.
    assert 650 < _more(found.verdict) < 750
    assert found.srm  # 200 against 120 of a declared half and half


def _more(verdict: str) -> int:
    assert verdict.startswith("not enough data yet (about ") and "more customers per arm" in verdict, verdict
    return int(verdict.split("about ")[1].split(" ")[0].replace(",", ""))


def test_customers_needed_are_for_the_break_even_change_in_the_better_direction() -> None:
    """Churn is better lower: the break-even effect of a gift costing 1, worth 100 a churn
    saved, is 2% churn down to 1%, not up to 3%. Sized for the rise (Cohen's h of 0.02
    to 0.03), the verdict asked for about 1.7 times the customers statsmodels' power
    calculation needs to see the fall it is looking for."""
    from statsmodels.stats.power import NormalIndPower
    from statsmodels.stats.proportion import proportion_effectsize

    plan = plan_from_texts(PRICED)
    v = plan.version
    measured = Measured((_group("champion", 600, 11, 1.0, version=v), _group("holdout", 600, 12, 0.0, version=v)),
                        {(v, "r", "r", "", "champion"): 600, (v, "r", "r", "", "holdout"): 600})
    [found] = compare(plan, measured)
    effect = abs(float(proportion_effectsize(0.01, 0.02)))
    needed = math.ceil(NormalIndPower().solve_power(effect_size=effect, alpha=0.05, power=0.8, ratio=1.0))
    assert _more(found.verdict) == needed - 600


def test_an_experiment_whose_control_arm_is_empty_is_flagged_not_dropped() -> None:
    """The most blatant sample-ratio mismatch: a rule holding out half its customers, and
    none of 400 decided in the holdout (say, held-out decisions lost before the log).
    Without a control the experiment was dropped: no comparison, no flag, and the table
    said "no experiment has customers with a closed window yet: nothing to measure"."""
    plan = plan_from_texts(PRICED)
    v = plan.version
    measured = Measured((_group("champion", 400, 80, 5.0, version=v),), {(v, "r", "r", "", "champion"): 400})
    [found] = compare(plan, measured)
    assert (found.arm, found.control, found.baseline.n, found.difference) == ("champion", "holdout", 0, None)
    assert found.srm and found.srm_p is not None and found.srm_p < 1e-50
    assert found.verdict.startswith("not enough data yet")
    # Another version's arms are not known: there, without a control, nothing is compared.
    older = Measured((_group("champion", 400, 80, 5.0, version="older"),), {("older", "r", "r", "", "champion"): 400})
    assert compare(plan, older) == []


@pytest.mark.parametrize("amount", [1e200, float("inf")])  # its square overflows; `1e400` in an event
def test_a_value_too_large_to_compute_with_is_no_verdict_of_no_effect(amount: float) -> None:
    """One customer's revenue of 1e200 (its square is beyond the double range) or 1e400
    (infinite) made the interval and the p-value NaN, and the verdict said "no detectable
    effect": a claim about a comparison that was never computed."""
    plan = plan_from_texts({"rules/p.yaml": "rules:\n  - {id: r, then: {treatment: none, holdout: 0.5}}\n"
                            "metrics:\n  - {id: revenue, event: payment, compute: sum, field: amount, within: 1d}\n"})
    v = plan.version
    rng = np.random.default_rng(4)
    treated, control = rng.exponential(10, 200), rng.exponential(10, 200)
    treated[0] = amount
    with np.errstate(over="ignore"):
        groups = tuple(GroupStats(v, "r", "r", "", arm, "revenue", 200, *_sufficient(values), 0.0)
                       for arm, values in (("champion", treated), ("holdout", control)))
    [found] = compare(plan, Measured(groups, {(v, "r", "r", "", g.arm): 200 for g in groups}))
    assert found.verdict == NOT_MEASURABLE


def test_the_sample_ratio_check_tests_only_the_plan_versions_own_shares() -> None:
    """Decisions of another plan version were tested against the given plan's shares: a
    version that held out 20% (as declared then), measured with today's plan holding out
    10%, was flagged as a sample ratio mismatch, "check assignment before trusting its
    results", though its assignment was right. Another version's shares are not known:
    its arms are not tested. The plan's own version still is."""
    texts = {"rules/p.yaml": PRICED["rules/p.yaml"].replace("holdout: 0.5", "holdout: 0.1")}
    plan = plan_from_texts(texts)
    rows = {}
    for version in ("older", plan.version):
        rows[version] = Measured((_group("champion", 1600, 320, 5.0, version=version),
                                  _group("holdout", 400, 80, 0.0, version=version)),
                                 {(version, "r", "r", "", "champion"): 1600, (version, "r", "r", "", "holdout"): 400})
    [older] = compare(plan, rows["older"])  # 20% held out, as that version declared
    assert older.srm_p is None and not older.srm
    [own] = compare(plan, rows[plan.version])  # 20% held out where this version declares 10%
    assert own.srm_p is not None and own.srm


def test_measured_intervals_recover_known_effects_quick() -> None:
    """A few seeds of the recovery check (benchmarks/coverage_measure.py runs 400)."""
    plan = load_plan(REPO)
    recovery = check_recovery(plan, sample_decisions(plan, 3000, 11, "2026-11-01"), range(2), min_per_arm=10)
    assert recovery.compared >= 10
    assert recovery.coverage >= 0.8, recovery
    assert recovery.null_pays_back == 0, recovery


# -- the command ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def measured_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("measure")
    runner = CliRunner()
    decisions, outcomes = folder / "d.jsonl", folder / "o.jsonl"
    result = runner.invoke(cli, ["simulate", "--plan", str(REPO), "--sample", "3000", "--as-of", "2026-06-01",
                                 "-q", "-o", str(decisions)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(cli, ["sample", "--plan", str(REPO), "--outcomes", str(decisions), "--truth",
                                 str(folder / "truth.json"), "-o", str(outcomes)])
    assert result.exit_code == 0, result.output
    return decisions, outcomes


def _json(decisions: Path, outcomes: Path, backend: str) -> list[dict]:
    result = CliRunner().invoke(cli, ["measure", "--plan", str(REPO), "--decisions", str(decisions), "--events",
                                      str(outcomes), "--as-of", "2027-01-01", "--format", "json", "--backend", backend])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["comparisons"]


def test_measure_prints_json_alike_from_both_back_ends(measured_files: tuple[Path, Path]) -> None:
    decisions, outcomes = measured_files
    found, reference = _json(decisions, outcomes, "duckdb"), _json(decisions, outcomes, "python")
    truth = json.loads((decisions.parent / "truth.json").read_text())
    assert {(c["experiment"], c["rule"], c["arm"], c["metric"]) for c in found} <= \
        {(t["experiment"], t["rule"], t["arm"], t["metric"]) for t in truth}
    assert any(c["experiment"] == "decline-gold-retention" and c["control"] == "holdout" for c in found)
    assert all(set(c) >= {"difference_low", "adjusted_p", "roi", "srm", "verdict"} for c in found)
    assert len(found) == len(reference)
    for ours, theirs in zip(found, reference, strict=True):
        for key, value in ours.items():
            assert (value == pytest.approx(theirs[key], rel=1e-9, abs=1e-12)
                    if isinstance(value, float) else value == theirs[key]), (key, ours, theirs)


def test_measure_prints_a_table_and_csv(measured_files: tuple[Path, Path]) -> None:
    decisions, outcomes = measured_files
    base = ["measure", "--plan", str(REPO), "--decisions", str(decisions), "--events", str(outcomes),
            "--as-of", "2027-01-01"]
    table = CliRunner().invoke(cli, base)
    assert table.exit_code == 0 and "champion vs holdout" in table.stdout and "churned_90d" in table.stdout
    assert max(len(line) for line in table.stdout.splitlines()) <= 80
    lines = CliRunner().invoke(cli, [*base, "--format", "csv"]).stdout.splitlines()
    assert lines[0].startswith("plan_version,experiment,rule,cell,arm,control,metric,customers")
    assert len(lines) > 10
    split = CliRunner().invoke(cli, [*base, "--by", "value_tier", "--format", "csv"]).stdout.splitlines()
    assert len(split) > len(lines) and any(",value_tier=gold," in line for line in split)


def test_measure_refuses_missing_inputs_in_one_line(tmp_path: Path) -> None:
    missing = CliRunner().invoke(cli, ["measure", "--plan", str(REPO), "--decisions", str(tmp_path / "no.jsonl"),
                                       "--events", str(tmp_path / "no-events.jsonl")])
    assert missing.exit_code == 1 and missing.stderr.strip().endswith("no events file at " + str(tmp_path / "no-events.jsonl"))
    both = CliRunner().invoke(cli, ["measure", "--plan", str(REPO), "--decisions", "d.jsonl"])
    assert both.exit_code == 2 and "--events FILE or --db URL" in both.stderr
    bad_time = CliRunner().invoke(cli, ["measure", "--plan", str(REPO), "--decisions", "d.jsonl", "--events", "e",
                                        "--as-of", "soon"])
    assert bad_time.exit_code == 2 and "'soon' is not a date" in bad_time.stderr
    assert "Traceback" not in missing.output + both.output + bad_time.output
    by_what = CliRunner().invoke(cli, ["measure", "--plan", str(REPO), "--decisions", "d.jsonl", "--events", "e",
                                       "--by", "segment,region"])
    assert by_what.exit_code == 2 and "--by takes segment, lifecycle_stage, value_tier; not region" in by_what.stderr
    no_log = CliRunner().invoke(cli, ["measure", "--plan", str(REPO), "--decisions", f"sqlite:///{tmp_path / 'none.db'}",
                                      "--db", f"sqlite:///{tmp_path / 'none.db'}"])
    assert no_log.exit_code == 1 and "error: no decision log at sqlite:" in no_log.stderr
    assert "Traceback" not in no_log.output
    assert not (tmp_path / "none.db").exists()  # a mistyped path makes no file


def test_a_plan_version_is_printed_as_written_not_as_markup(measured_files: tuple[Path, Path],
                                                            tmp_path: Path) -> None:
    """The table's heading read the decisions' plan version as rich markup: a version
    '[/x]v1' stopped `measure` with rich's MarkupError and a traceback."""
    decisions, outcomes = measured_files
    hostile = tmp_path / "d.jsonl"
    rows = [json.loads(line) for line in decisions.read_text().splitlines()]
    hostile.write_text("".join(json.dumps({**row, "plan_version": "[/x]v1"}) + "\n" for row in rows))
    table = CliRunner().invoke(cli, ["measure", "--plan", str(REPO), "--decisions", str(hostile), "--events",
                                     str(outcomes), "--as-of", "2027-01-01"])
    assert table.exit_code == 0, table.output
    assert "results, plan version [/x]v1:" in table.stdout
