"""``hukou indicators`` prints a count from 1 to 4 as "<5", as the README promises for
the §7 figures (``HUKOU_SUPPRESS_BELOW``, 5 by default); 0 and counts of 5 or more as
they are."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pyarrow.parquet as pq
from typer.testing import CliRunner

from hukou.analytics.population import from_cases, save
from hukou.cli import app
from hukou.cli.analytics_cmds import shown
from hukou.policy.facts import parse_case

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_shown() -> None:
    assert [shown(n, 5) for n in (0, 1, 4, 5, 1234)] == ["0", "<5", "<5", "5", "1,234"]
    assert shown(2, 3) == "<3" and shown(3, 3) == "3"


def test_small_counts_are_printed_as_below_the_threshold(tmp_path: Path) -> None:
    cases = [parse_case(json.loads(p.read_text())) for p in sorted(EXAMPLES.glob("*.json"))]
    pop = tmp_path / "pop"
    save(from_cases(cases), pop)
    env = {
        "COLUMNS": "200",
        "NO_COLOR": "1",
        "HUKOU_DATABASE_URL": f"sqlite:///{tmp_path / 'none.db'}",
    }
    out = tmp_path / "ind"
    args = ["indicators", "--population", str(pop), "--period", "year", "--out", str(out)]
    result = CliRunner().invoke(app, [*args, "--lang", "en"], env=env)
    assert result.exit_code == 0, result.output
    exact_out = tmp_path / "exact"
    exact = CliRunner().invoke(app, [*args[:-1], str(exact_out), "--exact"], env=env)
    assert exact.exit_code == 0, exact.output
    permits = pq.read_table(exact_out / "summary.parquet").column("permits").to_pylist()
    small = [n for n in permits if 0 < n < 5]
    assert small, permits  # the examples give a few permits per county and year
    # the files written without --exact hold none of them: null where they were
    written = pq.read_table(out / "summary.parquet").column("permits").to_pylist()
    assert [None if 0 < n < 5 else n for n in permits] == written
    rows = [ln for ln in result.output.splitlines() if re.search(r"\d{4}", ln)]
    assert any("<5" in ln for ln in rows), result.output
    for n in small:  # never the exact small count in the permits column
        assert not any(re.search(rf"│\s*{n}\s*│\s*\S+\s*│\s*$", ln) for ln in rows)
    assert "shown as <5" in result.output
    wide = CliRunner().invoke(app, args, env={**env, "HUKOU_SUPPRESS_BELOW": "1"})
    assert wide.exit_code == 0 and "<" not in "".join(
        ln for ln in wide.output.splitlines() if re.search(r"\d{4}", ln)
    )
