"""Connecting to the register: SQLite embedded by default, PostgreSQL in production.

``HUKOU_DATABASE_URL`` selects the database (e.g.
``postgresql+psycopg://127.0.0.1:5432/test``); without it, the embedded SQLite
file ``hukou.db`` in the working directory is used. Migrations are Alembic's,
shipped inside the package, so ``hukou db upgrade`` works wherever it is installed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

DEFAULT_URL = "sqlite:///hukou.db"


def database_url() -> str:
    return os.environ.get("HUKOU_DATABASE_URL", DEFAULT_URL)


def make_engine(url: str | None = None, **kwargs: Any) -> Engine:
    """The engine for ``url``. SQL parameters are never shown in an exception's message or
    a log line (``hide_parameters``): they hold names, ID numbers and addresses."""
    url = url or database_url()
    kwargs["hide_parameters"] = True
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys = ON")
            cur.execute("PRAGMA journal_mode = WAL")
            cur.execute("PRAGMA synchronous = FULL")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: everything commits together, or nothing does."""
    with factory() as session, session.begin():
        yield session


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("hukou.registry") / "migrations"))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def head_revision() -> str:
    """The newest schema revision this software knows."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config(DEFAULT_URL)).get_current_head()
    assert head is not None
    return head


def known_revisions() -> set[str]:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config(DEFAULT_URL))
    return {rev.revision for rev in script.walk_revisions()}


def current_revision(url: str | None = None) -> str | None:
    """The schema revision the database at ``url`` is at; None if it was never migrated
    (no ``alembic_version`` table). Connection failures propagate (SQLAlchemy's)."""
    from alembic.runtime.migration import MigrationContext

    engine = make_engine(url or database_url())
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


class SchemaError(Exception):
    """The database's schema is not the one this software needs; ``zh``/``en`` say what
    to run."""

    def __init__(self, zh: str, en: str, current: str | None, head: str):
        self.zh, self.en, self.field = zh, en, "schema"
        self.current, self.head = current, head
        super().__init__(f"{zh} / {en}")


def check_schema(url: str | None = None) -> str:
    """The database's revision if it is the newest this software knows, else
    ``SchemaError`` naming the command to run (``hukou db upgrade``)."""
    head = head_revision()
    current = current_revision(url)
    if current == head:
        return head
    if current is None:
        raise SchemaError(
            "数据库尚未建立登记库的表（从未迁移）：请先运行 hukou db upgrade",
            "the database has no register schema (never migrated): run hukou db upgrade",
            current,
            head,
        )
    if current in known_revisions():
        raise SchemaError(
            f"数据库结构版本 {current} 较旧（最新为 {head}）：请先运行 hukou db upgrade",
            f"the database schema is at {current}, older than {head}: run hukou db upgrade",
            current,
            head,
        )
    raise SchemaError(
        f"数据库结构版本 {current} 比本软件（{head}）新：请升级本软件",
        f"the database schema {current} is newer than this software's ({head}): "
        "upgrade the software",
        current,
        head,
    )


def upgrade(url: str | None = None, revision: str = "head") -> tuple[str | None, str | None]:
    """Bring the database to the newest schema (``hukou db upgrade``); returns the
    revisions before and after (before is None for a database never migrated)."""
    url = url or database_url()
    before = current_revision(url)
    command.upgrade(alembic_config(url), revision)
    return before, current_revision(url)
