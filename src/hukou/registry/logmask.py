"""Personal data never reaches a log (日志脱敏): ID numbers and names are masked in every
log record the process makes, whichever logger or handler it goes to.

``install()`` (idempotent) wraps the logging module's record factory: each new record's
message, its arguments (strings, and the values of dicts, lists and tuples, recursively)
and its exception text are masked before any handler sees them —

* an 18-character ID number anywhere in the text (``330402********123X``, as
  ``hukou.privacy.mask_id``);
* a name given as a field: ``name=…``, ``"name": "…"``, ``applicant_name``, ``姓名：…``
  (``hukou.privacy.mask_name``); and the value of any dict key that holds a name.

The service installs it when it is created (``create_app``), and so does every process
that opens the register (``Registry``): the CLI's register commands, the workers, the
benchmarks.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from hukou.privacy import mask_id, mask_name

ID_NUMBER = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")
NAME_FIELD = re.compile(
    r"""(?P<key>\b(?:applicant_|requester_|keeper_)?name["']?\s*[:=]\s*["']?|姓名\s*[:：]\s*)"""
    r"""(?P<value>[^"',;\s)}\]]+)"""
)
NAME_KEYS = frozenset({"name", "applicant_name", "requester_name", "姓名"})


def mask_text(text: str) -> str:
    text = ID_NUMBER.sub(lambda m: mask_id(m.group(0)) or "", text)
    return NAME_FIELD.sub(lambda m: m.group("key") + (mask_name(m.group("value")) or ""), text)


def mask_value(value: Any, key: str | None = None) -> Any:
    if isinstance(value, str):
        return (mask_name(value) or "") if key in NAME_KEYS else mask_text(value)
    if isinstance(value, dict):
        return {k: mask_value(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(mask_value(v) for v in value)
    return value


_FORMATTER = logging.Formatter()


def _masking(factory: Any) -> Any:
    def make(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record: logging.LogRecord = factory(*args, **kwargs)
        if isinstance(record.msg, str):
            record.msg = mask_text(record.msg)
        elif not isinstance(record.msg, int | float):
            record.msg = mask_text(str(record.msg))
        if record.args:
            record.args = mask_value(record.args)
        if record.exc_info and record.exc_info[0] is not None:
            record.exc_text = mask_text(_FORMATTER.formatException(record.exc_info))
        return record

    make.hukou_masking = True  # type: ignore[attr-defined]
    return make


def install() -> None:
    """Mask personal data in every log record from now on (once per process)."""
    current = logging.getLogRecordFactory()
    if not getattr(current, "hukou_masking", False):
        logging.setLogRecordFactory(_masking(current))


def installed() -> bool:
    return bool(getattr(logging.getLogRecordFactory(), "hukou_masking", False))
