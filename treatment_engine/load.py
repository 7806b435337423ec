"""Plan directory to plain Python values that remember where each value came from.

``yaml.safe_load`` throws positions away, so we compose the node graph and build the
values ourselves, recording the line and column of every key and value under its
path (``("rules", 3, "then")``). Validation errors then point at the offending key.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import Location, PlanError, PlanIssue

PLAN_FOLDERS = ("rules", "segments")
SUFFIXES = (".yaml", ".yml")

_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # C speed if built
_constructor = yaml.constructor.SafeConstructor()

Path_ = tuple[Any, ...]  # keys and list indexes from the root of a file


@dataclass
class SourceFile:
    """One plan file's values, with the positions of its keys and values by path."""

    path: str
    data: dict[str, Any]
    value_at: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    key_at: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    # For string scalars: where the text itself starts, and whether it sits on one line
    # (only then can a column inside the text be turned into a column in the file).
    text_at: dict[Path_, tuple[int, int, bool]] = field(default_factory=dict)

    def locate(self, path: Path_, *, prefer_key: bool = True) -> Location:
        """The most precise known position of ``path``, walking up to its nearest ancestor."""
        probe = tuple(path)
        while True:
            table_order = (self.key_at, self.value_at) if prefer_key else (self.value_at, self.key_at)
            for table in table_order:
                if probe in table:
                    line, column = table[probe]
                    return Location(self.path, line, column)
            if not probe:
                return Location(self.path, 1, 1)
            probe = probe[:-1]


@dataclass(frozen=True)
class PlanSource:
    """Every file of a plan, in the order the spec says they combine, and its version."""

    files: tuple[SourceFile, ...]
    version: str
    root: str


def plan_files(root: Path) -> list[tuple[str, Path]]:
    """The plan's YAML files as (relative POSIX path, absolute path), in string order."""
    found: list[tuple[str, Path]] = []
    for folder in PLAN_FOLDERS:
        base = root / folder
        if not base.is_dir():
            continue
        for candidate in base.rglob("*"):
            relative = candidate.relative_to(root)
            if any(part.startswith(".") for part in relative.parts):
                continue
            if candidate.is_file() and candidate.suffix in SUFFIXES:
                found.append((relative.as_posix(), candidate))
    return sorted(found, key=lambda item: item[0])


def read_plan_dir(root: str | Path) -> dict[str, str]:
    """The text of each plan file by relative path. Raises PlanError if there is no plan."""
    root_path = Path(root)
    if not root_path.is_dir():
        raise PlanError([PlanIssue(Location(str(root)), "plan-not-found",
                                   "no such plan directory")])
    if not any((root_path / folder).is_dir() for folder in PLAN_FOLDERS):
        raise PlanError([PlanIssue(Location(str(root)), "plan-not-found",
                                   "not a plan directory: it has neither rules/ nor segments/",
                                   "a plan is a folder holding segments/*.yaml and rules/*.yaml")])
    texts: dict[str, str] = {}
    issues: list[PlanIssue] = []
    for relative, absolute in plan_files(root_path):
        try:
            texts[relative] = absolute.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            issues.append(PlanIssue(Location(relative), "unreadable", f"cannot read the file: {error}"))
    if issues:
        raise PlanError(issues)
    return texts


def plan_version(texts: Mapping[str, str]) -> str:
    """A content hash of the plan: the same files give the same version anywhere."""
    digest = hashlib.sha256()
    for relative in sorted(texts):
        encoded = texts[relative].encode("utf-8")
        digest.update(f"{relative}\0{len(encoded)}\0".encode())
        digest.update(encoded)
    return digest.hexdigest()[:16]


def parse_plan_texts(texts: Mapping[str, str], root: str = "") -> PlanSource:
    """Parse every file; collect YAML problems of all files before failing."""
    files: list[SourceFile] = []
    issues: list[PlanIssue] = []
    for relative in sorted(texts):
        try:
            files.append(_parse_file(relative, texts[relative]))
        except PlanError as error:
            issues.extend(error.issues)
    if issues:
        raise PlanError(issues)
    return PlanSource(tuple(files), plan_version(texts), root)


def load_plan_source(root: str | Path) -> PlanSource:
    return parse_plan_texts(read_plan_dir(root), str(root))


def parse_yaml_file(relative: str, text: str) -> SourceFile:
    """One YAML file into values with positions; PlanError on bad YAML or a non-mapping."""
    return _parse_file(relative, text)


def _parse_file(relative: str, text: str) -> SourceFile:
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = error.problem or "invalid YAML"
        raise PlanError([PlanIssue(Location(relative, line, column), "yaml-syntax",
                                   f"invalid YAML: {problem}")]) from None
    except yaml.YAMLError as error:
        raise PlanError([PlanIssue(Location(relative, 1, 1), "yaml-syntax",
                                   f"invalid YAML: {error}")]) from None
    source = SourceFile(relative, {})
    if node is None:  # an empty file is an empty mapping
        return source
    issues: list[PlanIssue] = []
    data = _build(node, (), source, issues)
    if issues:
        raise PlanError(issues)
    if not isinstance(data, dict):
        raise PlanError([PlanIssue(source.locate(()), "not-a-mapping",
                                   f"a plan file must be a mapping of keys, not a {_yaml_kind(data)}",
                                   "start the file with keys such as 'rules:' or 'segments:'")])
    source.data = data
    return source


def _mark(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _build(node: yaml.Node, path: Path_, source: SourceFile, issues: list[PlanIssue]) -> Any:
    source.value_at[path] = _mark(node)
    if isinstance(node, yaml.MappingNode):
        mapping: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _build_key(key_node)
            if not isinstance(key, (str, int, float, bool)) and key is not None:
                line, column = _mark(key_node)
                issues.append(PlanIssue(Location(source.path, line, column), "bad-key",
                                        "a key must be a plain word"))
                continue
            if key in mapping:
                line, column = _mark(key_node)
                first_line, _ = source.key_at[path + (key,)]
                issues.append(PlanIssue(Location(source.path, line, column), "duplicate-key",
                                        f"the key '{key}' is repeated in one mapping "
                                        f"(first at line {first_line})",
                                        "YAML would silently keep only the last one; remove one"))
                continue
            source.key_at[path + (key,)] = _mark(key_node)
            mapping[key] = _build(value_node, path + (key,), source, issues)
        return mapping
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, path + (index,), source, issues) for index, item in enumerate(node.value)]
    try:
        value = _constructor.construct_object(node, deep=True)
    except (yaml.YAMLError, ValueError, OverflowError) as error:
        # e.g. an unquoted `2026-13-01` (an impossible timestamp) or YAML's `=` tag
        line, column = _mark(node)
        problem = getattr(error, "problem", None) or str(error)
        issues.append(PlanIssue(Location(source.path, line, column), "yaml-value",
                                f"cannot read this value: {problem}", "quote it to make it text"))
        return None
    if isinstance(value, str):
        line, column = _mark(node)
        style = getattr(node, "style", None)
        quoted = style in ("'", '"')
        one_line = node.start_mark.line == node.end_mark.line and style in (None, "", "'", '"')
        source.text_at[path] = (line, column + (1 if quoted else 0), one_line)
    return value


def _build_key(node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        try:
            return _constructor.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError, OverflowError):
            return object()
    return object()  # a mapping or list used as a key: reported as a bad key


def _yaml_kind(value: object) -> str:
    if isinstance(value, list):
        return "list"
    if isinstance(value, str):
        return "string"
    return type(value).__name__
