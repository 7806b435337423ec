"""A plan directory to parsed files: which files, read within a budget, in the spec's order.

Which files (docs/plan-format.md, appendix E): every ``*.yaml`` / ``*.yml`` under
``rules/`` and ``segments/``, and every ``*.json`` under ``evidence/`` (appendix K),
names starting with ``.`` left out. A symbolic link, to a
file or a folder, is followed only when it resolves inside the plan directory; a link
out of it, a dangling or looping link, and a YAML-named entry that is not a regular
file (a FIFO would block the read forever) are located errors, never silently skipped.

How much (appendix E): a :class:`LoadBudget` bounds the bytes of each file and of the
plan, the number of files, the values (aliases counted as what they stand for) and the
nesting, so no plan can hang or exhaust the loader. Each file's YAML is read by
:mod:`treatment_engine.sourcefile`.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .errors import Location, PlanError, PlanIssue
from .evidence import EVIDENCE_FOLDER, is_evidence_path
from .sourcefile import FileLimits, Path_, SourceFile, parse_yaml_file

__all__ = ["DEFAULT_BUDGET", "LoadBudget", "Path_", "PlanSource", "SourceFile", "load_plan_source",
           "parse_plan_texts", "parse_yaml_file", "plan_files", "plan_version", "read_plan_dir"]

PLAN_FOLDERS = ("rules", "segments")
SUFFIXES = (".yaml", ".yml")
READ_FOLDERS = (*PLAN_FOLDERS, EVIDENCE_FOLDER)  # evidence/: measured evidence (appendix K)


def is_plan_file_name(relative: str) -> bool:
    """A YAML file under rules/ or segments/, or a JSON evidence file under evidence/."""
    if relative.split("/", 1)[0] in PLAN_FOLDERS:
        return relative.endswith(SUFFIXES)
    return is_evidence_path(relative)
MiB = 1024 * 1024


@dataclass(frozen=True)
class LoadBudget:
    """How much one plan load may read; past any of these the plan is refused."""

    file_bytes: int = 32 * MiB
    plan_bytes: int = 128 * MiB
    files: int = 10_000
    nodes: int = 5_000_000  # values in the whole plan: keys, items, what aliases stand for
    alias_nodes: int = 100_000  # values the aliases of one file stand for, together
    depth: int = 64  # lists and mappings nested in each other


DEFAULT_BUDGET = LoadBudget()


@dataclass(frozen=True)
class PlanSource:
    """Every file of a plan, in the order the spec says they combine, and its version."""

    files: tuple[SourceFile, ...]
    version: str
    root: str


def plan_files(root: Path) -> tuple[list[tuple[str, Path]], list[PlanIssue]]:
    """The plan's YAML files as (relative POSIX path, path to read), in string order, and
    the links and entries refused on the way (see the module's docstring)."""
    real_root = Path(os.path.realpath(root))
    walk = _Walk(real_root)
    for folder in READ_FOLDERS:
        if os.path.lexists(root / folder):
            walk.entry(root / folder, folder, (real_root,))
    return sorted(walk.found, key=lambda item: item[0]), walk.issues


class _Walk:
    """Depth-first over the plan's folders without recursion (a deep tree cannot overflow)."""

    def __init__(self, real_root: Path) -> None:
        self.real_root = real_root
        self.found: list[tuple[str, Path]] = []
        self.issues: list[PlanIssue] = []
        self.pending: list[tuple[Path, str, tuple[Path, ...]]] = []

    def entry(self, path: Path, relative: str, chain: tuple[Path, ...]) -> None:
        """Look at one entry; folders are queued, and the queue is emptied here."""
        self._look(path, relative, chain)
        while self.pending:
            folder, folder_relative, folder_chain = self.pending.pop()
            try:
                children = sorted(os.scandir(folder), key=lambda child: child.name)
            except OSError as error:
                self._refuse(folder_relative, "unreadable", f"cannot read the folder: {error.strerror}")
                continue
            for child in children:
                if not child.name.startswith("."):
                    self._look(Path(child.path), f"{folder_relative}/{child.name}", folder_chain)

    def _look(self, path: Path, relative: str, chain: tuple[Path, ...]) -> None:
        plan_named = is_plan_file_name(relative)
        if path.is_symlink():
            real = self._link_target(path, relative)
            if real is None:
                return
            if real.is_dir():
                if any(real == folder or folder.is_relative_to(real) for folder in chain):
                    self._refuse(relative, "symlink-loop", "this link leads back to a folder it is in",
                                 "links are followed inside the plan, but never in a circle")
                    return
                self.pending.append((real, relative, (*chain, real)))
                return
            path = real
        elif path.is_dir():
            self.pending.append((path, relative, (*chain, Path(os.path.realpath(path)))))
            return
        if not plan_named:
            return  # notes.txt and the like are not plan files (spec 1)
        if not path.is_file():
            self._refuse(relative, "not-a-file", "not a regular file (a device, FIFO or socket): not read",
                         "a plan file is a plain file")
            return
        self.found.append((relative, path))

    def _link_target(self, path: Path, relative: str) -> Path | None:
        try:
            real = path.resolve(strict=True)
        except FileNotFoundError:
            self._refuse(relative, "symlink-dangling", "this link points to nothing",
                         "remove it, or make it point to a file in the plan")
            return None
        except (RuntimeError, OSError):  # ELOOP: a link that leads back to itself
            self._refuse(relative, "symlink-loop", "this link leads back to itself")
            return None
        if not real.is_relative_to(self.real_root):
            self._refuse(relative, "symlink-outside", "this link points outside the plan directory: "
                         "not followed", "copy the file into the plan; links are followed only inside it")
            return None
        return real

    def _refuse(self, relative: str, code: str, message: str, hint: str | None = None) -> None:
        self.issues.append(PlanIssue(Location(relative), code, message, hint))


def read_plan_dir(root: str | Path, budget: LoadBudget = DEFAULT_BUDGET) -> dict[str, str]:
    """The text of each plan file by relative path. Raises PlanError if there is no plan,
    a file is refused, or the plan is past ``budget``; with a refused file, the error also
    holds the YAML problems of the files that were read, so that one run reports both."""
    root_path = Path(root)
    if not root_path.is_dir():
        raise PlanError([PlanIssue(Location(str(root)), "plan-not-found",
                                   "is a file, not a plan directory" if root_path.exists() else "no such plan directory",
                                   "give the folder holding segments/ and rules/" if root_path.exists() else None)])
    if not any((root_path / folder).is_dir() for folder in PLAN_FOLDERS):
        raise PlanError([PlanIssue(Location(str(root)), "plan-not-found",
                                   "not a plan directory: it has neither rules/ nor segments/",
                                   "a plan is a folder holding segments/*.yaml and rules/*.yaml")])
    found, issues = plan_files(root_path)
    if len(found) > budget.files:
        issues.append(_too_many_files(budget))
        raise PlanError(issues)
    texts: dict[str, str] = {}
    total = 0
    for relative, path in found:
        try:
            size = path.stat().st_size
            if size > budget.file_bytes:
                issues.append(_too_big(relative, budget))
                continue
            total += size
            if total > budget.plan_bytes:
                issues.append(_plan_too_big(relative, budget))
                break
            # Text mode, as Path.read_text: the same files give the same version as always.
            with open(path, encoding="utf-8") as stream:
                texts[relative] = stream.read(budget.file_bytes + 1)  # a file that grew is caught below
        except (OSError, UnicodeDecodeError) as error:
            reason = getattr(error, "strerror", None) or str(error)
            issues.append(PlanIssue(Location(relative), "unreadable", f"cannot read the file: {reason}"))
    if issues:
        raise PlanError(issues + _syntax_issues(texts, str(root), budget))
    return texts


def _syntax_issues(texts: Mapping[str, str], root: str, budget: LoadBudget) -> list[PlanIssue]:
    """The YAML problems of the files read beside refused ones. Only those: checking the
    plan as a whole would call unknown every id the refused files define."""
    try:
        parse_plan_texts(texts, root, budget)
    except PlanError as error:
        return list(error.issues)
    return []


def plan_version(texts: Mapping[str, str]) -> str:
    """A content hash of the plan: the same files give the same version anywhere."""
    digest = hashlib.sha256()
    for relative in sorted(texts):
        encoded = texts[relative].encode("utf-8")
        digest.update(f"{relative}\0{len(encoded)}\0".encode())
        digest.update(encoded)
    return digest.hexdigest()[:16]


def parse_plan_texts(texts: Mapping[str, str], root: str = "", budget: LoadBudget = DEFAULT_BUDGET) -> PlanSource:
    """Parse every file within ``budget``; collect the problems of all files before failing."""
    issues: list[PlanIssue] = []
    if len(texts) > budget.files:
        raise PlanError([_too_many_files(budget)])
    total = 0
    for relative in sorted(texts):
        size = len(texts[relative].encode("utf-8"))
        total += size
        if size > budget.file_bytes:
            issues.append(_too_big(relative, budget))
        elif total > budget.plan_bytes:
            issues.append(_plan_too_big(relative, budget))
            break
    if issues:
        raise PlanError(issues)
    files: list[SourceFile] = []
    used = 0
    for relative in sorted(texts):
        limits = FileLimits(nodes=budget.nodes - used, alias_nodes=budget.alias_nodes, depth=budget.depth,
                            plan_nodes=budget.nodes)
        try:
            parsed = parse_yaml_file(relative, texts[relative], limits)
        except PlanError as error:
            issues.extend(error.issues)
            if any(issue.code == "too-many-values" for issue in error.issues):
                break  # the plan's budget is spent: later files cannot be read either
            continue
        used += parsed.nodes
        files.append(parsed)
    if issues:
        raise PlanError(issues)
    return PlanSource(tuple(files), plan_version(texts), root)


def load_plan_source(root: str | Path, budget: LoadBudget = DEFAULT_BUDGET) -> PlanSource:
    return parse_plan_texts(read_plan_dir(root, budget), str(root), budget)


def _too_big(relative: str, budget: LoadBudget) -> PlanIssue:
    return PlanIssue(Location(relative), "too-big", f"the file is larger than {_size(budget.file_bytes)}",
                     "split it into smaller files")


def _plan_too_big(relative: str, budget: LoadBudget) -> PlanIssue:
    return PlanIssue(Location(relative), "too-big",
                     f"the plan's files come to more than {_size(budget.plan_bytes)} by this one")


def _too_many_files(budget: LoadBudget) -> PlanIssue:
    return PlanIssue(Location("rules"), "too-big", f"the plan has more than {budget.files:,} files")


def _size(limit: int) -> str:
    return f"{limit // MiB} MiB" if limit % MiB == 0 else f"{limit:,} bytes"
