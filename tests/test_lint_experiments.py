"""treatment lint on experiments (#14 item 5): arms too small for the uplift a holdout
states (TP011, statsmodels' power calculation), arms of no bucket (TP012)."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from statistics import NormalDist

from click.testing import CliRunner

from treatment_engine.cli import cli
from treatment_engine.lint import CHECKS, lint_plan

from .conftest import REPO, write_plan

CATALOG = """\
channels:
  email: {cost: 0.02, consent: consent.email}
  sms: {cost: 0.05, consent: consent.sms}
actions:
  gift: {kind: delight, cost: 3}
"""


def _plan(tmp_path: Path, policy: str, rule_extra: str = "", challengers: str = "") -> Path:
    rules = ("rules:\n  - id: gift-rule\n    when: {if: spend > 100}\n    then:\n"
             "      treatment: delight\n      actions: [gift]\n      channels: [email]\n" + rule_extra + challengers)
    return write_plan(tmp_path, {"rules/catalog.yaml": CATALOG + policy, "rules/rules.yaml": rules})


def _findings(plan: Path, code: str) -> list:
    return [f for f in lint_plan(plan).findings if f.code == code]


def _textbook_smaller_arm(detect: float, ratio: float, baseline: float = 0.5) -> float:
    """The normal-approximation sample size by hand, as an oracle for statsmodels': Cohen's
    h between the two rates, (z_alpha/2 + z_power)^2 / h^2, times (1 + 1/ratio)."""
    h = 2 * math.asin(math.sqrt(baseline + detect)) - 2 * math.asin(math.sqrt(baseline))
    z = NormalDist().inv_cdf(1 - 0.05 / 2) + NormalDist().inv_cdf(0.8)
    return (z / h) ** 2 * (1 + 1 / ratio)


def _number(text: str, before: str) -> int:
    found = re.search(r"([\d,]+) " + re.escape(before), text)
    assert found, (before, text)
    return int(found.group(1).replace(",", ""))


def test_a_holdout_too_small_for_its_detect_warns_with_the_customers_needed(tmp_path: Path) -> None:
    plan = _plan(tmp_path, "policy:\n  expected_customers: 50000\n  holdout: {share: 0.02, detect: 0.02}\n")
    [finding] = _findings(plan, "TP011")
    assert finding.severity == "warning"
    # At the `detect` key: line 8 of the catalog (its policy), column 26.
    assert (finding.location.path.endswith("rules/catalog.yaml"), finding.location.line,
            finding.location.column) == (True, 8, 26)
    message = finding.message
    assert "of 50,000 expected customers its arm gets about 1,000" in message
    for stated in ("alpha 0.05", "power 0.8", "baseline rate 50%"):
        assert stated in message
    held = _number(message, "held out")
    assert abs(held - _textbook_smaller_arm(0.02, 49)) < 2  # 98% beside 2%: 49 to 1
    assert _number(message, "beside them") == round(held * 49)
    assert f"expect at least {held / 0.02:,.0f} customers" in (finding.hint or "")


def test_enough_customers_or_no_detect_stays_quiet(tmp_path: Path) -> None:
    assert _findings(_plan(tmp_path / "a", "policy:\n  expected_customers: 1000000\n"
                                           "  holdout: {share: 0.02, detect: 0.02}\n"), "TP011") == []
    assert _findings(_plan(tmp_path / "b", "policy:\n  expected_customers: 500\n  holdout: {share: 0.02}\n"),
                     "TP011") == []


def test_detect_without_expected_customers_is_a_note(tmp_path: Path) -> None:
    [finding] = _findings(_plan(tmp_path, "policy:\n  holdout: {share: 0.05, detect: 0.01}\n"), "TP011")
    assert finding.severity == "info" and "policy.expected_customers" in (finding.hint or "")


def test_a_rule_holdout_is_judged_on_what_the_universal_holdout_leaves(tmp_path: Path) -> None:
    plan = _plan(tmp_path, "policy:\n  expected_customers: 50000\n  holdout: {share: 0.1}\n",
                 "      holdout: {share: 0.3, detect: 0.01, control: none}\n")
    [finding] = _findings(plan, "TP011")
    assert finding.location.path.endswith("rules/rules.yaml") and (finding.location.line,
                                                                   finding.location.column) == (8, 29)
    assert "the holdout of rule 'gift-rule'" in finding.message
    assert "its arm gets about 13,500 even if the rule decided for all of them" in finding.message  # 50k x 0.9 x 0.3
    held = _number(finding.message, "held out")
    assert abs(held - _textbook_smaller_arm(0.01, 0.7 / 0.3)) < 2


def test_an_arm_of_no_bucket_warns_at_its_share(tmp_path: Path) -> None:
    plan = _plan(tmp_path, "", "      holdout: 0.00002\n",
                 "    challengers:\n      - {id: sms-first, share: 0.00004, then: {treatment: delight, "
                 "actions: [gift], channels: [sms]}}\n      - {id: big, share: 0.0001, then: {treatment: none}}\n")
    found = _findings(plan, "TP012")
    assert [(f.location.line, f.location.column) for f in found] == [(8, 7), (10, 25)]
    assert "no customer is ever held out" in found[0].message
    assert "challenger 'sms-first' of rule 'gift-rule' can never be chosen" in found[1].message
    assert all(f.severity == "warning" for f in found)
    # The challenger's channel is used (by the challenger), not TP007's unused channel.
    assert _findings(plan, "TP007") == []


def test_experiment_findings_in_sarif(tmp_path: Path) -> None:
    plan = _plan(tmp_path, "policy:\n  expected_customers: 50000\n  holdout: {share: 0.02, detect: 0.02}\n", "",
                 "    challengers:\n      - {id: never, share: 0.00001, then: {treatment: none}}\n")
    result = CliRunner().invoke(cli, ["lint", "--plan", str(plan), "--format", "sarif"])
    run = json.loads(result.stdout)["runs"][0]
    rules = {rule["id"]: rule for rule in run["tool"]["driver"]["rules"]}
    assert rules["TP011"]["name"] == "underpowered-experiment" and rules["TP012"]["name"] == "empty-arm"
    regions = {r["ruleId"]: r["locations"][0]["physicalLocation"]["region"] for r in run["results"]}
    assert regions["TP011"] == {"startLine": 8, "startColumn": 26}
    assert regions["TP012"] == {"startLine": 9, "startColumn": 21}


def test_every_lint_code_is_documented() -> None:
    documented = (REPO / "docs" / "authoring.md").read_text(encoding="utf-8")
    for code, check in CHECKS.items():
        assert f"| {code} | {check.name} |" in documented, code
