"""Places: Jiaxing's jurisdictions and the urban–rural code (城乡划分代码).

Both tables ship as data files (``policy/data``); nothing here hard-codes a code.
A county code outside Jiaxing is accepted when it is a GB/T 2260 code known to
python-stdnum's table, so a person's history elsewhere can be recorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from hukou.policy.regions import county_entry
from hukou.policy.yamlfile import load_yaml


@dataclass(frozen=True)
class County:
    code: str
    zh: str
    en: str
    area: str  # §1.2 residence area: "city_proper" or the county's own code


@dataclass(frozen=True)
class UrbanRural:
    code: str
    zh: str
    en: str
    urban: bool
    town: bool = False  # 建制镇 (121 镇中心区, 122 镇乡结合区): §5.1's small towns


def _data(name: str) -> dict:  # type: ignore[type-arg]
    text = (Path(__file__).with_name("data") / name).read_text("utf-8")
    loaded = load_yaml(text, cache=True)
    assert isinstance(loaded, dict)
    return loaded


@cache
def jiaxing_counties() -> dict[str, County]:
    data = _data("jurisdictions.yaml")
    return {c["code"]: County(c["code"], c["zh"], c["en"], c["area"]) for c in data["counties"]}


@cache
def areas() -> dict[str, tuple[str, str]]:
    data = _data("jurisdictions.yaml")
    return {k: (v["zh"], v["en"]) for k, v in data["areas"].items()}


@cache
def urban_rural_codes() -> dict[str, UrbanRural]:
    data = _data("urban_rural_codes.yaml")
    return {
        str(k): UrbanRural(str(k), v["zh"], v["en"], bool(v["urban"]), bool(v.get("town", False)))
        for k, v in data.items()
    }


def in_jiaxing(county: str) -> bool:
    return county in jiaxing_counties()


def area_of(county: str) -> str:
    """The §1.2 residence area of a county: 市本级 as one, else the county itself."""
    c = jiaxing_counties().get(county)
    return c.area if c else county


@cache
def is_known_county(code: str) -> bool:
    """A six-digit GB/T 2260 county-level code (Jiaxing's, or any in stdnum's table)."""
    if code in jiaxing_counties():
        return True
    if len(code) != 6 or not code.isdigit() or code.endswith("00"):
        return False
    return bool(county_entry(code))


def county_name(code: str, lang: str = "zh") -> str:
    c = jiaxing_counties().get(code)
    if c:
        return c.zh if lang == "zh" else c.en
    return code
