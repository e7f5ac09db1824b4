"""The analyst's reform as a background job: the POST answers at once, the result page
shows the stage and a progress bar and reloads itself until done, a finished result
survives a restart (it is read back from the register), and a job whose process died is
shown as interrupted, not running forever."""

from __future__ import annotations

import datetime as dt
import re
import threading
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import update

from hukou.registry.models import Job
from hukou.registry.service import Registry
from hukou.service.web import panels

from .conftest import PASSWORD, csrf_of, login
from .test_analyst import cells, finished


@pytest.fixture
def analyst(client: TestClient, demo_population: Path) -> TestClient:
    login(client, "analyst")
    return client


def _submit(client: TestClient, years: str = "2") -> str:
    page = client.get("/analyst")
    form = {
        "csrf": csrf_of(page.text),
        "name_zh": "居住年限两年",
        "name_en": "Two years' residence",
        "dates": "2025-01-01",
        "s1_urban.continuous_residence_years": years,
    }
    r = client.post("/analyst/reform", data=form)
    assert r.status_code == 303, r.text
    return str(r.headers["location"])


def test_the_page_shows_progress_and_reloads_until_the_result_is_there(
    analyst: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = threading.Event()
    real = panels._run_reform

    def slow(pop: Path, reform: Any, progress: Any = None) -> Any:
        assert progress is not None
        progress("evaluating", 0)
        assert release.wait(60)
        return real(pop, reform, progress)

    monkeypatch.setattr(panels, "_run_reform", slow)
    url = _submit(analyst)
    try:
        for _ in range(100):  # the worker thread reports the stage
            page = analyst.get(url)
            if 'data-state="running"' in page.text and "逐人评估" in page.text:
                break
            threading.Event().wait(0.1)
        assert page.status_code == 200 and 'data-state="running"' in page.text
        assert page.headers["refresh"] == "2"
        assert '<meta http-equiv="refresh" content="2">' in page.text
        assert re.search(r'<progress id="job-progress" max="100" value="\d+"', page.text)
        assert "逐人评估" in page.text
        en = analyst.get(f"{url}?lang=en").text
        assert "evaluating everyone" in en and "reloads itself" in en
        # its downloads wait for it (409, not a 500 or an empty file)
        assert analyst.get(f"{url}/reform.xlsx").status_code == 409
    finally:
        release.set()
    done = finished(analyst, f"{url}?lang=zh")  # the language chosen last sticks
    assert "refresh" not in done.headers
    assert "居住年限两年" in done.text and cells(done.text, "by-channel")


def test_a_finished_result_survives_a_restart(
    analyst: TestClient, web_app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = _submit(analyst, "1")
    first = finished(analyst, url)
    assert 'id="by-channel"' in first.text
    # a new process: nothing in memory, the register still has it
    monkeypatch.setattr(web_app.state, "reform_runs", panels.ReformRuns(), raising=False)
    again = analyst.get(url)
    assert again.status_code == 200
    assert cells(again.text, "by-channel") == cells(first.text, "by-channel")
    assert analyst.get(f"{url}/reform.xlsx").content.startswith(b"PK")
    # the analyst finds it again on the page, among their recent runs
    recent = analyst.get("/analyst?lang=zh").text
    assert f'href="{url}"' in recent and "已完成" in recent


def test_a_job_whose_process_died_is_shown_as_interrupted(
    analyst: TestClient, demo_registry: Registry
) -> None:
    actor = demo_registry.login("analyst", PASSWORD)
    job_id = demo_registry.create_job(
        actor, "reform", {"reform": {"name": {"zh": "甲", "en": "A"}}}
    )
    # it was running in a process on another host that stopped five minutes ago
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    with demo_registry.factory() as s, s.begin():
        s.execute(
            update(Job)
            .where(Job.id == job_id)
            .values(state="running", worker="elsewhere:1:dead", heartbeat_at=long_ago)
        )
    page = analyst.get(f"/analyst/reform/{job_id}")
    assert page.status_code == 200 and 'data-state="interrupted"' in page.text
    assert "refresh" not in page.headers and "已中断" in page.text and "重启" in page.text
    assert 'href="/analyst#reform"' in page.text
    assert analyst.get("/analyst/reform/no-such-run").status_code == 404
    assert analyst.get("/analyst/reform/bad%20id").status_code == 404
