"""Hostile input corpora (see README.md): each folder holds a cases.yaml of cases with outcomes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

HOSTILE = Path(__file__).resolve().parent


def cases(corpus: str) -> list[Any]:
    """The cases of one corpus (``plans``, ``profiles``, ``requests``), as pytest params by name."""
    import pytest

    listed = yaml.safe_load((HOSTILE / corpus / "cases.yaml").read_text(encoding="utf-8"))
    return [pytest.param(case, id=case["name"]) for case in listed]
