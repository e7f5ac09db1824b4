"""The declarative cases (声明式用例): every ``*.cases.yaml`` beside the rules and
the worked examples in ``examples/cases.yaml``, one test per case."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from hukou.cli import app
from hukou.engine.cases import DeclaredCase, load_cases, run
from hukou.policy.facts import parse_case

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "src" / "hukou" / "policy" / "rules"
EXAMPLES = ROOT / "examples"
EXAMPLE_CASES = EXAMPLES / "cases.yaml"

CASE_FILES = [*sorted(RULES.glob("*.cases.yaml")), EXAMPLE_CASES]

# Clauses that must each be carried out by a rule and covered by a test.
COVERED_CLAUSES = (
    "§1.1",
    "§1.2",
    "§2.1",
    "§2.2",
    "§3.1",
    "§3.2",
    "§3.3",
    "§4.1",
    "§4.3",
    "§4.4",
    "§5.3",
    "§8",
)


def _declared() -> list[DeclaredCase]:
    return [case for path in CASE_FILES for case in load_cases(path)]


DECLARED = _declared()


def _id(case: DeclaredCase) -> str:
    return f"{case.source} {case.name}"


def test_case_files_exist() -> None:
    assert EXAMPLE_CASES.is_file()
    names = {p.name for p in RULES.glob("*.cases.yaml")}
    for stem in ("s1_urban", "s2_talent", "s3_relatives", "s4_registration", "s8_in_force"):
        assert f"{stem}.cases.yaml" in names


@pytest.mark.parametrize("declared", DECLARED, ids=_id)
def test_declared_case(declared: DeclaredCase) -> None:
    assert declared.clauses, f"{declared.source}: no clauses tagged"
    assert declared.expect, f"{declared.source}: nothing expected"
    _decision, errors = run(declared)
    assert not errors, f"{_id(declared)} [{', '.join(declared.clauses)}]:\n  " + "\n  ".join(errors)


@pytest.mark.parametrize("path", CASE_FILES, ids=lambda p: p.name)
def test_no_bare_on_key(path: Path) -> None:
    """YAML 1.1 reads a bare ``on:`` key as the boolean ``True``: the checker would
    then silently decide the case on today's date. The key must be quoted."""
    items = yaml.safe_load(path.read_text("utf-8")) or []
    bad = [str(item.get("name", i)) for i, item in enumerate(items) if True in item]
    assert not bad, f'{path.name}: write "on": (quoted) in {bad}'


def test_every_example_is_declared() -> None:
    items = yaml.safe_load(EXAMPLE_CASES.read_text("utf-8")) or []
    referenced = {item["case_file"] for item in items if "case_file" in item}
    files = {p.name for p in EXAMPLES.glob("*.json")}
    assert len(files) >= 13
    assert "01-owner-family.json" in files
    assert not files - referenced, f"examples not in cases.yaml: {sorted(files - referenced)}"
    assert not referenced - files, f"cases.yaml names missing files: {sorted(referenced - files)}"


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.json")), ids=lambda p: p.name)
def test_example_is_valid(path: Path) -> None:
    """Each example parses (ID numbers validate), and carries its own decision date."""
    case = parse_case(path.read_bytes())
    assert case.decision_date is not None
    people = [case.applicant, *case.relatives]
    assert all(p.id_number for p in people), "every example person has an ID number"


def test_every_clause_has_rules_and_tests() -> None:
    result = CliRunner().invoke(app, ["clauses", "--json"])
    assert result.exit_code == 0, result.output
    rows = {row["clause"]: row for row in json.loads(result.stdout)}
    problems = []
    for clause in COVERED_CLAUSES:
        row = rows.get(clause)
        if row is None:
            problems.append(f"{clause}: not listed")
            continue
        if not row["rules"]:
            problems.append(f"{clause}: no rule")
        if not row["tests"]:
            problems.append(f"{clause}: no test")
    assert not problems, "\n".join(problems)
