"""``hukou check``'s text prints what a case says as typed: console markup (``[bold]``,
``[/]``) and emoji codes (``:smile:``) in an address are neither interpreted nor an error."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from hukou.cli import app

ROOT = Path(__file__).resolve().parents[2]


def _set_details(case: Any, text: str) -> None:
    if isinstance(case, dict):
        for key, value in case.items():
            if key == "detail" and isinstance(value, str):
                case[key] = text
            else:
                _set_details(value, text)
    elif isinstance(case, list):
        for item in case:
            _set_details(item, text)


@pytest.mark.parametrize(
    "detail",
    [
        "[/]禾兴南路:smile:[bold red]88号",
        "[link=https://example.org]点此[/link]",
        "[green]可以落户",
    ],
)
def test_an_address_with_markup_prints_as_typed(tmp_path: Path, detail: str) -> None:
    case = json.loads((ROOT / "examples" / "01-owner-family.json").read_text("utf-8"))
    _set_details(case, detail)
    path = tmp_path / "case.json"
    path.write_text(json.dumps(case, ensure_ascii=False), "utf-8")
    done = CliRunner().invoke(app, ["check", str(path)], env={"COLUMNS": "200"})
    assert done.exit_code == 0, done.output
    # whole, brackets and colons kept: in the verdict and in the channel table
    assert done.output.count(detail) >= 2, done.output
    assert "😄" not in done.output
    # while the report's own marks are still styled, never printed as markup
    rest = done.output.replace(detail, "")
    assert "[/]" not in rest and "[green]" not in rest and "✔" in rest
