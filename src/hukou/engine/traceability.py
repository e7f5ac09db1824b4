"""Which rules carry out each clause, and which tests cover it (追溯表)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from hukou.engine.cases import load_cases
from hukou.policy.clauses import clause_table
from hukou.policy.expr import Condition, Exception_, Expr, FirstOf, walk
from hukou.policy.rules import (
    ANCHOR_CONSENT,
    CHANNELS,
    IN_FORCE,
    PRIORITY_GROUPS,
    REGISTRATION_PLACE,
    RELATIVE_ROUTES,
)
from hukou.policy.rules.s5_rural import INVARIANTS

_MARK = re.compile(r"""mark\.clause\(\s*((?:["']§[\d.]+["']\s*,?\s*)+)\)""")
_ID = re.compile(r"§[\d.]+")


@dataclass
class Row:
    clause: str
    zh: str
    en: str
    elsewhere: str
    rules: list[str] = field(default_factory=list)
    tests: list[str] = field(default_factory=list)


def _roots() -> list[Expr]:
    roots: list[Expr] = [IN_FORCE, REGISTRATION_PLACE, *PRIORITY_GROUPS, ANCHOR_CONSENT]
    roots += [c.rule for c in CHANNELS] + [r.rule for r in RELATIVE_ROUTES]
    return roots


def rules_by_clause() -> dict[str, list[str]]:
    out: dict[str, dict[str, None]] = {}
    for root in _roots():
        for node in walk(root):
            if isinstance(node, (Condition, Exception_)):
                out.setdefault(node.clause, {})[node.key] = None
            if isinstance(node, FirstOf):
                out.setdefault(node.clause, {})[node.key] = None
                for option in node.options:
                    out.setdefault(option.clause, {})[f"{node.key}.{option.value}"] = None
                    for sub in walk(option.when):
                        if isinstance(sub, Condition):
                            out.setdefault(sub.clause, {})[sub.key] = None
    for clause, key in INVARIANTS:
        out.setdefault(clause, {})[f"invariant:{key}"] = None
    return {k: list(v) for k, v in out.items()}


def case_files() -> list[Path]:
    folder = resources.files("hukou.policy") / "rules"
    return sorted(Path(str(folder)).glob("*.cases.yaml"))


def tests_by_clause(
    tests_dir: Path | None = None, extra_case_files: list[Path] | None = None
) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for path in case_files() + list(extra_case_files or []):
        for case in load_cases(path):
            for clause in case.clauses:
                out.setdefault(clause, []).append(case.source)
    if tests_dir is not None and tests_dir.is_dir():
        for path in sorted(tests_dir.rglob("test_*.py")):
            text = path.read_text("utf-8")
            for match in _MARK.finditer(text):
                line = text.count("\n", 0, match.start()) + 1
                for clause in _ID.findall(match.group(1)):
                    out.setdefault(clause, []).append(f"{path.name}:{line}")
    return out


def table(tests_dir: Path | None = None, extra_case_files: list[Path] | None = None) -> list[Row]:
    rules = rules_by_clause()
    tests = tests_by_clause(tests_dir, extra_case_files)
    return [
        Row(c.id, c.zh, c.en, c.elsewhere, rules.get(c.id, []), tests.get(c.id, []))
        for c in clause_table().values()
    ]
