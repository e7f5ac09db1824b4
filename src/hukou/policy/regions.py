"""GB/T 2260 address codes (行政区划代码), from python-stdnum's ``cn/loc`` table.

An ID number's first six digits and a county outside Jiaxing are checked against this
table. stdnum parses the whole file (6,885 codes) on first use, about 50 ms — a sixth of
the command line's start-up budget — so the flat map it yields (code → stdnum's county
entry, e.g. ``"[1983-1992]城区,[1993-2004]秀城区,[2005-]南湖区"``) is kept as JSON in the
user's cache folder, one file per stdnum version and table size. Nothing else is
cached: a missing, unreadable or stale file is rebuilt from stdnum; a folder that cannot
be written is simply not used.
"""

from __future__ import annotations

import json
import os
import tempfile
from functools import cache
from importlib import resources
from pathlib import Path


def cache_dir() -> Path:
    """``$HUKOU_CACHE_DIR``, else ``$XDG_CACHE_HOME/hukou``, else ``~/.cache/hukou``."""
    found = os.environ.get("HUKOU_CACHE_DIR")
    if found:
        return Path(found)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "hukou"


def _from_stdnum() -> dict[str, str]:
    from stdnum import numdb

    codes: dict[str, str] = {}
    # two levels: province (2 digits), then the rest of the code (4 digits)
    for _length, province, _high, _props, children in numdb.get("cn/loc").prefixes:
        for _l, rest, _h, props, _c in children:
            if props.get("county"):
                codes[province + rest] = props["county"]
    return codes


@cache
def address_codes() -> dict[str, str]:
    """Every six-digit code stdnum's table knows at county level, with its dated names."""
    import stdnum

    table = resources.files("stdnum") / "cn" / "loc.dat"
    try:
        size = len(table.read_bytes())
    except OSError:
        size = 0
    path = cache_dir() / f"stdnum-{stdnum.__version__}-cn-loc-{size}.json"
    try:
        loaded = json.loads(path.read_text("utf-8"))
        if isinstance(loaded, dict) and loaded:
            return loaded
    except (OSError, ValueError):
        pass
    codes = _from_stdnum()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(
            "w", encoding="utf-8", dir=path.parent, delete=False, suffix=".tmp"
        ) as tmp:
            json.dump(codes, tmp, ensure_ascii=False, separators=(",", ":"))
        os.replace(tmp.name, path)  # whole or not at all: readers never see half a file
    except OSError:
        pass
    return codes


def county_entry(code: str) -> str:
    """stdnum's county entry for a six-digit code ("" when unknown at county level)."""
    return address_codes().get(code, "")
