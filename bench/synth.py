"""Time ``hukou synth``: N people into a temporary directory, then check every ID number.

    .venv/bin/python bench/synth.py [--people 10000000] [--seed 1] [--chunk 1000000]

Prints people/s, the peak resident memory of this process (getrusage: the generator
runs in-process, the Parquet writes in one thread of it) and the file sizes; then reads
the ID numbers back and validates every one with python-stdnum's ``stdnum.cn.ric``
(its check character, birth date and place functions, the place lookup memoised per
address code and year; the full ``ric.is_valid`` besides on a 1 % sample). The check
runs in Python, one number at a time, and is not part of the timed generation.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import sys
import tempfile
import time
from functools import cache
from pathlib import Path

import pyarrow.parquet as pq
from stdnum.cn import ric

from hukou.analytics.layout import TABLES
from hukou.analytics.synth import generate


@cache
def _place(prefix: str, year: int) -> bool:
    """stdnum's own place check (the code in force in the birth year), once per pair."""
    try:
        ric.get_birth_place(f"{prefix}{year:04d}01010000")
    except ValueError:
        return False
    return True


def _valid(number: str) -> bool:
    """stdnum.cn.ric.validate, step by step, with the GB/T 2260 lookup memoised per
    (address code, birth year): length, digits, check character, birth date, place."""
    if len(number) != 18 or not number[:17].isdigit():
        return False
    if number[-1] != ric.calc_check_digit(number):
        return False
    try:
        ric.get_birth_date(number)
    except ValueError:
        return False
    return _place(number[:6], int(number[6:10]))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--people", type=int, default=10_000_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--chunk", type=int, default=1_000_000)
    ap.add_argument("--no-check", action="store_true", help="skip validating the ID numbers")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "population"
        load = os.getloadavg()[0]
        before = resource.getrusage(resource.RUSAGE_SELF)
        started = time.perf_counter()
        counts = generate(args.people, args.seed, out, chunk=args.chunk)
        seconds = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_SELF)
        cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
        peak = after.ru_maxrss / 1024  # KiB on Linux
        print(f"people            {args.people:>14,}")
        print(f"seconds (wall)    {seconds:>14.1f}")
        print(f"people/s          {args.people / seconds:>14,.0f}")
        # the machine is shared: the CPU time this process used says more than the wall
        # time when others are busy (generation on one thread, writing on another)
        print(f"CPU seconds       {cpu:>14.1f}   (user + system, both threads)")
        print(
            f"load average      {load:>14.2f} -> {os.getloadavg()[0]:.2f} (1 min, {os.cpu_count()} CPUs)"
        )
        print(f"peak RSS          {peak:>11,.0f} MiB")
        total = 0
        for name in TABLES:
            size = (out / f"{name}.parquet").stat().st_size
            total += size
            print(f"{name:<18}{counts[name]:>14,} rows {size / 2**20:>9,.1f} MiB")
        print(f"{'all files':<18}{'':>14}      {total / 2**20:>9,.1f} MiB")
        if args.no_check:
            return 0
        started = time.perf_counter()
        invalid = checked = 0
        reader = pq.ParquetFile(out / "persons.parquet")
        sample = random.Random(args.seed)
        for batch in reader.iter_batches(batch_size=1_000_000, columns=["id_number"]):
            for number in batch.column(0).to_pylist():
                checked += 1
                if not _valid(number):
                    invalid += 1
                # and the whole of stdnum's validate, unshortened, on one number in 100
                if sample.random() < 0.01 and not ric.is_valid(number):
                    invalid += 1
        print(
            f"ID numbers        {checked:>14,} checked with stdnum.cn.ric, {invalid} invalid "
            f"({time.perf_counter() - started:.0f} s)"
        )
        return 1 if invalid else 0


if __name__ == "__main__":
    sys.exit(main())
