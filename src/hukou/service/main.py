"""The service as an importable factory, for uvicorn workers (``hukou serve --workers N``)."""

from __future__ import annotations

from fastapi import FastAPI

from hukou.registry.db import make_engine, session_factory
from hukou.registry.service import Registry
from hukou.service.app import create_app


def app_factory() -> FastAPI:
    """The app on the register that ``HUKOU_DATABASE_URL`` names."""
    return create_app(Registry(session_factory(make_engine())))
