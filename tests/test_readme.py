"""The README's examples run as written from a fresh clone (issue 13, item 20).

Every fenced ``sh`` block of README.md runs, unless the line before it says
``<!-- readme-test: skip (why) -->``. A block whose lines start with ``$ `` is a
transcript: each command runs and the lines shown after it must appear in what it
printed (standard output and error, as a terminal shows them), in order, with plan
versions and timings free to differ. Other blocks are commands, one a line. They run
in a clone of this repository (with the working tree's uncommitted changes), with the
installed ``treatment`` on PATH: exactly what a reader who just cloned it types.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from .conftest import REPO

pytestmark = pytest.mark.slow

SKIP = re.compile(r"<!-- readme-test: skip \((?P<why>[^)]+)\) -->")


@dataclass(frozen=True)
class Step:
    command: str
    shown: tuple[str, ...]  # the output lines a transcript shows; none for a plain command


@dataclass(frozen=True)
class Block:
    line: int  # of the opening fence
    steps: tuple[Step, ...]
    skipped: str | None


def readme_blocks(text: str) -> list[Block]:
    lines = text.splitlines()
    blocks: list[Block] = []
    index = 0
    while index < len(lines):
        if lines[index].strip() != "```sh":
            index += 1
            continue
        end = lines.index("```", index + 1)
        body = lines[index + 1:end]
        skipped = SKIP.fullmatch(lines[index - 1].strip()) if index else None
        blocks.append(Block(index + 1, _steps(body), skipped["why"] if skipped else None))
        index = end + 1
    return blocks


def _steps(body: list[str]) -> tuple[Step, ...]:
    if not any(line.startswith("$ ") for line in body):
        return tuple(Step(line, ()) for line in body if line.strip())
    steps: list[Step] = []
    for line in body:
        if line.startswith("$ "):
            steps.append(Step(line[2:], ()))
        else:
            steps[-1] = Step(steps[-1].command, (*steps[-1].shown, line))
    return tuple(steps)


def normalized(line: str) -> str:
    """A printed line with what differs between runs (plan versions, timings) replaced."""
    line = re.sub(r"\b[0-9a-f]{16}\b", "<version>", line.rstrip())
    line = re.sub(r"\b\d[\d,]*(\.\d+)? s\b", "<seconds> s", line)
    return re.sub(r"\b\d[\d,]*/s\b", "<rate>/s", line)


def shown_in(shown: tuple[str, ...], printed: str) -> bool:
    """Whether the lines shown occur in the lines printed, in order."""
    remaining = iter(normalized(line) for line in printed.splitlines())
    return all(any(line == normalized(want) for line in remaining) for want in shown)


BLOCKS = readme_blocks((REPO / "README.md").read_text(encoding="utf-8"))
RUN = [block for block in BLOCKS if block.skipped is None]


def test_the_readme_has_examples_to_run_and_says_why_others_do_not_run() -> None:
    assert len(RUN) >= 5 and sum(len(block.steps) for block in RUN) >= 12
    assert all(block.skipped.strip() for block in BLOCKS if block.skipped is not None)
    assert shown_in(("valid plan 0123456789abcdef: 3 rules", "done in 1.5 s (1,000/s)"),
                    "noise\nvalid plan 5870e52547a7e15d: 3 rules\ndone in 0.07 s (18,280/s)\n")
    assert not shown_in(("30 passed, 0 failed",), "26 passed, 0 failed\n")


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh clone of this repository with the working tree's changes laid over it."""
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    target = tmp_path_factory.mktemp("readme") / "treatment-engine"
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(target)], check=True, timeout=300)
    changed = subprocess.run(["git", "ls-files", "-z", "--modified", "--others", "--exclude-standard"],
                             cwd=REPO, check=True, capture_output=True, text=True).stdout.split("\0")
    for relative in filter(None, changed):
        if (REPO / relative).is_file():
            (target / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(REPO / relative, target / relative)
    return target


def _environment() -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in ("TREATMENT_PLAN", "TREATMENT_DB_URL")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(PYTHONUNBUFFERED="1", COLUMNS="200")  # printed in the order a terminal shows it
    return env


@pytest.mark.parametrize("block", RUN, ids=[f"README.md:{block.line}" for block in RUN])
def test_a_readme_example_runs_as_written(block: Block, clone: Path) -> None:
    for step in block.steps:
        if "git:HEAD~1" in step.command and subprocess.run(["git", "rev-parse", "--verify", "-q", "HEAD~1"],
                                                          cwd=clone, capture_output=True).returncode:
            pytest.skip("a shallow clone has no HEAD~1 to compare with")
        run = subprocess.run(["bash", "-o", "pipefail", "-c", step.command], cwd=clone, env=_environment(),
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300)
        assert run.returncode == 0, f"README.md:{block.line}: {step.command}\n{run.stdout[-2000:]}"
        assert shown_in(step.shown, run.stdout), (f"README.md:{block.line}: {step.command} printed\n{run.stdout}"
                                                  f"\nnot the lines the README shows:\n" + "\n".join(step.shown))


def test_make_conformance_without_the_shared_checker_skips_saying_so(clone: Path) -> None:
    if shutil.which("make") is None:
        pytest.skip("no make")
    run = subprocess.run(["make", "conformance"], cwd=clone, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and "conformance skipped: ../shared/conformance/check.py not found" in run.stdout
    assert not (clone / ".venv").exists()  # skipped before setting anything up
