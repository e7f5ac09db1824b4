"""``hukou reform`` (baseline + reform + comparison) on a small population: end to end, and
where the time goes.

    .venv/bin/python bench/reform.py                       # 5,000 people, 5 runs, warm cache
    .venv/bin/python bench/reform.py --cold                # each run with an empty cache
    .venv/bin/python bench/reform.py --people 1000000 --runs 1

End to end: the command line as a user types it (``hukou reform <file> --in <pop> --out
<dir>``), each run a new process; wall-clock median and min, and CPU seconds (user+sys of
the child) median. On DuckDB each parameter set is decided by one SQL with the parameters
as session variables (``compile.SymbolicParameters``), cached in the user's cache folder
(``analytics.sqlcache``), then compared; ``--cold`` gives every run a fresh, empty ``HUKOU_CACHE_DIR``
(what the first run after a change of rules, parameters or code costs). The population is
``hukou synth --people N --seed S`` (kept under ``--work``).

Breakdown: the same steps in this process, each timed — imports, opening the population,
the decisions' SQL (from the cache, or built and compiled through Ibis), deciding the
baseline and the reform, comparing them, the tables, CSV/Parquet, the PNG and HTML charts and the workbook — once with the cache as
it is and once compiling afresh (``--no-cold-breakdown`` skips that).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
HUKOU = Path(sys.executable).with_name("hukou")


def _population(people: int, seed: int, work: Path) -> Path:
    pop = work / f"pop-{people}-{seed}"
    if not (pop / "persons.parquet").exists():
        subprocess.run(
            [str(HUKOU), "synth", "--people", str(people), "--seed", str(seed), "--out", str(pop)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return pop


def end_to_end(reform: Path, pop: Path, work: Path, runs: int, cold: bool) -> None:
    walls: list[float] = []
    cpus: list[float] = []
    for i in range(runs):
        env = dict(os.environ)
        if cold:
            env["HUKOU_CACHE_DIR"] = tempfile.mkdtemp(prefix="hukou-cold-", dir=work)
        out = work / f"reform-out-{i}"
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        subprocess.run(
            [str(HUKOU), "reform", str(reform), "--in", str(pop), "--out", str(out)],
            check=True,
            stdout=subprocess.DEVNULL,
            env=env,
        )
        walls.append(time.perf_counter() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        shutil.rmtree(out, ignore_errors=True)
        if cold:
            shutil.rmtree(env["HUKOU_CACHE_DIR"], ignore_errors=True)
    kind = "cold cache" if cold else "warm cache"
    print(
        f"end to end ({kind}, {runs} runs): wall median {statistics.median(walls):.3f} s, "
        f"min {min(walls):.3f} s; CPU median {statistics.median(cpus):.3f} s"
    )


class Laps:
    def __init__(self) -> None:
        self.laps: list[tuple[str, float]] = []

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        yield
        self.laps.append((name, time.perf_counter() - started))

    def show(self, title: str) -> None:
        total = sum(s for _, s in self.laps)
        print(f"\n{title}: {total:.3f} s")
        for name, seconds in self.laps:
            print(f"  {name:<34} {seconds:7.3f} s {100 * seconds / total:5.1f} %")


def breakdown(reform_file: Path, pop: Path, work: Path, cold: bool) -> None:
    lap = Laps()
    with lap("import (ibis, duckdb, hukou)"):
        import ibis  # type: ignore[import-untyped, unused-ignore]

        from hukou.analytics import charts, reform, workbook
        from hukou.cli.analytics_cmds import _write_tables

    saved = os.environ.get("HUKOU_CACHE_DIR")
    if cold:
        os.environ["HUKOU_CACHE_DIR"] = tempfile.mkdtemp(prefix="hukou-cold-", dir=work)
    try:
        with lap("read the reform, parameters"):
            definition = reform.load_reform(reform_file)
            baseline = reform.load()
            reformed = definition.apply(baseline)
            on = definition.dates[0]
        with lap("open the population (DuckDB views)"):
            con = ibis.duckdb.connect()
            tables = reform.population_tables(pop, con)
        # DuckDB's path (``reform.run_reform``): each parameter set decided by the symbolic
        # SQL (one per rule version and tables), then the comparison over the four tables
        prepared: dict[str, Any] = {}
        with lap("fact tables (SQL cached or Ibis; run)"):
            facts = reform.prepare_facts(tables, on, baseline, prepared)
        with lap("decisions' SQL (cache, or Ibis)"):
            res_sql, rel_sql = reform.compiled_decisions(tables, on, baseline, facts)
        print(f"decisions' SQL: {len(res_sql.sql) + len(rel_sql.sql):,} characters")
        with lap("decide the baseline (plan + run)"):
            before = reform.decide_parameter_set(tables, on, baseline, prepared)
        with lap("decide the reform (plan + run)"):
            after = reform.decide_parameter_set(tables, on, reformed, prepared)
        with lap("compare (SQL cached per date)"):
            cube, rel_cube = reform.compare_decided(tables, on, before, after)
        with lap("the report's tables"):
            from hukou.engine.decide import rule_version

            report = reform.ReformReport(
                definition,
                on,
                rule_version(baseline.at(on)),
                rule_version(reformed.at(on)),
                reform.build_tables(cube, rel_cube),
            )
        out = work / "breakdown-out"
        out.mkdir(parents=True, exist_ok=True)
        with lap("import matplotlib, plotly, openpyxl"):
            import matplotlib.backends.backend_agg
            import matplotlib.figure  # noqa: F401
            import openpyxl  # noqa: F401
            import plotly.graph_objects
            import plotly.subplots  # noqa: F401
        with lap("CSV and Parquet"):
            _write_tables(report.tables, out)
        panels = charts.reform_panels(report)
        steps: list[tuple[str, Callable[[], Any]]] = [
            ("PNG (matplotlib)", lambda: charts.write_png(panels, "t", "t", out / "reform.png")),
            ("HTML (plotly)", lambda: charts.write_html(panels, "t", "t", out / "reform.html")),
            ("workbook (openpyxl)", lambda: workbook.reform_workbook(report, out / "r.xlsx")),
        ]
        for name, step in steps:
            with lap(name):
                step()
        con.disconnect()
        shutil.rmtree(out, ignore_errors=True)
    finally:
        if cold:
            shutil.rmtree(os.environ["HUKOU_CACHE_DIR"], ignore_errors=True)
            if saved is None:
                os.environ.pop("HUKOU_CACHE_DIR", None)
            else:
                os.environ["HUKOU_CACHE_DIR"] = saved
    lap.show("breakdown, " + ("cold cache" if cold else "cache as it is") + ", in process")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--people", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument(
        "--reform", type=Path, default=ROOT / "examples/reforms/no-parent-age-limit.yaml"
    )
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--cold", action="store_true", help="an empty cache for every run")
    ap.add_argument("--no-breakdown", action="store_true")
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "hukou-bench")
    args = ap.parse_args()

    args.work.mkdir(parents=True, exist_ok=True)
    pop = _population(args.people, args.seed, args.work)
    print(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}")
    if args.runs:
        end_to_end(args.reform, pop, args.work, args.runs, args.cold)
    if not args.no_breakdown:
        breakdown(args.reform, pop, args.work, cold=args.cold)
    print(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}")


if __name__ == "__main__":
    main()
