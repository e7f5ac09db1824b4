"""One error path for every command (统一的出错路径).

Every failure a command meets — bad input, a file that cannot be read, a database that
cannot be reached — ends here: a bilingual message (zh-CN first, then English) on stderr
naming the file, table, column, option or URL at fault, and exit status 2. A traceback
is shown only with ``hukou --debug`` (or ``HUKOU_DEBUG=1``).

This module imports nothing heavy: it is loaded by every command, ``--help`` included.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

import typer
from typer._click import exceptions as click_exc  # Typer's own copy of Click
from typer._click.core import Command, Context
from typer.core import TyperCommand, TyperGroup

from hukou.cli.startup import light_params

Problem = dict[str, str]

_debug = False
_url: str | None = None  # the database the command works on, for a message that names it


def note_url(url: str | None) -> None:
    global _url
    _url = url


def set_debug(on: bool) -> None:
    global _debug
    _debug = on


def debugging() -> bool:
    return _debug or os.environ.get("HUKOU_DEBUG", "") not in ("", "0")


# ---- printing -------------------------------------------------------------------------


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def print_problems(
    problems: Sequence[Problem],
    source: str = "",
    title: tuple[str, str] = ("输入有误", "invalid input"),
) -> None:
    """The problems on stderr: a title, then one line per problem, ``field: zh / en``."""
    from rich.console import Console

    err = Console(stderr=True, highlight=False, soft_wrap=True)
    prefix = f"{source}: " if source else ""
    err.print(f"[bold red]{_escape(prefix)}{title[0]} / {title[1]}[/]")
    for p in problems:
        label = f"（{p['label']}）" if p.get("label") else ""
        field = f"{p['field']}{label}: " if p.get("field") else ""
        err.print(f"  • {_escape(field)}{_escape(p['zh'])} / {_escape(p['en'])}")


def refuse(problems: Sequence[Problem], source: str = "") -> NoReturn:
    """Print ``problems`` and stop with exit status 2."""
    print_problems(problems, source)
    raise typer.Exit(2)


def problem(field: str, zh: str, en: str, code: str = "") -> Problem:
    out = {"field": field, "zh": zh, "en": en}
    if code:
        out["code"] = code
    return out


def safe_url(url: str) -> str:
    """``url`` with its password replaced by ``***`` (for messages)."""
    return re.sub(r"(?<=://)([^:/@]*):[^@/]*@", r"\1:***@", url)


# ---- exceptions to messages ------------------------------------------------------------


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0].strip() if text else type(exc).__name__


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and cur not in seen:
        seen.append(cur)
        cur = getattr(cur, "orig", None) or cur.__cause__ or cur.__context__
    return seen


def _library(exc: BaseException) -> str:
    return type(exc).__module__.split(".")[0].lstrip("_")  # duckdb's are ``_duckdb``


def data_problem(exc: BaseException, field: str) -> Problem | None:
    """For a failure reading data files (DuckDB's or Arrow's), the problem naming
    ``field`` (the population or results directory); None for any other exception."""
    for link in _chain(exc):
        if _library(link) in ("duckdb", "pyarrow"):
            reason = _first_line(link)
            return problem(
                field,
                f"数据无法读取，某个 Parquet 文件的内容已损坏（{reason}）",
                f"the data cannot be read: a Parquet file's content is corrupt ({reason})",
                "corrupt",
            )
    return None


def describe(exc: BaseException) -> list[Problem]:
    """What went wrong, for a person: the bilingual problems an exception stands for."""
    problems = getattr(exc, "problems", None)
    if isinstance(problems, list) and problems and isinstance(problems[0], dict):
        return [dict(p) for p in problems]
    zh, en = getattr(exc, "zh", None), getattr(exc, "en", None)
    if isinstance(zh, str) and isinstance(en, str):  # RegistryError, SchemaError …
        return [problem(str(getattr(exc, "field", "") or ""), zh, en)]
    if isinstance(exc, UnicodeDecodeError):
        return [
            problem(
                "",
                f"文字编码错误（第 {exc.start} 字节不是 {exc.encoding}），请另存为 UTF-8",
                f"text encoding error (byte {exc.start} is not {exc.encoding}): save it as UTF-8",
                "encoding",
            )
        ]
    if isinstance(exc, OSError) and getattr(exc, "filename", None) is not None:
        reason = exc.strerror or _first_line(exc)
        return [
            problem(
                str(exc.filename),
                f"无法读取或写入文件（{reason}）",
                f"cannot read or write the file ({reason})",
                "unreadable",
            )
        ]
    found = unreachable(exc, "--url", _url)
    if found is not None:
        return [found]
    for link in _chain(exc):
        lib = _library(link)
        if lib in ("sqlalchemy", "psycopg", "psycopg2", "sqlite3"):
            reason = _first_line(link)
            return [
                problem(
                    "database", f"数据库出错：{reason}", f"database error: {reason}", "database"
                )
            ]
        if lib == "pyarrow":
            reason = _first_line(link)
            return [
                problem(
                    "Parquet",
                    f"数据文件无法读取：{reason}",
                    f"a data file cannot be read: {reason}",
                    "unreadable",
                )
            ]
        if lib == "duckdb":
            reason = _first_line(link)
            return [
                problem(
                    "DuckDB",
                    f"查询失败（数据文件可能已损坏）：{reason}",
                    f"the query failed (a data file may be corrupt): {reason}",
                    "query",
                )
            ]
    if isinstance(exc, MemoryError):
        return [problem("", "内存不足", "out of memory", "memory")]
    if isinstance(exc, OSError):
        reason = exc.strerror or _first_line(exc)
        return [problem("", f"系统错误：{reason}", f"system error: {reason}", "os")]
    reason = _first_line(exc)
    return [
        problem(
            type(exc).__name__,
            f"内部错误：{reason}（加 --debug 可显示详情）",
            f"internal error: {reason} (add --debug for the details)",
            "internal",
        )
    ]


# ---- usage errors (the parser's, in English only otherwise) --------------------------


def _hint(e: click_exc.BadParameter) -> str:
    hint = e.param_hint
    if hint is None and e.param is not None:
        opts = [o for o in e.param.opts if o.startswith("--")]
        hint = opts[0] if opts else (e.param.name or "")
    if hint is None:
        return ""
    return hint if isinstance(hint, str) else " / ".join(hint)


def _usage_problem(e: click_exc.UsageError) -> Problem:
    message = e.format_message()
    if isinstance(e, click_exc.MissingParameter):
        kind = e.param_type or (e.param.param_type_name if e.param else "parameter")
        hint = _hint(e)
        zh_kind = {"argument": "参数", "option": "选项"}.get(kind, "参数")
        return problem(hint.strip("'"), f"缺少{zh_kind}", message, "missing")
    if isinstance(e, click_exc.NoSuchOption):
        return problem(e.option_name, "没有这个选项", message, "no_such_option")
    if isinstance(e, click_exc.BadParameter):
        return problem(_hint(e).strip("'"), "取值无效", message, "bad_value")
    m = re.match(r"No such command '(.+?)'", message)
    if m:
        return problem(m.group(1), "没有这个命令", message, "no_such_command")
    if message.startswith("Missing command"):
        return problem("", "缺少命令", message, "missing")
    if "requires an argument" in message:
        return problem("", "选项缺少取值", message, "missing")
    if "Got unexpected extra argument" in message:
        return problem("", "多余的参数", message, "extra")
    return problem("", "用法有误", message, "usage")


def _show_usage_error(e: click_exc.UsageError) -> None:
    from rich.console import Console

    err = Console(stderr=True, highlight=False, soft_wrap=True)
    ctx = e.ctx
    if ctx is not None:
        err.print(_escape(ctx.get_usage()))
        cmd = ctx.command_path
        err.print(f"用 '{cmd} --help' 查看帮助 / try '{cmd} --help' for help", highlight=False)
    print_problems([_usage_problem(e)], title=("用法有误", "usage error"))


# ---- the command group ------------------------------------------------------------------

# Commands whose code is imported only when they run (their modules pull in the register,
# SQLAlchemy, Alembic, Arrow…): name -> (module, attribute, short help shown by --help).
LAZY: dict[str, tuple[str, str, str]] = {}


class _Listed(TyperCommand):
    """A lazily loaded command as ``--help`` lists it: its name and short help only."""


class HukouGroup(TyperGroup):
    """The ``hukou`` group: lazy sub-commands and the one error path."""

    def list_commands(self, ctx: Context) -> list[str]:
        return [*self.commands, *(n for n in LAZY if n not in self.commands)]

    def _load(self, name: str) -> Command | None:
        if name in self.commands or name not in LAZY:
            return self.commands.get(name)
        import importlib

        module, attr, _help = LAZY[name]
        obj = getattr(importlib.import_module(module), attr)
        if isinstance(obj, typer.Typer):
            cmd: Command = typer.main.get_group(obj)  # a group even of one command
        else:
            single = typer.Typer(rich_markup_mode=None)
            single.command(name)(obj)
            cmd = typer.main.get_command(single)
        cmd.name = name
        _plain_help(cmd)
        cmd.params = [  # the completion options belong to the top-level program only
            p for p in cmd.params if p.name not in ("install_completion", "show_completion")
        ]
        light_params(cmd)
        self.commands[name] = cmd
        return cmd

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        if cmd_name in LAZY:
            help_text = LAZY[cmd_name][2]
            return _Listed(cmd_name, help=help_text, short_help=help_text)
        return None

    def resolve_command(
        self, ctx: Context, args: list[str]
    ) -> tuple[str | None, Command | None, list[str]]:
        if args and args[0] in LAZY:
            self._load(args[0])
        name, cmd, rest = super().resolve_command(ctx, args)
        if cmd is not None:
            light_params(cmd, ctx)  # its options converted without pydantic (cli.startup)
        return name, cmd, rest

    def parse_args(self, ctx: Context, args: list[str]) -> list[str]:
        light_params(self, ctx)  # (cli.startup)
        return super().parse_args(ctx, args)

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        set_debug(False)
        note_url(None)
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click_exc.NoArgsIsHelpError as e:
            e.show()
            return _leave(e.exit_code, standalone_mode)
        except click_exc.UsageError as e:
            _show_usage_error(e)
            return _leave(2, standalone_mode)
        except click_exc.ClickException as e:
            e.show()
            return _leave(e.exit_code, standalone_mode)
        except typer.Abort:
            sys.stderr.write("已中止 / aborted\n")
            return _leave(1, standalone_mode)
        except KeyboardInterrupt:
            sys.stderr.write("已中断 / interrupted\n")
            return _leave(130, standalone_mode)
        except Exception as exc:
            if debugging():
                raise
            print_problems(describe(exc), title=("出错", "error"))
            return _leave(2, standalone_mode)
        return _leave(rv if isinstance(rv, int) else 0, standalone_mode)


def _leave(code: int, standalone_mode: bool) -> int:
    if standalone_mode:
        sys.exit(code)
    return code


def _plain_help(cmd: Command) -> None:
    """Click's own help layout (wrapped to the terminal, nothing cut, flags without a
    ``<bool>``) for a command loaded lazily and all its sub-commands."""
    if hasattr(cmd, "rich_markup_mode"):
        cmd.rich_markup_mode = None
    for sub in getattr(cmd, "commands", {}).values():
        _plain_help(sub)


def lazy(name: str, module: str, attr: str, short_help: str) -> None:
    LAZY[name] = (module, attr, short_help)


def run_guarded(fn: Callable[[], Any]) -> Any:
    """``fn()``, its exceptions turned into the bilingual message and exit status 2."""
    try:
        return fn()
    except (typer.Exit, typer.Abort, typer.TyperException):
        raise
    except Exception as exc:
        if debugging():
            raise
        refuse(describe(exc))


_CONNECT = (
    "connect",
    "connection",
    "unable to open database",
    "could not translate host",
    "timeout",
    "timed out",
    "name or service not known",
    "password authentication",
)
_NO_TABLE = ("no such table", "does not exist", "undefinedtable")


def unreachable(exc: BaseException, field: str, url: str | None) -> Problem | None:
    """For a database failure: "cannot connect to the database at URL", or "the register
    has no tables: run hukou db upgrade"; None for any other exception."""
    links = [
        link
        for link in _chain(exc)
        if _library(link) in ("sqlalchemy", "psycopg", "psycopg2", "sqlite3")
    ]
    for link in links[-1:]:  # the driver's own exception, under SQLAlchemy's wrapper
        reason = _first_line(link)
        where = f" {safe_url(url)}" if url else ""
        low = f"{type(link).__name__} {reason}".lower()
        if any(w in low for w in _NO_TABLE):
            return problem(
                field,
                f"数据库{where}尚无登记库的表（{reason}）：请先运行 hukou db upgrade",
                f"the database{where} has no register tables ({reason}): run hukou db upgrade",
                "unmigrated",
            )
        if any(w in low for w in _CONNECT):
            return problem(
                field,
                f"无法连接数据库{where}：{reason}",
                f"cannot connect to the database{where}: {reason}",
                "unreachable",
            )
    return None


def date_option(value: str | None, name: str) -> Any:
    """The date an option gives (``None`` if not given); a bad one stops the command with
    exit status 2, saying why: the day or month that does not exist, or the format."""
    if value is None:
        return None
    from hukou.engine.messages import parse_date

    parsed = parse_date(value)
    if isinstance(parsed, tuple):
        refuse([problem(name, parsed[0], parsed[1], "bad_date")])
    return parsed
