"""``GET /analyst`` on the demo: how long the analyst page takes, cold and warm.

    .venv/bin/python bench/analyst_page.py [--runs 10] [--people 5000] [--keep DIR]

Builds what ``make run`` serves — an SQLite register with ``hukou demo load``, a synthetic
population of ``--people`` (seed 2026) with its batch results beside it — in a temporary
folder (or ``--keep DIR``, reused when it is there), then asks the page in process
(FastAPI's TestClient, logged in as the demo's analyst): the first request (cold: nothing
cached), then ``--runs`` more, and prints each figure with the page's size. ``--profile``
prints the top of a cProfile of one warm request. ``--height`` also lays the page out in
Debian's Chromium (Playwright; every request answered by the same in-process app) at
1280 px wide and prints its height in CSS pixels, in Chinese and in English.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import pstats
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

from fastapi.testclient import TestClient


def build(folder: Path, people: int) -> str:
    from hukou.analytics import batch, synth
    from hukou.registry import demo
    from hukou.registry.db import make_engine, session_factory, upgrade
    from hukou.registry.service import Registry

    url = f"sqlite:///{folder / 'register.db'}"
    if not (folder / "register.db").is_file():
        upgrade(url)
        registry = Registry(session_factory(make_engine(url)))
        demo.load(registry)
        registry.close()
    pop = folder / "population"
    if not (pop / "results" / "results.parquet").is_file():
        synth.generate(people, 2026, pop)
        batch.run(pop, pop / "results", "duckdb", dt.date.today())
    return url


def height(client: TestClient, lang: str) -> int:
    """The laid-out height of ``/analyst`` in Chromium, its requests served by ``client``."""
    from playwright.sync_api import Route, sync_playwright

    def serve(route: Route) -> None:
        url = route.request.url.removeprefix("https://testserver")
        r = client.get(url)
        route.fulfill(status=r.status_code, headers=dict(r.headers), body=r.content)

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path="/usr/bin/chromium", args=["--headless", "--no-sandbox"]
        )
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.route("https://testserver/**", serve)
        page.goto(f"https://testserver/analyst?lang={lang}")
        page.wait_for_load_state("networkidle")
        found = int(page.evaluate("document.documentElement.scrollHeight"))
        browser.close()
    return found


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--people", type=int, default=5000)
    ap.add_argument("--keep", type=Path, default=None)
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--height", action="store_true")
    args = ap.parse_args()

    from hukou.registry import demo
    from hukou.registry.db import make_engine, session_factory
    from hukou.registry.service import Registry
    from hukou.service.app import create_app
    from hukou.service.limits import Limits

    folder = args.keep or Path(tempfile.mkdtemp(prefix="hukou-analyst-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    url = build(folder, args.people)
    print(f"register and population in {folder} ({time.perf_counter() - t:.1f} s to build)")
    registry = Registry(session_factory(make_engine(url)))
    app = create_app(registry, limits=Limits.unlimited())
    app.state.population_dir = folder / "population"
    client = TestClient(app, base_url="https://testserver", follow_redirects=False)
    page = client.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf
    r = client.post(
        "/login",
        data={"csrf": csrf.group(1), "username": "analyst", "password": demo.DEMO_PASSWORD},
    )
    assert r.status_code == 303, r.text

    def timed() -> tuple[float, int, str]:
        t0 = time.perf_counter()
        r = client.get("/analyst")
        took = time.perf_counter() - t0
        assert r.status_code == 200, r.status_code
        return took, len(r.content), r.text

    cold, size, html = timed()
    warm = [timed()[0] for _ in range(args.runs)]
    sections = re.findall(r'<section[^>]*id="([^"]+)"', html)
    print(f"GET /analyst  cold {cold * 1000:.0f} ms")
    print(
        f"GET /analyst  warm median {statistics.median(warm) * 1000:.0f} ms, "
        f"min {min(warm) * 1000:.0f} ms, max {max(warm) * 1000:.0f} ms ({args.runs} runs)"
    )
    print(
        f"page: {size / 1024:.0f} kB, {html.count('<table')} tables, "
        f"{html.count('<tr')} rows, sections: {', '.join(sections) or 'none'}"
    )
    if args.height:
        for lang in ("zh", "en"):
            print(f"page height ({lang}, 1280 px wide): {height(client, lang)} px")
    if args.profile:
        prof = cProfile.Profile()
        prof.enable()
        timed()
        prof.disable()
        pstats.Stats(prof, stream=sys.stdout).sort_stats("cumulative").print_stats(30)
    registry.close()


if __name__ == "__main__":
    main()
