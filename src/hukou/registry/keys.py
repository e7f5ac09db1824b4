"""The service's secrets (密钥), kept outside the database.

Two keys, each 32 random bytes:

* ``signing`` — signs session tokens, CSRF tokens and the self-check's interview state.
  Rotating it (``hukou keys rotate``) ends every session.
* ``audit`` — keys the MAC that chains the audit trail (``registry.audit``). Someone who
  can write the database but not read this key cannot forge, rewrite or re-chain records.
  It is never rotated in place: a new audit key would orphan the chain.

Where they come from, in order:

1. ``HUKOU_SECRET_KEY`` / ``HUKOU_AUDIT_KEY`` (each at least 32 bytes, else refused);
2. the key file ``HUKOU_KEY_FILE``, or, by default, a file beside the SQLite database
   (``hukou.db`` → ``hukou.db.keys``) or ``hukou.keys`` in the working directory for a
   server database. It is created once, mode 0600, atomically (several workers starting
   together all read the one that won), and read again when it changes, so that a
   rotation reaches every worker without a restart.

The key file is created only for a register without an audit chain (a fresh one: the
first ``hukou demo load``, ``users add`` or write). A register that already has one —
any record written with a key, or a head — refuses to go on without its file
(``chain_exists``): new keys there would make every record look altered, and a command
run from another directory (``./hukou.keys`` is relative) would have done exactly that.
A chain from before the audit key (no record with a writer's tag) gets its key, for
``hukou audit rekey``. ``hukou keys rotate`` never creates the file either.

Keep the key file off the database host's backups of the database: a backup restored
without it can be read, but its audit chain can only be verified with the key.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

from hukou.registry.errors import RegistryError

MIN_KEY_BYTES = 32


class KeyError_(RegistryError):
    """A key that is missing, short or unreadable (refused at start-up)."""


def default_key_file(database_url: str) -> Path:
    """The key file for a database: ``HUKOU_KEY_FILE``, else beside the SQLite file, else
    ``hukou.keys`` in the working directory."""
    env = os.environ.get("HUKOU_KEY_FILE")
    if env:
        return Path(env)
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        return Path(f"{url.database}.keys")
    return Path("hukou.keys")


def chain_exists(engine: Engine) -> bool:
    """Whether the register at ``engine`` has an audit chain made with a key: a record
    carrying a writer's tag (sealed or not), or a head with no record from before the
    key beneath it. A register without the tables, or with a chain from before the
    audit key only (no tag anywhere: nobody ever had a key for it), has none."""
    with engine.connect() as conn:
        tables = set(sa.inspect(conn).get_table_names())
        if "audit_log" in tables:
            tagged = sa.text("SELECT 1 FROM audit_log WHERE tag IS NOT NULL LIMIT 1")
            if conn.execute(tagged).first() is not None:
                return True
        if "audit_head" in tables:
            if conn.execute(sa.text("SELECT 1 FROM audit_head LIMIT 1")).first() is None:
                return False
            if "audit_log" not in tables:
                return True
            # a head over records from before the key only: theirs is the key made now
            return conn.execute(sa.text("SELECT 1 FROM audit_log LIMIT 1")).first() is None
        return False


def missing_for_chain(path: Path) -> KeyError_:
    """The refusal when the key file of a register with an audit chain is not found."""
    return KeyError_(
        f"找不到密钥文件 {path}，而本登记簿已有审计链：新建密钥会使全部审计记录无法校验，"
        "故未建立新密钥、未作任何更改。请在原密钥文件所在的目录运行，或设置 HUKOU_KEY_FILE "
        "指向原密钥文件（丢失时从其备份恢复）",
        f"no key file at {path}, but this register already has an audit chain: new keys "
        "would leave every audit record unverifiable, so none were made and nothing was "
        "changed. Run from the directory that holds the key file, or set HUKOU_KEY_FILE "
        "to it (restore it from its backup if it is lost)",
        "HUKOU_KEY_FILE",
    )


def _checked(name: str, raw: str) -> bytes:
    value = raw.encode()
    if len(value) < MIN_KEY_BYTES:
        raise KeyError_(
            f"{name} 太短：至少 {MIN_KEY_BYTES} 字节",
            f"{name} is too short: at least {MIN_KEY_BYTES} bytes",
            name,
        )
    return value


def _fresh() -> dict[str, str]:
    return {"signing": secrets.token_hex(32), "audit": secrets.token_hex(32)}


def _write_new(path: Path, content: dict[str, str], *, replace: bool) -> None:
    """Write ``content`` to ``path`` mode 0600: first into a private temporary file, then
    linked (new) or renamed (replace) into place, so no reader sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(content, fh)
            fh.flush()
            os.fsync(fh.fileno())
        if replace:
            os.replace(tmp, path)
        else:
            # fails if another process made it first: use theirs
            with contextlib.suppress(FileExistsError):
                os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@dataclass
class KeyRing:
    """The keys of one register. ``signing`` and ``audit`` are read on every use, from the
    environment or the key file (cached until the file changes)."""

    path: Path
    _cache: tuple[int, dict[str, bytes]] | None = None
    # whether the register already has an audit chain (``chain_exists``): asked only when
    # the file is missing, and then no new file is made for such a register
    has_chain: Callable[[], bool] | None = None

    def __post_init__(self) -> None:
        # absolute once: a process that changes directory later still finds the same file
        self.path = self.path.absolute()
        self._lock = threading.Lock()

    @classmethod
    def for_database(cls, database_url: str, engine: Engine | None = None) -> KeyRing:
        """The key ring of the register at ``database_url`` (its ``engine`` if at hand):
        the key file is created for it only while it has no audit chain."""
        return cls(default_key_file(database_url), has_chain=_asker(database_url, engine))

    def _file_keys(self) -> dict[str, bytes]:
        with self._lock:
            try:
                stamp = self.path.stat().st_mtime_ns
            except FileNotFoundError:
                if self._cache is not None:
                    # it was here: new keys now would orphan the audit chain and every session
                    raise KeyError_(
                        f"密钥文件 {self.path} 已不存在，请从备份恢复",
                        f"the key file {self.path} has gone; restore it from its backup",
                        "key_file",
                    ) from None
                if self.has_chain is not None and self.has_chain():
                    raise missing_for_chain(self.path) from None
                _write_new(self.path, _fresh(), replace=False)
                stamp = self.path.stat().st_mtime_ns
            if self._cache is not None and self._cache[0] == stamp:
                return self._cache[1]
            mode = self.path.stat().st_mode & 0o777
            if mode & 0o077:
                raise KeyError_(
                    f"密钥文件 {self.path} 的权限过宽（{mode:o}），应为 600",
                    f"the key file {self.path} is readable by others ({mode:o}); make it 600",
                    "key_file",
                )
            try:
                data = json.loads(self.path.read_text())
                keys = {k: bytes.fromhex(data[k]) for k in ("signing", "audit")}
            except (ValueError, KeyError, TypeError) as exc:
                raise KeyError_(
                    f"密钥文件 {self.path} 无法读取",
                    f"the key file {self.path} cannot be read",
                    "key_file",
                ) from exc
            for name, value in keys.items():
                if len(value) < MIN_KEY_BYTES:
                    raise KeyError_(
                        f"密钥文件中的 {name} 太短", f"the {name} key in the file is too short"
                    )
            self._cache = (stamp, keys)
            return keys

    @property
    def signing(self) -> bytes:
        env = os.environ.get("HUKOU_SECRET_KEY")
        return _checked("HUKOU_SECRET_KEY", env) if env else self._file_keys()["signing"]

    @property
    def audit(self) -> bytes:
        env = os.environ.get("HUKOU_AUDIT_KEY")
        return _checked("HUKOU_AUDIT_KEY", env) if env else self._file_keys()["audit"]

    def check(self) -> None:
        """Load both keys now (start-up): a short or unreadable key stops the service."""
        _ = self.signing, self.audit

    def rotate_signing(self) -> None:
        """A new signing key in the file (the audit key stays): every session ends."""
        if os.environ.get("HUKOU_SECRET_KEY"):
            raise KeyError_(
                "签名密钥由 HUKOU_SECRET_KEY 提供，请在那里更换",
                "the signing key comes from HUKOU_SECRET_KEY; change it there",
                "HUKOU_SECRET_KEY",
            )
        if not self.path.is_file():
            # never a new file here: it would be the wrong one (another directory's)
            raise KeyError_(
                f"找不到密钥文件 {self.path}，未更换任何密钥：请在密钥文件所在的目录运行，"
                "或设置 HUKOU_KEY_FILE 指向它",
                f"no key file at {self.path}, so no key was rotated: run from the directory "
                "that holds the key file, or set HUKOU_KEY_FILE to it",
                "HUKOU_KEY_FILE",
            )
        current = {k: v.hex() for k, v in self._file_keys().items()}
        current["signing"] = secrets.token_hex(32)
        _write_new(self.path, current, replace=True)
        with self._lock:
            self._cache = None


def _asker(database_url: str, engine: Engine | None) -> Callable[[], bool]:
    def ask() -> bool:
        if engine is not None:
            return chain_exists(engine)
        own = sa.create_engine(database_url)
        try:
            return chain_exists(own)
        finally:
            own.dispose()

    return ask
