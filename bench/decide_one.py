"""Per-case speed: JSON bytes of a family of four -> complete decision with its
explanation tree (and, separately, -> the JSON report).

    .venv/bin/python bench/decide_one.py [--n 20000] [--case bench/family4.json]

Prints median, p99 and mean per decision. Not a test: figures go to the README.
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import statistics
import time
from pathlib import Path

import orjson

from hukou.engine.decide import decide
from hukou.engine.report import decision_json
from hukou.policy.facts import parse_case


def measure(fn, data: bytes, n: int) -> list[float]:  # type: ignore[no-untyped-def]
    for _ in range(min(1000, n)):  # warm caches and compiled rule closures
        fn(data)
    samples = []
    gc.disable()
    try:
        for _ in range(n):
            t0 = time.perf_counter_ns()
            fn(data)
            samples.append((time.perf_counter_ns() - t0) / 1e6)
    finally:
        gc.enable()
    return samples


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--case", type=Path, default=Path(__file__).with_name("family4.json"))
    args = ap.parse_args()
    data = args.case.read_bytes()
    people = 1 + len(json.loads(data).get("relatives", []))

    runs = {
        "parse + decide (with explanation tree)": lambda b: decide(parse_case(b)),
        # serialised as POST /api/check does (orjson)
        "parse + decide + JSON report": lambda b: orjson.dumps(
            decision_json(decide(parse_case(b)))
        ),
        "parse only": parse_case,
    }
    decided = decide(parse_case(data))
    # the report alone, from a decision made once: its share of the second line
    runs["report + orjson (decided once)"] = lambda _b: orjson.dumps(decision_json(decided))
    print(
        f"case: {args.case} ({people} people), n={args.n}, "
        f"python {platform.python_version()}, {platform.machine()}"
    )
    print(f"{'path':42} {'median ms':>10} {'p99 ms':>8} {'mean ms':>8}")
    for name, fn in runs.items():
        s = sorted(measure(fn, data, args.n))
        p99 = s[min(len(s) - 1, int(len(s) * 0.99))]
        print(f"{name:42} {statistics.median(s):10.3f} {p99:8.3f} {statistics.fmean(s):8.3f}")


if __name__ == "__main__":
    main()
