"""Bad input, through ``parse_case`` and through the command line (输入校验)."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import pytest
from stdnum.cn import ric
from typer.testing import CliRunner

from hukou.cli import app
from hukou.engine.decide import decide
from hukou.policy.facts import InputError, parse_case

runner = CliRunner()
ENV = {"COLUMNS": "400", "NO_COLOR": "1"}  # no line wrapping inside a message
CJK = re.compile(r"[\u4e00-\u9fff]")


def valid_id(body17: str) -> str:
    """A valid ID number; stdnum 2.2's calc_check_digit ignores the last character given."""
    return body17 + ric.calc_check_digit(body17 + "?")


MALE_1990 = valid_id("33040219900101123")  # 17th digit 3: odd, male
FEMALE_1985 = valid_id("33040219850615002")  # 17th digit 2: even, female


def _bad_check_char(number: str) -> str:
    last = number[-1]
    return number[:-1] + ("0" if last != "0" else "1")


def _case(applicant: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"decision_date": "2024-01-01", "applicant": applicant, **extra}


TOMORROW = (dt.date.today() + dt.timedelta(days=1)).isoformat()

# (name, case as text, field path the message must name)
BAD: list[tuple[str, str, str]] = [
    (
        "registration_outside_jiaxing",
        json.dumps(
            _case({"residence_registration": True, "residence_registration_county": "310101"})
        ),
        "applicant.residence_registration_county",
    ),
    (
        # 嘉兴市外 with a registered address in Nanhu contradicts itself
        "outside_jiaxing_with_a_jiaxing_address",
        json.dumps(_case({"hukou": {"kind": "outside_jiaxing", "address": {"county": "330402"}}})),
        "applicant.hukou.kind",
    ),
    ("malformed_json", '{"decision_date": "2024-01-01", "applicant": {', "(case)"),
    (
        "wrong_type",
        json.dumps(_case({"local_business": "perhaps"})),
        "applicant.local_business",
    ),
    (
        "wrong_type_in_list",
        json.dumps(_case({"dwellings": [{"commercial_housing": {"x": 1}}]})),
        "applicant.dwellings[0].commercial_housing",
    ),
    (
        "unknown_field",
        json.dumps(_case({"favourite_colour": "red"})),
        "applicant.favourite_colour",
    ),
    ("unknown_county", json.dumps(_case({"lives_in": "330499"})), "applicant.lives_in"),
    (
        "unknown_county_in_address",
        json.dumps(_case({"dwellings": [{"address": {"county": "999999"}}]})),
        "applicant.dwellings[0].address.county",
    ),
    (
        "bad_check_character",
        json.dumps(_case({"id_number": _bad_check_char(MALE_1990)})),
        "applicant.id_number",
    ),
    (
        "id_birth_date_disagrees",
        json.dumps(_case({"id_number": MALE_1990, "birth_date": "1990-01-02"})),
        "applicant.birth_date",
    ),
    (
        "id_sex_disagrees",
        json.dumps(_case({"id_number": MALE_1990, "sex": "female"})),
        "applicant.sex",
    ),
    (
        "relative_id_sex_disagrees",
        json.dumps(
            _case({}, relatives=[{"relation": "parent", "id_number": FEMALE_1985, "sex": "male"}])
        ),
        "relatives[0].sex",
    ),
    ("birth_in_the_future", json.dumps(_case({"birth_date": TOMORROW})), "applicant.birth_date"),
    (
        "birth_after_decision_date",
        json.dumps(_case({}, relatives=[{"relation": "child", "birth_date": "2024-03-01"}])),
        "relatives[0].birth_date",
    ),
    (
        "period_ends_before_it_starts",
        json.dumps(
            _case(
                {
                    "residence_history": [
                        {"start": "2021-05-01", "end": "2021-04-30", "county": "330402"}
                    ]
                }
            )
        ),
        "applicant.residence_history[0].end",
    ),
    ("bad_date", json.dumps(_case({"birth_date": "1990-02-30"})), "applicant.birth_date"),
    (
        "missing_relation",
        json.dumps(_case({}, relatives=[{"birth_date": "1960-01-01"}])),
        "relatives[0].relation",
    ),
]


def _flat(text: str) -> str:
    return " ".join(text.split())


def _bilingual(text: str) -> None:
    assert CJK.search(text), text  # Chinese …
    assert re.search(r"[A-Za-z]{4,}", text), text  # … and English


@pytest.mark.parametrize(("name", "text", "field"), BAD, ids=[b[0] for b in BAD])
def test_parse_case_names_the_field_in_both_languages(name: str, text: str, field: str) -> None:
    with pytest.raises(InputError) as info:
        parse_case(text.encode())
    problems = info.value.problems
    assert field in [p["field"] for p in problems], problems
    problem = next(p for p in problems if p["field"] == field)
    assert CJK.search(problem["zh"]), problem
    assert re.search(r"[A-Za-z]{4,}", problem["en"]) and not CJK.search(problem["en"]), problem
    _bilingual(str(info.value))


@pytest.mark.parametrize(("name", "text", "field"), BAD, ids=[b[0] for b in BAD])
def test_cli_rejects_bad_input(tmp_path: Path, name: str, text: str, field: str) -> None:
    path = tmp_path / f"{name}.json"
    path.write_text(text, encoding="utf-8")
    for args in (["check", str(path)], ["check", "--json", str(path)]):
        result = runner.invoke(app, args, env=ENV)
        assert result.exit_code == 2, (args, result.output)
        out = _flat(result.output)
        assert field in out, out
        assert "输入有误" in out and "invalid input" in out, out
        _bilingual(out)
        assert "Traceback" not in result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)


def test_cli_rejects_a_bad_on_date(tmp_path: Path) -> None:
    path = tmp_path / "ok.json"
    path.write_text(json.dumps(_case({"education": "bachelor"})), encoding="utf-8")
    for bad in ("2021-13-01", "01/02/2023", "yesterday"):
        result = runner.invoke(app, ["check", str(path), "--on", bad], env=ENV)
        assert result.exit_code == 2, result.output
        out = _flat(result.output)
        assert "--on" in out
        assert "日期格式" in out and "YYYY-MM-DD" in out
        assert "Traceback" not in result.output


def test_cli_on_date_before_a_birth(tmp_path: Path) -> None:
    path = tmp_path / "born-2010.json"
    path.write_text(json.dumps(_case({"birth_date": "2010-05-05"})), encoding="utf-8")
    result = runner.invoke(app, ["check", str(path), "--on", "2010-05-04"], env=ENV)
    assert result.exit_code == 2
    out = _flat(result.output)
    assert "applicant.birth_date" in out and "decision date" in out
    _bilingual(out)


def test_cli_keeps_going_after_a_bad_file(tmp_path: Path) -> None:
    good = tmp_path / "good.json"
    good.write_text(json.dumps(_case({"education": "bachelor"})), encoding="utf-8")
    bad = tmp_path / "bad.json"
    bad.write_text("{", encoding="utf-8")
    result = runner.invoke(app, ["check", "--json", str(bad), str(good)], env=ENV)
    assert result.exit_code == 2
    assert "bad.json" in result.output


def test_cli_missing_file(tmp_path: Path) -> None:
    result = runner.invoke(app, ["check", str(tmp_path / "nope.json")], env=ENV)
    assert result.exit_code == 2
    assert "nope.json" in result.output and "Traceback" not in result.output
    _bilingual(_flat(result.output))


# ---- what a valid ID number gives ----------------------------------------------------


def test_sex_and_birth_date_come_from_the_id_number() -> None:
    male = parse_case(_case({"id_number": MALE_1990})).applicant
    assert (male.sex.value, male.birth_date) == ("male", dt.date(1990, 1, 1))  # type: ignore[union-attr]
    female = parse_case(_case({"id_number": FEMALE_1985})).applicant
    assert (female.sex.value, female.birth_date) == ("female", dt.date(1985, 6, 15))  # type: ignore[union-attr]
    # agreeing values given beside the number are accepted
    same = parse_case(
        _case({"id_number": MALE_1990, "sex": "male", "birth_date": "1990-01-01"})
    ).applicant
    assert same.id_number == MALE_1990


def test_valid_id_numbers_are_valid_for_stdnum_too() -> None:
    assert ric.is_valid(MALE_1990) and ric.is_valid(FEMALE_1985)
    assert not ric.is_valid(_bad_check_char(MALE_1990))


def test_an_address_code_younger_than_the_holder_is_accepted() -> None:
    """330402 dates from 1983: a 1965-born holder got the number later (facts._place_known)."""
    number = valid_id("33040219650301003")
    assert not ric.is_valid(number)  # stdnum wants the code valid in the birth year
    person = parse_case(_case({"id_number": number})).applicant
    assert person.birth_date == dt.date(1965, 3, 1)
    with pytest.raises(InputError) as info:  # a province that does not exist is refused
        parse_case(_case({"id_number": valid_id("99040219650301003")}))
    assert info.value.problems[0]["field"] == "applicant.id_number"


UNKNOWN_COUNTY_ID = valid_id("33049919650301003")  # 33 浙江, 3304 嘉兴, but no county 330499


def test_an_id_number_with_an_unknown_county_of_a_known_city_is_refused() -> None:
    with pytest.raises(InputError) as info:
        parse_case(_case({"id_number": UNKNOWN_COUNTY_ID}))
    assert info.value.problems[0]["field"] == "applicant.id_number"


def test_cli_refuses_an_id_number_with_an_unknown_county(tmp_path: Path) -> None:
    path = tmp_path / "case.json"
    path.write_text(json.dumps(_case({"id_number": UNKNOWN_COUNTY_ID})), encoding="utf-8")
    result = runner.invoke(app, ["check", str(path)], env=ENV)
    assert result.exit_code == 2
    assert "applicant.id_number" in _flat(result.output)
    assert "Traceback" not in result.output


@pytest.mark.parametrize("digit", "0123456789")
def test_the_17th_digit_decides_the_sex(digit: str) -> None:
    number = valid_id(f"3304021990010112{digit}")
    person = parse_case(_case({"id_number": number})).applicant
    assert person.sex is not None
    assert person.sex.value == ("male" if int(digit) % 2 else "female")


@pytest.mark.clause("§3.1")
def test_the_id_number_decides_the_parent_age() -> None:
    """A father whose ID number says 1961-03-01 may join his adult son from his 60th birthday."""
    father = valid_id("33040219610301001")  # born 1961-03-01; 17th digit 1: male
    case = {
        "decision_date": "2021-02-28",
        "applicant": {"id_number": father, "dwellings": []},
        "relatives": [
            {
                "relation": "child",
                "birth_date": "1990-01-01",
                "lives_with_applicant": False,  # so §3.2 does not lift the age limit
                "hukou": {
                    "kind": "own_family_household",
                    "address": {"county": "330402", "urban_rural_code": "111"},
                },
                "dwellings": [
                    {"tenure": "owned", "address": {"county": "330402", "urban_rural_code": "111"}}
                ],
            }
        ],
    }
    parsed = parse_case(case)

    def s3_1(on: dt.date) -> Any:
        return next(c for c in decide(parsed, on=on).channels if c.key == "s3_1")

    before = s3_1(dt.date(2021, 2, 28))
    assert (before.status, before.earliest_date) == ("not_eligible", dt.date(2021, 3, 1))
    assert s3_1(dt.date(2021, 3, 1)).status == "eligible"
    # the same birth date with an even 17th digit is a woman: 55 years reached long before
    mother = parse_case(
        {**case, "applicant": {"id_number": valid_id("33040219610301002"), "dwellings": []}}
    )
    assert next(c for c in decide(mother).channels if c.key == "s3_1").status == "eligible"


# ---- schema and a valid check --------------------------------------------------------


def test_schema_is_json_schema() -> None:
    result = runner.invoke(app, ["schema"], env=ENV)
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    assert schema["type"] == "object"
    assert "applicant" in schema["properties"]
    assert "applicant" in schema["required"]
    assert "$defs" in schema and "Person" in schema["$defs"]


def test_check_a_valid_case(tmp_path: Path) -> None:
    path = tmp_path / "case.json"
    case = _case(
        {
            "id_number": MALE_1990,
            "education": "bachelor",
            "dwellings": [],
            "registration_offers": {"relative_family_household": True},
        }
    )
    path.write_text(json.dumps(case), encoding="utf-8")
    result = runner.invoke(app, ["check", str(path)], env=ENV)
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    result = runner.invoke(app, ["check", "--json", str(path)], env=ENV)
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["schema"] == "hukou.decision/1"
    assert out["status"] == "eligible"
    assert out["best_channel"] == "s2_1"
    channels = {c["key"]: c["status"] for c in out["channels"]}
    assert channels["s2_1"] == "eligible"
    assert set(channels) == {"s1_1", "s2_1", "s2_2", "s3_1", "s3_3", "s4_4"}
    assert out["registration_place"]["kind"] == "relative_family_household"
    assert MALE_1990 not in result.stdout  # the ID number is masked


def test_check_on_overrides_the_decision_date(tmp_path: Path) -> None:
    path = tmp_path / "case.json"
    path.write_text(json.dumps(_case({"education": "bachelor"})), encoding="utf-8")
    result = runner.invoke(app, ["check", "--json", "--on", "2020-07-31", str(path)], env=ENV)
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert (out["decision_date"], out["status"]) == ("2020-07-31", "not_in_force")
