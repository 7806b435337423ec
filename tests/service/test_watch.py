"""The service's watcher reloads on plan changes only (issue 13, item 3).

A real `treatment serve`, started as the README shows: from the plan's own directory,
which also holds its SQLite decision log (the default sqlite:///treatment.db), a
virtualenv and an out/ folder. Decisions and writes beside the plan cause no reload; a
plan edit does, once, and is logged on standard error, as is a refused one with its
errors; a file saved unchanged is not a reload; the listening URL is printed at start.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from treatment_engine.service.plan_sync import PlanFilesFilter

from .server import PROFILE, _free_port, plan_copy, wait_for

QUIET_SECONDS = 2.0  # well past the watcher's debounce (0.3 s) and settling (0.25 s)


def _reloads(base: str) -> dict[str, float]:
    """treatment_plan_reloads_total by result, from /metrics."""
    text = httpx.get(f"{base}/metrics").text
    return {result: float(value) for result, value in
            re.findall(r'^treatment_plan_reloads_total\{result="(\w+)"\} (\S+)$', text, re.M)}


def test_the_filter_takes_what_the_loader_reads_only(tmp_path: Path) -> None:
    plan = PlanFilesFilter(tmp_path)
    taken = ["rules/a.yaml", "rules/extra/b.yml", "segments/s.yaml", "rules", "segments", "rules/extra"]
    left = ["treatment.db", "treatment.db-wal", ".venv/lib/x.py", "out/decisions.jsonl", "rules/.a.yaml.swp",
            "rules/a.yaml~", "rules/.hidden/a.yaml", "tests/cases.yaml", "README.md", "rules/notes.txt"]
    assert [p for p in taken if not plan(None, str(tmp_path / p))] == []
    assert [p for p in left if plan(None, str(tmp_path / p))] == []
    assert not plan(None, str(tmp_path.parent / "rules" / "a.yaml"))  # another folder's rules/


@pytest.mark.slow
def test_decisions_beside_the_plan_cause_no_reload(tmp_path: Path) -> None:
    plan = plan_copy(tmp_path / "plan")
    for folder in (".venv", "out", "tests"):
        (plan / folder).mkdir()
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {key: value for key, value in os.environ.items() if key not in ("TREATMENT_PLAN", "TREATMENT_DB_URL")}
    stderr_path = tmp_path / "serve.log"
    with open(stderr_path, "wb") as stderr:
        process = subprocess.Popen([sys.executable, "-m", "treatment_engine", "serve", "--port", str(port)],
                                   cwd=plan, env=env, stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        wait_for(lambda: process.poll() is None and _answers(base), seconds=60)
        version = httpx.get(f"{base}/v1/plan").json()["plan_version"]
        started = stderr_path.read_text()
        assert f"using plan . (version {version})" in started
        assert f"listening on {base} (API docs at /docs)" in started

        for _ in range(3):
            assert httpx.post(f"{base}/v1/decisions", json={"profile": PROFILE}).status_code == 200
        assert httpx.post(f"{base}/v1/decisions:batch", json={"profiles": [PROFILE] * 5}).status_code == 200
        (plan / "out" / "decisions.jsonl").write_text("{}\n")
        (plan / ".venv" / "pyvenv.cfg").write_text("home = /usr/bin\n")
        (plan / "tests" / "cases.yaml").write_text("tests: []\n")
        time.sleep(QUIET_SECONDS)
        assert (plan / "treatment.db").is_file()  # the log the decisions went to, beside the plan
        assert _reloads(base) == {} and httpx.get(f"{base}/v1/plan").json()["reloads"] == 0
        assert "treatment.plan" not in stderr_path.read_text()  # the reload log: nothing

        policy = plan / "rules" / "policy.yaml"
        policy.write_text(policy.read_text().replace("ratio: 0.03", "ratio: 0.02"))
        wait_for(lambda: httpx.get(f"{base}/v1/plan").json()["reloads"] == 1)
        edited = httpx.get(f"{base}/v1/plan").json()["plan_version"]
        wait_for(lambda: f"reloaded: plan {edited} serves (was {version})" in stderr_path.read_text())

        policy.write_text(policy.read_text())  # saved unchanged: not a reload
        time.sleep(QUIET_SECONDS)
        assert _reloads(base) == {"loaded": 1.0} and httpx.get(f"{base}/v1/plan").json()["reloads"] == 1

        (plan / "rules" / "broken.yaml").write_text("rules:\n  - id: broken\n    then: {treatment: maybe}\n")
        wait_for(lambda: httpx.get(f"{base}/v1/plan").json()["last_reload_error"] is not None)
        wait_for(lambda: "reload refused" in stderr_path.read_text())
        log = stderr_path.read_text()
        assert f"plan {edited} keeps serving" in log and "rules/broken.yaml:" in log
        assert _reloads(base) == {"loaded": 1.0, "refused": 1.0}
    finally:
        process.terminate()
        process.wait(timeout=20)


def _answers(base: str) -> bool:
    try:
        return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
    except httpx.TransportError:
        return False
