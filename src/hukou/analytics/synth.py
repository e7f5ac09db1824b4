"""A synthetic Jiaxing (合成人口): ``hukou synth``.

Writes a population in the Parquet layout of ``hukou.analytics.layout`` —
households of a head, a spouse, up to three children and the head's parents,
natives with a Jiaxing hukou and migrants with residence histories, permits,
dwellings and qualifications — so that every channel of the notice (§1.1, §2.1,
§2.2, §3.1, §3.3, §4.4) and every relative's route has people who pass, fail and
stay undetermined. County and urban–rural shares follow the 2020 census
(``data/census2020.yaml``, with its sources).

Generation is vectorised with numpy over *blocks* of households. Each block draws
from its own random stream, seeded by ``(seed, block number)``, and a block's
people get consecutive ids; so the content of the files depends on the seed, the
number of people and the decision date only — not on ``chunk``, which only sets
how many people go into one write (row group), and so bounds the memory.
The first N people of a larger population are the population of N people (the
last household may be cut short, with its relations to the people cut).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from faker import Faker

from hukou.analytics.layout import TABLES
from hukou.policy.facts import Evidence, HukouKind, LossReason, Tenure
from hukou.policy.places import jiaxing_counties
from hukou.policy.scales import Education, Title, Vocational
from hukou.policy.yamlfile import load_yaml

__all__ = ["BLOCK_HOUSEHOLDS", "DEFAULT_ON", "census", "generate"]

Array = npt.NDArray[Any]

# A fixed default date, so that a seed alone determines the files.
DEFAULT_ON = dt.date(2026, 1, 1)
# Households per block: one random stream each; about 110,000 people.
BLOCK_HOUSEHOLDS = 32_768

_EPOCH = dt.date(1970, 1, 1)
_YEAR = 365.2425
_Y0 = 1900  # first year of the address-code tables
_SLOTS = 7  # 0 head, 1 spouse, 2-4 children, 5 father, 6 mother of the head
_HEAD, _SPOUSE, _FATHER, _MOTHER = 0, 1, 5, 6
_CHILDREN = (2, 3, 4)
# (person slot, relative slot, the relative's relation to the person)
_PAIRS: list[tuple[int, int, str]] = [
    (_HEAD, _SPOUSE, "spouse"),
    (_SPOUSE, _HEAD, "spouse"),
    (_FATHER, _MOTHER, "spouse"),
    (_MOTHER, _FATHER, "spouse"),
    *((a, c, "child") for c in _CHILDREN for a in (_HEAD, _SPOUSE)),
    *((c, a, "parent") for c in _CHILDREN for a in (_HEAD, _SPOUSE)),
    *((_HEAD, p, "parent") for p in (_FATHER, _MOTHER)),
    *((p, _HEAD, "child") for p in (_FATHER, _MOTHER)),
]

# Enumerations as the case model spells them; a column stores an index into one.
_KINDS = [k.value for k in HukouKind]
_TENURES = [t.value for t in Tenure]
_EDU = [e.value for e in Education]
_TITLE = [t.value for t in Title]
_VOC = [v.value for v in Vocational]
_LOSS = [r.value for r in LossReason]
_EVIDENCE = [e.value for e in Evidence]
_SEX = ["male", "female"]
_URBAN_CODES = ["111", "112", "121", "122", "123"]
_URBAN_P = [0.55, 0.15, 0.2, 0.08, 0.02]
_RURAL_CODES = ["210", "220"]
_RURAL_P = [0.2, 0.8]
_UR_CODES = _URBAN_CODES + _RURAL_CODES
_ANCHOR = [
    _KINDS.index(k)
    for k in (
        "unit_collective",
        "relative_family_household",
        "talent_service_collective",
        "community_collective",
    )
]

# A native born before a county's present code existed carries the code then in
# force (嘉兴地区 3321xx before 1983; 海宁县, 平湖县, 桐乡县 before they became cities).
_PREDECESSORS: dict[str, tuple[str, ...]] = {
    "330402": ("330402", "332102"),
    "330411": ("330411", "332102", "332121"),
    "330421": ("330421", "332122"),
    "330424": ("330424", "332125"),
    "330481": ("330481", "330423", "332124"),
    "330482": ("330482", "330422", "332123"),
    "330483": ("330483", "330425", "332126"),
}
_FALLBACK = ("330401", "332102")  # 嘉兴市市辖区 (1983-), 嘉兴市 (-1983)
# A province whose codes start later: those born before carry the former province's
# (重庆 was part of 四川 until 1997).
_BEFORE = {"50": "51"}

# GB 11643 / ISO 7064 MOD 11-2 weights of the first 17 digits.
_WEIGHTS = np.array([pow(2, 17 - i, 11) for i in range(17)], dtype=np.int32)
_CHECK = np.frombuffer(b"10X98765432", dtype=np.uint8)  # sum % 11 -> check character


@dataclass(frozen=True)
class _Census:
    counties: list[str]
    shares: Array  # of the resident population, per county
    urban: Array  # urban share per county
    provinces: list[str]
    province_weights: Array


@cache
def census() -> dict[str, Any]:
    """The census figures and their sources (``data/census2020.yaml``)."""
    text = (resources.files("hukou.analytics") / "data" / "census2020.yaml").read_text("utf-8")
    loaded = load_yaml(text)
    assert isinstance(loaded, dict)
    return loaded


@cache
def _census() -> _Census:
    data = census()
    counties = list(jiaxing_counties())
    pops = np.array([data["counties"][c]["population"] for c in counties], dtype=np.float64)
    urban = np.array([data["counties"][c]["urban_share"] for c in counties], dtype=np.float64)
    provinces = [str(p) for p in data["migrant_origins"]]
    weights = np.array([data["migrant_origins"][p] for p in provinces], dtype=np.float64)
    return _Census(counties, pops / pops.sum(), urban, provinces, weights / weights.sum())


def _ranges(text: str) -> list[tuple[int, int]]:
    """Year spans of a stdnum cn/loc entry such as ``[1983-1998]郊区,[1999-]秀洲区``."""
    spans = []
    for part in text.split(","):
        if not part.startswith("["):
            return [(0, 9999)]
        start, end = part[1:].split("]")[0].split("-")
        spans.append((int(start) if start else 0, int(end) if end else 9999))
    return spans


@cache
def _places() -> dict[str, list[tuple[int, int]]]:
    """Every county-level code in python-stdnum's GB/T 2260 table with its years: the
    table stdnum.cn.ric checks an ID number's address code against."""
    text = (resources.files("stdnum") / "cn" / "loc.dat").read_text("utf-8")
    out: dict[str, list[tuple[int, int]]] = {}
    province = ""
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        if not line.startswith(" "):
            province = line.split()[0]
            continue
        code, _, rest = line.strip().partition(" ")
        if not rest.startswith("county="):
            continue
        out[province + code] = _ranges(rest.split("=", 1)[1].strip('"'))
    return out


@cache
def _years_valid(code: str, last_year: int) -> Array:
    """Per year from _Y0 to last_year: was the code in force?"""
    years = np.arange(_Y0, last_year + 1)
    mask = np.zeros(len(years), dtype=np.bool_)
    for a, b in _places().get(code, []):
        mask |= (years >= a) & (years <= b)
    return mask


def _valid(code: str, year: int) -> bool:
    return any(a <= year <= b for a, b in _places().get(code, []))


@dataclass(frozen=True)
class _Codes:
    """Address codes as indices into ``codes``, valid per birth year."""

    codes: list[str]
    code_int: Array  # int64 of each code
    native: Array  # [jiaxing county, year - _Y0] -> code index
    origin: Array  # [province, year - _Y0, k] -> code index
    origin_n: Array  # [province, year - _Y0] -> number of valid codes
    jiaxing: Array  # the seven county codes' indices


@cache
def _codes(last_year: int) -> _Codes:
    census_ = _census()
    places = _places()
    years = range(_Y0, last_year + 1)
    codes: list[str] = list(census_.counties)
    index: dict[str, int] = {c: i for i, c in enumerate(codes)}

    def idx(code: str) -> int:
        if code not in index:
            index[code] = len(codes)
            codes.append(code)
        return index[code]

    native = np.zeros((len(census_.counties), len(years)), dtype=np.int32)
    for ci, county in enumerate(census_.counties):
        for yi, year in enumerate(years):
            pick = next((c for c in (*_PREDECESSORS[county], *_FALLBACK) if _valid(c, year)), None)
            assert pick is not None, (county, year)
            native[ci, yi] = idx(pick)
    per: list[list[list[int]]] = []
    for prov in census_.provinces:
        candidates = sorted(
            c
            for c in places
            if c.startswith(prov)
            and not c.endswith(("00", "01"))  # prefectures and their 市辖区
            and not c.startswith("3304")  # a migrant's origin is outside Jiaxing
            and not c.startswith("3321")
        )
        before = sorted(
            c
            for c in places
            if c.startswith(_BEFORE.get(prov, prov)) and not c.endswith(("00", "01"))
        )
        masks = np.array([_years_valid(c, last_year) for c in candidates])
        before_masks = np.array([_years_valid(c, last_year) for c in before])
        rows = []
        for yi, year in enumerate(years):
            valid = [idx(candidates[i]) for i in np.flatnonzero(masks[:, yi])]
            valid = valid or [idx(before[i]) for i in np.flatnonzero(before_masks[:, yi])]
            assert valid, (prov, year)
            rows.append(valid)
        per.append(rows)
    kmax = max(len(r) for rows in per for r in rows)
    origin = np.zeros((len(per), len(years), kmax), dtype=np.int32)
    origin_n = np.zeros((len(per), len(years)), dtype=np.int32)
    for pi, rows in enumerate(per):
        for yi, row in enumerate(rows):
            origin[pi, yi, : len(row)] = row
            origin_n[pi, yi] = len(row)
    return _Codes(
        codes,
        np.array([int(c) for c in codes], dtype=np.int64),
        native,
        origin,
        origin_n,
        np.arange(len(census_.counties), dtype=np.int32),
    )


@dataclass(frozen=True)
class _Pools:
    surnames: pa.Array
    given: pa.Array  # male names first, then female
    n_male: int
    townships: pa.Array
    communities: pa.Array


def _pools(seed: int) -> _Pools:
    """Name pools drawn once from Faker's zh_CN locale (so Faker's frequencies carry
    over); people then pick from them by numpy index."""
    fake = Faker("zh_CN")
    fake.seed_instance(seed)
    surnames = [fake.last_name() for _ in range(4000)]
    male = [fake.first_name_male() for _ in range(4000)]
    female = [fake.first_name_female() for _ in range(4000)]
    towns = sorted({fake.street_name().rstrip("路街道") for _ in range(600)} - {""})
    towns = [t for t in towns if len(t) >= 2]
    townships = [t + ("街道" if i % 3 else "镇") for i, t in enumerate(towns)]
    tails = ("社区", "村", "社区", "家浜村", "港社区", "桥社区", "塘村")
    communities = sorted(
        {
            fake.last_name() + fake.random_element(("家", "新", "东", "西", "南", "北"))
            for _ in range(800)
        }
    )
    communities = [c + tails[i % len(tails)] for i, c in enumerate(communities)]
    return _Pools(
        pa.array(surnames),
        pa.array(male + female),
        len(male),
        pa.array(townships),
        pa.array(communities),
    )


# ---------------------------------------------------------------------------- helpers


def _u(rng: np.random.Generator, shape: int | tuple[int, ...]) -> Array:
    """Uniforms in [0, 1); single precision is plenty for drawing shares, and faster."""
    return rng.random(shape, dtype=np.float32)


def _cat(rng: np.random.Generator, n: int, probs: list[float]) -> Array:
    """n draws of a category index with the given probabilities."""
    cum = np.cumsum(np.asarray(probs, dtype=np.float64))
    cum = (cum / cum[-1]).astype(np.float32)
    return np.minimum(np.searchsorted(cum, _u(rng, n), side="right"), len(probs) - 1)


def _years(rng: np.random.Generator, lo: Array | float, hi: Array | float, n: int) -> Array:
    """Uniform durations in days between lo and hi years."""
    return np.floor((lo + (np.asarray(hi) - lo) * _u(rng, n)) * _YEAR).astype(np.int64)


def _year_of(days: Array) -> Array:
    return days.astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64) + 1970


def _take(values: pa.Array, index: Array, null: Array | None = None) -> pa.Array:
    return values.take(pa.array(index, pa.int32(), mask=null))


def _strings(values: list[str], index: Array, null: Array | None = None) -> pa.Array:
    return _take(pa.array(values, pa.string()), index, null)


def _dates(days: Array, null: Array | None = None) -> pa.Array:
    return pa.array(days.astype(np.int32), pa.date32(), mask=null)


def _bools(values: Array, null: Array | None = None) -> pa.Array:
    return pa.array(values.astype(np.bool_), pa.bool_(), mask=null)


def _unknown(rng: np.random.Generator, n: int, rate: float) -> Array:
    """The facts left unknown (NULL): a few per cent of each column."""
    return _u(rng, n) < rate


def _id_numbers(code_int: Array, birth: Array, male: Array, seq: Array) -> pa.Array:
    """18-character GB 11643 numbers, check character included, built as bytes."""
    n = len(code_int)
    d = birth.astype("datetime64[D]")
    first = d.astype("datetime64[M]")
    year = d.astype("datetime64[Y]").astype(np.int64) + 1970
    month = first.astype(np.int64) % 12 + 1
    day = (d - first).astype(np.int64) + 1
    # sequence: two free digits, then one whose parity is the sex (odd: male)
    order = seq // 5 * 10 + 2 * (seq % 5) + male.astype(np.int64)
    # the 17-digit body as one integer (address codes start at 11, so 17 digits always)
    body = ((code_int * 10000 + year) * 10000 + month * 100 + day) * 1000 + order
    chars = np.empty((n, 18), dtype=np.uint8)
    chars[:, :17] = body.astype("S17").view(np.uint8).reshape(n, 17)
    total = (chars[:, :17].astype(np.int32) - 48) @ _WEIGHTS
    chars[:, 17] = _CHECK[total % 11]
    offsets = np.arange(0, 18 * (n + 1), 18, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(chars.tobytes()))


# ---------------------------------------------------------------------------- one block


@dataclass
class _Block:
    tables: dict[str, pa.Table]
    people: int


def _block(seed: int, block: int, first_id: int, limit: int, on: dt.date, pools: _Pools) -> _Block:
    """Households ``block * BLOCK_HOUSEHOLDS ...``; their people get ids from ``first_id``
    on, and only those below ``limit`` are kept."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, block]))
    cen = _census()
    codes = _codes(on.year)
    H = BLOCK_HOUSEHOLDS
    S = _SLOTS
    today = (on - _EPOCH).days
    hh_global = np.int64(block) * H + np.arange(H, dtype=np.int64)
    ncounty = len(cen.counties)

    # -- households: where, urban or rural, migrant or native, of which kind
    county = _cat(rng, H, list(cen.shares))
    urban = _u(rng, H) < cen.urban[county]
    migrant = _u(rng, H) < 0.42
    origin = _cat(rng, H, list(cen.province_weights))
    kind_native = np.array([_KINDS.index(k) for k in _KINDS if k != "outside_jiaxing"])[
        _cat(rng, H, [0.84, 0.04, 0.03, 0.03, 0.06])
    ]
    outside = _KINDS.index("outside_jiaxing")
    head_kind = np.where(migrant, outside, kind_native)
    anchor_hh = np.isin(head_kind, _ANCHOR)

    # -- who is there, born when, of which sex (slots: H x 7)
    present = np.zeros((H, S), dtype=np.bool_)
    birth = np.zeros((H, S), dtype=np.int64)
    male = np.zeros((H, S), dtype=np.bool_)
    head_age = np.where(migrant, 18 + 45 * rng.beta(2.0, 3.0, H), 20 + 62 * rng.beta(1.8, 2.4, H))
    birth[:, _HEAD] = today - np.floor(head_age * _YEAR).astype(np.int64) - rng.integers(0, 365, H)
    male[:, _HEAD] = _u(rng, H) < 0.55
    present[:, _HEAD] = True
    present[:, _SPOUSE] = _u(rng, H) < np.where(migrant, 0.66, 0.74) * (head_age >= 21)
    birth[:, _SPOUSE] = np.minimum(
        birth[:, _HEAD] + np.round(np.clip(rng.normal(0, 3.0, H), -8, 8) * _YEAR).astype(np.int64),
        today - int(20 * _YEAR),
    )
    male[:, _SPOUSE] = ~male[:, _HEAD]
    # children are born when the younger parent is 20 to 36
    younger = np.where(
        present[:, _SPOUSE], np.maximum(birth[:, _HEAD], birth[:, _SPOUSE]), birth[:, _HEAD]
    )
    n_children = _cat(rng, H, [0.28, 0.42, 0.25, 0.05])
    for k, sl in enumerate(_CHILDREN):
        born = younger + _years(rng, 20.0, 36.0, H)
        present[:, sl] = (n_children > k) & (born < today)
        birth[:, sl] = np.minimum(born, today - 1)
        male[:, sl] = _u(rng, H) < 0.52
    for sl, lo, hi, is_male in ((_FATHER, 23.0, 36.0, True), (_MOTHER, 21.0, 34.0, False)):
        born = birth[:, _HEAD] - _years(rng, lo, hi, H)
        alive = (today - born) < 92 * _YEAR
        present[:, sl] = (_u(rng, H) < np.where(migrant, 0.3, 0.4)) & alive
        birth[:, sl] = born
        male[:, sl] = is_male

    # -- living with the head; slots not with the head of a migrant family stay at origin
    with_head = np.ones((H, S), dtype=np.bool_)
    with_head[:, _SPOUSE] = _u(rng, H) < 0.94
    adult = (today - birth) >= 18 * _YEAR
    for sl in _CHILDREN:
        with_head[:, sl] = _u(rng, H) < np.where(adult[:, sl], 0.55, 0.95)
    parents_with = _u(rng, H) < 0.5
    with_head[:, _FATHER] = parents_with
    with_head[:, _MOTHER] = parents_with

    # -- hukou: migrant households are all outside Jiaxing; in a native household the
    #    spouse, children and parents may be migrants who came to join the head (§3.1, §3.3)
    joiner_p = np.where(anchor_hh, 0.6, 0.1)
    is_migrant = np.zeros((H, S), dtype=np.bool_)
    is_migrant[:, _HEAD] = migrant
    is_migrant[:, _SPOUSE] = migrant | (_u(rng, H) < joiner_p)
    kids_migrant = migrant | (_u(rng, H) < joiner_p)
    for sl in _CHILDREN:
        is_migrant[:, sl] = kids_migrant
    parents_migrant = migrant | (_u(rng, H) < np.where(anchor_hh, 0.6, 0.3))
    is_migrant[:, _FATHER] = parents_migrant
    is_migrant[:, _MOTHER] = parents_migrant

    # -- flatten to people
    flat = present.reshape(-1)
    n_all = int(flat.sum())
    ids_all = first_id + np.arange(n_all, dtype=np.int64)
    n = n_all
    pid_slots = np.full((H, S), -1, dtype=np.int64)
    pid_slots.reshape(-1)[flat] = ids_all
    hh = np.repeat(np.arange(H), S)[flat]
    slot = np.tile(np.arange(S), H)[flat]

    def per(a: Array) -> Array:
        return a.reshape(-1)[flat]

    def hhv(a: Array) -> Array:
        return a[hh]

    pid = ids_all
    p_birth = per(birth)
    p_male = per(male)
    p_mig = per(is_migrant)
    p_with = per(with_head)
    p_county = hhv(county)
    p_urban = hhv(urban)
    p_origin = hhv(origin)
    p_hh_migrant = hhv(migrant)
    age = (today - p_birth) / _YEAR
    p_adult = age >= 18
    yidx = _year_of(p_birth) - _Y0
    on_idx = on.year - _Y0
    # a migrant family's members away from the head live at the origin
    resident = ~(p_hh_migrant & ~p_with)

    # current county of the origin: the household's, so a family shares it
    oi = codes.origin_n[origin, on_idx]
    origin_now = codes.origin[origin, on_idx, np.floor(_u(rng, H) * oi).astype(np.int64)]
    p_origin_now = hhv(origin_now)

    # -- ID numbers: birth code valid in the birth year (stdnum.cn.ric checks it)
    ok = codes.origin_n[p_origin, yidx]
    mig_code = codes.origin[p_origin, yidx, np.floor(_u(rng, n) * ok).astype(np.int64)]
    nat_code = codes.native[p_county, yidx]
    birth_code = np.where(p_mig, mig_code, nat_code)
    id_number = _id_numbers(codes.code_int[birth_code], p_birth, p_male, rng.integers(0, 500, n))

    # -- names: children take the father's surname, the head that of the head's father
    sur = rng.integers(0, len(pools.surnames), (H, S))
    father_sur = np.where(male[:, _HEAD] | ~present[:, _SPOUSE], sur[:, _HEAD], sur[:, _SPOUSE])
    for s in _CHILDREN:
        sur[:, s] = father_sur
    sur[:, _FATHER] = sur[:, _HEAD]
    given = np.where(
        p_male,
        rng.integers(0, pools.n_male, n),
        pools.n_male + rng.integers(0, len(pools.given) - pools.n_male, n),
    )
    name = pc.binary_join_element_wise(
        pools.surnames.take(pa.array(per(sur))), pools.given.take(pa.array(given)), ""
    )
    name = pc.if_else(pa.array(_unknown(rng, n, 0.005)), pa.scalar(None, pa.string()), name)

    # -- qualifications
    young = age < 40
    edu_mig_young = [0.30, 0.14, 0.16, 0.18, 0.17, 0.04, 0.01]
    edu_mig_old = [0.55, 0.10, 0.16, 0.10, 0.07, 0.015, 0.005]
    edu_nat_young = [0.15, 0.12, 0.14, 0.22, 0.28, 0.07, 0.02]
    edu_nat_old = [0.45, 0.10, 0.18, 0.12, 0.11, 0.03, 0.01]
    edu = np.where(
        p_mig,
        np.where(young, _cat(rng, n, edu_mig_young), _cat(rng, n, edu_mig_old)),
        np.where(young, _cat(rng, n, edu_nat_young), _cat(rng, n, edu_nat_old)),
    )
    # talents in collective households: the people §3.3's relatives join
    talent = (slot == _HEAD) & hhv(anchor_hh) & (_u(rng, n) < 0.45)
    edu = np.where(talent, np.maximum(edu, _cat(rng, n, [0, 0, 0, 0, 0, 0.8, 0.2])), edu)
    edu = np.where(age < 16, 0, np.where(age < 19, np.minimum(edu, 2), edu))
    college = edu >= _EDU.index("junior_college")
    title = np.where(
        college & (age >= 23),
        _cat(rng, n, [0.55, 0.2, 0.15, 0.07, 0.03]),
        np.where(p_adult, _cat(rng, n, [0.97, 0.03, 0, 0, 0]), 0),
    )
    voc = np.where(p_adult, _cat(rng, n, [0.72, 0.07, 0.08, 0.07, 0.04, 0.02]), 0)
    # senior titles and technician grades take years of work
    title = np.where((age < 30) & (title > 2), 2, title)
    voc = np.where((age < 25) & (voc > 3), 3, voc)
    sv_grad = (edu == _EDU.index("secondary_vocational")) | (college & (_u(rng, n) < 0.15))
    grad_date = p_birth + _years(rng, 17.5, 19.5, n)
    sv_grad &= grad_date <= today
    grad_null = ~sv_grad | _unknown(rng, n, 0.03)

    # -- work
    working_age = p_adult & (age < 60)
    labour = working_age & (_u(rng, n) < np.where(p_mig, 0.72, 0.6)) & resident
    business = working_age & (_u(rng, n) < 0.08) & resident

    # -- arrival in Jiaxing and the residence history (household template, up to 3 periods)
    arrive_head = today - _years(rng, 0.1, 16.0, H)
    arrive_head = np.maximum(arrive_head, birth[:, _HEAD] + int(16 * _YEAR))
    n_periods = 1 + _cat(rng, H, [0.6, 0.3, 0.1])
    cuts = np.sort(_u(rng, (H, 2)), axis=1)
    span = np.maximum(today - arrive_head, 1)
    starts = np.stack(
        [
            arrive_head,
            arrive_head + (cuts[:, 0] * span).astype(np.int64),
            arrive_head + (cuts[:, 1] * span).astype(np.int64),
        ],
        axis=1,
    )
    gaps = np.where(_u(rng, (H, 3)) < 0.35, rng.integers(1, 300, (H, 3)), 0)
    ends = np.empty((H, 3), dtype=np.int64)
    ends[:, :2] = starts[:, 1:] - 1 - gaps[:, 1:]
    ends[:, 2] = today  # replaced by ongoing / lapsed below
    # the last period of each household: ongoing, or (6 %) lapsed before the decision date
    last = n_periods - 1
    lapsed = _u(rng, H) < 0.06
    ends[np.arange(H), last] = np.where(
        lapsed, today - rng.integers(1, 200, H), np.iinfo(np.int64).max
    )
    ends = np.maximum(ends, starts)
    other_county = (county + 1 + rng.integers(0, ncounty - 1, (H, 3)).T).T % ncounty
    pcounty = np.where(_u(rng, (H, 3)) < 0.6, county[:, None], other_county)
    pcounty[np.arange(H), last] = county
    # when each person's history starts
    arrive = np.repeat(arrive_head[:, None], S, axis=1)
    arrive[:, _FATHER] = arrive_head + (_u(rng, H) * span).astype(np.int64)
    arrive[:, _MOTHER] = arrive[:, _FATHER]
    joined = today - _years(rng, 0.1, 10.0, H)  # a native's migrant relative came
    arrive = np.where(migrant[:, None], arrive, joined[:, None])
    arrive = np.maximum(arrive, birth)
    p_arrive = per(arrive)
    p_native = ~p_mig
    history_known = ~_unknown(rng, n, 0.03)
    # natives: one ongoing period since birth; migrants: the template from arrival on.
    # Column 0 is a native's period, 1-3 a migrant's: flattened row by row, a person's
    # periods come out together and in time order.
    never = np.iinfo(np.int64).max
    take = np.zeros((n, 4), dtype=np.bool_)
    st = np.empty((n, 4), dtype=np.int64)
    en = np.empty((n, 4), dtype=np.int64)
    co = np.empty((n, 4), dtype=np.int64)
    take[:, 0] = history_known & resident & p_native
    st[:, 0], en[:, 0], co[:, 0] = p_birth, never, p_county
    mig_rows = history_known & resident & p_mig
    for k in range(3):
        e_k = ends[hh, k]
        take[:, k + 1] = mig_rows & (n_periods[hh] > k) & (e_k >= p_arrive)
        st[:, k + 1] = np.maximum(starts[hh, k], p_arrive)
        en[:, k + 1] = e_k
        co[:, k + 1] = pcounty[hh, k]
    ev = np.where(
        p_native[:, None],
        _EVIDENCE.index("other"),
        _cat(rng, n * 4, [0.6, 0.33, 0.07]).reshape(n, 4),
    )
    m = take.reshape(-1)
    r_end = en.reshape(-1)[m]
    r_open = r_end == never
    periods = pa.table(
        [
            pa.array(np.repeat(pid, 4)[m], pa.int64()),
            _dates(st.reshape(-1)[m]),
            _dates(np.where(r_open, 0, r_end), r_open),
            _strings(codes.codes, codes.jiaxing[co.reshape(-1)[m]]),
            _strings(_EVIDENCE, ev.reshape(-1)[m]),
        ],
        schema=TABLES["residence_periods"],
    )

    # -- residence permit and registration (migrants living in Jiaxing)
    permit = resident & p_mig & (age >= 16) & (_u(rng, n) < np.where(slot >= _FATHER, 0.45, 0.62))
    permit_county = np.where(
        _u(rng, n) < 0.92, p_county, (p_county + 1 + rng.integers(0, ncounty - 1, n)) % ncounty
    )
    since = np.minimum(np.maximum(p_arrive, p_birth + int(16 * _YEAR)), today)  # from 16 on
    issued = since + ((today - since) * _u(rng, n)).astype(np.int64)
    registration = resident & p_mig & (_u(rng, n) < 0.8)
    lives_in = np.where(resident, codes.jiaxing[p_county], p_origin_now)

    # -- hukou
    p_kind = np.where(p_mig, outside, hhv(head_kind))
    p_kind = np.where(~p_mig & (slot >= _FATHER), _KINDS.index("own_family_household"), p_kind)
    other_j = (p_county + 1 + rng.integers(0, ncounty - 1, n)) % ncounty
    hukou_county = np.where(
        p_mig, p_origin_now, codes.jiaxing[np.where(_u(rng, n) < 0.93, p_county, other_j)]
    )
    ur_urban = _cat(rng, n, _URBAN_P)
    ur_rural = len(_URBAN_CODES) + _cat(rng, n, _RURAL_P)
    hukou_urban = np.where(p_mig, _u(rng, n) < 0.3, p_urban)
    hukou_ur = np.where(hukou_urban, ur_urban, ur_rural)
    township = rng.integers(0, len(pools.townships), n)
    community = rng.integers(0, len(pools.communities), n)
    in_anchor = np.isin(p_kind, _ANCHOR)
    family_kind = np.isin(
        p_kind, [_KINDS.index("own_family_household"), _KINDS.index("relative_family_household")]
    )
    loss_hh = _cat(rng, H, [0.93, 0.02, 0.02, 0.015, 0.01, 0.005])
    loss = np.where(family_kind & (slot <= _SPOUSE), hhv(loss_hh), 0)
    rural = np.where(p_mig, hhv(_u(rng, H) < 0.7), ~hukou_urban & (_u(rng, n) < 0.3))
    town_since = np.where(
        p_mig, p_arrive - _years(rng, 0.0, 5.0, n), today - _years(rng, 0.0, 20.0, n)
    )
    town_since = np.maximum(town_since, p_birth + int(16 * _YEAR))
    town_null = ~(rural & p_adult) | (town_since > today) | _unknown(rng, n, 0.04)
    fam_together = np.where(p_mig, hhv(_u(rng, H) < 0.45), False)

    # -- dwellings: the household's own flat, listed by the head and the spouse with
    #    them; a second one (a home at the origin, a rural house); the parents' own flat
    #    when they live apart; an adult child's own when living apart
    hh_tenure = np.where(
        migrant,
        _cat(rng, H, [0.05, 0.22, 0.33, 0.40]),
        _cat(rng, H, [0.07, 0.83, 0.05, 0.05]),
    )
    lost_head = loss_hh > 0
    hh_tenure = np.where(lost_head & (_u(rng, H) < 0.6), 0, hh_tenure)  # §4.4: no flat left
    commercial_p = np.select(
        [hh_tenure == 1, hh_tenure == 2, hh_tenure == 3],
        [np.where(migrant, 0.95, np.where(urban, 0.75, 0.1)), np.full(H, 0.8), np.full(H, 0.6)],
        0.0,
    )
    hh_commercial = _u(rng, H) < commercial_p
    hh_ur = np.where(urban, _cat(rng, H, _URBAN_P), len(_URBAN_CODES) + _cat(rng, H, _RURAL_P))
    hh_town = rng.integers(0, len(pools.townships), H)
    hh_comm = rng.integers(0, len(pools.communities), H)
    second = _u(rng, H) < 0.08
    parents_flat = _u(rng, H) < 0.8
    own_flat = _u(rng, n) < 0.6
    # one column per kind of listing; flattened row by row, a person's dwellings come
    # out together and in list order (seq)
    fields = ("take", "id", "seq", "tenure", "commercial", "county", "ur", "town", "comm")
    dm: dict[str, Array] = {
        k: np.zeros((n, 4), dtype=np.bool_ if k == "take" else np.int64) for k in fields
    }

    def listing(k: int, **values: Array | int | bool) -> None:
        for key, v in values.items():
            dm[key][:, k] = v

    dwellings_known = ~_unknown(rng, n, 0.03)
    base = hh_global[hh] * 8
    listing(
        0,
        take=dwellings_known
        & ((slot == _HEAD) | ((slot == _SPOUSE) & p_with))
        & (hhv(hh_tenure) > 0),
        id=base + 7,
        seq=0,
        tenure=hhv(hh_tenure),
        commercial=hhv(hh_commercial),
        county=codes.jiaxing[p_county],
        ur=hhv(hh_ur),
        town=hhv(hh_town),
        comm=hhv(hh_comm),
    )
    listing(
        1,
        take=dwellings_known & (slot == _HEAD) & hhv(second),
        id=base,
        seq=(hhv(hh_tenure) > 0).astype(np.int64),
        tenure=1,
        commercial=False,
        county=np.where(p_mig, p_origin_now, codes.jiaxing[other_j]),
        ur=len(_URBAN_CODES) + 1,
        town=township,
        comm=community,
    )
    # the parents' own flat (both list it) when they live apart from the head
    listing(
        2,
        take=dwellings_known & (slot >= _FATHER) & ~p_with & hhv(parents_flat),
        id=base + 5,
        seq=0,
        tenure=1,
        commercial=hhv(urban),
        county=np.where(p_mig, p_origin_now, codes.jiaxing[p_county]),
        ur=hukou_ur,
        town=township,
        comm=community,
    )
    listing(
        3,
        take=dwellings_known
        & (slot >= _CHILDREN[0])
        & (slot <= _CHILDREN[-1])
        & p_adult
        & ~p_with
        & own_flat,
        id=base + slot,
        seq=0,
        tenure=np.where(_u(rng, n) < 0.5, 1, 2 + (_u(rng, n) < 0.5)),
        commercial=_u(rng, n) < 0.8,
        county=np.where(p_mig, p_origin_now, codes.jiaxing[p_county]),
        ur=np.where(p_urban, ur_urban, ur_rural),
        town=township,
        comm=community,
    )
    m = dm["take"].reshape(-1)
    d = {k: v.reshape(-1)[m] for k, v in dm.items() if k != "take"}
    nd = int(m.sum())
    d_county_null = _unknown(rng, nd, 0.01)
    dwellings = pa.table(
        [
            pa.array(np.repeat(pid, 4)[m], pa.int64()),
            pa.array(d["id"], pa.int64()),
            pa.array(d["seq"].astype(np.int32), pa.int32()),
            _strings(_TENURES, d["tenure"] - 1, _unknown(rng, nd, 0.02)),
            _bools(d["commercial"], _unknown(rng, nd, 0.02)),
            _strings(codes.codes, d["county"], d_county_null),
            _strings(_UR_CODES, d["ur"], d_county_null | _unknown(rng, nd, 0.02)),
            _take(pools.townships, d["town"], d_county_null),
            _take(pools.communities, d["comm"], d_county_null),
        ],
        schema=TABLES["dwellings"],
    )

    # -- relations: every pair of the household both ways; a pair lives together when
    #    both live with the head (the head's parents with each other always). Pairs in
    #    slot order: flattened row by row, rows come sorted by (person_id, relative_id).
    words = ["spouse", "child", "parent"]
    pairs = sorted(_PAIRS)
    pa_ = np.array([p[0] for p in pairs])
    pb_ = np.array([p[1] for p in pairs])
    rel_a = pid_slots[:, pa_]
    rel_b = pid_slots[:, pb_]
    both = ((rel_a >= 0) & (rel_b >= 0)).reshape(-1)
    parents = np.array([{a, b} == {_FATHER, _MOTHER} for a, b, _ in pairs])
    together = (with_head[:, pa_] & with_head[:, pb_] | parents).reshape(-1)[both]
    rel_a = rel_a.reshape(-1)[both]
    rel_b = rel_b.reshape(-1)[both]
    rel_w = np.tile(np.array([words.index(p[2]) for p in pairs]), H)[both]
    # unknown lives_with on both rows of a pair alike: key the draw on the unordered pair
    lo_ = np.minimum(rel_a, rel_b)
    hi_ = np.maximum(rel_a, rel_b)
    rel_null = ((lo_ * 2654435761 + hi_ * 40503) % 1000) < 20
    relations = pa.table(
        [
            pa.array(rel_a, pa.int64()),
            pa.array(rel_b, pa.int64()),
            _strings(words, rel_w),
            _bools(together, rel_null),
        ],
        schema=TABLES["relations"],
    )

    # -- persons

    def u(rate: float) -> Array:
        return _unknown(rng, n, rate)

    anchor_null = ~in_anchor
    # drawn from a stream of their own, so that adding them changed no other column
    extra = np.random.default_rng(np.random.SeedSequence([seed, block, 1]))
    reg_since = since + ((today - since) * extra.random(n)).astype(np.int64)
    reg_null = ~registration | (extra.random(n) < 0.1)  # some registrations without a date
    poor = rural & p_mig & (extra.random(n) < 0.04)
    poor_null = extra.random(n) < 0.03
    persons = pa.table(
        [
            pa.array(pid, pa.int64()),
            id_number,
            name,
            _strings(_SEX, (~p_male).astype(np.int64)),
            _dates(p_birth),
            _strings(_EDU, edu, u(0.03)),
            _strings(_TITLE, title, u(0.03)),
            _strings(_VOC, voc, u(0.03)),
            _bools(sv_grad, u(0.02)),
            _dates(grad_date, grad_null),
            _bools(labour, u(0.04)),
            _bools(business, u(0.03)),
            _strings(codes.codes, lives_in, u(0.01)),
            _bools(registration, u(0.03)),
            _bools(permit, u(0.03)),
            _strings(codes.codes, codes.jiaxing[permit_county], ~permit),
            _dates(issued, ~permit | u(0.05)),
            _strings(_KINDS, p_kind, u(0.01)),
            _strings(codes.codes, hukou_county, u(0.01)),
            _strings(_UR_CODES, hukou_ur, u(0.03)),
            _take(pools.townships, township, p_mig),
            _take(pools.communities, community, p_mig),
            _bools(_u(rng, n) < 0.75, anchor_null | u(0.03)),
            _bools(_u(rng, n) < 0.6, anchor_null | u(0.03)),
            _strings(_LOSS, loss, u(0.02)),
            _bools(rural, u(0.03)),
            _dates(town_since, town_null),
            _bools(fam_together, ~p_mig | u(0.03)),
            _bools(_u(rng, n) < 0.08, u(0.03)),
            _bools(_u(rng, n) < 0.12, u(0.03)),
            _bools(_u(rng, n) < np.where(college, 0.5, 0.1), u(0.03)),
            _bools(dwellings_known),
            _bools(history_known),
            _dates(reg_since, reg_null),
            _strings(codes.codes, codes.jiaxing[p_county], reg_null),
            _bools(poor, poor_null),
        ],
        schema=TABLES["persons"],
    )
    tables = {
        "persons": persons,
        "relations": relations,
        "dwellings": dwellings,
        "residence_periods": periods,
    }
    if first_id + n_all > limit:
        # the last block: drawn whole (so a population is a prefix of a larger one), then
        # cut to the people asked for, with their relations to those cut away
        cut = pa.scalar(limit, pa.int64())
        for key, table in tables.items():
            keep = pc.less(table["person_id"], cut)
            if key == "relations":
                keep = pc.and_(keep, pc.less(table["relative_id"], cut))
            tables[key] = table.filter(keep)
    return _Block(tables, n_all)


# ---------------------------------------------------------------------------- the files


# DuckDB (and Spark) read a Parquet file one row group per thread: a million-row group
# is read by one core. 128 Ki rows keeps each group large enough to compress well.
ROW_GROUP_ROWS = 131_072


def generate(
    people: int,
    seed: int,
    out: Path,
    *,
    on: dt.date = DEFAULT_ON,
    chunk: int = 1_000_000,
    progress: Callable[[int], None] | None = None,
) -> dict[str, int]:
    """Write a synthetic population of ``people`` people into ``out`` (one Parquet file
    per table of ``layout.TABLES``, ``<table>.parquet``), as it stands on ``on``; returns
    the number of rows written per table.

    At most ``chunk`` people (rounded up to whole blocks of households) are held and
    written at a time, in row groups of at most ``ROW_GROUP_ROWS`` rows; ``progress`` is called after each write
    with the number of people it wrote. The files' content depends on ``people``,
    ``seed`` and ``on`` only; the same arguments give the same bytes.
    """
    if people < 0:
        raise ValueError("people must be >= 0")
    if chunk < 1:
        raise ValueError("chunk must be >= 1")
    if on > dt.date.today():
        raise ValueError("on must not be in the future (birth dates would be)")
    out.mkdir(parents=True, exist_ok=True)
    pools = _pools(seed)
    counts = dict.fromkeys(TABLES, 0)
    writers = {
        name: pq.ParquetWriter(
            out / f"{name}.parquet",
            schema,
            compression="zstd",
            # dictionaries only where values repeat (codes, enumerations, names)
            use_dictionary=[
                f.name for f in schema if pa.types.is_string(f.type) and f.name != "id_number"
            ],
        )
        for name, schema in TABLES.items()
    }

    def write(parts: dict[str, list[pa.Table]], held: int) -> None:
        for name, tables in parts.items():
            table = pa.concat_tables(tables)
            writers[name].write_table(table, row_group_size=ROW_GROUP_ROWS)
            counts[name] += table.num_rows
        if progress is not None:
            progress(held)

    # One thread writes (compresses) a chunk while the next is drawn; at most two
    # chunks are in memory, and the writes keep their order.
    with ThreadPoolExecutor(max_workers=1) as pool:
        try:
            pending: Future[None] | None = None
            parts: dict[str, list[pa.Table]] = {name: [] for name in TABLES}
            held = done = block = 0
            while done < people:
                b = _block(seed, block, done, people, on, pools)
                for name, table in b.tables.items():
                    parts[name].append(table)
                got = min(b.people, people - done)
                done += got
                held += got
                block += 1
                if held >= chunk or done >= people:
                    if pending is not None:
                        pending.result()
                    pending = pool.submit(write, parts, held)
                    parts = {name: [] for name in TABLES}
                    held = 0
            if pending is not None:
                pending.result()
        finally:
            for w in writers.values():
                w.close()
    return counts
