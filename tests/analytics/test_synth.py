"""``hukou synth``: the synthetic Jiaxing is reproducible, in the layout, and plausible."""

from __future__ import annotations

import collections
import datetime as dt
import hashlib
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from stdnum.cn import ric
from typer.testing import CliRunner

from hukou.analytics import population, synth
from hukou.analytics.layout import TABLES
from hukou.engine.decide import decide
from hukou.policy.facts import check_id_number, id_birth_date, id_sex
from hukou.policy.places import jiaxing_counties

ON = synth.DEFAULT_ON


def _read(directory: Path) -> dict[str, pa.Table]:
    return {name: pq.read_table(directory / f"{name}.parquet") for name in TABLES}


def _digests(directory: Path) -> dict[str, str]:
    return {
        name: hashlib.sha256((directory / f"{name}.parquet").read_bytes()).hexdigest()
        for name in TABLES
    }


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "pop"
    synth.generate(4000, 11, out)
    return out


@pytest.fixture(scope="module")
def large(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "large"
    synth.generate(200_000, 3, out)
    return out


def test_schemas_are_the_layout(small: Path) -> None:
    for name, schema in TABLES.items():
        assert pq.read_schema(small / f"{name}.parquet").equals(schema, check_metadata=False)


def test_same_seed_same_bytes_other_seed_other_people(small: Path, tmp_path: Path) -> None:
    synth.generate(4000, 11, tmp_path / "again")
    assert _digests(tmp_path / "again") == _digests(small)
    synth.generate(4000, 12, tmp_path / "other")
    other = _read(tmp_path / "other")["persons"]["id_number"]
    assert not other.equals(_read(small)["persons"]["id_number"])


def test_content_does_not_depend_on_chunk_and_is_a_prefix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # small blocks, so that several blocks and chunks are written
    monkeypatch.setattr(synth, "BLOCK_HOUSEHOLDS", 256)
    monkeypatch.setattr(synth, "ROW_GROUP_ROWS", 1000)  # several groups per chunk too
    calls: list[int] = []
    synth.generate(3000, 5, tmp_path / "a", chunk=700, progress=calls.append)
    synth.generate(3000, 5, tmp_path / "b", chunk=10**6)
    synth.generate(2000, 5, tmp_path / "c", chunk=10**6)
    assert sum(calls) == 3000 and len(calls) > 1
    a, b, c = _read(tmp_path / "a"), _read(tmp_path / "b"), _read(tmp_path / "c")
    for name in TABLES:
        assert a[name].equals(b[name]), name
        keep = pc.less(b[name]["person_id"], 2000)
        if name == "relations":
            keep = pc.and_(keep, pc.less(b[name]["relative_id"], 2000))
        assert b[name].filter(keep).equals(c[name]), name
    assert pq.ParquetFile(tmp_path / "a" / "persons.parquet").num_row_groups > 1
    # one chunk, yet row groups a parallel reader can share out
    meta = pq.ParquetFile(tmp_path / "b" / "persons.parquet").metadata
    sizes = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
    assert sizes == [1000, 1000, 1000]


def test_every_id_number_validates_and_agrees(small: Path) -> None:
    rows = _read(small)["persons"].select(["id_number", "sex", "birth_date"]).to_pylist()
    assert len(rows) == 4000
    for r in rows:
        number = r["id_number"]
        assert ric.is_valid(number), number  # stdnum: check character, date, place then
        assert check_id_number(number) == number  # the project's own check
        assert id_birth_date(number) == r["birth_date"]
        assert id_sex(number).value == r["sex"]
        assert r["birth_date"] <= ON
    assert len({r["id_number"] for r in rows}) > 3990  # practically unique


def test_county_and_urban_shares_follow_the_census(large: Path) -> None:
    persons = _read(large)["persons"]
    assert persons.num_rows == 200_000
    counties = list(jiaxing_counties())
    lives_in = collections.Counter(persons["lives_in"].to_pylist())
    residents = sum(lives_in[c] for c in counties)
    assert residents > 0.8 * persons.num_rows
    figures = synth.census()["counties"]
    total = sum(figures[c]["population"] for c in counties)
    for c in counties:
        expected = figures[c]["population"] / total
        assert abs(lives_in[c] / residents - expected) < 0.01, c
    # natives' hukou carries their household's urban or rural address
    natives = persons.filter(
        pc.and_(
            pc.is_in(persons["lives_in"], pa.array(counties)),
            pc.is_in(persons["hukou_kind"], pa.array(["own_family_household"])),
        )
    )
    codes = [c for c in natives["hukou_urban_rural_code"].to_pylist() if c is not None]
    urban = sum(c.startswith("1") for c in codes) / len(codes)
    assert abs(urban - synth.census()["urban_share"]) < 0.02


def test_relations_are_symmetric_and_consistent(small: Path) -> None:
    t = _read(small)
    people = {r["person_id"]: r for r in t["persons"].to_pylist()}
    rows = t["relations"].to_pylist()
    index = {(r["person_id"], r["relative_id"]): r for r in rows}
    words = collections.Counter(r["relation"] for r in rows)
    assert words["spouse"] and words["child"] and words["parent"]
    for r in rows:
        back = index[(r["relative_id"], r["person_id"])]
        assert back["relation"] == population.REVERSE[r["relation"]]
        assert back["lives_with"] == r["lives_with"]
        me, them = people[r["person_id"]], people[r["relative_id"]]
        if r["relation"] == "spouse":
            assert me["sex"] != them["sex"]
        elif r["relation"] == "child":
            assert them["birth_date"] > me["birth_date"] + dt.timedelta(days=14 * 365)
        else:
            assert them["birth_date"] < me["birth_date"] - dt.timedelta(days=14 * 365)


def test_histories_dwellings_and_unknowns(small: Path) -> None:
    t = _read(small)
    persons = t["persons"]
    jiaxing = set(jiaxing_counties())
    for p in t["residence_periods"].to_pylist():
        assert p["county"] in jiaxing
        assert p["end"] is None or p["end"] >= p["start"]
    periods = collections.Counter(t["residence_periods"]["person_id"].to_pylist())
    migrants = persons.filter(pc.equal(persons["hukou_kind"], "outside_jiaxing"))
    assert any(periods[i] > 1 for i in migrants["person_id"].to_pylist())
    tenures = set(t["dwellings"]["tenure"].to_pylist())
    assert {"owned", "rented_registered", "rented_unregistered", None} <= tenures
    codes = {c for c in t["dwellings"]["urban_rural_code"].to_pylist() if c}
    assert any(c.startswith("2") for c in codes) and any(c.startswith("1") for c in codes)
    for column in ("education", "permit_held", "local_labour_contract", "lost_registration"):
        share = persons[column].null_count / persons.num_rows
        assert 0.005 < share < 0.08, column
    assert not pc.all(persons["dwellings_known"]).as_py()
    assert not pc.all(persons["history_known"]).as_py()
    losses = set(persons["lost_registration"].to_pylist())
    assert {"none", "land_expropriation", "demolition"} <= losses


def test_each_person_is_a_valid_case_and_every_outcome_occurs(small: Path) -> None:
    tables = population.load(small)
    seen: dict[str, set[str]] = collections.defaultdict(set)
    routes: dict[str, set[str]] = collections.defaultdict(set)
    count = 0
    for _pid, case, _relatives in population.to_cases(tables, ON):
        count += 1
        decision = decide(case)
        for c in decision.channels:
            seen[c.key].add(c.status)
        for r in decision.relatives:
            for route in r.routes:
                routes[f"{r.relation}:{route.key}"].add(route.status)
    assert count == 4000
    every = {"eligible", "not_eligible", "undetermined"}
    for key in ("s1_1", "s2_1", "s2_2", "s3_1", "s3_3", "s4_4"):
        assert seen[key] == every, key
    assert routes["parent:s3_1"] == every
    assert routes["spouse:s3_3"] == every
    assert "eligible" in routes["child:accompany_s1_1"]


def test_cli(tmp_path: Path) -> None:
    from hukou.cli import app

    result = CliRunner().invoke(
        app, ["synth", "--people", "500", "--seed", "1", "--out", str(tmp_path / "p")]
    )
    assert result.exit_code == 0, result.output
    assert pq.read_metadata(tmp_path / "p" / "persons.parquet").num_rows == 500
    bad = CliRunner().invoke(
        app, ["synth", "--people", "5", "--seed", "1", "--out", str(tmp_path), "--on", "x"]
    )
    assert bad.exit_code == 2
