"""Instructions per decision, counted by valgrind's callgrind: unlike wall time on a
shared virtual machine, the count repeats exactly from run to run.

    .venv/bin/python bench/instructions.py [--n 100]

Runs the interpreter under callgrind five times (start-up only, then N times: parse;
parse + decide; + the report's dict; + its orjson bytes, as ``/api/check`` sends them)
and prints the instructions each case costs, and each stage's share.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

CASE = Path(__file__).with_name("family4.json")

SCRIPT = """
import sys
import orjson
from hukou.engine.decide import decide
from hukou.engine.report import decision_json
from hukou.policy.facts import parse_case
data = open(sys.argv[1], 'rb').read()
mode, n = sys.argv[2], int(sys.argv[3])
orjson.dumps(decision_json(decide(parse_case(data))))  # warm: compiled closures, caches
for _ in range(n):
    if mode == 'parse':
        parse_case(data)
    elif mode == 'decide':
        decide(parse_case(data))
    elif mode == 'report':
        decision_json(decide(parse_case(data)))
    elif mode == 'bytes':
        orjson.dumps(decision_json(decide(parse_case(data))))
"""


def count(mode: str, n: int) -> int:
    out = subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            "--callgrind-out-file=/dev/null",
            sys.executable,
            "-c",
            SCRIPT,
            str(CASE),
            mode,
            str(n),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stderr
    match = re.search(r"refs:\s+([\d,]+)", out)
    assert match, out
    return int(match.group(1).replace(",", ""))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=100)
    args = ap.parse_args()
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed (apt-get install valgrind)")
    base = count("none", 0)
    print(f"case: {CASE.name}, n={args.n}")
    before = 0.0
    for mode, label, stage in (
        ("parse", "parse", "parse"),
        ("decide", "parse + decide", "decide"),
        ("report", "parse + decide + JSON report", "report"),
        ("bytes", "... + orjson bytes", "orjson"),
    ):
        per_case = (count(mode, args.n) - base) / args.n
        print(
            f"{label:32} {per_case / 1e6:6.2f} M instructions per case"
            f"  ({stage} {(per_case - before) / 1e6:.2f} M)"
        )
        before = per_case


if __name__ == "__main__":
    main()
