"""Issue 14, item 1: population inputs are checked against the layout before any work
starts. Every bad layout — a missing table, a corrupt or truncated file, a missing or
mistyped column — ends ``hukou batch``, ``hukou reform`` and ``hukou indicators`` with
exit status 2 and a bilingual message naming the file and column, never a traceback."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from hukou.analytics.layout import check_population
from hukou.analytics.population import from_cases, save
from hukou.cli import app
from hukou.policy.facts import parse_case

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
REFORM = ROOT / "examples" / "reforms" / "two-years.yaml"
ENV = {"COLUMNS": "400", "NO_COLOR": "1"}
CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cases = [parse_case(json.loads(p.read_text())) for p in sorted(EXAMPLES.glob("*.json"))]
    out = tmp_path_factory.mktemp("good") / "pop"
    save(from_cases(cases), out)
    return out


def _missing(pop: Path) -> None:
    (pop / "relations.parquet").unlink()


def _truncated(pop: Path) -> None:
    path = pop / "persons.parquet"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _corrupt(pop: Path) -> None:
    (pop / "dwellings.parquet").write_bytes(b"this is not a parquet file at all\n" * 20)


def _no_column(pop: Path) -> None:
    path = pop / "persons.parquet"
    pq.write_table(pq.read_table(path).drop_columns(["lives_in"]), path)


def _wrong_type(pop: Path) -> None:
    path = pop / "persons.parquet"
    t = pq.read_table(path)
    i = t.schema.get_field_index("birth_date")
    as_text = pa.array([None if d is None else d.isoformat() for d in t["birth_date"].to_pylist()])
    pq.write_table(t.set_column(i, "birth_date", as_text), path)


BAD: list[tuple[str, Callable[[Path], None], list[str]]] = [
    ("missing_table", _missing, ["relations.parquet"]),
    ("truncated", _truncated, ["persons.parquet", "truncated"]),
    ("corrupt", _corrupt, ["dwellings.parquet", "corrupt"]),
    ("missing_column", _no_column, ["persons.parquet", "lives_in"]),
    ("wrong_type", _wrong_type, ["persons.parquet", "birth_date", "date32"]),
]
# ``hukou indicators --population`` reads the persons table only
PERSONS_ONLY = {"truncated", "missing_column", "wrong_type"}


def _bad(good: Path, tmp_path: Path, spoil: Callable[[Path], None]) -> Path:
    pop = tmp_path / "pop"
    shutil.copytree(good, pop)
    spoil(pop)
    return pop


def _refused(args: list[str], names: list[str]) -> None:
    result = CliRunner().invoke(app, args, env=ENV)
    out = " ".join(result.output.split())
    assert result.exit_code == 2, out
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    for name in names:
        assert name in out, (name, out)
    assert CJK.search(out) and re.search(r"[A-Za-z]{4,}", out), out


@pytest.mark.parametrize(("name", "spoil", "names"), BAD, ids=[b[0] for b in BAD])
def test_the_layout_check_names_the_problem(
    good: Path, tmp_path: Path, name: str, spoil: Callable[[Path], None], names: list[str]
) -> None:
    assert check_population(good) == []
    problems = check_population(_bad(good, tmp_path, spoil))
    text = " ".join(f"{p['field']} {p['zh']} {p['en']}" for p in problems)
    assert problems and all(n in text for n in names), problems
    assert all(CJK.search(p["zh"]) and not CJK.search(p["en"]) for p in problems), problems


@pytest.mark.parametrize(("name", "spoil", "names"), BAD, ids=[b[0] for b in BAD])
def test_batch_refuses_a_bad_population(
    good: Path, tmp_path: Path, name: str, spoil: Callable[[Path], None], names: list[str]
) -> None:
    pop = _bad(good, tmp_path, spoil)
    out = tmp_path / "out"
    _refused(["batch", "--in", str(pop), "--out", str(out), "--on", "2024-06-15"], names)
    assert not (out / "results.parquet").exists()  # refused before any work


@pytest.mark.parametrize(("name", "spoil", "names"), BAD, ids=[b[0] for b in BAD])
def test_reform_refuses_a_bad_population(
    good: Path, tmp_path: Path, name: str, spoil: Callable[[Path], None], names: list[str]
) -> None:
    pop = _bad(good, tmp_path, spoil)
    out = tmp_path / "out"
    _refused(["reform", str(REFORM), "--in", str(pop), "--out", str(out)], names)
    assert not out.exists()


@pytest.mark.parametrize(
    ("name", "spoil", "names"),
    [b for b in BAD if b[0] in PERSONS_ONLY],
    ids=[b[0] for b in BAD if b[0] in PERSONS_ONLY],
)
def test_indicators_refuses_a_bad_population(
    good: Path, tmp_path: Path, name: str, spoil: Callable[[Path], None], names: list[str]
) -> None:
    pop = _bad(good, tmp_path, spoil)
    _refused(["indicators", "--population", str(pop), "--out", str(tmp_path / "ind")], names)


def test_indicators_refuses_a_truncated_results_file(good: Path, tmp_path: Path) -> None:
    results = tmp_path / "results"
    results.mkdir()
    (results / "results.parquet").write_bytes(b"PAR1" + b"\0" * 100)
    _refused(
        ["indicators", "--results", str(results), "--population", str(good)],
        ["results.parquet", "truncated"],
    )


def test_a_missing_population_directory_is_named(tmp_path: Path) -> None:
    nowhere = tmp_path / "nowhere"
    _refused(["batch", "--in", str(nowhere), "--out", str(tmp_path / "o")], [str(nowhere)])
    _refused(["reform", str(REFORM), "--in", str(nowhere)], [str(nowhere)])


def _damaged_page(pop: Path) -> None:
    """A data page overwritten behind an intact footer: the layout check cannot see it,
    the query fails on it, and the file is still named."""
    path = pop / "persons.parquet"
    column = pq.ParquetFile(path).metadata.row_group(0).column(1)
    data = bytearray(path.read_bytes())
    start = column.data_page_offset
    for i in range(start, start + column.total_compressed_size):
        data[i] = (data[i] * 7 + 13) % 256
    path.write_bytes(bytes(data))


def test_a_damaged_data_page_is_named(good: Path, tmp_path: Path) -> None:
    pop = _bad(good, tmp_path, _damaged_page)
    assert check_population(pop) == []  # the footer is intact
    names = ["persons.parquet", "corrupt"]
    _refused(["batch", "--in", str(pop), "--out", str(tmp_path / "o"), "--on", "2024-06-15"], names)
    _refused(["reform", str(REFORM), "--in", str(pop), "--out", str(tmp_path / "r")], names)


def test_the_installed_command_never_shows_a_traceback(good: Path, tmp_path: Path) -> None:
    """The real process, through ``main()``: exit 2 and the message naming the table."""
    import subprocess
    import sys

    pop = _bad(good, tmp_path, _missing)
    cmd = [sys.executable, "-m", "hukou.cli", "batch", "--in", str(pop), "--out", str(tmp_path)]
    done = subprocess.run(cmd, capture_output=True, text=True, env={**ENV, "PATH": ""})
    assert done.returncode == 2, done.stderr
    assert "relations.parquet" in done.stderr and "Traceback" not in done.stderr
