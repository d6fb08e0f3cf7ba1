"""`make bench` / `python -m bench [--quick] [--only a,b]`: all five benchmarks, each in its own process.

Each benchmark prints its own figures and writes bench/results/<name>.json (<name>-quick.json with
--quick); this then prints one summary table, every figure beside its floor, the ratio and the target,
and writes bench/results/summary.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Final

from bench.common import PYTHON, RESULTS, ROOT, fmt, machine, table

BENCHMARKS: Final = ("ack", "time_to_card", "fleet", "classify", "cold_start")


def classify_rows(data: dict[str, Any]) -> list[dict[str, Any]]:
    """bench/classify.py's own JSON as summary rows: our lines/s against the naive baseline's."""
    ours, naive = data["classifier"]["lines_per_s"], data["naive"]["lines_per_s"]
    peak = data["memory"]["tracemalloc_peak_bytes"] / 2**20
    return [
        {"name": f"classify {data['lines']:,} lines", "value": ours, "unit": "lines/s", "floor": naive,
         "ratio": round(ours / naive, 1) if naive else None, "target": "faster than the naive baseline",
         "met": ours > naive, "floor_is": "naive baseline"},
        {"name": "  classify peak memory (tracemalloc)", "value": round(peak, 1), "unit": "MB", "floor": None,
         "ratio": None, "target": "", "met": None},
    ]


def rows_of(name: str, path: Path) -> list[dict[str, Any]]:
    data = json.loads(path.read_text(encoding="utf-8"))
    return classify_rows(data) if name == "classify" else list(data["rows"])


def summary(results: dict[str, list[dict[str, Any]]]) -> str:
    lines = [("benchmark", "figure", "value", "floor", "ratio", "target", "met")]
    for name, rows in results.items():
        for row in rows:
            met = {True: "yes", False: "NO", None: ""}[row.get("met")]
            lines.append((name, row["name"], fmt(row["value"], row["unit"]), fmt(row.get("floor"), row["unit"]),
                          fmt(row.get("ratio"), "x"), row.get("target", ""), met))
            name = ""
    return table(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="each benchmark's CI smoke size")
    parser.add_argument("--full", action="store_true", help="the fleet audit at 10,000 connections too (minutes)")
    parser.add_argument("--only", type=lambda s: [x.strip() for x in s.split(",") if x.strip()],
                        default=list(BENCHMARKS), help=f"a comma-separated subset of {', '.join(BENCHMARKS)}")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.only) - set(BENCHMARKS))
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")
    suffix = "-quick" if args.quick else ""
    results: dict[str, list[dict[str, Any]]] = {}
    failed: list[str] = []
    seconds: dict[str, float] = {}
    for name in (b for b in BENCHMARKS if b in args.only):
        out = RESULTS / f"{name}{suffix}.json"
        argv_ = [PYTHON, "-m", f"bench.{name}", "--out", str(out), *(["--quick"] if args.quick else []),
                 *(["--full"] if args.full and name == "fleet" else []),
                 *(["--repeat", "1"] if args.quick and name == "classify" else [])]
        print(f"\n### {' '.join(['python', '-m', f'bench.{name}', *argv_[4:]])}", flush=True)
        started = time.perf_counter()
        done = subprocess.run(argv_, cwd=ROOT)
        seconds[name] = round(time.perf_counter() - started, 1)
        if done.returncode != 0 or not out.is_file():
            failed.append(name)
            continue
        results[name] = rows_of(name, out)
    print("\n== summary" + (" (quick)" if args.quick else "") + " ==")
    print(summary(results))
    info = machine()
    print(f"\nmachine: {info['nproc']} CPUs ({info['cpu']}), Python {info['python']}; "
          f"seconds per benchmark: {', '.join(f'{k} {v:g}' for k, v in seconds.items())}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"summary{suffix}.json").write_text(json.dumps(
        {"machine": info, "quick": args.quick, "seconds": seconds, "results": results, "failed": failed},
        indent=2) + "\n", encoding="utf-8")
    if failed:
        print(f"FAILED: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
