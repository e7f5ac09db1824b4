"""The clause map (条款) of CLAUSES.md, as data shipped with the package."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources

from hukou.policy.yamlfile import load_yaml


@dataclass(frozen=True)
class Clause:
    id: str
    zh: str
    en: str
    elsewhere: str  # where a clause that is not a decision rule is carried out


@cache
def clause_table() -> dict[str, Clause]:
    text = (resources.files("hukou.policy") / "data" / "clauses.yaml").read_text("utf-8")
    out = {}
    for cid, v in load_yaml(text).items():
        out[str(cid)] = Clause(str(cid), str(v["zh"]), str(v["en"]), str(v.get("elsewhere", "")))
    return out
