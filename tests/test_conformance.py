"""The plan-format conformance cases (vendored from shared/conformance), on every path."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from treatment_engine import Engine, PlanError
from treatment_engine.profiles import Unreadable, read_jsonl

from .conftest import CASES, assert_matches_expected

ALL_CASES = sorted(p for p in CASES.iterdir() if p.is_dir())
DECIDING = [c for c in ALL_CASES if (c / "expected.jsonl").exists()]
REFUSED = [c for c in ALL_CASES if (c / "expect.json").exists()]


def _expected(case: Path) -> list[dict]:
    return [json.loads(x) for x in (case / "expected.jsonl").read_text().splitlines() if x.strip()]


_compare = assert_matches_expected


def test_every_case_is_vendored() -> None:
    assert len(DECIDING) >= 13 and len(REFUSED) >= 8


@pytest.mark.parametrize("case", DECIDING, ids=lambda p: p.name)
def test_decisions_in_process(case: Path) -> None:
    as_of = date.fromisoformat((case / "as_of").read_text().strip())
    engine = Engine.load(case / "plan")
    got = []
    with open(case / "profiles.jsonl", "rb") as stream:
        for item in read_jsonl(stream):
            if isinstance(item, Unreadable):
                got.append({"customer_id": None, "error": item.reason})
            else:
                got.extend(r.to_record() for r in engine.decide_many([item], as_of))
    _compare(got, _expected(case))


@pytest.mark.parametrize("case", DECIDING, ids=lambda p: p.name)
def test_explain_agrees_with_decide(case: Path) -> None:
    as_of = date.fromisoformat((case / "as_of").read_text().strip())
    engine = Engine.load(case / "plan")
    with open(case / "profiles.jsonl", "rb") as stream:
        for item in read_jsonl(stream):
            if not isinstance(item, dict) or not isinstance(item.get("customer_id"), str):
                continue
            try:
                fast = engine.decide(item, as_of)
            except Exception as error:  # an invalid profile must be invalid on both paths
                with pytest.raises(type(error)):
                    engine.explain(item, as_of)
                continue
            slow = engine.explain(item, as_of)
            assert slow.model_dump(exclude={"trace"}) == fast.model_dump(exclude={"trace"})


@pytest.mark.parametrize("case", REFUSED, ids=lambda p: p.name)
def test_bad_plans_are_refused_with_locations(case: Path) -> None:
    expect = json.loads((case / "expect.json").read_text())
    with pytest.raises(PlanError) as raised:
        Engine.load(case / "plan")
    text = "\n".join(raised.value.lines())
    for pattern in expect.get("stderr_regex", []):
        assert re.search(pattern, text), text
    if expect.get("must_not_exist"):
        assert not Path(expect["must_not_exist"]).exists()


@pytest.mark.parametrize("case", ALL_CASES, ids=lambda p: p.name)
def test_cases_through_the_command(case: Path, tmp_path: Path) -> None:
    """Spec section 7 exactly as check.py runs it: a real process, stdout and exit codes."""
    as_of = (case / "as_of").read_text().strip()
    run = subprocess.run(
        [sys.executable, "-m", "treatment_engine", "decide", "--plan", str(case / "plan"),
         "--profiles", str(case / "profiles.jsonl"), "--as-of", as_of],
        capture_output=True, text=True, timeout=120,
    )
    assert "Traceback" not in run.stderr
    if (case / "expect.json").exists():
        expect = json.loads((case / "expect.json").read_text())
        assert run.returncode == expect["exit"], run.stderr
        for pattern in expect.get("stderr_regex", []):
            assert re.search(pattern, run.stderr), run.stderr
        return
    assert run.returncode == 0, run.stderr
    _compare([json.loads(x) for x in run.stdout.splitlines() if x.strip()], _expected(case))
