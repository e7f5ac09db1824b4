"""YAML data files (参数与数据文件) read with libyaml's safe loader when PyYAML was built
with it — the same documents give the same values, about ten times faster, which the
command line's start-up feels — else with the pure-Python safe loader.

The package's own data files (the parameters, the jurisdictions, the urban–rural codes)
are read on every ``hukou check``; importing PyYAML alone costs about 8 ms of its
start-up. ``load_yaml(text, cache=True)`` keeps what a document gave in the user's cache
folder (``policy.regions.cache_dir``), as ``marshal`` data keyed by a digest of the text,
so a warm start reads that and never imports PyYAML. A changed document is a new digest,
hence a new entry; nothing is ever stale. The file is trusted as the rule-code cache is
(``regions.read_private``: this user's own, writable by nobody else) and is data only
(``marshal`` of plain values: no code is run); anything doubtful is ignored and the text
parsed. Dates are kept as tagged tuples (a safe-loaded document has no tuples).
"""

from __future__ import annotations

import datetime as dt
import marshal
from typing import Any

FORMAT = 1  # of the cache files written here; a new format is a new name

_PLAIN = (str, int, float, bool, bytes, type(None))
_DATE = "\0date"
_DATETIME = "\0datetime"


class _Unkept(Exception):
    """A value the cache does not keep (parsed anew each time)."""


def _parse(text: str) -> Any:
    import yaml

    loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(text, Loader=loader)


def _pack(value: Any) -> Any:
    if isinstance(value, _PLAIN):
        return value
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            raise _Unkept
        return (_DATETIME, value.isoformat())
    if isinstance(value, dt.date):
        return (_DATE, value.isoformat())
    if isinstance(value, list):
        return [_pack(v) for v in value]
    if isinstance(value, dict):
        return {_pack(k): _pack(v) for k, v in value.items()}
    if isinstance(value, (set, frozenset)):
        return type(value)(_pack(v) for v in value)
    raise _Unkept


def _unpack(value: Any) -> Any:
    if isinstance(value, tuple):
        tag, text = value
        if tag == _DATE:
            return dt.date.fromisoformat(text)
        if tag == _DATETIME:
            return dt.datetime.fromisoformat(text)
        raise ValueError(tag)
    if isinstance(value, list):
        return [_unpack(v) for v in value]
    if isinstance(value, dict):
        return {_unpack(k): _unpack(v) for k, v in value.items()}
    if isinstance(value, (set, frozenset)):
        return type(value)(_unpack(v) for v in value)
    return value


def load_yaml(text: str, *, cache: bool = False) -> Any:
    """``yaml.safe_load``, through libyaml when available; with ``cache``, what the text
    gave last time when the user's cache folder has it (module doc)."""
    if not cache:
        return _parse(text)
    import hashlib

    from hukou.policy.regions import cache_dir, read_private, write_private

    folder = cache_dir()
    if folder is None:
        return _parse(text)
    digest = hashlib.sha256(f"format {FORMAT}\0{text}".encode()).hexdigest()[:24]
    path = folder / f"yaml-{digest}.marshal"
    blob = read_private(path)
    if blob is not None:
        try:
            return _unpack(marshal.loads(blob))
        except (ValueError, EOFError, TypeError):
            pass
    value = _parse(text)
    try:
        packed = marshal.dumps(_pack(value))
    except (_Unkept, ValueError):
        return value
    write_private(path, packed)
    return value
