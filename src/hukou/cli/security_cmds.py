"""Accounts and keys: ``hukou users list|disable|enable|unlock|reset-password`` and
``hukou keys rotate|path``. Run by an administrator on the server; every change is
audited (the actor is ``cli-admin``)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from hukou.cli.registry_cmds import Url, _fail, _registry, users_app
from hukou.registry.access import Actor
from hukou.registry.errors import RegistryError

keys_app = typer.Typer(
    help="密钥 / the service's keys (outside the database)", no_args_is_help=True
)

ADMIN = Actor(None, "cli-admin", "admin")

Username = Annotated[str, typer.Argument(help="用户名 / username")]


@users_app.command("list")
def users_list(url: Url = None) -> None:
    """用户列表 / every user: role, jurisdiction, disabled, locked, failures, open sessions."""
    rows = _registry(url).list_users(ADMIN)
    table = Table(title="用户 / users")
    for col in ("id", "用户名 user", "角色 role", "辖区 jurisdiction", "状态 state", "失败 fails"):
        table.add_column(col)
    table.add_column("会话 sessions", justify="right")
    for r in rows:
        state = (
            "停用 disabled" if r["disabled"] else "锁定 locked" if r["locked"] else "正常 active"
        )
        table.add_row(
            str(r["id"]),
            r["username"],
            r["role"],
            r["jurisdiction"] or "",
            state,
            str(r["failed_logins"]),
            str(r["sessions"]),
        )
    Console().print(table)


def _change(username: str, action: str, url: str | None, zh: str, en: str) -> None:
    try:
        _registry(url).change_user(ADMIN, username, action)
    except RegistryError as exc:
        _fail(exc)
    Console().print(f"[green]✔[/] {username}: {zh} / {en}")


@users_app.command("disable")
def users_disable(username: Username, url: Url = None) -> None:
    """停用账户（其所有会话随即结束） / disable an account; its sessions end at once."""
    _change(username, "disable", url, "已停用，会话已结束", "disabled, sessions ended")


@users_app.command("enable")
def users_enable(username: Username, url: Url = None) -> None:
    """启用账户 / enable an account again."""
    _change(username, "enable", url, "已启用", "enabled")


@users_app.command("unlock")
def users_unlock(username: Username, url: Url = None) -> None:
    """解除锁定（清除失败计数） / lift the lock after too many failures."""
    _change(username, "unlock", url, "已解锁", "unlocked")


@users_app.command("reset-password")
def users_reset_password(
    username: Username,
    password: Annotated[
        str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)
    ] = "",
    url: Url = None,
) -> None:
    """重设密码（其所有会话随即结束） / set a new password; the user's sessions end."""
    try:
        _registry(url).reset_password(ADMIN, username, password)
    except RegistryError as exc:
        _fail(exc)
    Console().print(f"[green]✔[/] {username}: 密码已重设 / password reset")


@keys_app.command("path")
def keys_path(url: Url = None) -> None:
    """密钥文件位置 / where the key file is (created on first use, mode 0600)."""
    registry = _registry(url)
    try:
        registry.keys.check()
    except RegistryError as exc:
        _fail(exc)
    Console().print(str(registry.keys.path.resolve()))


@keys_app.command("rotate")
def keys_rotate(url: Url = None) -> None:
    """更换签名密钥：所有会话结束，用户须重新登录 / a new signing key: every session ends.

    The audit key is kept (the chain is verified with it). Running workers read the new
    key at their next request."""
    registry = _registry(url)
    try:
        registry.keys.rotate_signing()
        ended = registry.end_all_sessions(ADMIN, "key_rotated")
    except RegistryError as exc:
        _fail(exc)
    Console().print(
        f"[green]✔[/] 签名密钥已更换，{ended} 个会话已结束 / signing key rotated, "
        f"{ended} session(s) ended ({registry.keys.path})"
    )
