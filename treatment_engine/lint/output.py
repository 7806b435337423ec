"""Lint findings as text for people, JSON for scripts, SARIF for code-scanning annotations."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

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


def as_sarif(report: LintReport, plan_dir: Path) -> str:
    """SARIF 2.1.0; paths are relative to the current directory (the repository root in CI)
    when the plan lies under it, so that annotations land on the right file."""
    base = _relative_base(plan_dir)
    results: list[dict[str, Any]] = []
    for finding in report.findings:
        region = {"startLine": max(finding.location.line, 1)}
        if finding.location.column > 0:
            region["startColumn"] = finding.location.column
        text = finding.message + (f" ({finding.hint})" if finding.hint else "")
        results.append({
            "ruleId": finding.code, "level": _SARIF_LEVEL[finding.severity], "message": {"text": text},
            "locations": [{"physicalLocation": {
                "artifactLocation": {"uri": f"{base}{finding.location.path}"}, "region": region}}],
        })
    rules = [{"id": check.code, "name": check.name, "shortDescription": {"text": check.summary},
              "helpUri": "https://github.com/treatment-engine/treatment-engine/blob/main/docs/authoring.md"}
             for check in CHECKS.values()]
    return json.dumps({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json", "version": "2.1.0",
        "runs": [{"tool": {"driver": {"name": "treatment lint", "informationUri":
                                      "https://github.com/treatment-engine/treatment-engine",
                                      "rules": rules}},
                  "results": results}],
    }, indent=2)


def _relative_base(plan_dir: Path) -> str:
    here = Path.cwd().resolve()
    target = plan_dir.resolve()
    try:
        relative = target.relative_to(here)
    except ValueError:
        return ""
    prefix = relative.as_posix()
    return "" if prefix == "." else prefix.rstrip("/") + "/"
