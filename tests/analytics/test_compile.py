"""Differential: the compiled population query on DuckDB gives, for every person, exactly
the per-case engine's decision (``analytics.reference``) — every channel's status,
earliest date and last day, the overall status, best channel and place kind, and
every relative's routes with their earliest dates.

Populations come from the case strategies of ``tests/strategies.py`` (unknown facts
left out at random, boundary dates around 18/55/60 years, 3 years of residence and
the 15-year window) and from families built here around §1.2: dwellings with
residence histories in their area, with gaps of a day or two, 市本级 split over
南湖区 and 秀洲区. Each population is also every relative's own case (relations
both ways).

The query depends only on the decision date and the parameters, so its SQL is
compiled once per date and run on each generated population.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from typing import Any

import duckdb
import ibis
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hukou.analytics import batch
from hukou.analytics import compile as compile_module
from hukou.analytics.compile import ONGOING, CompileError, Compiler
from hukou.analytics.layout import RESULT_RELATIVES, RESULTS, TABLES
from hukou.analytics.population import Tables, from_cases
from hukou.analytics.reference import reference_results
from hukou.policy.calendar import add_years
from hukou.policy.expr import TODAY, Exists, Fact, all_of
from hukou.policy.params import ParameterSet, load
from hukou.policy.rules.s1_urban import minor
from hukou.policy.rules.s3_relatives import parent_age
from hukou.policy.rules.vocabulary import RELATIVE

from ..strategies import JIAXING_COUNTIES, URBAN_RURAL_CODES, cases, examples, near, parse

# decision dates: §8's first day, a leap day, the days around a common-year 28 February
DATES = (
    dt.date(2020, 8, 1),
    dt.date(2023, 2, 28),
    dt.date(2024, 2, 29),
    dt.date(2025, 3, 1),
    dt.date(2026, 7, 15),
)
SAME_AREA = {"330402": ("330402", "330411"), "330411": ("330402", "330411")}

# a reform exercising every parameter path: a 2-year stretch with a 30-day gap
# tolerance, 1 March anniversaries, no age limit on parents via a lower age
REFORM = {
    "s1_urban.continuous_residence_years": {dt.date(2020, 8, 1): 2},
    "s1_urban.residence_gap_tolerance_days": {dt.date(2020, 8, 1): 30},
    "readings.leap_day_anniversary": {dt.date(2020, 8, 1): "mar1"},
    "readings.parents_must_live_with_applicant": {dt.date(2020, 8, 1): False},
    "readings.lease_is_property_proof_for_s3_1": {dt.date(2020, 8, 1): True},
    "readings.child_hukou_must_be_in_jiaxing_urban": {dt.date(2020, 8, 1): False},
    "s3_relatives.parent_min_age_female": {dt.date(2020, 8, 1): 50},
}


def parameter_sets() -> dict[str, ParameterSet]:
    return {"law": load(), "reform": load().with_overrides(REFORM)}


# ---- generated populations --------------------------------------------------------


@st.composite
def _history(draw: st.DrawFn, on: dt.date, county: str) -> list[dict[str, Any]]:
    """Periods mostly in the dwelling's area, from near the 2-, 3- or 5-year mark, with
    gaps of 0-31 days between them (0: contiguous); the last one ongoing, ending after
    the decision date, or ended."""
    area = SAME_AREA.get(county, (county,))
    lo = add_years(on, -9)
    start = draw(
        st.one_of(
            near(add_years(on, -3), 60, lo, on),
            near(add_years(on, -2), 60, lo, on),
            near(add_years(on, -5), 400, lo, on),
        )
    )
    periods: list[dict[str, Any]] = []
    count = draw(st.sampled_from([1, 1, 2, 3]))
    for i in range(count):
        period: dict[str, Any] = {
            "start": start.isoformat(),
            "county": draw(
                st.one_of(
                    st.sampled_from(area), st.sampled_from(area), st.sampled_from(JIAXING_COUNTIES)
                )
            ),
        }
        if i < count - 1:
            end = start + dt.timedelta(days=draw(st.integers(30, 700)))
        else:
            kind = draw(st.sampled_from(["ongoing", "ongoing", "later", "ended"]))
            if kind == "ongoing":
                periods.append(period)
                break
            if kind == "later":  # ends after the decision date: a last day to report
                end = max(start, on + dt.timedelta(days=draw(st.integers(0, 900))))
            else:
                end = start + dt.timedelta(days=draw(st.integers(0, 1500)))
        period["end"] = end.isoformat()
        periods.append(period)
        start = end + dt.timedelta(days=1 + draw(st.sampled_from([0, 0, 0, 1, 2, 30, 31])))
        if start > on:
            break
    return periods


@st.composite
def settlers(draw: st.DrawFn, on: dt.date) -> dict[str, Any]:
    """A family steered towards §1.1/§1.2, §2.2, §3.1 and §3.3: dwellings with a
    residence history in their area, relatives near the age thresholds."""
    case = draw(cases(partial=draw(st.booleans()), on=on, max_relatives=3))
    a = case["applicant"]
    county = draw(st.sampled_from(JIAXING_COUNTIES))
    if draw(st.integers(0, 3)):
        a["residence_registration"] = draw(st.sampled_from([True, True, True, None]))
        a["dwellings"] = [
            {
                "tenure": draw(st.sampled_from(["owned", *["rented_registered"] * 3])),
                "commercial_housing": draw(st.sampled_from([True, True, True, False, None])),
                "address": {
                    "county": draw(st.sampled_from(SAME_AREA.get(county, (county,)))),
                    "urban_rural_code": draw(st.sampled_from(URBAN_RURAL_CODES[:5])),
                },
            }
            for _ in range(draw(st.integers(1, 2)))
        ]
        if draw(st.integers(0, 4)):
            a["residence_history"] = draw(_history(on, county))
        else:
            a.pop("residence_history", None)
    if draw(st.booleans()):  # §2.2 near the end of the 15-year window
        a["secondary_vocational_graduation_date"] = draw(
            near(add_years(on, -15), 40, add_years(on, -20), on)
        ).isoformat()
        a["local_labour_contract"] = True
        a["lives_in"] = county
        a["residence_permit"] = {"held": True, "county": county}
    for rel in case["relatives"]:
        if draw(st.booleans()):
            rel["lives_with_applicant"] = True
        if draw(st.booleans()):  # an adult child with a dwelling, for §3.1
            rel["hukou"] = {
                "kind": draw(st.sampled_from(["own_family_household", "unit_collective"])),
                "address": {"county": county, "urban_rural_code": "111"},
                # R28: which child is joined decides the place only where a collective
                # may refuse, so its consent varies
                "owner_consent": draw(st.sampled_from([True, True, False, None])),
            }
            rel["dwellings"] = [
                {"tenure": "owned", "address": {"county": county, "urban_rural_code": "121"}}
            ]
    return case


def populations(max_cases: int = 3) -> st.SearchStrategy[tuple[dt.date, list[dict[str, Any]]]]:
    def batch_on(on: dt.date) -> st.SearchStrategy[tuple[dt.date, list[dict[str, Any]]]]:
        one = st.one_of(cases(on=on, max_relatives=3), settlers(on))
        return st.tuples(st.just(on), st.lists(one, min_size=1, max_size=max_cases))

    return st.sampled_from(DATES).flatmap(batch_on)


# ---- running the compiled query -------------------------------------------------------


def _empty() -> Tables:
    return {name: schema.empty_table() for name, schema in TABLES.items()}


def _empty_tables() -> tuple[Any, dict[str, Any]]:
    """An Ibis DuckDB connection with the layout's tables, empty, registered by name."""
    con = ibis.duckdb.connect()
    tables = {}
    for name, table in _empty().items():
        con.con.register(name, table)
        tables[name] = con.table(name)
    return con, tables


@lru_cache(maxsize=32)
def duckdb_sql(on: dt.date, parameters: str) -> tuple[str, str, str]:
    """The two queries on ``on`` as DuckDB SQL over tables named as in ``layout``, and the
    relatives' again as ``hukou batch`` runs it: reading the applicants' channels from
    their results, a table ``_results``."""
    con, tables = _empty_tables()
    params = parameter_sets()[parameters].at(on)
    results, relatives = batch.evaluate(tables, on, params)
    con.con.register("_results", RESULTS.empty_table())
    joined = batch.evaluate_relatives(tables, on, params, con.table("_results"))
    return tuple(ibis.to_sql(q, dialect="duckdb") for q in (results, relatives, joined))  # type: ignore[return-value]


def run_duckdb(tables: Tables, on: dt.date, parameters: str = "law") -> tuple[pa.Table, pa.Table]:
    """Both queries; the relatives' also from the results (``evaluate_relatives``), which
    must give the same rows."""
    sql, rel_sql, joined_sql = duckdb_sql(on, parameters)
    con = duckdb.connect()
    for name, table in tables.items():
        con.register(name, table)
    results = con.execute(sql).to_arrow_table().cast(RESULTS)
    relatives = con.execute(rel_sql).to_arrow_table().cast(RESULT_RELATIVES)
    con.register("_results", results)
    joined = con.execute(joined_sql).to_arrow_table().cast(RESULT_RELATIVES)
    con.close()
    keys = ("person_id", "relative_id")
    for x, y in zip(_rows(relatives, keys), _rows(joined, keys), strict=True):
        diff = {k: (x[k], y[k]) for k in x if x[k] != y[k]}
        assert not diff, f"{[x[k] for k in keys]}: decided per pair vs from the results {diff}"
    assert relatives.num_rows == joined.num_rows
    return results, relatives


def _rows(table: pa.Table, keys: tuple[str, ...]) -> list[dict[str, Any]]:
    return sorted(table.to_pylist(), key=lambda r: tuple(r[k] for k in keys))


def assert_same(
    expected: tuple[pa.Table, pa.Table], got: tuple[pa.Table, pa.Table], tables: Tables
) -> None:
    """Row by row, naming the person and the columns that differ."""
    for keys, want, have in (
        (("person_id",), expected[0], got[0]),
        (("person_id", "relative_id"), expected[1], got[1]),
    ):
        a, b = _rows(want, keys), _rows(have, keys)
        assert [tuple(r[k] for k in keys) for r in a] == [tuple(r[k] for k in keys) for r in b]
        for x, y in zip(a, b, strict=True):
            diff = {k: (x[k], y[k]) for k in x if x[k] != y[k]}
            assert not diff, f"{[x[k] for k in keys]}: engine vs query {diff}"


def parsed_population(batch_cases: list[dict[str, Any]]) -> Tables:
    return from_cases([parse(c) for c in batch_cases])


# ---- the tests ------------------------------------------------------------------------


@settings(
    max_examples=examples(40),  # make test-deep: 200
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(population=populations())
def test_duckdb_matches_the_engine(population: tuple[dt.date, list[dict[str, Any]]]) -> None:
    on, batch_cases = population
    tables = parsed_population(batch_cases)
    assert_same(reference_results(tables, on), run_duckdb(tables, on), tables)


@settings(
    max_examples=examples(10),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(population=populations())
def test_duckdb_matches_the_engine_under_a_reform(
    population: tuple[dt.date, list[dict[str, Any]]],
) -> None:
    """Parameters reach the query: gap tolerance, years, readings, leap-day anniversaries."""
    on, batch_cases = population
    tables = parsed_population(batch_cases)
    expected = reference_results(tables, on, parameter_sets()["reform"])
    assert_same(expected, run_duckdb(tables, on, "reform"), tables)


@pytest.mark.parametrize("on", [dt.date(2020, 7, 31), dt.date(2019, 1, 1)])
def test_before_the_notice_nothing_is_decided(on: dt.date) -> None:
    """§8: before 2020-08-01 every person is "not_in_force" and no relative is listed."""
    case = parse(
        {
            "decision_date": "2020-08-01",
            "applicant": {"sex": "male", "birth_date": "1980-01-01", "education": "master"},
            "relatives": [{"relation": "spouse", "lives_with_applicant": True}],
        }
    )
    tables = from_cases([case])
    expected = reference_results(tables, on)
    assert set(expected[0].column("status").to_pylist()) == {"not_in_force"}
    assert_same(expected, run_duckdb(tables, on), tables)


def test_worked_examples_match(tmp_path: Any) -> None:
    """The worked examples of ``examples/`` as one population, through ``batch.run``."""
    import json
    from pathlib import Path

    from hukou.analytics.population import save

    root = Path(__file__).resolve().parents[2] / "examples"
    found = sorted(root.glob("*.json"))
    assert found
    on = dt.date(2024, 6, 15)
    parsed = [
        parse({**json.loads(p.read_text("utf-8")), "decision_date": on.isoformat()}) for p in found
    ]
    tables = from_cases(parsed)
    save(tables, tmp_path / "in")
    seen: list[str] = []
    batch.run(
        tmp_path / "in",
        tmp_path / "out",
        "duckdb",
        on,
        progress=lambda stage, _f: seen.append(stage),
        memory_limit="1GB",
    )
    import pyarrow.parquet as pq

    got = (
        pq.read_table(tmp_path / "out" / batch.RESULTS_FILE).cast(RESULTS),
        pq.read_table(tmp_path / "out" / batch.RELATIVES_FILE).cast(RESULT_RELATIVES),
    )
    assert_same(reference_results(tables, on), got, tables)
    assert seen[-1] == "done"


def test_unsupported_constructs_are_refused() -> None:
    """A list fact the population has no table for is an error, not a silent NULL."""
    _con, tables = _empty_tables()
    c = Compiler(tables, load().at(dt.date(2024, 1, 1)))
    odd = Exists(Fact("applicant", "pets", "list", "", ""), "pet", TODAY >= dt.date(2020, 1, 1))
    with pytest.raises(CompileError):
        c.attach([odd], c.applicant_frame())


def test_truth_codes() -> None:
    """Kleene values as codes: true 2, unknown 1, false 0 (``compile.truth_code``)."""
    from hukou.analytics.compile import FALSE, TRUE, UNKNOWN, truth_code

    t = ibis.memtable({"v": [True, None, False]}, schema={"v": "boolean"})
    got = ibis.duckdb.connect().to_pyarrow(t.select(c=truth_code(t.v)))["c"].to_pylist()
    assert got == [TRUE, UNKNOWN, FALSE]


def _grid_cases(on: dt.date) -> list[dict[str, Any]]:
    """Families on every boundary that matters, built deterministically: the §1.2
    stretch reaching 2 and 3 years the day before, of and after the decision date
    (ongoing, ending later, ended; contiguous or with gaps of 1, 2, 30 and 31 days;
    南湖区 then 秀洲区; two flats in different areas), children turning 18, parents
    turning 55 and 60, the §2.2 window's last days."""
    out: list[dict[str, Any]] = []
    day = dt.timedelta(days=1)
    registered = {"residence_registration": True}
    for years in (2, 3):
        for shift in (-1, 0, 1, 40, -40):
            start = add_years(on, -years) + shift * day
            for gap in (0, 1, 2, 30, 31):
                for end in (None, on + 200 * day, on - 10 * day):
                    middle = start + 300 * day
                    history = [
                        {"start": start.isoformat(), "end": middle.isoformat(), "county": "330402"},
                        {
                            "start": (middle + (gap + 1) * day).isoformat(),
                            "county": "330411",
                            **({"end": end.isoformat()} if end else {}),
                        },
                    ]
                    flats = [
                        {
                            "tenure": "rented_registered",
                            "commercial_housing": True,
                            "address": {"county": "330402", "urban_rural_code": "111"},
                        }
                    ]
                    if gap == 2:  # a second flat elsewhere, where the stretch is shorter
                        flats.append(
                            {
                                "tenure": "rented_registered",
                                "commercial_housing": True,
                                "address": {"county": "330421", "urban_rural_code": "121"},
                            }
                        )
                        history.append({"start": (on - 400 * day).isoformat(), "county": "330421"})
                    child = min(on, add_years(on, -18) + shift * day)
                    out.append(
                        {
                            "decision_date": on.isoformat(),
                            "applicant": {
                                "sex": "female",
                                "birth_date": "1985-05-05",
                                **registered,
                                "dwellings": flats,
                                "residence_history": history,
                            },
                            "relatives": [
                                {
                                    "relation": "child",
                                    "sex": "male",
                                    "birth_date": child.isoformat(),
                                    "lives_with_applicant": True,
                                },
                                {"relation": "spouse", "lives_with_applicant": gap != 1},
                            ],
                        }
                    )
    for shift in (-1, 0, 1):
        for age, sex in ((55, "female"), (60, "male")):
            parent_birth = add_years(on, -age) + shift * day
            out.append(
                {
                    "decision_date": on.isoformat(),
                    "applicant": {
                        "sex": sex,
                        "birth_date": parent_birth.isoformat(),
                        "dwellings": [
                            {
                                "tenure": "owned",
                                "address": {"county": "330483", "urban_rural_code": "121"},
                            }
                        ],
                        "secondary_vocational_graduation_date": (
                            add_years(on, -15) + shift * day
                        ).isoformat(),
                        "local_labour_contract": True,
                        "lives_in": "330483",
                        "residence_permit": {"held": True, "county": "330483"},
                    },
                    "relatives": [
                        {
                            "relation": "child",
                            "birth_date": (add_years(on, -18) - shift * day).isoformat(),
                            "hukou": {
                                "kind": "unit_collective",
                                "address": {"county": "330483", "urban_rural_code": "111"},
                                "owner_consent": True,
                            },
                            "education": "master",
                            "lives_with_applicant": shift != 0,
                        }
                    ],
                }
            )
    return out


@pytest.mark.parametrize("parameters", ["law", "reform"])
@pytest.mark.parametrize("on", [dt.date(2024, 2, 29), dt.date(2025, 3, 1)])
def test_boundary_grid(on: dt.date, parameters: str) -> None:
    """Every boundary day of §1.2, §1.1 (minors), §3.1 (ages) and §2.2 (the window)."""
    tables = parsed_population(_grid_cases(on))
    expected = reference_results(tables, on, parameter_sets()[parameters])
    dates = [d for d in expected[0].column("s1_1_earliest").to_pylist() if d]
    assert dates and [d for d in expected[0].column("s1_1_until").to_pylist() if d]
    assert_same(expected, run_duckdb(tables, on, parameters), tables)


def test_synthetic_population_through_the_cli(tmp_path: Any) -> None:
    """``hukou synth`` then ``hukou batch``: a realistic population, every person as the
    engine decides them."""
    import pyarrow.parquet as pq
    from typer.testing import CliRunner

    from hukou.analytics.population import load as load_population
    from hukou.analytics.synth import DEFAULT_ON, generate
    from hukou.cli import app

    generate(400, 7, tmp_path / "pop")
    on = DEFAULT_ON
    result = CliRunner().invoke(
        app,
        ["batch", "--in", str(tmp_path / "pop"), "--out", str(tmp_path / "out"), "--on", str(on)],
    )
    assert result.exit_code == 0, result.output
    tables = load_population(tmp_path / "pop")
    got = (
        pq.read_table(tmp_path / "out" / batch.RESULTS_FILE).cast(RESULTS),
        pq.read_table(tmp_path / "out" / batch.RELATIVES_FILE).cast(RESULT_RELATIVES),
    )
    assert_same(reference_results(tables, on), got, tables)
    assert not (tmp_path / "out" / ".duckdb_tmp").exists()


def test_cli_refuses_bad_input(tmp_path: Any) -> None:
    from typer.testing import CliRunner

    from hukou.cli import app

    runner = CliRunner()
    out = str(tmp_path / "out")
    bad_engine = runner.invoke(app, ["batch", "--in", str(tmp_path), "--out", out, "--engine", "x"])
    assert bad_engine.exit_code == 2
    no_population = runner.invoke(app, ["batch", "--in", str(tmp_path), "--out", out])
    assert no_population.exit_code == 2
    bad_date = runner.invoke(app, ["batch", "--in", str(tmp_path), "--out", out, "--on", "x"])
    assert bad_date.exit_code == 2


def _two_flats(on: dt.date, a: tuple[int, int | None], b: tuple[int, int | None]) -> dict[str, Any]:
    """Rented commercial flats in two counties; in each, a stretch reaching 3 years
    ``a[0]`` / ``b[0]`` days after the decision date (negative: before) and ending
    ``a[1]`` / ``b[1]`` days after it (``None``: ongoing)."""
    day = dt.timedelta(days=1)
    flats, history = [], []
    for county, (reach, end) in (("330421", a), ("330424", b)):
        flats.append(
            {
                "tenure": "rented_registered",
                "commercial_housing": True,
                "address": {"county": county, "urban_rural_code": "111"},
            }
        )
        period = {"start": add_years(on + reach * day, -3).isoformat(), "county": county}
        if end is not None:
            period["end"] = (on + end * day).isoformat()
        history.append(period)
    return {
        "decision_date": on.isoformat(),
        "applicant": {
            "sex": "male",
            "birth_date": "1980-01-01",
            "residence_registration": True,
            "dwellings": flats,
            "residence_history": history,
        },
        "relatives": [
            {
                "relation": "child",
                "sex": "female",
                "birth_date": add_years(on + 500 * day, -18).isoformat(),
                "lives_with_applicant": True,
            }
        ],
    }


# (flat a, flat b) -> (earliest, last day it holds), in days after the decision date
TWO_FLATS = {
    # holds now until day 50, the other from day 30 on: one interval to the end
    ((-10, 50), (30, None)): (None, None),
    # holds now until day 50, the other from day 100: the gap ends it at day 50
    ((-10, 50), (100, None)): (None, 50),
    # two later windows with a gap: the first one's start
    ((100, 200), (300, None)): (100, None),
    # two later windows back to back
    ((100, 200), (201, 400)): (100, None),
    # both hold now
    ((-10, 50), (-20, 80)): (None, 80),
    # one ended before the decision date, one later
    ((-400, -100), (60, None)): (60, None),
}


@pytest.mark.parametrize("flats", list(TWO_FLATS), ids=str)
def test_two_flats_whose_windows_may_not_join(flats: Any) -> None:
    """§1.2 in two counties: the days each flat qualifies are an interval, and their union
    may be two. Where it is one, the query reads the dates off the interval; where not,
    it falls back to the candidate days. Both must be the engine's dates."""
    on = dt.date(2025, 6, 1)
    tables = parsed_population([_two_flats(on, *flats)])
    expected = reference_results(tables, on)
    row = expected[0].to_pylist()[0]
    earliest, until = TWO_FLATS[flats]
    day = dt.timedelta(days=1)
    assert row["s1_1_earliest"] == (on + earliest * day if earliest is not None else None)
    assert row["s1_1_until"] == (on + until * day if until is not None else None)
    assert_same(expected, run_duckdb(tables, on), tables)


def test_shapes_of_the_rules() -> None:
    """Every channel and route reads its dates off one interval (spans); constructs
    whose true days may be two intervals are left to the candidate days."""
    from hukou.analytics.compile import NotConvex
    from hukou.policy.expr import Const, Not
    from hukou.policy.rules import CHANNELS, RELATIVE_ROUTES

    c = Compiler.__new__(Compiler)
    c._temporal, c._shapes = {}, {}
    # §4.4 under reading R27 holds while no lease qualifies: a lease that qualifies from its
    # third year and stops when its stretch ends leaves §4.4 two intervals (before, after)
    two_intervals = {"s4_4"}
    for rule in [*CHANNELS, *RELATIVE_ROUTES]:
        expected = c.is_temporal(rule.rule) and rule.key not in two_intervals
        assert c.spannable(rule.rule) == expected, rule.key
    assert all(c.is_temporal(r.rule) for r in CHANNELS if r.key in two_intervals)
    birth = Fact("applicant", "birth_date", "date", "", "")
    later = TODAY >= birth
    earlier = TODAY < birth
    # the nodes are kept alive: the compiler's caches are keyed by node identity
    good = {
        later: "U",
        earlier: "D",
        Not(later): "D",
        later & earlier: "W",
        later | Const(True, "bool"): "U",
        Not(Not(later) | Const(False, "bool")): "U",
    }
    for node, shape in good.items():
        assert c.shape(node) == shape, node
    bad = [later | earlier, Not(later & earlier), TODAY != birth]
    for node in bad:
        with pytest.raises(NotConvex):
            c.shape(node)
        assert not c.spannable(node)


@pytest.mark.parametrize("parameters", ["law", "reform"])
def test_s3_1_places_the_parent_by_the_collectives_consent(parameters: str) -> None:
    """R28 in the query as in ``decide._place``: a parent of 65 joins an adult son whose
    hukou is in a unit's collective household — there with the unit's consent, in the
    community collective without it, open while unknown; the son's own family household
    takes him in."""
    on = dt.date(2024, 6, 1)

    def family(kind: str | None, consent: bool | None) -> dict[str, Any]:
        hukou: dict[str, Any] = {"address": {"county": "330402", "urban_rural_code": "111"}}
        if kind is not None:
            hukou["kind"] = kind
        if consent is not None:
            hukou["owner_consent"] = consent
        return {
            "decision_date": on.isoformat(),
            "applicant": {"sex": "male", "birth_date": "1959-01-01", "dwellings": []},
            "relatives": [
                {
                    "relation": "child",
                    "birth_date": "1990-01-01",
                    "hukou": hukou,
                    "dwellings": [
                        {
                            "tenure": "owned",
                            "commercial_housing": True,
                            "address": {"county": "330402", "urban_rural_code": "111"},
                        }
                    ],
                }
            ],
        }

    batch_cases = [
        family("unit_collective", True),
        family("unit_collective", False),
        family("unit_collective", None),
        family("own_family_household", None),
        family(None, None),
    ]
    tables = parsed_population(batch_cases)
    expected = reference_results(tables, on, parameter_sets()[parameters])
    assert_same(expected, run_duckdb(tables, on, parameters), tables)
    applicants = {r["person_id"]: r for r in expected[0].to_pylist()}
    kinds = [applicants[pid]["place_kind"] for pid in sorted(applicants)][::2]
    assert kinds == [
        "anchor_household",
        "community_collective",
        None,
        "anchor_household",
        None,
    ], kinds


def test_s3_1_place_follows_the_first_child_for_whom_it_holds() -> None:
    """The query drops the pairs on which §3.1's child part cannot hold before it looks
    for the first child (R28): a spouse, a minor son and a daughter whose hukou is not in
    Jiaxing come first in the case's order and are passed over; the first adult son
    who qualifies is in a unit's collective without its consent (the community
    collective), though a later one's family household would take the parent in."""
    on = dt.date(2024, 6, 1)
    urban = {"county": "330402", "urban_rural_code": "111"}

    def child(birth: str, hukou: dict[str, Any]) -> dict[str, Any]:
        return {
            "relation": "child",
            "birth_date": birth,
            "hukou": hukou,
            "dwellings": [{"tenure": "owned", "commercial_housing": True, "address": urban}],
        }

    def family(first: dict[str, Any]) -> dict[str, Any]:
        return {
            "decision_date": on.isoformat(),
            "applicant": {"sex": "male", "birth_date": "1959-01-01", "dwellings": []},
            "relatives": [
                first,
                child(
                    "1990-01-01",
                    {"address": urban, "kind": "unit_collective", "owner_consent": False},
                ),
                child("1992-01-01", {"address": urban, "kind": "own_family_household"}),
            ],
        }

    away = {"county": "110101", "urban_rural_code": "111"}
    firsts = [
        {"relation": "spouse", "birth_date": "1960-01-01", "hukou": {"address": urban}},
        child("2012-01-01", {"address": urban, "kind": "own_family_household"}),
        child("1988-01-01", {"address": away, "kind": "own_family_household"}),
        child("1988-01-01", {"address": urban, "kind": "own_family_household"}),
    ]
    tables = parsed_population([family(f) for f in firsts])
    expected = reference_results(tables, on, parameter_sets()["law"])
    assert_same(expected, run_duckdb(tables, on, "law"), tables)
    applicants = {r["person_id"]: r for r in expected[0].to_pylist()}
    kinds = [applicants[pid]["place_kind"] for pid in sorted(applicants)][::4]
    # the fourth family's first child qualifies and takes the parent in
    assert kinds == ["community_collective"] * 3 + ["anchor_household"], kinds


# every tenure (and unknown) × commercial housing or not (or unknown)
STRETCH_KINDS = [
    (tenure, commercial)
    for tenure in ("owned", "rented_registered", "rented_unregistered", None)
    for commercial in (True, False, None)
]


def test_stretches_are_computed_only_where_s1_2_may_read_them() -> None:
    """The §1.2 stretch is computed only for a dwelling that may be a rented commercial
    flat (``s1_urban.rented_commercial_flat`` not certainly false); the decisions of
    people with every other kind of dwelling, and a stretch that would reach 3 years
    in 100 days, are still the engine's — and so are the stretch's dates where it is read."""
    on = dt.date(2025, 6, 1)
    cases = []
    for tenure, commercial in STRETCH_KINDS:
        flat: dict[str, Any] = {"address": {"county": "330421", "urban_rural_code": "111"}}
        if tenure is not None:
            flat["tenure"] = tenure
        if commercial is not None:
            flat["commercial_housing"] = commercial
        start = add_years(on + dt.timedelta(days=100), -3).isoformat()
        cases.append(
            {
                "decision_date": on.isoformat(),
                "applicant": {
                    "sex": "female",
                    "birth_date": "1985-03-01",
                    "residence_registration": True,
                    "dwellings": [flat],
                    "residence_history": [{"start": start, "county": "330421"}],
                },
            }
        )
    tables = parsed_population(cases)
    assert_same(reference_results(tables, on), run_duckdb(tables, on), tables)
    # which rows carry a stretch: exactly the kinds §1.2 may read
    con = ibis.duckdb.connect()
    named = {}
    for name, table in tables.items():
        con.con.register(name, table)
        named[name] = con.table(name)
    facts = compile_module.dwelling_facts(named, parameter_sets()["law"].at(on))
    rows = con.to_pyarrow(facts).to_pylist()
    by_owner = {r["owner"]: r for r in rows}
    persons = tables["persons"].to_pylist()
    dwellings = {d["person_id"]: d for d in tables["dwellings"].to_pylist()}
    read = 0
    for person in persons:
        d = dwellings[person["person_id"]]
        may_read = (
            d["tenure"] in (None, "rented_registered") and d["commercial_housing"] is not False
        )
        row = by_owner[person["person_id"]]
        if may_read:
            read += 1
            assert row["stretch_exists"] is True and row["stretch_end"] == ONGOING
        else:
            assert row["stretch_exists"] is None and row["stretch_start"] is None
    assert read == 4  # rented_registered or unknown tenure, commercial or unknown


def test_people_and_routes_false_on_every_day_or_true_only_later() -> None:
    """Differential cases for the two ends of the date work: a person (and each of
    their relatives' routes) that no rule can make true on any day, and a dwelling, a
    spouse and a parent's §3.1 that become true only 100 or 30 days after the
    decision date — with the engine's dates."""
    on = dt.date(2025, 6, 1)
    urban = {"county": "330421", "urban_rural_code": "111"}
    start = add_years(on + dt.timedelta(days=100), -3).isoformat()
    outside = {"kind": "outside_jiaxing"}
    nobody = {  # no dwelling, no degree, hukou outside Jiaxing: nothing on any day
        "decision_date": on.isoformat(),
        "applicant": {
            "sex": "male",
            "birth_date": "1980-01-01",
            "education": "high_school",
            "professional_title": "none",
            "vocational_qualification": "none",
            "secondary_vocational_graduate": False,
            "hukou": outside,
            "dwellings": [],
        },
        "relatives": [
            {
                "relation": relation,
                "birth_date": birth,
                "lives_with_applicant": False,
                "hukou": outside,
                "dwellings": [],
            }
            for relation, birth in (("spouse", "1981-01-01"), ("child", "2000-01-01"))
        ],
    }
    later = {  # a rented commercial flat whose third year of residence ends in 100 days
        "decision_date": on.isoformat(),
        "applicant": {
            "sex": "female",
            "birth_date": "1985-03-01",
            "residence_registration": True,
            "hukou": outside,
            "dwellings": [
                {"tenure": "rented_registered", "commercial_housing": True, "address": urban}
            ],
            "residence_history": [{"start": start, "county": "330421"}],
        },
        "relatives": [
            {"relation": "spouse", "birth_date": "1984-01-01", "lives_with_applicant": True},
            {"relation": "spouse", "birth_date": "1984-01-01", "lives_with_applicant": False},
        ],
    }
    parent_at_60 = {  # an owner in Jiaxing whose father turns 60 in 30 days (§3.1)
        "decision_date": on.isoformat(),
        "applicant": {
            "sex": "female",
            "birth_date": "1990-01-01",
            "hukou": {"kind": "own_family_household", "address": urban},
            "dwellings": [{"tenure": "owned", "commercial_housing": True, "address": urban}],
        },
        "relatives": [
            {
                "relation": "parent",
                "sex": "male",
                "lives_with_applicant": False,
                "birth_date": add_years(on + dt.timedelta(days=30), -60).isoformat(),
            }
        ],
    }
    tables = parsed_population([nobody, later, parent_at_60])
    expected = reference_results(tables, on)
    assert_same(expected, run_duckdb(tables, on), tables)

    people = {r["person_id"]: r for r in expected[0].to_pylist()}
    pairs = {(r["person_id"], r["relative_id"]): r for r in expected[1].to_pylist()}
    for key in ((1, 2), (1, 3), (4, 6)):  # nothing on any day
        assert pairs[key]["status"] == "not_eligible" and pairs[key]["earliest_date"] is None
    assert people[1]["status"] == "not_eligible" and people[1]["earliest_date"] is None
    assert people[4]["s1_1_earliest"] == on + dt.timedelta(days=100)
    assert pairs[(4, 5)]["accompany_s1_1_earliest"] == on + dt.timedelta(days=100)
    assert pairs[(7, 8)]["s3_1_earliest"] == on + dt.timedelta(days=30)


@pytest.mark.parametrize("days", [-1, 0, 1])
def test_a_minor_comes_along_from_the_applicants_result_until_18(days: int) -> None:
    """§1.1's accompany read from the applicant's result (``evaluate_relatives``): a
    minor child who lives with the applicant comes along on the applicant's earliest
    §1.1 date (the third year of a rented flat, 100 days on) only while still under 18
    — the 18th birthday the day before, of and after that date."""
    on = dt.date(2025, 6, 1)
    qualifies = on + dt.timedelta(days=100)
    urban = {"county": "330421", "urban_rural_code": "111"}
    case = {
        "decision_date": on.isoformat(),
        "applicant": {
            "sex": "female",
            "birth_date": "1985-03-01",
            "residence_registration": True,
            "hukou": {"kind": "outside_jiaxing"},
            "dwellings": [
                {"tenure": "rented_registered", "commercial_housing": True, "address": urban}
            ],
            "residence_history": [
                {"start": add_years(qualifies, -3).isoformat(), "county": "330421"}
            ],
        },
        "relatives": [
            {
                "relation": "child",
                "lives_with_applicant": True,
                "birth_date": add_years(qualifies + dt.timedelta(days=days), -18).isoformat(),
            }
        ],
    }
    tables = parsed_population([case])
    expected = reference_results(tables, on)
    assert_same(expected, run_duckdb(tables, on), tables)
    (pair,) = [r for r in expected[1].to_pylist() if r["person_id"] == 1]
    # under 18 on the applicant's date only if the birthday comes after it
    assert pair["accompany_s1_1_earliest"] == (qualifies if days > 0 else None)
    assert pair["accompany_s1_1_status"] == "not_eligible"


def test_the_relatives_read_the_applicants_results_given() -> None:
    """``evaluate_relatives`` reads §1.1 from the results it is given, not from the
    facts: results saying the applicant can settle take along the spouse who lives
    with her, results saying she cannot leave him out — whatever her dwelling."""
    on = dt.date(2025, 6, 1)
    case = {
        "decision_date": on.isoformat(),
        "applicant": {"sex": "female", "birth_date": "1985-03-01", "dwellings": []},
        "relatives": [
            {"relation": "spouse", "birth_date": "1984-01-01", "lives_with_applicant": True},
        ],
    }
    tables = parsed_population([case])
    _sql, _rel_sql, joined_sql = duckdb_sql(on, "law")
    results, relatives = run_duckdb(tables, on)
    mine = [r for r in relatives.to_pylist() if r["person_id"] == 1]
    assert [r["accompany_s1_1_status"] for r in mine] == ["not_eligible"]
    later = on + dt.timedelta(days=40)
    for status, earliest, want, want_date in (
        ("eligible", None, "eligible", None),
        ("undetermined", later, "undetermined", later),
        ("not_eligible", later, "not_eligible", later),
    ):
        n = results.num_rows
        given = results.set_column(
            results.schema.get_field_index("s1_1_status"), "s1_1_status", pa.array([status] * n)
        ).set_column(
            results.schema.get_field_index("s1_1_earliest"),
            "s1_1_earliest",
            pa.array([earliest] * n, pa.date32()),
        )
        con = duckdb.connect()
        for name, table in tables.items():
            con.register(name, table)
        con.register("_results", given)
        rows = con.execute(joined_sql).to_arrow_table().to_pylist()
        (row,) = [r for r in rows if r["person_id"] == 1]
        con.close()
        assert (row["accompany_s1_1_status"], row["accompany_s1_1_earliest"]) == (want, want_date)


def test_only_a_channel_and_a_part_that_only_stops_holding_are_joined() -> None:
    """``joined_route``: §1.1's accompany is (s1_1, the relative's part); the §3.1 and
    §3.3 routes name no channel; a part that may start holding later (a parent's 60th
    birthday) is not split, since a result keeps only the channel's first later day."""
    _con, tables = _empty_tables()
    c = Compiler(tables, load().at(dt.date(2025, 1, 1)))
    routes = {r.key: r.rule for r in batch.RELATIVE_ROUTES}
    found = batch.joined_route(routes["accompany_s1_1"], c)
    assert found is not None and found[0] == "s1_1"
    assert batch.joined_route(routes["s3_1"], c) is None
    assert batch.joined_route(routes["s3_3"], c) is None
    s1_1 = next(ch.rule for ch in batch.CHANNELS if ch.key == "s1_1")
    # the nodes kept alive: the compiler caches shapes by node (``id``)
    parent, child = all_of(s1_1, parent_age(RELATIVE)), minor(RELATIVE)
    along = all_of(s1_1, child)
    assert batch.joined_route(parent, c) is None
    assert batch.joined_route(along, c) == ("s1_1", child)
