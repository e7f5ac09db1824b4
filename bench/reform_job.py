"""A reform on the analyst page, end to end: from ``POST /analyst/reform`` to the finished
result page, through the background job, on the demo population.

    .venv/bin/python bench/reform_job.py [--runs 8] [--people 5000] [--keep DIR] [--cold]

Builds what ``make run`` serves (as ``bench/analyst_page.py``: an SQLite register with the
demo, a synthetic population of ``--people``, seed 2026), logs in as the demo's analyst
(FastAPI's TestClient, the app in this process) and submits reforms through the form: each
a new one (a value of ``s1_urban.continuous_residence_years`` or of a parent's minimum age
not asked before), then one asked again. A run's time runs from the POST until the result
page answers 200 without ``Refresh`` (the job polled every 5 ms). The first run after the
app starts decides the baseline too; later ones only their reform (the baseline's
decisions are kept in the process, ``reform.decide_parameter_set``). The compiled SQL is
in the user's cache folder (``analytics.sqlcache``); ``--cold`` starts with an empty one
(what the first run after a change of code costs).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).resolve().parent))
from analyst_page import build  # a bench script beside this one


def _csrf(text: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', text)
    assert found, "no CSRF token on the page"
    return found.group(1)


def run_once(client: TestClient, form: dict[str, str]) -> float:
    page = client.get("/analyst")
    started = time.perf_counter()
    named = {"name_zh": "基准测试", "name_en": "benchmark", **form}
    r = client.post("/analyst/reform", data={"csrf": _csrf(page.text), **named})
    if r.status_code != 303:
        notes = re.findall(r'<li data-field="[^"]+">(.*?)</li>', r.text, re.S)
        raise SystemExit(f"the reform was not accepted ({r.status_code}): {notes}")
    url = r.headers["location"]
    while True:
        done = client.get(url)
        if done.status_code == 200 and "refresh" not in done.headers:
            break
        assert done.status_code == 200, done.text[:500]
        time.sleep(0.005)
    seconds = time.perf_counter() - started
    assert 'id="by-channel"' in done.text or "by-channel" in done.text, "no result tables"
    return seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=8)
    ap.add_argument("--people", type=int, default=5000)
    ap.add_argument("--keep", type=Path, default=None)
    ap.add_argument("--cold", action="store_true", help="an empty cache folder")
    args = ap.parse_args()
    if args.cold:
        os.environ["HUKOU_CACHE_DIR"] = tempfile.mkdtemp(prefix="hukou-cold-")

    from hukou.registry import demo
    from hukou.registry.db import make_engine, session_factory
    from hukou.registry.service import Registry
    from hukou.service.app import create_app
    from hukou.service.limits import Limits

    folder = args.keep or Path(tempfile.mkdtemp(prefix="hukou-reform-job-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    url = build(folder, args.people)
    registry = Registry(session_factory(make_engine(url)))
    app = create_app(registry, limits=Limits.unlimited())
    app.state.population_dir = folder / "population"
    client = TestClient(app, base_url="https://testserver", follow_redirects=False)
    page = client.get("/login")
    r = client.post(
        "/login",
        data={"csrf": _csrf(page.text), "username": "analyst", "password": demo.DEMO_PASSWORD},
    )
    assert r.status_code == 303, r.text

    # each a reform not asked before in this process: years 2, 4, 5…, then parents' ages
    forms = [{"s1_urban.continuous_residence_years": str(y)} for y in (2, 4, 5, 1, 6, 7)]
    forms += [{"s3_relatives.parent_min_age_male": str(a)} for a in (50, 52, 58, 62, 65)]
    forms = forms[: max(2, args.runs)]
    times = []
    for i, form in enumerate(forms):
        seconds = run_once(client, form)
        times.append(seconds)
        what = "first after start (baseline too)" if i == 0 else "new reform"
        print(f"run {i + 1:2d}  {seconds:7.3f} s  {what}: {form}")
    again = run_once(client, forms[-1])
    print(f"again    {again:7.3f} s  the last reform asked again")
    later = times[1:]
    print(
        f"new reforms after the first: median {statistics.median(later):.3f} s, "
        f"min {min(later):.3f} s, max {max(later):.3f} s; first {times[0]:.3f} s"
    )


if __name__ == "__main__":
    main()
