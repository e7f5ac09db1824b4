"""Compiled rule code kept between runs (规则代码缓存), as ``__pycache__`` keeps modules.

``codegen`` writes each named condition of the rules as Python source and compiles it;
compiling the ~100 functions one decision needs costs about 30 ms, a tenth of the
command line's start-up budget (issue 14). The source of a rule is the same in every
process (memo keys and objects are bound in the namespace, never written into it), so
its code object is cached here by a digest of the source, its file label and the
interpreter's optimisation level: one ``marshal`` file per Python bytecode version in the
user's cache folder (``policy.regions.cache_dir``). A changed rule or parameter gives a
new source, hence a new entry; nothing is ever stale.

Code read from disk is executed, so the file is trusted only as the user's own
``__pycache__`` is: read only if it belongs to this user and nobody else can write it
(``regions.read_private``), written privately (0600 in a 0700 folder). Anything doubtful
is ignored and the source compiled. New entries are merged into the file at exit, whole
file replaced at once (two processes ending together may each keep only their own: an
entry lost is compiled again next time).
"""

from __future__ import annotations

import atexit
import hashlib
import importlib.util
import marshal
import sys
import threading
from pathlib import Path
from types import CodeType

from hukou.policy.regions import cache_dir, read_private, write_private

MAX_ENTRIES = 20_000  # about 40 MB at most; a full rule set uses a few hundred

_lock = threading.Lock()
_codes: dict[str, bytes] | None = None
_new: dict[str, bytes] = {}
_hooked = False


def _path() -> Path | None:
    folder = cache_dir()
    if folder is None:
        return None
    magic = importlib.util.MAGIC_NUMBER.hex()
    return folder / f"rules-{sys.implementation.cache_tag}-{magic}.marshal"


def _read(path: Path | None) -> dict[str, bytes]:
    blob = read_private(path) if path is not None else None
    if blob is None:
        return {}
    try:
        loaded = marshal.loads(blob)
    except (ValueError, EOFError, TypeError):
        return {}
    if not isinstance(loaded, dict):
        return {}
    return {k: v for k, v in loaded.items() if isinstance(k, str) and isinstance(v, bytes)}


def _load() -> dict[str, bytes]:
    global _codes
    if _codes is None:
        _codes = _read(_path())
    return _codes


def compiled(source: str, filename: str) -> CodeType:
    """``compile(source, filename, "exec")``, from the cache when it holds it."""
    global _hooked
    key = hashlib.sha256(f"{sys.flags.optimize}\0{filename}\0{source}".encode()).hexdigest()
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
        if not _hooked:
            atexit.register(save)
            _hooked = True
        _new[key] = _load()[key] = marshal.dumps(code)
    return code


def save() -> None:
    """Merge this process's new entries into the cache file (at exit)."""
    with _lock:
        path = _path()
        if not _new or path is None:
            _new.clear()
            return
        merged = {**_read(path), **_new}
        if len(merged) > MAX_ENTRIES:  # keep this run's and the newest others
            keep = list(merged)[-MAX_ENTRIES:]
            merged = {k: merged[k] for k in keep}
        _new.clear()
        write_private(path, marshal.dumps(merged))
