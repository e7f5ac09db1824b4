"""``hukou permit check``: may the applicant apply for a residence permit (居住证), and from
when — 居住证暂行条例（国务院令第663号）第二条, decided by ``engine.permit``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from hukou.cli import _errors, _fail, _parse_on, _read, _refuse_json
from hukou.cli.render import _trace_line
from hukou.engine.evaluate import Trace
from hukou.engine.permit import PermitDecision, decide_permit, permit_json
from hukou.policy.facts import field_label
from hukou.privacy import mask_id, mask_name

permit_app = typer.Typer(
    help="居住证（国务院令第663号） / residence permits (State Council order 663)",
    no_args_is_help=True,
)

HEADLINE = {
    "eligible": ("可以申领居住证", "may apply for a residence permit"),
    "not_eligible": ("暂不符合居住证申领条件", "may not apply for a residence permit yet"),
    "undetermined": ("尚需补充信息", "more facts are needed"),
    "not_in_force": (
        "不适用：《居住证暂行条例》自2016年1月1日起施行",
        "not applicable: the regulation applies from 2016-01-01",
    ),
}
STATUS = {
    "eligible": ("[green]✔ 符合[/] / eligible"),
    "not_eligible": ("[red]✘ 不符合[/] / not eligible"),
    "undetermined": ("[yellow]? 待定[/] / undetermined"),
}


def _tree(t: Trace, day: int, tree: Tree | None = None) -> Tree:
    """The explanation, each line in Chinese with the English after it."""
    line = _trace_line(t, day, "zh")
    if t.kind != "item":
        line.append(f"  / {t.en}", style="dim")
    node = Tree(line) if tree is None else tree.add(line)
    for child in t.children:
        _tree(child, day, node)
    return node


def print_permit(d: PermitDecision, console: Console) -> None:
    """The decision for a person: zh first, English beside it."""
    a = d.case.applicant
    day = d.decision_date.toordinal()
    v = d.rule_version
    console.print(
        f"[bold]居住证申领条件审查（居住证暂行条例第二条） / residence-permit eligibility "
        f"(order 663, art. 2)[/]\n"
        f"决定日期 / decision date: {d.decision_date}   "
        f"规则版本 / rule version: {v.ruleset} · {v.code} · {v.digest}"
    )
    if a.name or a.id_number:
        console.print(f"申请人 / applicant: {mask_name(a.name) or ''} {mask_id(a.id_number) or ''}")
    zh, en = HEADLINE[d.status]
    head = Text(f"{zh} / {en}", style="bold")
    if d.earliest_date:
        head.append(f" — 最早可于 / from {d.earliest_date}", style="magenta")
    console.print(head)
    if d.status == "not_in_force":
        return
    if d.ground_results:
        t = Table(title="申领条件之一 / one of the grounds (R663.2)")
        t.add_column("条件 / ground")
        t.add_column("结论 / result")
        for g in d.ground_results:
            t.add_row(f"{g.zh}\n[dim]{g.en}[/]", STATUS[g.status])
        console.print(t)
    if d.missing_facts:
        console.print("[bold]需补充 / facts still needed[/]")
        for f in d.missing_facts:
            console.print(f"  • {field_label(f, 'zh')} / {field_label(f, 'en')}  [dim]{f}[/]")
    if d.materials:
        tree = Tree("[bold]所需材料（第九条） / materials to bring (art. 9)[/]")
        for m in d.materials:
            extra = "（如适用） / if applicable" if m.if_applicable else ""
            tree.add(f"☐ {m.zh} / {m.en} {extra}".rstrip())
        console.print(tree)
    console.print("[bold]审查说明 / explanation[/]")
    console.print(_tree(d.explanation, day))


@permit_app.command("check")
def check(
    case_file: Annotated[
        Path,
        typer.Argument(
            metavar="FILE", help="案件 JSON 文件，- 为标准输入 / case JSON, - for stdin"
        ),
    ],
    on: Annotated[
        str | None,
        typer.Option("--on", "--date", metavar="YYYY-MM-DD", help="决定日期 / decision date"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="机器可读输出 / machine form")] = False,
) -> None:
    """可否申领居住证、自何日起 / may the applicant apply for a residence permit, and from when."""
    from hukou.engine.messages import read_case
    from hukou.policy.facts import InputError

    when = _parse_on(on, as_json)
    try:
        data = _read(case_file)
    except OSError as exc:
        problems = [
            {
                "field": str(case_file),
                "label": "",
                "zh": f"无法读取文件（{exc.strerror}）",
                "en": f"cannot read the file ({exc.strerror})",
                "code": "unreadable",
            }
        ]
        _fail(problems)
        if as_json:
            _refuse_json(problems)
        raise typer.Exit(2) from None
    try:
        case = read_case(data, decision_date=when)
    except InputError as exc:
        whole = any(p.get("code") in ("encoding", "json_invalid") for p in exc.problems)
        name = "(stdin)" if str(case_file) == "-" else str(case_file)
        _fail(exc.problems, name if whole else "")
        if as_json:
            sys.stdout.write(json.dumps(_errors(exc.problems), ensure_ascii=False, indent=2) + "\n")
        raise typer.Exit(2) from None
    decision = decide_permit(case)
    if as_json:
        sys.stdout.write(json.dumps(permit_json(decision), ensure_ascii=False, indent=2) + "\n")
        return
    print_permit(decision, Console(emoji=False))
