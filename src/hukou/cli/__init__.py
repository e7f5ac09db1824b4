"""Command line (命令行): ``hukou check``, ``hukou schema``, ``hukou clauses``."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from hukou.engine.decide import decide
from hukou.engine.report import decision_json
from hukou.engine.traceability import table as trace_table
from hukou.policy.facts import Case, InputError, parse_case

app = typer.Typer(
    name="hukou",
    help="嘉兴市户籍制度改革（嘉政办发〔2020〕28号）落户审查 / Jiaxing settlement rules as code.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

Lang = Annotated[str, typer.Option("--lang", help="zh（默认）或 en / zh (default) or en")]


def _errors(problems: list[dict[str, str]], source: str = "") -> dict[str, object]:
    """A refusal in machine form (docs/decision-json.md): field path, code, zh and en."""
    out: dict[str, object] = {
        "errors": [
            {
                "field": p["field"],
                "code": p.get("code", "invalid_value"),
                "zh": p["zh"],
                "en": p["en"],
            }
            for p in problems
        ]
    }
    if source:
        out["source"] = source
    return out


def _refuse_json(problems: list[dict[str, str]]) -> None:
    """With ``--json``, an option refused: the error object on stdout too."""
    sys.stdout.write(json.dumps(_errors(problems), ensure_ascii=False, indent=2) + "\n")


def _fail(problems: list[dict[str, str]], source: str = "") -> None:
    err = Console(stderr=True, highlight=False)
    prefix = f"{source}: " if source else ""
    err.print(f"[bold red]{prefix}输入有误 / invalid input[/]")
    for p in problems:
        label = f"（{p['label']}）" if p.get("label") else ""
        err.print(f"  • {p['field']}{label}: {p['zh']} / {p['en']}")


def _parse_on(value: str | None, as_json: bool = False) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        problems = [
            {
                "field": "--on",
                "label": "决定日期 / decision date",
                "zh": "日期格式须为 YYYY-MM-DD",
                "en": "date must be YYYY-MM-DD",
                "code": "bad_date",
            }
        ]
        _fail(problems)
        if as_json:
            _refuse_json(problems)
        raise typer.Exit(2) from None


@app.command()
def check(
    cases: Annotated[list[Path], typer.Argument(help="案件 JSON 文件 / case JSON files")],
    on: Annotated[
        str | None, typer.Option("--on", help="决定日期 / decision date (YYYY-MM-DD)")
    ] = None,
    lang: Lang = "zh",
    as_json: Annotated[bool, typer.Option("--json", help="机器可读输出 / machine form")] = False,
    full: Annotated[
        bool, typer.Option("--full", help="所有渠道的说明 / explain every channel")
    ] = False,
) -> None:
    """审查一个或多个案件 / Decide one or more cases."""
    from hukou.cli.render import print_decision

    if lang not in ("zh", "en"):
        problems = [
            {
                "field": "--lang",
                "label": "",
                "zh": "须为 zh 或 en",
                "en": "must be zh or en",
                "code": "bad_option",
            }
        ]
        _fail(problems)
        if as_json:
            _refuse_json(problems)
        raise typer.Exit(2)
    when = _parse_on(on, as_json)
    failed = False
    out: list[dict[str, object]] = []  # with --json: a decision or an error object per file
    console = Console()

    def source(path: Path) -> str:  # which file, when there are several
        return str(path) if len(cases) > 1 else ""

    for path in cases:
        try:
            data = path.read_bytes()
        except OSError as exc:
            problems = [
                {
                    "field": str(path),
                    "label": "",
                    "zh": f"无法读取文件（{exc.strerror}）",
                    "en": f"cannot read the file ({exc.strerror})",
                    "code": "unreadable",
                }
            ]
            _fail(problems)
            out.append(_errors(problems, source(path)))
            failed = True
            continue
        try:
            case = parse_case(data, decision_date=when)
        except InputError as exc:
            _fail(exc.problems, source(path))
            out.append(_errors(exc.problems, source(path)))
            failed = True
            continue
        decision = decide(case)
        if as_json:
            out.append(decision_json(decision))
        else:
            if len(cases) > 1:
                console.rule(str(path))
            print_decision(decision, lang, full, console)
    if as_json:
        payload = out[0] if len(cases) == 1 and out else out
        sys.stdout.write(json.dumps(payload, ensure_ascii=False, indent=2) + "\n")
    if failed:
        raise typer.Exit(2)


@app.command()
def schema() -> None:
    """案件事实的 JSON Schema / JSON Schema of a case."""
    sys.stdout.write(json.dumps(Case.model_json_schema(), ensure_ascii=False, indent=2) + "\n")


def _repo_tests() -> Path | None:
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "tests").is_dir() and (parent / "pyproject.toml").is_file():
            return parent / "tests"
    return None


def _example_cases() -> list[Path]:
    tests = _repo_tests()
    if tests is None:
        return []
    return sorted((tests.parent / "examples").glob("*.yaml"))


@app.command()
def clauses(
    as_json: Annotated[bool, typer.Option("--json")] = False,
    lang: Lang = "zh",
) -> None:
    """条款追溯表：每条规定由哪些规则实现、哪些测试覆盖 / clause → rules → tests."""
    rows = trace_table(_repo_tests(), _example_cases())
    if as_json:
        sys.stdout.write(
            json.dumps(
                [
                    {
                        "clause": r.clause,
                        "zh": r.zh,
                        "en": r.en,
                        "elsewhere": r.elsewhere,
                        "rules": r.rules,
                        "tests": r.tests,
                    }
                    for r in rows
                ],
                ensure_ascii=False,
                indent=2,
            )
            + "\n"
        )
        return
    t = Table(title="嘉政办发〔2020〕28号 — 条款追溯 / traceability")
    t.add_column("条款 clause", style="cyan")
    t.add_column("内容 content")
    t.add_column("规则 rules")
    t.add_column("测试 tests", justify="right")
    for r in rows:
        rules = (
            ", ".join(r.rules)
            if r.rules
            else (
                f"[dim]无判定规则，见 / no decision rule, see: {r.elsewhere}[/]"
                if r.elsewhere
                else "[red]无规则 / no rule[/]"
            )
        )
        tests = f"{len(r.tests)}" if r.tests else "[red]0[/]"
        t.add_row(r.clause, r.zh if lang == "zh" else r.en, rules, tests)
    Console().print(t)


def _register_commands() -> None:
    from hukou.cli.registry_cmds import (
        audit_app,
        cases_app,
        db_app,
        demo_app,
        serve,
        users_app,
    )

    app.add_typer(db_app, name="db")
    app.add_typer(users_app, name="users")
    app.add_typer(audit_app, name="audit")
    app.add_typer(cases_app, name="cases")
    app.add_typer(demo_app, name="demo")
    app.command("serve")(serve)

    from hukou.cli.security_cmds import keys_app  # also adds ``users list|disable|…``

    app.add_typer(keys_app, name="keys")

    from hukou.cli.synth_cmd import synth

    app.command("synth")(synth)

    from hukou.cli.batch_cmd import batch

    app.command("batch")(batch)

    from hukou.cli.analytics_cmds import indicators, reform

    app.command("reform")(reform)
    app.command("indicators")(indicators)


_register_commands()


def main() -> None:
    from hukou.registry import logmask

    logmask.install()  # no ID number or name reaches a log unmasked, whatever the command
    app()


if __name__ == "__main__":
    main()
