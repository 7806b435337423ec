"""From sufficient statistics to results, as GrowthBook's gbstats does: every arm's
(n, sum, sum of squares) is all the tests need. Every test comes from statsmodels or
scipy; only the bookkeeping is here.

- rates: Wilson interval per arm; the difference's Newcombe interval and score test;
  the relative change's interval from the ratio's (log-adjusted);
- everything else: Welch's t (interval and test), through statsmodels' weighted
  descriptive statistics fed two points that give exactly the arm's n, mean and variance;
- sample-ratio mismatch: chi-square of assigned customers against the declared shares
  (scipy's exact binomial test for two arms where one expects fewer than 5 customers);
- Holm's correction across the rules of one metric;
- power (to say how many more customers an arm needs): statsmodels' NormalIndPower for
  rates, TTestIndPower for means.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

ALPHA = 0.05
SRM_ALPHA = 0.001
POWER = 0.8
MIN_PER_ARM = 30  # below this the normal approximations behind every interval are not trusted


@dataclass(frozen=True)
class ArmSummary:
    n: int
    mean: float
    low: float
    high: float


@dataclass(frozen=True)
class Difference:
    absolute: float
    low: float
    high: float
    relative: float | None
    relative_low: float | None
    relative_high: float | None
    p_value: float


def variance(n: int, total: float, squares: float) -> float:
    """The sample variance from sufficient statistics (0 below two customers)."""
    return max(squares - total * total / n, 0.0) / (n - 1) if n > 1 else 0.0


def _described(n: int, total: float, squares: float) -> object:
    """statsmodels' DescrStatsW with this arm's n, mean and (population) variance exactly."""
    import numpy as np
    from statsmodels.stats.weightstats import DescrStatsW

    mean = total / n
    spread = math.sqrt(max(squares / n - mean * mean, 0.0))
    return DescrStatsW(np.array([mean - spread, mean + spread]), weights=np.array([n / 2, n / 2]))


def arm_summary(rate: bool, n: int, total: float, squares: float) -> ArmSummary:
    if n == 0:
        return ArmSummary(0, math.nan, math.nan, math.nan)
    mean = total / n
    if rate:
        from statsmodels.stats.proportion import proportion_confint

        low, high = proportion_confint(round(total), n, alpha=ALPHA, method="wilson")
        return ArmSummary(n, mean, float(low), float(high))
    if n < 2 or variance(n, total, squares) == 0:
        return ArmSummary(n, mean, mean, mean)
    low, high = _described(n, total, squares).tconfint_mean(alpha=ALPHA)  # type: ignore[attr-defined]
    return ArmSummary(n, mean, float(low), float(high))


def difference(rate: bool, treated: tuple[int, float, float], control: tuple[int, float, float]) -> Difference | None:
    """Treated minus control; None when an arm has too few customers to compare."""
    (n1, s1, q1), (n0, s0, q0) = treated, control
    if n1 < 2 or n0 < 2:
        return None
    m1, m0 = s1 / n1, s0 / n0
    if rate:
        return _rate_difference(round(s1), n1, round(s0), n0)
    if variance(n1, s1, q1) == 0 and variance(n0, s0, q0) == 0:
        return Difference(m1 - m0, m1 - m0, m1 - m0, None, None, None, 1.0 if m1 == m0 else 0.0)
    from statsmodels.stats.weightstats import CompareMeans

    compared = CompareMeans(_described(n1, s1, q1), _described(n0, s0, q0))
    low, high = compared.tconfint_diff(alpha=ALPHA, usevar="unequal")
    _, p_value, _ = compared.ttest_ind(usevar="unequal")
    relative = (m1 - m0) / m0 if m0 != 0 else None
    return Difference(m1 - m0, float(low), float(high), relative, None, None, float(p_value))


def welch(treated: tuple[int, float, float],
          control: tuple[int, float, float]) -> tuple[float, float, float | None] | None:
    """Treated mean less control mean, its standard error and Welch's degrees of freedom
    (statsmodels' CompareMeans, as ``difference`` uses for means), from sufficient
    statistics; None below two customers an arm, no degrees of freedom without spread."""
    (n1, s1, q1), (n0, s0, q0) = treated, control
    if n1 < 2 or n0 < 2:
        return None
    gap = s1 / n1 - s0 / n0
    if variance(n1, s1, q1) == 0 and variance(n0, s0, q0) == 0:
        return gap, 0.0, None
    from statsmodels.stats.weightstats import CompareMeans

    compared = CompareMeans(_described(n1, s1, q1), _described(n0, s0, q0))
    return gap, float(compared.std_meandiff_separatevar), float(compared.dof_satt())


def _rate_difference(count1: int, n1: int, count0: int, n0: int) -> Difference:
    import numpy as np
    from statsmodels.stats.proportion import confint_proportions_2indep, test_proportions_2indep

    with np.errstate(divide="ignore", invalid="ignore"):  # statsmodels also works out a ratio it does not return
        return _rate_difference_of(count1, n1, count0, n0, confint_proportions_2indep, test_proportions_2indep)


def _rate_difference_of(count1: int, n1: int, count0: int, n0: int, confint_proportions_2indep: Any,
                        test_proportions_2indep: Any) -> Difference:
    low, high = confint_proportions_2indep(count1, n1, count0, n0, method="newcomb", compare="diff", alpha=ALPHA)
    p_value = 1.0 if count1 * n0 == count0 * n1 else float(
        test_proportions_2indep(count1, n1, count0, n0, method="score").pvalue)
    p1, p0 = count1 / n1, count0 / n0
    relative = relative_low = relative_high = None
    if count0 > 0 and count1 > 0:
        ratio_low, ratio_high = confint_proportions_2indep(count1, n1, count0, n0, method="log-adjusted",
                                                           compare="ratio", alpha=ALPHA)
        relative, relative_low, relative_high = p1 / p0 - 1, float(ratio_low) - 1, float(ratio_high) - 1
    return Difference(p1 - p0, float(low), float(high), relative, relative_low, relative_high, p_value)


SRM_MIN_EXPECTED = 5  # the chi-square's approximation needs at least this many expected customers an arm


def sample_ratio_p(observed: list[int], shares: list[float]) -> float | None:
    """The chi-square p-value of assigned customers against declared shares (None: nothing
    to test). Where an arm expects fewer than 5 customers the chi-square's approximation
    fails (a fair split of 50 customers with a 1% holdout was flagged at p < 0.001 in 1.5%
    of runs): two arms then take scipy's exact binomial test; more arms are not tested."""
    total = sum(observed)
    if total == 0 or len(observed) < 2:
        return None
    expected = [total * share / sum(shares) for share in shares]
    if min(expected) < SRM_MIN_EXPECTED:
        if len(observed) != 2:
            return None
        from scipy.stats import binomtest

        return float(binomtest(observed[0], total, shares[0] / sum(shares)).pvalue)
    from scipy.stats import chisquare

    return float(chisquare(observed, expected).pvalue)


def holm(p_values: list[float]) -> list[float]:
    if not p_values:
        return []
    from statsmodels.stats.multitest import multipletests

    return [float(p) for p in multipletests(p_values, alpha=ALPHA, method="holm")[1]]


def customers_needed(rate: bool, control_mean: float, sd: float, delta: float, ratio: float,
                     higher_is_better: bool = True) -> int | None:
    """Customers the control arm needs to detect ``delta`` (two-sided, 5%, power 80%);
    the treated arm needs ``ratio`` times as many. None when no such size makes sense.
    ``delta`` is a change for the better: up from the control's mean, or down when lower
    is better (for a rate, Cohen's h differs between the two)."""
    if delta <= 0 or not math.isfinite(delta):
        return None
    if rate:
        from statsmodels.stats.power import NormalIndPower
        from statsmodels.stats.proportion import proportion_effectsize

        target = min(max(control_mean + (delta if higher_is_better else -delta), 0.0), 1.0)
        size = abs(float(proportion_effectsize(target, control_mean)))
        solver: object = NormalIndPower()
    else:
        from statsmodels.stats.power import TTestIndPower

        if sd <= 0:
            return None
        size, solver = delta / sd, TTestIndPower()
    if size == 0:
        return None
    needed = solver.solve_power(effect_size=size, alpha=ALPHA, power=POWER, ratio=ratio)  # type: ignore[attr-defined]
    return math.ceil(float(needed))
