"""The plan router: /v1/plan and /v1/plan:reload, and reloading on a change (--watch)."""

from __future__ import annotations

from pathlib import Path

import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi", reason="the service extra is not installed")

from .server import PROFILE, Server, plan_copy, wait_for  # noqa: E402


def test_a_broken_plan_never_replaces_the_live_one(served: tuple[str, Path]) -> None:
    base, plan = served
    before = httpx.get(f"{base}/v1/plan").json()
    policy = plan / "rules" / "policy.yaml"
    good = policy.read_text()
    policy.write_text(good.replace("delight_max_cost_ratio: 0.03", "delight_max_cost_ratio: lots"))
    refused = httpx.post(f"{base}/v1/plan:reload")
    assert refused.status_code == 409 and refused.json()["plan_version"] == before["plan_version"]
    assert "rules/policy.yaml" in refused.json()["errors"][0]
    info = httpx.get(f"{base}/v1/plan").json()
    assert info["plan_version"] == before["plan_version"] and info["last_reload_error"]
    still = httpx.post(f"{base}/v1/decisions", json={"profile": PROFILE})
    assert still.status_code == 200 and still.json()["plan_version"] == before["plan_version"]

    policy.write_text(good.replace("delight_max_cost_ratio: 0.03", "delight_max_cost_ratio: 0.01"))
    accepted = httpx.post(f"{base}/v1/plan:reload")
    assert accepted.status_code == 200 and accepted.json()["plan_version"] != before["plan_version"]
    after = httpx.post(f"{base}/v1/decisions", json={"profile": PROFILE, "as_of": "2026-11-01"}).json()
    assert after["plan_version"] == accepted.json()["plan_version"]
    assert after["rule"] != "gold-detractor-recovery"  # 26 of delight now fails 1% of 2,400
    assert httpx.get(f"{base}/v1/plan").json()["last_reload_error"] is None
    policy.write_text(good)
    assert httpx.post(f"{base}/v1/plan:reload").status_code == 200


def test_a_plan_edit_is_picked_up_and_a_broken_one_refused(tmp_path: Path) -> None:
    server = Server(plan_copy(tmp_path), "--watch").start()
    try:
        first = httpx.get(f"{server.base}/v1/plan").json()["plan_version"]
        policy = server.plan / "rules" / "policy.yaml"
        good = policy.read_text()
        policy.write_text(good.replace("ratio: 0.03", "ratio: nonsense"))
        wait_for(lambda: httpx.get(f"{server.base}/v1/plan").json()["last_reload_error"] is not None)
        assert httpx.get(f"{server.base}/v1/plan").json()["plan_version"] == first
        policy.write_text(good.replace("ratio: 0.03", "ratio: 0.02"))
        wait_for(lambda: httpx.get(f"{server.base}/v1/plan").json()["plan_version"] != first)
        assert httpx.get(f"{server.base}/v1/plan").json()["last_reload_error"] is None
    finally:
        server.stop()
