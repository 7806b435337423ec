"""The package's shape, enforced: the core imports no adapter, and modules stay one job.

docs/design.md draws the map. The core (plan text -> load -> validate -> compile ->
evaluate -> decision + trace) must run with none of the adapters' libraries installed and
must not learn about them, so adapters can change without touching what a decision means.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "treatment_engine"

# The pure core: what a plan is and what it decides.
CORE = ("load", "sourcefile", "yaml_reader", "yaml_scalars", "model", "salvage", "validate", "compile", "plan", "semantics",
        "evaluate", "explain", "engine", "errors", "decision", "contacts", "day", "profile_json", "expressions",
        "experiments", "evidence", "shape_errors", "durations", "strict", "measure/metrics", "measure/checks",
        *(f"journeys/{name}" for name in ("__init__", "model", "checks", "compiled", "reference",
                                           "summary", "breakdown", "stalls")))
# Core modules inside an adapter package: the plan model holds metrics (appendix I),
# while the rest of treatment_engine/measure/ measures with DuckDB, Spark and statsmodels.
CORE_IN_ADAPTERS = {"treatment_engine.measure.metrics", "treatment_engine.measure.checks"}
# The adapters around it (and what they pull in), which the core must never import.
ADAPTERS = {"cli", "service", "store", "sql", "moments", "migrations", "report", "html_report", "arms",
            "simulation", "plandiff", "reproduce", "wal", "outputs", "profiles", "sample", "scaffold",
            "plantests", "lint", "shape_check", "measure"}
ADAPTER_LIBRARIES = {"click", "fastapi", "starlette", "uvicorn", "sqlalchemy", "sqlmodel", "alembic",
                     "duckdb", "pyspark", "sqlglot", "durable", "rich", "pyarrow", "prometheus_client",
                     "watchfiles", "httpx"}
# Modules of a package that holds both (journeys: its plan model and reference are core,
# its SQL and output adapters, as sql/ is), placed one by one.
ADAPTER_MODULES = ("journeys/source", "journeys/sql", "journeys/duckdb_file", "journeys/duckdb_pass", "journeys/duckdb_runs", "journeys/sql_once", "journeys/spark", "journeys/output",
                   "journeys/sample", "journeys/html")
MIXED = ("journeys",)
MODULE_LINES_MAX = 470  # "about 400": a module past this has more than one job


def _modules(names: tuple[str, ...]) -> list[Path]:
    found: list[Path] = []
    for name in names:
        path = PACKAGE / name
        found.extend(sorted(path.rglob("*.py")) if path.is_dir() else [path.with_suffix(".py")])
    return found


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, absolute dotted name) of every import in a module, relative ones resolved."""
    package = path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1]
    return _imports_of(path.read_text(encoding="utf-8"), package)


def _imports_of(source: str, package: tuple[str, ...]) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = list(package[: len(package) - node.level + 1]) if node.level else []
            module = ".".join([*base, *(node.module.split(".") if node.module else [])])
            found.append((node.lineno, module))
            if node.module is None:  # `from . import x` imports the submodule x
                found.extend((node.lineno, f"{module}.{alias.name}") for alias in node.names)
    return found


def _violation(name: str) -> str | None:
    parts = name.split(".")
    if parts[0] in ADAPTER_LIBRARIES:
        return f"the library {parts[0]}"
    if parts[0] == "treatment_engine" and len(parts) > 1 and parts[1] in ADAPTERS and name not in CORE_IN_ADAPTERS:
        return f"the adapter treatment_engine.{parts[1]}"
    if "/".join(parts[1:3]) in ADAPTER_MODULES:
        return f"the adapter {name}"
    return None


@pytest.mark.parametrize("path", _modules(CORE), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_the_core_imports_no_adapter(path: Path) -> None:
    wrong = [f"line {line}: {name} ({why})" for line, name in _imports(path)
             if (why := _violation(name)) is not None]
    assert not wrong, f"{path.relative_to(PACKAGE)} imports an adapter: {wrong}"


def test_the_rule_catches_an_adapter_import() -> None:
    """The check above must be able to fail: a core module importing the store, click, sql."""
    source = "from .store import DecisionLog\nimport click\nfrom . import sql\nfrom .journeys.sql import runs_query\n"
    names = [name for _, name in _imports_of(source, ("treatment_engine",))]
    assert [_violation(n) is not None for n in names] == [True, True, False, True, True]


def test_every_module_is_listed_as_core_or_adapter() -> None:
    """A new top-level module must be placed on the map (and so under the import rule)."""
    top = {p.stem for p in PACKAGE.glob("*.py")} | {p.name for p in PACKAGE.iterdir()
                                                    if p.is_dir() and (p / "__init__.py").exists()}
    unplaced = top - set(CORE) - ADAPTERS - {"__init__", "__main__", "schema"} - set(MIXED)
    unplaced |= {f"{package}/{p.stem}" for package in MIXED for p in (PACKAGE / package).glob("*.py")} \
        - set(CORE) - set(ADAPTER_MODULES)
    assert not unplaced, f"place these in tests/test_architecture.py and docs/design.md: {sorted(unplaced)}"


def test_modules_stay_one_job() -> None:
    long = {str(p.relative_to(PACKAGE)): n for p in PACKAGE.rglob("*.py")
            if "migrations" not in p.parts and (n := len(p.read_text(encoding="utf-8").splitlines())) > MODULE_LINES_MAX}
    assert not long, f"modules over {MODULE_LINES_MAX} lines: {long}"
