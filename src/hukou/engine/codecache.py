"""Compiled rule code kept between runs (规则代码缓存), as ``__pycache__`` keeps modules.

``codegen`` writes each named condition of the rules as Python source and compiles it;
compiling the ~100 functions one decision needs costs about 30 ms, a tenth of the
command line's start-up budget (issue 14). The source of a rule is the same in every
process (memo keys and objects are bound in the namespace, never written into it), so
its code object is cached here by the source's digest: one ``marshal`` file per Python
bytecode version in the user's cache folder (``policy.regions.cache_dir``). A changed
rule or parameter gives a new source, hence a new entry; nothing is ever stale. A file
that cannot be read is ignored, one that cannot be written is not written; new entries
are merged into the file at exit (whole file replaced at once).
"""

from __future__ import annotations

import atexit
import hashlib
import importlib.util
import marshal
import os
import sys
import tempfile
import threading
from pathlib import Path
from types import CodeType

from hukou.policy.regions import cache_dir

MAX_ENTRIES = 20_000  # about 40 MB at most; a full rule set uses a few hundred

_lock = threading.Lock()
_codes: dict[str, bytes] | None = None
_new: dict[str, bytes] = {}


def _path() -> Path:
    magic = importlib.util.MAGIC_NUMBER.hex()
    return cache_dir() / f"rules-{sys.implementation.cache_tag}-{magic}.marshal"


def _read(path: Path) -> dict[str, bytes]:
    try:
        loaded = marshal.loads(path.read_bytes())
    except (OSError, ValueError, EOFError, TypeError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def _load() -> dict[str, bytes]:
    global _codes
    if _codes is None:
        _codes = _read(_path())
    return _codes


def compiled(source: str, filename: str) -> CodeType:
    """``compile(source, filename, "exec")``, from the cache when it holds it."""
    key = hashlib.sha256(f"{filename}\0{source}".encode()).hexdigest()
    with _lock:
        blob = _load().get(key)
    if blob is not None:
        try:
            code = marshal.loads(blob)
            if isinstance(code, CodeType):
                return code
        except (ValueError, EOFError, TypeError):
            pass
    code = compile(source, filename, "exec")
    with _lock:
        if not _new:
            atexit.register(save)
        _new[key] = _codes[key] = marshal.dumps(code)  # type: ignore[index]
    return code


def save() -> None:
    """Merge this process's new entries into the cache file (at exit)."""
    with _lock:
        if not _new:
            return
        path = _path()
        merged = {**_read(path), **_new}
        if len(merged) > MAX_ENTRIES:  # keep this run's and the newest others
            keep = list(merged)[-MAX_ENTRIES:]
            merged = {k: merged[k] for k in keep}
        _new.clear()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=path.parent, delete=False, suffix=".tmp") as f:
                f.write(marshal.dumps(merged))
            os.replace(f.name, path)
        except OSError:
            pass
