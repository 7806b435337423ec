"""Contact caps and the delight cooldown: window edges, every decision path, the CLI's --db."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from treatment_engine import Engine
from treatment_engine.cli import cli
from treatment_engine.contacts import Contact, contact_state

AS_OF = date(2026, 11, 1)
PLAN = {
    "rules/catalog.yaml": yaml.safe_dump({
        "channels": {"sms": {"cost": 0.05, "consent": "sms_ok"}, "email": {"cost": 0.02},
                     "call": {"cost": 4.0}},
        "actions": {"gift": {"kind": "delight", "cost": 5}, "nudge": {"kind": "contain"}},
        "policy": {"contact_caps": {"sms": {"max": 2, "per_days": 7}, "any": {"max": 4, "per_days": 30}},
                   "delight_cooldown_days": 10},
        "default": {"treatment": "contain", "actions": ["nudge"], "channels": ["sms", "email"]},
    }),
    "rules/rules.yaml": yaml.safe_dump({"rules": [
        {"id": "vip-gift", "priority": 10, "when": {"if": "vip"},
         "then": {"treatment": "delight", "actions": ["gift"], "channels": ["sms", "call"]}},
    ]}),
    "segments/who.yaml": yaml.safe_dump({"segments": [{"id": "everyone"}]}),
}
VIP = {"customer_id": "c1", "vip": True, "sms_ok": True}


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine.from_texts(PLAN)


def days_ago(n: int, treatment: str = "contain", channel: str | None = "sms") -> Contact:
    return Contact((AS_OF - timedelta(days=n)).toordinal(), treatment, channel)


@pytest.mark.parametrize(("ages", "capped"), [
    ([0, 6], True),       # both inside the 7 days that end today
    ([0, 7], False),      # 7 days ago is the eighth day back: outside
    ([1, 2, 3], True),
    ([-1, 0], False),     # a decision made for a later day is not history yet
    ([], False),
])
def test_a_channel_cap_counts_the_window_that_ends_today(engine: Engine, ages: list[int], capped: bool) -> None:
    state = engine.limits([days_ago(n) for n in ages], AS_OF)
    assert ("sms" in state.blocked) is capped
    decision = engine.decide({"customer_id": "c1", "sms_ok": True}, AS_OF, history=[days_ago(n) for n in ages])
    assert decision.channels == (("email",) if capped else ("sms", "email"))


def test_the_any_cap_counts_every_channel_and_blocks_them_all(engine: Engine) -> None:
    history = [days_ago(1, channel="email"), days_ago(5, channel="call"), days_ago(20, channel="sms"),
               days_ago(29, channel="email"), days_ago(30, channel="email")]
    state = engine.limits(history, AS_OF)
    assert state.blocked == {"sms", "email", "call"}
    assert "4 contacts on any channel in the last 30 days (max 4)" in state.reasons["email"]
    decision = engine.decide({"customer_id": "c1", "sms_ok": True}, AS_OF, history=history)
    assert decision.rule == "default" and decision.channels == ()
    # A decision with no channel contacted nobody: it does not count.
    assert not engine.limits([days_ago(1, channel=None)] * 9, AS_OF).blocked


@pytest.mark.parametrize(("age", "cooling"), [(0, True), (9, True), (10, False), (-1, False)])
def test_the_delight_cooldown(engine: Engine, age: int, cooling: bool) -> None:
    history = [days_ago(age, treatment="delight", channel="call")]
    decision = engine.decide(VIP, AS_OF, history=history)
    assert decision.rule == ("default" if cooling else "vip-gift")


def test_a_capped_channel_falls_to_the_next_and_a_rule_with_none_left_is_skipped(engine: Engine) -> None:
    two_sms = [days_ago(1), days_ago(2)]
    assert engine.decide(VIP, AS_OF, history=two_sms).channels == ("call",)
    no_call = [*two_sms, days_ago(3, channel="call"), days_ago(4, channel="call")]
    assert engine.decide(VIP, AS_OF, history=no_call).rule == "default"  # any-cap: 4 in 30 days


def test_explain_names_the_cap_and_the_cooldown(engine: Engine) -> None:
    history = [days_ago(1), days_ago(2)]
    checks = engine.explain({**VIP, "vip": True}, AS_OF, history=[
        *history, days_ago(3, "delight", "call")]).to_record()["trace"]["rules"]
    assert checks[0]["outcome"] == "skipped"
    assert checks[0]["reason"] == "cooling down: delighted on 2026-10-29, within delight_cooldown_days 10"
    capped = engine.explain({"customer_id": "c1", "sms_ok": True}, AS_OF, history=history).to_record()
    assert "sms: contact cap reached: 2 contacts on sms in the last 7 days (max 2)" in capped["trace"]["rules"][-1]["reason"]


def test_a_plan_without_limits_ignores_history() -> None:
    catalog = yaml.safe_load(PLAN["rules/catalog.yaml"])
    del catalog["policy"]
    unlimited = Engine.from_texts({**PLAN, "rules/catalog.yaml": yaml.safe_dump(catalog)})
    assert unlimited.plan.contact_rules is None
    assert unlimited.decide(VIP, AS_OF, history=[days_ago(0, "delight")] * 5).rule == "vip-gift"


def test_no_history_is_no_limit() -> None:
    rules = Engine.from_texts(PLAN).plan.contact_rules
    assert rules is not None and contact_state(rules, [], AS_OF).blocked == frozenset()


# -- the CLI reads history from the service's decision log --------------------------------

@pytest.fixture
def logged(tmp_path: Path, engine: Engine) -> tuple[Path, str]:
    pytest.importorskip("sqlmodel", reason="the service extra is not installed")
    from treatment_engine.store import DecisionLog

    plan = tmp_path / "plan"
    for name, text in PLAN.items():
        (plan / name).parent.mkdir(parents=True, exist_ok=True)
        (plan / name).write_text(text)
    url = f"sqlite:///{tmp_path / 'log.db'}"
    log = DecisionLog(url)
    # c1 had two SMS this week; c2 was delighted three days ago; c3 has no history.
    for day, profile in ((AS_OF - timedelta(days=1), {"customer_id": "c1", "sms_ok": True}),
                         (AS_OF - timedelta(days=3), {"customer_id": "c1", "sms_ok": True}),
                         (AS_OF - timedelta(days=3), {**VIP, "customer_id": "c2"})):
        log.decisions.record(engine.plan, [(profile, engine.decide(profile, day))])
    log.close()
    return plan, url


def test_decide_and_simulate_with_db_apply_the_caps(tmp_path: Path, logged: tuple[Path, str]) -> None:
    plan, url = logged
    profiles = tmp_path / "p.jsonl"
    profiles.write_text("\n".join(json.dumps(p) for p in (
        {"customer_id": "c1", "sms_ok": True}, {**VIP, "customer_id": "c2"}, {**VIP, "customer_id": "c3"})) + "\n")
    runner = CliRunner()
    outputs = {}
    for backend in ("python", "duckdb"):
        out = tmp_path / f"{backend}.jsonl"
        result = runner.invoke(cli, ["decide", "--plan", str(plan), "--profiles", str(profiles), "--as-of",
                                     AS_OF.isoformat(), "--db", url, "--backend", backend, "-o", str(out), "-q"])
        assert result.exit_code == 0, result.output
        outputs[backend] = [json.loads(x) for x in out.read_text().splitlines()]
    decided = [(d["customer_id"], d["rule"], d["channels"]) for d in outputs["python"]]
    assert decided == [("c1", "default", ["email"]), ("c2", "default", ["sms", "email"]),
                       ("c3", "vip-gift", ["sms", "call"])]
    assert [{k: d[k] for k in ("rule", "channels")} for d in outputs["duckdb"]] == [
        {k: d[k] for k in ("rule", "channels")} for d in outputs["python"]]

    without = runner.invoke(cli, ["decide", "--plan", str(plan), "--profiles", str(profiles), "--as-of",
                                  AS_OF.isoformat(), "-q"])
    assert [json.loads(x)["rule"] for x in without.stdout.splitlines()][:2] == ["default", "vip-gift"]

    result = runner.invoke(cli, ["simulate", "--plan", str(plan), "--profiles", str(profiles), "--as-of",
                                 AS_OF.isoformat(), "--db", url])
    assert result.exit_code == 0, result.output
    from treatment_engine.cli.support import limits_from_log
    from treatment_engine.simulation import simulate_duckdb, simulate_python

    limits = limits_from_log(Engine.load(plan).plan, url, AS_OF)
    summaries = [simulate(Engine.load(plan).plan, str(profiles), AS_OF, limits=limits)
                 for simulate in (simulate_python, simulate_duckdb)]
    for summary in summaries:
        assert summary.by_rule == {("default", "contain"): 2, ("vip-gift", "delight"): 1}
        assert summary.by_channel == {"email": 1, "sms": 2}


def test_db_that_does_not_exist_is_a_clear_error(tmp_path: Path, logged: tuple[Path, str]) -> None:
    plan, _ = logged
    result = CliRunner().invoke(cli, ["decide", "--plan", str(plan), "--profiles", "-", "--db",
                                      f"sqlite:///{tmp_path / 'nope.db'}"], input="")
    assert result.exit_code != 0 and "no decision log at" in result.output
