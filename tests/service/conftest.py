from ..registry.conftest import clock, db_url, engine, pg_url, registry  # noqa: F401
