"""Compiled population queries kept between runs (查询缓存), as ``engine.codecache`` keeps
the per-case rule code.

Compiling a reform's comparison query through Ibis to SQL takes seconds (issue 15: on the
5,000-person demo ~5 s of a 6 s run, the SQL being ~2 MB); running it takes well under a
second. The SQL is a pure function of

* the code that writes it — the rules and their data (``hukou/policy``), the compiler
  (``analytics.compile``, ``batch``, ``reform``, ``layout``), Ibis and sqlglot;
* the parameters resolved on the decision date, baseline and reform (their digests),
  the decision date itself and the age bands of the cube;
* the backend's dialect and the names and schemas of the population tables it reads;

so an entry is keyed by a digest of all of these (``key``): a changed rule, parameter,
date or table gives a new key, hence a miss; nothing is ever stale. Each entry is one
file ``<key>.sql.z`` (zlib-compressed JSON: the key again, the SQL, the Arrow schema of
its result and named column lists) in ``sql/`` of the user's cache folder
(``policy.regions.cache_dir``); at most ``MAX_ENTRIES`` files, the least recently used
removed first.

SQL read from disk is executed, so a file is trusted only as ``codecache`` trusts its own:
read only if it belongs to this user and nobody else can write it
(``regions.read_private``), written privately. A file that cannot be read, decoded, or
is for another key is ignored (and replaced by the next compile).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pyarrow as pa

from hukou.policy.regions import cache_dir, read_private, write_private

FORMAT = 1
MAX_ENTRIES = 64  # a few MB each compressed to ~100 KB
SUFFIX = ".sql.z"

# the analytics modules whose code writes the SQL (besides everything under hukou/policy)
COMPILER_MODULES = ("compile.py", "batch.py", "reform.py", "layout.py", "sqlcache.py")


@dataclass(frozen=True)
class CompiledQuery:
    """A query's SQL in one dialect, the Arrow schema of its result, and named lists of
    column names (say, which columns belong to which cube)."""

    sql: str
    schema: pa.Schema
    columns: dict[str, list[str]] = field(default_factory=dict)


def _files(root: Path, pattern: str) -> Iterable[Path]:
    return sorted(p for p in root.rglob(pattern) if "__pycache__" not in p.parts and p.is_file())


@cache
def source_digest() -> str:
    """A digest of the code that writes the SQL: every file of ``hukou/policy`` (rules,
    parameters, places, scales), the compiler modules of ``hukou/analytics``, and the
    versions of Ibis and sqlglot. Computed once per process (~2 ms)."""
    import ibis  # type: ignore[import-untyped, unused-ignore]
    import sqlglot

    import hukou

    here = Path(__file__).resolve().parent
    policy = here.parent / "policy"
    h = hashlib.sha256()
    versions = (hukou.__version__, ibis.__version__, getattr(sqlglot, "__version__", "?"))
    h.update(f"{FORMAT}\0{versions}".encode())
    paths = [*_files(policy, "*"), *(here / name for name in COMPILER_MODULES)]
    for path in paths:
        h.update(b"\0" + str(path.relative_to(here.parent)).encode() + b"\0")
        try:
            h.update(path.read_bytes())
        except OSError:
            h.update(b"?")
    return h.hexdigest()


def key(dialect: str, tables: Mapping[str, Any], parts: Sequence[str]) -> str:
    """The key of a query in ``dialect`` over ``tables`` (Ibis tables: their names as the
    SQL reads them and their schemas), given ``parts`` (parameter digests, dates, … —
    everything else the query depends on)."""
    h = hashlib.sha256()
    h.update(source_digest().encode())
    h.update(f"\0{dialect}".encode())
    for name in sorted(tables):
        table = tables[name]
        h.update(f"\0{name}\0{table.get_name()}\0{table.schema()!r}".encode())
    for part in parts:
        h.update(f"\0{part}".encode())
    return h.hexdigest()


def folder() -> Path | None:
    base = cache_dir()
    return None if base is None else base / "sql"


def _path(k: str) -> Path | None:
    base = folder()
    return None if base is None else base / f"{k}{SUFFIX}"


def _schema_to_text(schema: pa.Schema) -> str:
    return base64.b64encode(schema.serialize().to_pybytes()).decode("ascii")


def _schema_from_text(text: str) -> pa.Schema:
    return pa.ipc.read_schema(pa.py_buffer(base64.b64decode(text, validate=True)))


def load(k: str) -> CompiledQuery | None:
    """The entry of key ``k``; None when there is none or it cannot be trusted or read."""
    path = _path(k)
    blob = read_private(path) if path is not None else None
    if blob is None:
        return None
    try:
        data = json.loads(zlib.decompress(blob))
        if not isinstance(data, dict) or data.get("format") != FORMAT or data.get("key") != k:
            return None
        sql, columns = data["sql"], data["columns"]
        if not isinstance(sql, str) or not isinstance(columns, dict):
            return None
        if not all(
            isinstance(v, list) and all(isinstance(c, str) for c in v) for v in columns.values()
        ):
            return None
        entry = CompiledQuery(sql, _schema_from_text(data["schema"]), columns)
    except (ValueError, TypeError, KeyError, OSError, zlib.error, pa.ArrowException):
        return None
    if path is not None:
        with contextlib.suppress(OSError):
            os.utime(path)  # recently used: kept longest
    return entry


def store(k: str, entry: CompiledQuery) -> None:
    """Keep ``entry`` under key ``k`` (nothing on any error: the cache is an optimisation);
    drop the least recently used entries beyond ``MAX_ENTRIES``."""
    path = _path(k)
    if path is None:
        return
    data = {
        "format": FORMAT,
        "key": k,
        "sql": entry.sql,
        "schema": _schema_to_text(entry.schema),
        "columns": entry.columns,
    }
    write_private(path, zlib.compress(json.dumps(data).encode(), 6))
    _evict(path.parent)


def _evict(where: Path) -> None:
    try:
        entries = [(p.stat().st_mtime, p) for p in where.glob(f"*{SUFFIX}")]
    except OSError:
        return
    entries.sort(reverse=True)
    for _mtime, stale in entries[MAX_ENTRIES:]:
        with contextlib.suppress(OSError):
            stale.unlink()
