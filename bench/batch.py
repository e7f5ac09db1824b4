"""Batch decisions, Parquet in -> Parquet out: people per second on DuckDB, PostgreSQL, Spark.

    .venv/bin/python bench/batch.py --people 1000000                     # DuckDB
    .venv/bin/python bench/batch.py --people 1000000 --engine postgres   # in-database
    .venv/bin/python bench/batch.py --people 200000 --engine spark       # local[2]

The population is ``analytics.synth.generate(people, seed, dir)`` (cached under
``--work``); the timed part is ``analytics.batch.run`` only (for PostgreSQL the load
into the database is timed separately). Peak memory is the largest resident set of
this process and its children (DuckDB runs in-process). ``ibis`` is the part of it spent
building and compiling the queries, nothing when they all come from the compiled-query
cache (``analytics.sqlcache``: a second run with the same code, parameters, date and
tables; the first fills it).

Then, in the same process and on a DuckDB connection configured as the batch's, the
floor: every column of the persons and relations files read, and one narrow row per
person (its id and a hash of the whole row) and per pair (both ids and a hash of the
row) written to Parquet, nothing evaluated — the least any batch over these files can
cost on this machine now — and the batch's time as a multiple of it (``--no-floor``:
skipped).
"""

from __future__ import annotations

import argparse
import datetime as dt
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path


def floor(pop: Path, memory_limit: str, threads: int | None) -> float:
    """Seconds to read every column of persons and relations and write one narrow row
    per person and per pair (ids and a hash of the row): nothing evaluated."""
    from hukou.analytics import batch

    with tempfile.TemporaryDirectory(prefix="hukou-floor-") as tmp:
        work = Path(tmp)
        con = batch._duckdb_connect(memory_limit, work / "spill", threads)
        try:
            raw = con.con
            queries = [
                f"COPY (SELECT {ids}, hash(*COLUMNS(*)) AS row_hash "
                f"FROM read_parquet('{batch._sql_path(pop / f'{name}.parquet')}')) "
                f"TO '{batch._sql_path(work / f'{name}.parquet')}' (FORMAT parquet)"
                for name, ids in (
                    ("persons", "person_id"),
                    ("relations", "person_id, relative_id"),
                )
            ]
            started = time.perf_counter()
            for query in queries:
                raw.execute(query)
            return time.perf_counter() - started
        finally:
            con.disconnect()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--people", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--engine", choices=("duckdb", "postgres", "spark"), default="duckdb")
    ap.add_argument("--on", type=dt.date.fromisoformat, default=None)
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "hukou-bench")
    ap.add_argument("--memory-limit", default="8GB")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--pg-url", default=None, help="default: HUKOU_DATABASE_URL")
    ap.add_argument("--spark-master", default=None)
    ap.add_argument("--keep", action="store_true", help="keep the results directory")
    ap.add_argument("--no-floor", action="store_true", help="skip the floor query")
    args = ap.parse_args()

    from hukou.analytics import batch
    from hukou.analytics.synth import DEFAULT_ON, generate

    on = args.on or DEFAULT_ON
    pop = args.work / f"pop-{args.people}-{args.seed}"
    if not (pop / "persons.parquet").exists():
        started = time.perf_counter()
        generate(args.people, args.seed, pop)
        print(f"synth      {args.people:>12,} people in {time.perf_counter() - started:.1f} s")
    out = args.work / f"out-{args.engine}-{args.people}"
    shutil.rmtree(out, ignore_errors=True)

    if args.engine == "postgres":
        started = time.perf_counter()
        batch.load_postgres(pop, args.pg_url, prefix="bench_")
        print(f"pg load    {time.perf_counter() - started:.1f} s (not in the figure below)")

    started = time.perf_counter()
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    report = batch.run(
        pop,
        out,
        args.engine,
        on,
        pg=args.pg_url,
        pg_prefix="bench_",
        spark_master=args.spark_master,
        memory_limit=args.memory_limit,
        threads=args.threads,
    )
    seconds = time.perf_counter() - started
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = cpu1.ru_utime - cpu0.ru_utime + cpu1.ru_stime - cpu0.ru_stime
    peak = max(
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
    )
    import pyarrow.parquet as pq

    rows = pq.read_metadata(out / batch.RESULTS_FILE).num_rows if args.engine != "spark" else None
    print(f"engine     {args.engine}   decision date {on}")
    print(
        f"people     {args.people:>12,}" + (f"   result rows {rows:,}" if rows is not None else "")
    )
    print(f"seconds    {seconds:>12.2f}")
    print(f"people/s   {args.people / seconds:>12,.0f}")
    print(f"CPU s      {cpu:>12.2f}   (this process; the machine is shared, wall time varies)")
    print(f"peak RSS   {peak / 1024:>12,.0f} MiB")
    queries = report.get("queries")
    if queries is not None:
        source = f"{queries['cached']} of {queries['cached'] + queries['compiled']} queries"
        print(f"ibis       {queries['seconds']:>12.2f} s ({source} from the compiled-query cache)")
    if not args.no_floor:
        least = floor(pop, args.memory_limit, args.threads)
        print(f"floor      {least:>12.2f} s (read persons and relations, write ids and row hashes)")
        print(f"ratio      {seconds / least:>12.1f}× the floor")
    if not args.keep:
        shutil.rmtree(out, ignore_errors=True)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
