"""The wheel carries the bundled demo plan as package data.

The plan lives once, at the root of the repository (rules/, segments/ and the plan's own
tests/*.yaml, with docs/plan-schema.json that its files name as their schema), where
`make demo`, the README and the tests use it. A wheel copies it into
``treatment_engine/default_plan/`` (same layout, so ``$schema=../docs/plan-schema.json``
still resolves), where :func:`treatment_engine.plan.bundled_plan_dir` finds it with
importlib.resources. The sdist holds the same files (MANIFEST.in), so a wheel built from
it carries them too. Everything else about the package is in pyproject.toml.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
PLAN_FILES = ("rules/**/*.yaml", "rules/**/*.yml", "segments/**/*.yaml", "segments/**/*.yml",
              "tests/*.yaml", "tests/*.yml", "docs/plan-schema.json")
PACKAGED_AS = Path("treatment_engine") / "default_plan"


class BuildWithPlan(build_py):
    """build_py, plus the bundled plan copied into the package being built."""

    def run(self) -> None:
        super().run()
        if self.editable_mode:  # an editable install reads the plan in place, at the checkout's root
            return
        target = Path(self.build_lib) / PACKAGED_AS
        shutil.rmtree(target, ignore_errors=True)
        copied = 0
        for pattern in PLAN_FILES:
            for source in sorted(ROOT.glob(pattern)):
                relative = source.relative_to(ROOT)
                if any(part.startswith(".") for part in relative.parts):
                    continue  # the loader skips hidden names: so does the copy
                (target / relative).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, target / relative)
                copied += 1
        if not (target / "rules").is_dir():
            raise SystemExit(f"the bundled plan was not found under {ROOT} (rules/, segments/): "
                             "a wheel without it cannot run from an empty directory")
        print(f"copied the bundled plan ({copied} files) into {target}")


setup(cmdclass={"build_py": BuildWithPlan})
