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

Keep the key file off the database host's backups of the database: a backup restored
without it can be read, but its audit chain can only be verified with the key.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

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

    def __post_init__(self) -> None:
        # absolute once: a process that changes directory later still finds the same file
        self.path = self.path.absolute()
        self._lock = threading.Lock()

    @classmethod
    def for_database(cls, database_url: str) -> KeyRing:
        return cls(default_key_file(database_url))

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
        current = {k: v.hex() for k, v in self._file_keys().items()}
        current["signing"] = secrets.token_hex(32)
        _write_new(self.path, current, replace=True)
        with self._lock:
            self._cache = None
