"""Excel workbooks (工作簿) of reforms and §7 indicators (openpyxl).

A README sheet first — what was computed, with which rules (the rule version) and,
for a reform, its full definition — then one sheet per table. Numbers are written
as numbers, so the departments' own sums and pivots work on them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

if TYPE_CHECKING:
    from hukou.analytics.reform import ReformReport

# sheet titles: at most 31 characters, none of []:*?/\ (Excel's rules)
REFORM_SHEETS: dict[str, str] = {
    "by_channel": "渠道 channel",
    "by_county": "县市区 county",
    "by_age_band": "年龄段 age band",
    "by_sex": "性别 sex",
    "by_county_channel": "县市区×渠道 county×channel",
    "relatives": "随迁亲属 relatives",
}

HEADERS: dict[str, str] = {
    "persons": "人数 persons",
    "relatives": "亲属人数 relatives",
    "eligible_before": "改革前符合 eligible before",
    "eligible_after": "改革后符合 eligible after",
    "gains": "获益 gains",
    "loses": "受损 loses",
    "net": "净变化 net",
    "earlier": "最早日期提前 earlier",
    "later": "最早日期推后 later",
    "days_earlier": "提前天数合计 days earlier",
    "zh": "中文 zh",
    "en": "English",
}


def _cell(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None)
    return value


def write_workbook(
    path: Path,
    readme: Sequence[tuple[str, Any]],
    sheets: Mapping[str, pa.Table],
    null_as: tuple[str, frozenset[str]] | None = None,
) -> Path:
    """README (key, value rows) and one sheet per table, header bold and frozen; with
    ``null_as=(text, columns)`` a null cell of those columns is written ``text`` (a
    suppressed count: ``<5``); any other null is left empty."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    ws = wb.active
    ws.title = "README"
    bold = Font(bold=True)
    for key, value in readme:
        ws.append([key, _cell(value)])
        ws.cell(ws.max_row, 1).font = bold
    ws.column_dimensions["A"].width = 36
    ws.column_dimensions["B"].width = 100
    for row in ws.iter_rows(min_col=2, max_col=2):
        for c in row:
            c.alignment = Alignment(wrap_text=True, vertical="top")
    for title, table in sheets.items():
        sheet = wb.create_sheet(title[:31])
        names = table.column_names
        sheet.append([HEADERS.get(n, n) for n in names])
        for c in sheet[1]:
            c.font = bold
        for row in table.to_pylist():
            sheet.append(
                [
                    null_as[0]
                    if null_as is not None and row[n] is None and n in null_as[1]
                    else _cell(row[n])
                    for n in names
                ]
            )
        sheet.freeze_panes = "A2"
        for i, name in enumerate(names, start=1):
            longest = max(
                [len(str(HEADERS.get(name, name)))]
                + [len(str(v)) for v in table.column(name).to_pylist()[:200]]
            )
            sheet.column_dimensions[get_column_letter(i)].width = min(48, max(8, longest + 2))
        if table.num_rows:
            sheet.auto_filter.ref = sheet.dimensions
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path


def reform_readme(report: ReformReport) -> list[tuple[str, Any]]:
    from hukou.analytics.reform import version_text
    from hukou.policy.params import load

    law = load()
    r = report.reform
    rows: list[tuple[str, Any]] = [
        ("改革 reform", f"{r.name_zh} / {r.name_en}"),
        ("说明 description", f"{r.description_zh}\n{r.description_en}".strip()),
        ("改革文件 file", r.source),
        ("决定日期 decision date", report.on),
        ("基准规则版本 baseline rule version", version_text(report.baseline_version)),
        ("改革规则版本 reform rule version", version_text(report.reform_version)),
        ("人数 persons", report.persons),
        (
            "县市区口径 county basis",
            "按居住地（persons.lives_in）计；空值记为 unknown，嘉兴市外记为 outside / "
            "counted where the person lives (persons.lives_in); NULL as unknown, "
            "outside Jiaxing as outside",
        ),
        (
            "口径 definitions",
            "获益：改革前不符合或待定、改革后符合；受损：改革前符合、改革后不符合或待定；"
            "最早日期提前/推后：改革前后均不符合者的最早可落户日期之变化 / gains: not eligible or "
            "undetermined before, eligible after; loses: eligible before, not after; "
            "earlier/later: the earliest date of those eligible neither time",
        ),
    ]
    if not r.parameters:
        rows.append(("参数 parameters", "（无改动 / none changed）"))
    for path, dated in r.parameters.items():
        p = law.parameters[path]
        for start, value in dated.items():
            try:
                before = p.at(start)
            except ValueError:
                before = None
            rows.append(
                (
                    f"参数 {path} (from {start})",
                    f"{before} → {value}  [{p.reference}] {p.description}",
                )
            )
    rows.append(("生成时间 generated", dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()))
    return rows


def reform_workbook(report: ReformReport, path: Path) -> Path:
    sheets = {REFORM_SHEETS[k]: t for k, t in report.tables.items() if k in REFORM_SHEETS}
    return write_workbook(path, reform_readme(report), sheets)
