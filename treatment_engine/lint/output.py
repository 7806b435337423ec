"""Lint findings as text for people, JSON for scripts, SARIF for code-scanning annotations."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

from . import LintReport
from .findings import CHECKS

_SARIF_LEVEL = {"error": "error", "warning": "warning", "info": "note"}


def as_text(report: LintReport) -> str:
    lines = [str(finding) for finding in report.findings]
    errors, warnings, notes = report.count("error"), report.count("warning"), report.count("info")
    if not report.findings:
        lines.append(f"plan {report.plan_version} lints clean")
    else:
        lines.append(f"{errors} error{'s' * (errors != 1)}, {warnings} warning{'s' * (warnings != 1)}, "
                     f"{notes} note{'s' * (notes != 1)}")
    return "\n".join(lines)


def as_json(report: LintReport) -> str:
    return json.dumps({
        "plan_version": report.plan_version,
        "findings": [{"severity": f.severity, "code": f.code, "name": f.name, "path": f.location.path,
                      "line": f.location.line, "column": f.location.column, "message": f.message,
                      "hint": f.hint} for f in report.findings],
    }, indent=2)


def as_sarif(report: LintReport, plan_dir: Path, cwd: Path | None = None) -> str:
    """SARIF 2.1.0. Each finding's file is named relative to the repository root (the
    nearest folder above the current directory holding ``.git``, else the current
    directory), under the base id ``%SRCROOT%``, so that code-scanning annotations land on
    the right file wherever lint was run from; a file outside that root is an absolute
    ``file://`` URI. A finding that belongs to no file (an empty plan's coverage gap, a
    missing plan) names the plan directory itself, never a path made up from it."""
    root = repository_root(cwd or Path.cwd())
    results: list[dict[str, Any]] = []
    for finding in report.findings:
        artifact = _artifact(plan_dir, finding.location.path, root)
        physical: dict[str, Any] = {"artifactLocation": artifact}
        if finding.location.line > 0:
            physical["region"] = {"startLine": finding.location.line}
            if finding.location.column > 0:
                physical["region"]["startColumn"] = finding.location.column
        text = finding.message + (f" ({finding.hint})" if finding.hint else "")
        results.append({"ruleId": finding.code, "level": _SARIF_LEVEL[finding.severity],
                        "message": {"text": text}, "locations": [{"physicalLocation": physical}]})
    rules = [{"id": check.code, "name": check.name, "shortDescription": {"text": check.summary},
              "helpUri": "https://github.com/treatment-engine/treatment-engine/blob/main/docs/authoring.md"}
             for check in CHECKS.values()]
    return json.dumps({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json", "version": "2.1.0",
        "runs": [{"tool": {"driver": {"name": "treatment lint", "informationUri":
                                      "https://github.com/treatment-engine/treatment-engine",
                                      "rules": rules}},
                  "originalUriBaseIds": {SRCROOT: {"uri": root.as_uri() + "/"}},
                  "results": results}],
    }, indent=2)


SRCROOT = "%SRCROOT%"


def repository_root(start: Path) -> Path:
    """The nearest folder at or above ``start`` that holds ``.git`` (a folder, or the file
    a git worktree has), else ``start`` itself."""
    here = start.resolve()
    for folder in (here, *here.parents):
        if (folder / ".git").exists():
            return folder
    return here


def _artifact(plan_dir: Path, located: str, root: Path) -> dict[str, str]:
    """The artifactLocation of a finding's path (relative to the plan directory, or the
    plan directory itself when a finding has no file of its own)."""
    plan = plan_dir.resolve()
    target = (plan / located).resolve()
    if not located or not target.exists() or target == plan or not target.is_relative_to(plan):
        target = plan
    try:
        relative = target.relative_to(root).as_posix()
    except ValueError:
        return {"uri": target.as_uri() + ("/" if target.is_dir() else "")}
    suffix = "/" if target.is_dir() and relative != "." else ""
    # A URI reference (RFC 3986), as the absolute ones are: "#", "%", spaces and letters
    # beyond ASCII in a folder's name are percent-encoded, UTF-8 as Path.as_uri() does.
    return {"uri": ("" if relative == "." else quote(relative, safe="/")) + suffix, "uriBaseId": SRCROOT}
