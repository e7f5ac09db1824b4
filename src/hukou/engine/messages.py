"""Messages a person understands (可理解的出错信息), for a case read from a file or stdin.

``read_case`` is ``policy.facts.parse_case`` for raw bytes, with the problems a person
meets before the rules are even reached named precisely, in both languages:

* the encoding — a UTF-8 byte-order mark is accepted; a GBK (or other non-UTF-8) file
  is named as such, with the byte at fault;
* malformed JSON — its line and column and what the parser expected;
* every validation error of the case model translated by its error *type*
  (``PYDANTIC_MESSAGES``): the validation library's English is never shown as it is.
  A date in the right format whose day does not exist says so.

Each problem is ``{field, label, zh, en, code}``, as ``InputError.problems``.
"""

from __future__ import annotations

import calendar
import contextlib
import datetime as dt
import json
import re
from collections.abc import Mapping
from typing import Any

from hukou.policy.facts import Case, InputError, parse_case

Problem = dict[str, str]

_BOM = b"\xef\xbb\xbf"

# Validation error type -> (zh, en); ``{…}`` are filled from the error's context.
PYDANTIC_MESSAGES: dict[str, tuple[str, str]] = {
    "missing": ("缺少必填项", "field required"),
    "extra_forbidden": ("不认识的字段", "unknown field"),
    "bool_type": ("须为 true 或 false", "must be true or false"),
    "bool_parsing": ("须为 true 或 false", "must be true or false"),
    "date_type": ("须为日期字符串 YYYY-MM-DD", "must be a date string YYYY-MM-DD"),
    "date_parsing": ("日期格式须为 YYYY-MM-DD", "a date is written YYYY-MM-DD"),
    "date_from_datetime_parsing": ("日期格式须为 YYYY-MM-DD", "a date is written YYYY-MM-DD"),
    "date_from_datetime_inexact": (
        "须为日期字符串 YYYY-MM-DD（不能是数字或带时刻）",
        "must be a date string YYYY-MM-DD (not a number, nor with a time of day)",
    ),
    "date_past": ("须为过去的日期", "must be in the past"),
    "date_future": ("须为将来的日期", "must be in the future"),
    "string_type": ("须为文字（加引号）", "must be a string (in quotes)"),
    "string_pattern_mismatch": ("格式不符", "wrong format"),
    "string_too_short": ("过短", "too short"),
    "string_too_long": ("过长", "too long"),
    "string_unicode": ("须为有效的 Unicode 文字", "must be valid Unicode text"),
    "int_type": ("须为整数", "must be an integer"),
    "int_parsing": ("须为整数", "must be an integer"),
    "int_from_float": ("须为整数（不能有小数）", "must be a whole number"),
    "float_type": ("须为数字", "must be a number"),
    "float_parsing": ("须为数字", "must be a number"),
    "greater_than": ("须大于 {gt}", "must be greater than {gt}"),
    "greater_than_equal": ("须不小于 {ge}", "must be at least {ge}"),
    "less_than": ("须小于 {lt}", "must be less than {lt}"),
    "less_than_equal": ("须不大于 {le}", "must be at most {le}"),
    "list_type": ("须为列表（[...]）", "must be a list ([...])"),
    "tuple_type": ("须为列表（[...]）", "must be a list ([...])"),
    "too_short": ("条目过少", "too few items"),
    "too_long": ("条目过多", "too many items"),
    "model_type": ("须为对象（{...}）", "must be an object ({...})"),
    "model_attributes_type": ("须为对象（{...}）", "must be an object ({...})"),
    "dict_type": ("须为对象（{...}）", "must be an object ({...})"),
    "enum": ("取值不在允许范围内", "not one of the allowed values"),
    "literal_error": ("取值不在允许范围内", "not one of the allowed values"),
    "frozen_field": ("不可更改", "cannot be changed"),
    "frozen_instance": ("不可更改", "cannot be changed"),
    "json_invalid": ("JSON 格式错误", "malformed JSON"),
    "json_type": ("JSON 格式错误", "malformed JSON"),
    "none_required": ("须为 null", "must be null"),
    "is_instance_of": ("类型不符", "wrong type"),
    "union_tag_invalid": ("类型标记无效", "unknown kind"),
    "union_tag_not_found": ("缺少类型标记", "the kind is missing"),
    "recursion_loop": ("对象循环引用", "the object refers to itself"),
}
_UNKNOWN = ("取值无效", "invalid value")


def date_problem(text: str) -> tuple[str, str]:
    """Why ``text`` is not a date, in zh and en: the day or month that does not exist,
    or the format to use."""
    m = re.fullmatch(r"\s*(\d{4})-(\d{2})-(\d{2})\s*", text)
    if m:
        year, month, day = (int(g) for g in m.groups())
        if not 1 <= month <= 12:
            return (
                f"月份 {month} 不存在：日期格式 YYYY-MM-DD 中月份为 01–12",
                f"the month {month} does not exist: in YYYY-MM-DD the month is 01–12",
            )
        last = calendar.monthrange(year, month)[1]
        if not 1 <= day <= last:
            return (
                f"这一天不存在：{year}年{month}月只有 {last} 天",
                f"the day does not exist: {calendar.month_name[month]} {year} has {last} days",
            )
    return (
        "日期格式须为 YYYY-MM-DD，例如 2024-02-29",
        "a date is written YYYY-MM-DD, e.g. 2024-02-29",
    )


def parse_date(text: str) -> dt.date | tuple[str, str]:
    """``text`` as a date, or (zh, en) saying why it is not one."""
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        return date_problem(text)


def _loc_value(data: Any, loc: tuple[int | str, ...]) -> Any:
    for part in loc:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def error_text(e: Mapping[str, Any], value: Any = None) -> tuple[str, str]:
    """One validation error (an item of ``ValidationError.errors()``, or of FastAPI's
    ``RequestValidationError.errors()``) in zh and en, by its type: never the library's own
    English. ``value``: the value a date error is about, when the error does not carry it.
    A ``value_error`` raised by one of the project's own checks carries "zh / en"."""
    kind = e.get("type", "")
    ctx = e.get("ctx") or {}
    if kind in ("value_error", "assertion_error") and "error" in ctx:
        said = str(ctx["error"])
        zh, _, en = (
            said.partition("::")[2].partition(" / ") if "::" in said else said.partition(" / ")
        )
        return (zh, en) if zh and en else _UNKNOWN
    zh, en = PYDANTIC_MESSAGES.get(kind, _UNKNOWN)
    with contextlib.suppress(KeyError, IndexError, ValueError):
        zh, en = zh.format(**ctx), en.format(**ctx)
    if kind in ("date_from_datetime_parsing", "date_parsing"):
        found = e.get("input")
        if found is None:
            found = value
        if isinstance(found, str):
            zh, en = date_problem(found)
    elif kind == "enum" and "expected" in ctx:
        zh += f"：{str(ctx['expected']).replace(' or ', ', ')}"
        en += f": {ctx['expected']}"
    elif kind in ("string_too_long", "too_long") and "max_length" in ctx:
        zh += f"（最多 {ctx['max_length']}）"
        en += f" (at most {ctx['max_length']})"
    elif kind in ("string_too_short", "too_short") and "min_length" in ctx:
        zh += f"（至少 {ctx['min_length']}）"
        en += f" (at least {ctx['min_length']})"
    return zh, en


def translate(err: Any, data: Any = None) -> list[Problem]:
    """A ``pydantic.ValidationError`` of the case model as bilingual problems, by error
    type (the library's own message is never passed through). ``data``: the parsed
    JSON, to look at the value a date error is about."""
    base = InputError.from_validation(err).problems  # field path, label, model's own checks
    out: list[Problem] = []
    for p, e in zip(base, err.errors(include_url=False), strict=True):
        kind = e["type"]
        if kind == "value_error":  # the model's own bilingual message
            out.append(p)
            continue
        value = None
        if e.get("input") is None and data is not None:
            value = _loc_value(data, tuple(e["loc"]))
        zh, en = error_text(e, value)
        out.append({**p, "zh": zh, "en": en, "code": kind})
    return out


def decode(data: bytes) -> str:
    """The text of a case file: UTF-8, with or without a byte-order mark; anything else
    is an ``InputError`` naming the encoding and the byte at fault."""
    if data.startswith(_BOM):
        data = data[len(_BOM) :]
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InputError(
            [
                {
                    "field": "(case)",
                    "label": "",
                    "zh": "文件是 UTF-16 编码，请另存为 UTF-8",
                    "en": "the file is UTF-16: save it as UTF-8",
                    "code": "encoding",
                }
            ]
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        guess = ""
        try:
            data.decode("gb18030")
            guess = "GBK"
        except UnicodeDecodeError:
            pass
        zh = (
            f"文件不是 UTF-8 编码（第 {line} 行第 {column} 列，字节 {exc.start}）"
            + (f"，看来是 {guess} 编码" if guess else "")
            + "：请另存为 UTF-8"
        )
        en = (
            f"the file is not UTF-8 (line {line}, column {column}, byte {exc.start})"
            + (f"; it looks like {guess}" if guess else "")
            + ": save it as UTF-8"
        )
        raise InputError(
            [{"field": "(case)", "label": "", "zh": zh, "en": en, "code": "encoding"}]
        ) from None


# The JSON parser's message -> (zh, en): what it expected where it stopped.
JSON_PROBLEMS: dict[str, tuple[str, str]] = {
    "Expecting value": ("此处应为一个值", "a value was expected"),
    "Expecting property name enclosed in double quotes": (
        "此处应为用双引号括起的字段名",
        "a field name in double quotes was expected",
    ),
    "Expecting ',' delimiter": ("此处缺少逗号", "a comma was expected"),
    "Expecting ':' delimiter": ("此处缺少冒号", "a colon was expected"),
    "Extra data": ("JSON 之后还有多余内容", "more text after the JSON"),
    "Unterminated string starting at": ("字符串没有结束的引号", "a string is not closed"),
    "Invalid control character at": (
        "字符串中有控制字符",
        "a control character in a string",
    ),
}
JSON_SYNTAX = ("语法错误", "syntax error")


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        what = JSON_PROBLEMS.get(exc.msg, JSON_SYNTAX)
        raise InputError(
            [
                {
                    "field": "(case)",
                    "label": "",
                    "zh": f"JSON 格式错误：第 {exc.lineno} 行第 {exc.colno} 列，{what[0]}",
                    "en": f"malformed JSON at line {exc.lineno}, column {exc.colno}: {what[1]}",
                    "code": "json_invalid",
                }
            ]
        ) from None


def read_case(data: bytes | str, decision_date: dt.date | None = None) -> Case:
    """``parse_case`` of a case file's bytes, with readable problems (module doc)."""
    text = decode(data) if isinstance(data, bytes) else data.removeprefix("\ufeff")
    try:
        return parse_case(text, decision_date=decision_date)
    except InputError:
        parsed = _json(text)  # a syntax error: its line and column
        if not isinstance(parsed, dict):
            raise InputError(
                [
                    {
                        "field": "(case)",
                        "label": "",
                        "zh": "案件须为 JSON 对象（{...}）",
                        "en": "a case must be a JSON object ({...})",
                        "code": "model_type",
                    }
                ]
            ) from None
        from pydantic import ValidationError

        try:
            Case.model_validate_json(text)
        except ValidationError as err:
            raise InputError(translate(err, parsed)) from None
        raise
