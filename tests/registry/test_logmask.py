"""No personal data in the logs: ID numbers and names are masked in every record."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from hukou.registry import logmask
from hukou.registry.db import make_engine, session_factory, upgrade
from hukou.registry.service import Registry

from .helpers import id_number

NUMBER = id_number("330402", "19800512", 7, True)


@pytest.fixture
def log() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    logmask.install()
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger = logging.getLogger("hukou.test.logmask")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield logger, out
    logger.removeHandler(handler)


def test_an_id_number_in_the_message_is_masked(log: tuple[logging.Logger, io.StringIO]) -> None:
    logger, out = log
    logger.warning(f"lookup of {NUMBER} failed")
    text = out.getvalue()
    assert NUMBER not in text and "330402********" + NUMBER[-4:] in text


def test_ids_and_names_in_the_arguments_are_masked(
    log: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, out = log
    logger.info("person %s", NUMBER)
    logger.info("applicant %(name)s / %(id_number)s", {"name": "李建国", "id_number": NUMBER})
    logger.info("request %s", {"applicant": {"name": "王小明", "id_number": NUMBER.lower()}})
    logger.info('body {"name": "张三丰", "ok": 1} 姓名：赵六 applicant_name=钱七')
    text = out.getvalue()
    assert NUMBER not in text and NUMBER.lower() not in text
    for name in ("李建国", "王小明", "张三丰", "赵六", "钱七"):
        assert name not in text, text
    assert "李**" in text and "王**" in text and "张**" in text and "赵*" in text


def test_an_exception_naming_an_id_number_is_masked(
    log: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, out = log
    try:
        raise ValueError(f"duplicate key (id_number)=({NUMBER})")
    except ValueError:
        logger.exception("insert failed")
    text = out.getvalue()
    assert "Traceback" in text and NUMBER not in text and "********" in text


def test_other_numbers_are_left_alone(log: tuple[logging.Logger, io.StringIO]) -> None:
    logger, out = log
    logger.info("took %d ms for 12345678901234567 rows, version %s", 12, "0002")
    assert "12345678901234567" in out.getvalue() and "12 ms" in out.getvalue()


def test_the_register_and_the_service_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hukou.service.main import app_factory

    url = f"sqlite:///{tmp_path / 'r.db'}"
    upgrade(url)
    monkeypatch.setenv("HUKOU_DATABASE_URL", url)
    factory = logging.getLogRecordFactory()
    try:
        logging.setLogRecordFactory(logging.LogRecord)  # as a fresh process starts
        assert not logmask.installed()
        Registry(session_factory(make_engine(url)))  # the CLI's register commands
        assert logmask.installed()
        logging.setLogRecordFactory(logging.LogRecord)
        app_factory()  # the service, in each uvicorn worker
        assert logmask.installed()
        record = logging.getLogger("uvicorn.error").makeRecord(
            "uvicorn.error", logging.ERROR, __file__, 1, "boom %s", (NUMBER,), None
        )
        assert NUMBER not in record.getMessage()
    finally:
        logging.setLogRecordFactory(factory)
