"""GB/T 2260 address codes (行政区划代码), from python-stdnum's ``cn/loc`` table.

An ID number's first six digits and a county outside Jiaxing are checked against this
table. stdnum parses the whole file (6,885 codes) on first use, about 50 ms — a sixth of
the command line's start-up budget — so the flat map it yields (code → stdnum's county
entry, e.g. ``"[1983-1992]城区,[1993-2004]秀城区,[2005-]南湖区"``) is kept as JSON in the
user's cache folder, keyed by a digest of stdnum's table and this module's format.

The cache is an optimisation only, and never trusted further than the user's own files:
the folder is made private (0700), a file is read only if it belongs to this user and
nobody else may write it, and its content is checked (six-digit codes to strings). Any
doubt — no home folder, an unwritable folder, a foreign or damaged file — and the table is
read from stdnum as if there were no cache.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import stat
import tempfile
from functools import cache
from pathlib import Path

FORMAT = 1  # of the JSON written here; a new format is a new file


def cache_dir() -> Path | None:
    """``$HUKOU_CACHE_DIR``, else ``$XDG_CACHE_HOME/hukou``, else ``~/.cache/hukou``;
    None when there is no home folder to put it in (a bare container)."""
    found = os.environ.get("HUKOU_CACHE_DIR")
    if found:
        return Path(found)
    base = os.environ.get("XDG_CACHE_HOME")
    if not base:
        try:
            base = str(Path.home() / ".cache")
        except (RuntimeError, KeyError):
            return None
    return Path(base) / "hukou"


def read_private(path: Path) -> bytes | None:
    """The bytes of a cache file if it is this user's own and nobody else can write it;
    None otherwise (missing, foreign, group- or world-writable, unreadable)."""
    try:
        with path.open("rb") as f:
            st = os.fstat(f.fileno())
            if not stat.S_ISREG(st.st_mode) or st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
                return None
            geteuid = getattr(os, "geteuid", None)  # POSIX; elsewhere the mode check only
            if geteuid is not None and st.st_uid != geteuid():
                return None
            return f.read()
    except OSError:
        return None


def write_private(path: Path, data: bytes) -> None:
    """Write a cache file whole or not at all (a temporary file renamed over it), in a
    private folder, mode 0600; nothing on any error (the cache is only an optimisation)."""
    tmp: str | None = None
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, delete=False, suffix=".tmp") as f:
            tmp = f.name
            f.write(data)
        os.replace(tmp, path)
        tmp = None
    except OSError:
        pass
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def _from_stdnum() -> dict[str, str]:
    from stdnum import numdb

    codes: dict[str, str] = {}
    # two levels: province (2 digits), then the rest of the code (4 digits)
    for _length, province, _high, _props, children in numdb.get("cn/loc").prefixes:
        for _l, rest, _h, props, _c in children:
            if props.get("county"):
                codes[province + rest] = props["county"]
    return codes


def _valid(loaded: object) -> bool:
    return (
        isinstance(loaded, dict)
        and bool(loaded)
        and all(
            isinstance(k, str) and len(k) == 6 and k.isdigit() and isinstance(v, str) and v
            for k, v in loaded.items()
        )
    )


def _stdnum_table() -> bytes | None:
    """The bytes of stdnum's ``cn/loc.dat``, found without importing stdnum (its package
    loads ``ssl`` and ``pydoc``, about 5 ms of the command line's start-up)."""
    try:
        spec = importlib.util.find_spec("stdnum")
        folders = list(spec.submodule_search_locations or []) if spec else []
        for folder in folders:
            path = Path(folder) / "cn" / "loc.dat"
            if path.is_file():
                return path.read_bytes()
        from importlib import resources

        return (resources.files("stdnum") / "cn" / "loc.dat").read_bytes()  # e.g. a zip
    except (OSError, ImportError, ValueError):
        return None


@cache
def address_codes() -> dict[str, str]:
    """Every six-digit code stdnum's table knows at county level, with its dated names."""
    folder = cache_dir()
    if folder is None:
        return _from_stdnum()
    table = _stdnum_table()
    if table is None:
        return _from_stdnum()
    digest = hashlib.sha256(table + f"\0format {FORMAT}".encode()).hexdigest()[:16]
    path = folder / f"stdnum-cn-loc-{digest}.json"
    blob = read_private(path)
    if blob is not None:
        try:
            loaded = json.loads(blob)
        except ValueError:
            loaded = None
        if _valid(loaded):
            return loaded  # type: ignore[no-any-return]
    codes = _from_stdnum()
    write_private(path, json.dumps(codes, ensure_ascii=False, separators=(",", ":")).encode())
    return codes


def county_entry(code: str) -> str:
    """stdnum's county entry for a six-digit code ("" when unknown at county level)."""
    return address_codes().get(code, "")
