"""``hukou batch`` says how many are eligible per channel, from what it wrote."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from pathlib import Path

from typer.testing import CliRunner

from hukou.analytics.population import from_cases, save
from hukou.analytics.reference import reference_results
from hukou.cli import app
from hukou.policy.facts import parse_case

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
ON = dt.date(2024, 6, 15)


def test_the_channel_counts_are_those_of_the_results(tmp_path: Path) -> None:
    cases = [parse_case(json.loads(p.read_text())) for p in sorted(EXAMPLES.glob("*.json"))]
    tables = from_cases(cases)
    save(tables, tmp_path / "pop")
    run = CliRunner().invoke(
        app,
        [
            "batch",
            "--in",
            str(tmp_path / "pop"),
            "--out",
            str(tmp_path / "out"),
            "--on",
            "2024-06-15",
        ],
        env={"COLUMNS": "200"},
    )
    assert run.exit_code == 0, run.output
    results, _ = reference_results(tables, ON)
    counts = Counter(results.column("s1_1_status").to_pylist())
    assert counts["eligible"] > 0 and counts["not_eligible"] > 0  # the test can tell them apart
    line = next(ln for ln in run.output.splitlines() if "§1.1 合法稳定住所落户" in ln)
    cells = [c.strip().replace(",", "") for c in line.split("│") if c.strip()]
    assert cells[1:] == [
        str(counts["eligible"]),
        str(counts["not_eligible"]),
        str(counts["undetermined"]),
    ]
