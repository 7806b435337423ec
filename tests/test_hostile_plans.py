"""The hostile plan corpus (tests/hostile/plans): every case is refused with its located
reason, or loads and serves, in the engine, the `treatment validate` command and the service."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from treatment_engine import Engine, PlanError
from treatment_engine.contacts import Contact

from .asgi import Request, exchange
from .hostile import HOSTILE, cases

CORPUS = HOSTILE / "plans"
AS_OF = date(2026, 11, 1)
PROFILES: list[dict[str, Any]] = [
    {"customer_id": "h1", "nps": 10, "annual_value": 1e308, "consent": {"sms": True}},
    {"customer_id": "h2", "nps": 3, "annual_value": -5},
    {"customer_id": "h3", "annual_value": 2**70},
    {"customer_id": "h4", "nps": 9, "annual_value": 2400, "consent": {"sms": True}},
]


def build(case: dict[str, Any], root: Path) -> Path:
    """The case's plan: base/ with the case's file, links and FIFO added."""
    plan, outside = root / "plan", root / "outside"
    shutil.copytree(CORPUS / "base", plan)
    outside.mkdir()
    (outside / "rules.yaml").write_text("rules: []\n", encoding="utf-8")
    if "file" in case:
        target = plan / case.get("as", "rules/hostile.yaml")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(CORPUS / "files" / case["file"], target)
    for relative, pointee in case.get("links", {}).items():
        link = plan / relative
        if link.is_dir() and not link.is_symlink():
            shutil.rmtree(link)
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(pointee.format(plan=plan, outside=outside))
    if "fifo" in case:
        os.mkfifo(plan / case["fifo"])
    return plan


@pytest.mark.timeout(60)  # a loader that hangs fails its case, not the whole run
@pytest.mark.parametrize("case", cases("plans"))
def test_hostile_plan(case: dict[str, Any], tmp_path: Path) -> None:
    plan = build(case, tmp_path)
    want = case["want"]
    if want == "serves":
        engine = Engine.load(plan)
        _serves(engine)
        _serves_over_http(plan)
        assert _validate_command(plan).returncode == 0
        return
    with pytest.raises(PlanError) as raised:
        Engine.load(plan)
    first = raised.value.issues[0]
    assert (first.code, str(first.location)) == (want["code"], want["at"]), raised.value.lines()
    assert "\n" not in str(first), "one line per finding"
    command = _validate_command(plan)
    assert command.returncode == 2 and "Traceback" not in command.stderr, command.stderr
    assert f"{want['at']}: {want['code']}:" in command.stderr


def _serves(engine: Engine) -> None:
    """Decide and explain with no history, with contacts on every channel, and after a delight."""
    histories: list[list[Contact]] = [[], [Contact(AS_OF.toordinal() - 1, "contain", c) for c in engine.plan.channels],
                                      [Contact(AS_OF.toordinal(), "delight", "sms", times=3)]]
    for history in histories:
        for day in (AS_OF, date(1900, 1, 1), date(9999, 12, 31)):
            for profile in PROFILES:
                engine.decide(profile, day, history=history)
                engine.explain(profile, day, history=history)


def _serves_over_http(plan: Path) -> None:
    pytest.importorskip("fastapi")
    from treatment_engine.service.app import create_app
    from treatment_engine.store import DecisionLog

    json_safe = [p for p in PROFILES if p["customer_id"] != "h3"]
    requests: list[Request] = [  # three rounds: later ones count the earlier ones as history
        ("POST", path, {"profile": profile, "as_of": AS_OF.isoformat()})
        for _ in range(3) for profile in json_safe for path in ("/v1/decisions", "/v1/explain")]
    requests.append(("POST", "/v1/decisions:batch", {"profiles": json_safe, "as_of": "2026-11-02"}))
    log = DecisionLog(f"sqlite:///{plan.parent / 'log.db'}")
    for answer in exchange(create_app(plan, log=log), requests):
        assert answer.status_code == 200, answer.text


def _validate_command(plan: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "treatment_engine", "validate", "--plan", str(plan)],
                          capture_output=True, text=True, timeout=60, check=False)
