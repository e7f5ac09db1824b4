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


def upgrade(url: str | None = None, revision: str = "head") -> None:
    """Bring the database to the newest schema (``hukou db upgrade``)."""
    command.upgrade(alembic_config(url or database_url()), revision)
