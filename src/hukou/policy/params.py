"""Dated parameters (参数), OpenFisca style.

Every number and date the rules use lives in ``policy/parameters/*.yaml``: one
file per section of the notice, each parameter with a description, the clause it
comes from and its values keyed by the date they start to apply. A decision
resolves all parameters on its decision date and records which version it used.
A reform is the same tree with some values overridden.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from hukou.policy.scales import rank
from hukou.policy.yamlfile import load_yaml

HERE = Path(__file__).parent  # the package's own files (not importlib.resources: ~4 ms)
FILES = (
    "s1_urban",
    "s2_talent",
    "s3_relatives",
    "s4_registration",
    "s8_in_force",
    "readings",
)


class ParameterError(ValueError):
    """A parameter has no value on the requested date, or a reform names one that does not exist."""


@dataclass(frozen=True)
class Parameter:
    path: str
    description: str
    reference: str
    type: str
    values: tuple[tuple[dt.date, Any], ...]  # (start, value), sorted by start
    scale: str | None = None

    def at(self, on: dt.date) -> Any:
        current: Any = None
        found = False
        for start, value in self.values:
            if start <= on:
                current, found = value, True
        if not found:
            raise ParameterError(f"{self.path}: no value on {on} / {on} 无参数值")
        return current

    def start_on(self, on: dt.date) -> dt.date | None:
        starts = [s for s, _ in self.values if s <= on]
        return max(starts) if starts else None


@dataclass(frozen=True)
class ResolvedParameters:
    """All parameter values on one date, with the version they make up."""

    on: dt.date
    values: dict[str, Any]
    as_of: dt.date | None  # latest start date among the values in force
    digest: str
    ranks: dict[str, int] = field(default_factory=dict)  # level parameters as positions

    def __getitem__(self, path: str) -> Any:
        return self.values[path]


def _coerce(path: str, kind: str, raw: Any) -> Any:
    if kind == "date":
        if isinstance(raw, dt.date):
            return raw
        return dt.date.fromisoformat(str(raw))
    if kind == "int":
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise ParameterError(f"{path}: expected a whole number, got {raw!r} / 须为整数")
        return raw
    if kind == "bool":
        if not isinstance(raw, bool):
            raise ParameterError(f"{path}: expected true/false, got {raw!r} / 须为是或否")
        return raw
    return str(raw)


@dataclass(frozen=True)
class ParameterSet:
    parameters: dict[str, Parameter]

    def at(self, on: dt.date) -> ResolvedParameters:
        return _resolve(self, on)

    def with_overrides(self, overrides: dict[str, dict[dt.date, Any]]) -> ParameterSet:
        """A reform: replace or add dated values of existing parameters."""
        params = dict(self.parameters)
        for path, dated in overrides.items():
            if path not in params:
                raise ParameterError(f"unknown parameter {path} / 无此参数")
            p = params[path]
            values = dict(p.values)
            for start, raw in dated.items():
                values[start] = _coerce(path, p.type, raw)
            params[path] = Parameter(
                p.path, p.description, p.reference, p.type, tuple(sorted(values.items())), p.scale
            )
        return ParameterSet(params)

    def __hash__(self) -> int:
        return id(self)


# (id of a set, date) -> (the set, its values then). The set is kept with its
# values: once a reform's set is garbage, a new set may be given the same id.
_resolved_cache: dict[tuple[int, dt.date], tuple[ParameterSet, ResolvedParameters]] = {}


def _resolve(pset: ParameterSet, on: dt.date) -> ResolvedParameters:
    key = (id(pset), on)
    hit = _resolved_cache.get(key)
    if hit is not None and hit[0] is pset:
        return hit[1]
    values: dict[str, Any] = {}
    ranks: dict[str, int] = {}
    starts: list[dt.date] = []
    for path, p in pset.parameters.items():
        try:
            values[path] = p.at(on)
        except ParameterError:
            continue  # before §8 nothing is in force; the rules report that
        start = p.start_on(on)
        if start:
            starts.append(start)
        if p.scale:
            ranks[path] = rank(p.scale, values[path])
    blob = json.dumps(values, sort_keys=True, default=str).encode()
    resolved = ResolvedParameters(
        on, values, max(starts) if starts else None, hashlib.sha256(blob).hexdigest()[:12], ranks
    )
    if len(_resolved_cache) > 4096:
        _resolved_cache.clear()
    _resolved_cache[key] = (pset, resolved)
    return resolved


def _parse_file(name: str, text: str) -> dict[str, Parameter]:
    tree = load_yaml(text, cache=True) or {}
    out: dict[str, Parameter] = {}
    for key, spec in tree.items():
        path = f"{name}.{key}"
        kind = spec.get("type", "int")
        values = []
        for start, raw in (spec.get("values") or {}).items():
            start_date = start if isinstance(start, dt.date) else dt.date.fromisoformat(str(start))
            values.append((start_date, _coerce(path, kind, raw)))
        out[path] = Parameter(
            path=path,
            description=str(spec.get("description", "")).strip(),
            reference=str(spec.get("reference", "")),
            type=kind,
            values=tuple(sorted(values)),
            scale=spec.get("scale"),
        )
    return out


@cache
def load() -> ParameterSet:
    """The parameters shipped with the package (the law as enacted)."""
    params: dict[str, Parameter] = {}
    folder = HERE / "parameters"
    for name in FILES:
        params.update(_parse_file(name, (folder / f"{name}.yaml").read_text("utf-8")))
    return ParameterSet(params)
