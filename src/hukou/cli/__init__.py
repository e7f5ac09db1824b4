"""Command line (命令行): ``hukou check``, ``hukou schema``, ``hukou clauses``, and the
register's and the analyst's commands, loaded only when they run (``cli.errors.LAZY``).

Every command fails the same way (``cli.errors``): a bilingual message naming what is
at fault and exit status 2, never a traceback unless ``hukou --debug``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

# The command line uses no pydantic plugins: skip their discovery (a scan of every
# installed package's metadata at the first model, ~7 ms of the start-up budget, and the
# import of the loader that scans, ~9 ms: ``cli.startup``). setdefault: an operator's own
# setting wins.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

import typer

from hukou.cli.errors import HukouGroup, lazy, print_problems, set_debug
from hukou.cli.startup import skip_plugin_scan

skip_plugin_scan()

if TYPE_CHECKING:
    from rich.console import Console

app = typer.Typer(
    name="hukou",
    cls=HukouGroup,
    help="嘉兴市户籍制度改革（嘉政办发〔2020〕28号）落户审查 / Jiaxing settlement rules as code.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # Click's layout: wrapped to the terminal, never cut at 80 columns
    context_settings={"max_content_width": 120, "help_option_names": ["-h", "--help"]},
)


@app.callback()
def _root(
    debug: Annotated[
        bool,
        typer.Option(
            "--debug", help="出错时显示 Python 回溯 / show the Python traceback of a failure"
        ),
    ] = False,
) -> None:
    """嘉兴市户籍制度改革（嘉政办发〔2020〕28号）落户审查 / Jiaxing settlement rules as code."""
    set_debug(debug)


Lang = Annotated[
    str, typer.Option("--lang", metavar="zh|en", help="zh（默认）或 en / zh (default) or en")
]


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
    print_problems(problems, source)


def _parse_on(value: str | None, as_json: bool = False) -> dt.date | None:
    if value is None:
        return None
    from hukou.engine.messages import parse_date

    parsed = parse_date(value)
    if isinstance(parsed, dt.date):
        return parsed
    problems = [
        {
            "field": "--on",
            "label": "决定日期 / decision date",
            "zh": parsed[0],
            "en": parsed[1],
            "code": "bad_date",
        }
    ]
    _fail(problems)
    if as_json:
        _refuse_json(problems)
    raise typer.Exit(2)


def _read(path: Path) -> bytes:
    """A case file's bytes; ``-`` is standard input."""
    if str(path) == "-":
        return sys.stdin.buffer.read()
    return path.read_bytes()


@app.command()
def check(
    cases: Annotated[
        list[Path],
        typer.Argument(
            metavar="FILE", help="案件 JSON 文件，- 为标准输入 / case JSON files, - for stdin"
        ),
    ],
    on: Annotated[
        str | None,
        typer.Option("--on", metavar="YYYY-MM-DD", help="决定日期 / decision date"),
    ] = None,
    lang: Lang = "zh",
    as_json: Annotated[bool, typer.Option("--json", help="机器可读输出 / machine form")] = False,
    full: Annotated[
        bool, typer.Option("--full", help="所有渠道的说明 / explain every channel")
    ] = False,
) -> None:
    """审查一个或多个案件 / Decide one or more cases."""
    from hukou.engine.messages import read_case
    from hukou.policy.facts import InputError

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
    console: Console | None = None

    def source(path: Path) -> str:  # which file, when there are several
        return str(path) if len(cases) > 1 else ""

    for path in cases:
        try:
            data = _read(path)
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
            case = read_case(data, decision_date=when)
        except InputError as exc:
            whole = any(p.get("code") in ("encoding", "json_invalid") for p in exc.problems)
            name = "(stdin)" if str(path) == "-" else str(path)
            _fail(exc.problems, source(path) or (name if whole else ""))  # the file at fault
            out.append(_errors(exc.problems, source(path)))
            failed = True
            continue
        from hukou.engine.decide import decide

        decision = decide(case)
        if as_json:
            from hukou.engine.report import decision_json

            out.append(decision_json(decision))
        else:
            from rich.console import Console

            from hukou.cli.render import print_decision

            console = console or Console(emoji=False)  # ":x:" in an address stays as typed
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
    from hukou.policy.facts import Case

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
    from rich.console import Console
    from rich.table import Table

    from hukou.engine.traceability import table as trace_table

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


# The other commands, imported when they run (their modules load the register, SQLAlchemy,
# Alembic, Arrow …); the short help is what ``hukou --help`` lists.
for _name, _module, _attr, _help in (
    ("serve", "registry_cmds", "serve", "启动服务 / serve the API (OpenAPI at /openapi.json)"),
    ("synth", "synth_cmd", "synth", "生成可复现的嘉兴合成人口 / write a synthetic population"),
    ("batch", "batch_cmd", "batch", "对人口中每个人审查 / decide every person of a population"),
    ("reform", "analytics_cmds", "reform", "改革测算：谁获益、谁受损 / what-if reform"),
    ("indicators", "analytics_cmds", "indicators", "§7 考核指标 / §7 indicators"),
    ("db", "registry_cmds", "db_app", "数据库 / the register's database"),
    ("users", "security_cmds", "users_app", "用户 / users"),
    ("audit", "registry_cmds", "audit_app", "审计 / the audit trail"),
    ("cases", "registry_cmds", "cases_app", "案件 / procedures"),
    ("demo", "registry_cmds", "demo_app", "演示数据 / demonstration data"),
    ("keys", "security_cmds", "keys_app", "密钥 / the service's keys (outside the database)"),
    ("permit", "permit_cmd", "permit_app", "居住证申领条件 / residence-permit eligibility"),
):
    lazy(_name, f"hukou.cli.{_module}", _attr, _help)


def main() -> None:
    from hukou.registry import logmask

    logmask.install()  # no ID number or name reaches a log unmasked, whatever the command
    app()


if __name__ == "__main__":
    main()
