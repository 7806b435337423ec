"""The built distribution works outside the repository (issue 13, item 1).

The sdist is built from this tree, the wheel from the sdist (as `python -m build` does,
offline: --no-isolation uses the test environment's setuptools), the wheel installed
into a fresh virtualenv with no access to this tree, and the command run from an empty
directory: it must find the demo plan inside the installed package.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path

import pytest

from treatment_engine import Engine

from .conftest import REPO

pytestmark = pytest.mark.slow

PLAN_FILES = sorted(str(p.relative_to(REPO)) for folder in ("rules", "segments") for p in (REPO / folder).rglob("*.yaml"))


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("build", reason="the test extra (build, setuptools) is not installed")
    if not (REPO / "setup.py").is_file():
        pytest.skip("not a source tree")
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(REPO)],
                   check=True, capture_output=True, timeout=300)
    return out


def _only(folder: Path, pattern: str) -> Path:
    (found,) = folder.glob(pattern)
    return found


def test_the_sdist_holds_what_a_user_needs(dist: Path) -> None:
    with tarfile.open(_only(dist, "*.tar.gz")) as sdist:
        names = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
    needed = {"LICENSE", "README.md", "pyproject.toml", "setup.py", "MANIFEST.in", "Makefile",
              "docs/plan-format.md", "docs/plan-schema.json", "tests/plan-default.yaml",
              "examples/customers.jsonl", "examples/customers.csv", "examples/events.jsonl",
              "treatment_engine/py.typed", "treatment_engine/migrations/script.py.mako", *PLAN_FILES}
    assert needed <= names, sorted(needed - names)
    assert not any(name.startswith("tests/") and name.endswith(".py") for name in names)  # the suite stays in git


def test_the_wheel_carries_the_plan_its_schema_and_its_metadata(dist: Path) -> None:
    with zipfile.ZipFile(_only(dist, "*.whl")) as wheel:
        names = set(wheel.namelist())
        metadata = wheel.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    packaged = {f"treatment_engine/default_plan/{name}" for name in
                [*PLAN_FILES, "tests/plan-default.yaml", "docs/plan-schema.json"]}
    assert packaged <= names, sorted(packaged - names)
    assert any(name.endswith(".dist-info/licenses/LICENSE") for name in names)
    assert "License-Expression: Apache-2.0" in metadata
    assert "Classifier: Typing :: Typed" in metadata and "Project-URL: Source, " in metadata


def _venv_with_wheel(root: Path, wheel: Path) -> Path:
    """A new virtualenv holding the wheel; its dependencies come from the test
    environment's site-packages through a .pth line (no network, no copies)."""
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    (Path(purelib) / "test-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps",
                    "--no-index", str(wheel)], check=True, timeout=300)
    return venv


def test_the_installed_wheel_runs_from_an_empty_directory(dist: Path, tmp_path: Path) -> None:
    venv = _venv_with_wheel(tmp_path, _only(dist, "*.whl"))
    empty = tmp_path / "empty"
    empty.mkdir()
    env = {key: value for key, value in os.environ.items() if key not in ("TREATMENT_PLAN", "PYTHONPATH")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"

    def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(list(args), cwd=empty, env=env, input=stdin, capture_output=True, text=True,
                              timeout=120)

    where = run("python", "-c", "import treatment_engine; print(treatment_engine.__file__)").stdout
    assert where.startswith(str(venv)), where  # the installed wheel, not this tree
    version = Engine.load(REPO).version
    validated = run("treatment", "validate")
    assert validated.returncode == 0, validated.stderr
    assert validated.stdout.startswith(f"valid plan {version}: "), validated.stdout
    sample = run("treatment", "sample", "--n", "10", "--seed", "3", "--as-of", "2026-11-01")
    decided = run("treatment", "decide", "--profiles", "-", "--as-of", "2026-11-01", stdin=sample.stdout)
    assert decided.returncode == 0, decided.stderr
    records = [json.loads(line) for line in decided.stdout.splitlines()]
    assert len(records) == 10 and all(r["plan_version"] == version and r["treatment"] for r in records)
    sampled = run("treatment", "decide", "--sample", "10", "--seed", "3", "--as-of", "2026-11-01")
    assert sampled.returncode == 0 and sampled.stdout == decided.stdout, sampled.stderr
    simulated = run("treatment", "simulate", "--sample", "10", "--as-of", "2026-11-01")
    assert simulated.returncode == 0 and "Decisions by treatment" in simulated.stdout, simulated.stderr
    tested = run("treatment", "test")  # the plan's own tests/ came along
    assert tested.returncode == 0 and " passed, 0 failed" in tested.stdout, tested.stdout + tested.stderr
    installed = next(venv.glob("lib/python*/site-packages/treatment_engine/default_plan/docs/plan-schema.json"))
    assert json.loads(installed.read_text()) == json.loads(run("treatment", "schema").stdout)
    assert list(empty.iterdir()) == []  # nothing written where it ran
