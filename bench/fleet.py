"""Fleet audit: every check of 1,000 and 10,000 connections, each provider call answered after 50 ms,
every provider rate-limited by the simulator.

The world process serves a generated scenario (the three healthy demo shapes in turn, every user with a
`slow: 0.05` fault and the scenario's `rate_limits`); the audit runs in a fresh child process, as
`chatops diagnose --all` does (Chatops.diagnose over every connection of the workspace), with
CHATOPS_CONCURRENCY checks in flight and CHATOPS_RATE_LIMITS set to the simulator's limits. Figures: wall
time of the diagnosis, the calls it made (counted by the simulator), the answers the simulator refused
with its rate-limit error (must be 0), and the child's peak RSS.

Floor: max over providers of calls / rate limit, and calls x latency / concurrency. The first is what
the providers allow; the second is what the latency allows with that many calls in flight.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any, Final

from bench.common import (
    PYTHON,
    ROOT,
    WORKSPACE,
    Result,
    Row,
    child_env,
    median,
    peak_rss_mb,
    report,
    say,
    seed_store,
    start_world,
    stop,
    table,
    write_scenario,
)

SIZES: Final = (1_000,)
FULL_SIZES: Final = (1_000, 10_000)  # --full: 10,000 takes minutes, not seconds
QUICK_SIZES: Final = (150,)
LATENCY_S: Final = 0.050
CONCURRENCY: Final = 100
# Calls per second per provider: the simulator's limits, and the client's (CHATOPS_RATE_LIMITS). In
# proportion to each provider's share of the calls, about 300 calls a second in all: what one process
# of chatops sustains on the 2-CPU bench machine, so the providers' limits, not the CPU, set the pace.
RATE_LIMITS: Final = {"google": 120.0, "microsoft": 65.0, "dynamics": 40.0, "salesforce": 35.0, "hubspot": 40.0}
TARGET_RATIO: Final = 1.25
TARGET_RSS_MB: Final = 300.0


def rate_text(limits: dict[str, float]) -> str:
    return ",".join(f"{p}={r:g}" for p, r in limits.items())


def child(database: str, key: str, world_env: dict[str, str], concurrency: int, limits: str) -> dict[str, Any]:
    """One audit in this (fresh) process: build the services, diagnose every connection, report."""
    from adapters.wiring import Config, build

    overrides = {**world_env, "CHATOPS_DATABASE_URL": database, "CHATOPS_ENCRYPTION_KEYS": key,
                 "CHATOPS_DATA_DIR": str(Path(database.removeprefix("sqlite:///")).parent),
                 "CHATOPS_CONCURRENCY": str(concurrency), "CHATOPS_DEADLINE_S": "3600",
                 "CHATOPS_CHECK_TIMEOUT_S": "120", "CHATOPS_RATE_LIMITS": limits}
    services = build(Config.load(overrides))

    async def audit() -> dict[str, Any]:
        try:
            connections = await asyncio.to_thread(services.store.list_connections, WORKSPACE)
            before = peak_rss_mb()
            started = time.perf_counter()
            report_ = await services.core.diagnose(WORKSPACE, connections)
            wall = time.perf_counter() - started
        finally:
            await services.close()
        statuses: dict[str, int] = {}
        for finding in report_.findings:
            statuses[finding.status.value] = statuses.get(finding.status.value, 0) + 1
        errors = sorted({f.summary for f in report_.findings if f.status.value == "error"})[:5]
        return {"connections": len(connections), "wall_s": wall, "rss_before_mb": before,
                "findings": len(report_.findings), "statuses": statuses, "errors": errors}

    result = asyncio.run(audit())
    result["peak_rss_mb"] = peak_rss_mb()
    return result


def counts(world: dict[str, Any]) -> dict[str, dict[str, int]]:
    with urllib.request.urlopen(f"{world['slack']}/bench/counts", timeout=10) as answer:
        return dict(json.load(answer))


def run(quick: bool, sizes: tuple[int, ...] | None = None, repeat: int | None = None,
        full: bool = False) -> Result:
    from chatops.store.crypto import GrantCipher

    sizes = sizes or (QUICK_SIZES if quick else FULL_SIZES if full else SIZES)
    result = Result("fleet", quick)
    details: dict[str, Any] = {"latency_s": LATENCY_S, "concurrency": CONCURRENCY, "rate_limits": RATE_LIMITS,
                               "sizes": {}}
    for size in sizes:
        runs = repeat or (1 if quick or size >= 10_000 else 2)
        with tempfile.TemporaryDirectory(prefix="bench-fleet-") as folder:
            data = Path(folder)
            log = data / "processes.log"
            scenario = write_scenario(data / "scenario.json", size, faults=[{"slow": LATENCY_S}],
                                      rate_limits=RATE_LIMITS)
            world_process, world = start_world(scenario, log)
            try:
                key = GrantCipher.generate_key()
                database = f"sqlite:///{data / 'chatops.db'}"
                began = time.perf_counter()
                seed_store(database, key, world["records"])
                say(f"fleet: {size:,} connections imported in {time.perf_counter() - began:.1f} s; "
                    f"{runs} audit(s)")
                audits = []
                for _ in range(runs):
                    time.sleep(1.0)  # the simulator's buckets refill
                    first = counts(world)
                    done = subprocess.run(
                        [PYTHON, "-m", "bench.fleet", "--child", database, key, str(CONCURRENCY),
                         rate_text(RATE_LIMITS)],
                        input=json.dumps(world["env"]), capture_output=True, text=True, env=child_env(), cwd=ROOT)
                    if done.returncode != 0:
                        raise RuntimeError(f"the audit failed: {done.stderr[-3000:]}")
                    audit = json.loads(done.stdout.strip().splitlines()[-1])
                    last = counts(world)
                    calls = {p: n - first["served"].get(p, 0) for p, n in last["served"].items()}
                    throttled = {p: n - first["throttled"].get(p, 0) for p, n in last["throttled"].items()}
                    floor = max(max(calls.get(p, 0) / rate for p, rate in RATE_LIMITS.items()),
                                sum(calls.values()) * LATENCY_S / CONCURRENCY)
                    audit.update(calls=calls, throttled=throttled, floor_s=floor)
                    audits.append(audit)
                    say(f"  {size:,}: {audit['wall_s']:.1f} s (floor {floor:.1f} s), {sum(calls.values()):,} calls, "
                        f"{sum(throttled.values())} refused, peak RSS {audit['peak_rss_mb']:.0f} MB")
            except BaseException:
                say(log.read_text(errors="replace")[-3000:])
                raise
            finally:
                stop(world_process)
        wall, floor = median(a["wall_s"] for a in audits), median(a["floor_s"] for a in audits)
        rss = max(a["peak_rss_mb"] for a in audits)
        refused = max(sum(a["throttled"].values()) for a in audits)
        details["sizes"][size] = {"audits": audits, "wall_s": wall, "floor_s": floor}
        result.rows.append(Row(f"audit of {size:,} connections", round(wall, 2), "s", round(floor, 2), "<= 1.25x",
                               wall <= TARGET_RATIO * floor,
                               note=f"{median(sum(a['calls'].values()) for a in audits):,.0f} calls"))
        result.rows.append(Row(f"  peak RSS, {size:,}", rss, "MB", None, "< 300 MB" if size >= 10_000 else "",
                               rss < TARGET_RSS_MB if size >= 10_000 else None))
        result.rows.append(Row(f"  refused by the simulator, {size:,}", refused, "calls", None, "0", refused == 0))
    result.details = details
    return result


def calls_table(result: Result) -> str:
    rows = [("connections", "provider", "calls", "limit/s", "calls/limit s", "refused")]
    for size, figures in result.details["sizes"].items():
        audit = figures["audits"][0]
        for provider, rate in RATE_LIMITS.items():
            calls = audit["calls"].get(provider, 0)
            rows.append((f"{size:,}", provider, f"{calls:,}", f"{rate:g}", f"{calls / rate:.1f}",
                         str(audit["throttled"].get(provider, 0))))
    return table(rows)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["--child"]:
        world_env = json.loads(sys.stdin.read())
        print(json.dumps(child(args[1], args[2], world_env, int(args[3]), args[4])))
        return 0
    parser = argparse.ArgumentParser(prog="python -m bench.fleet", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_SIZES[0]} connections once (CI smoke)")
    parser.add_argument("--full", action="store_true", help="1,000 and 10,000 connections")
    parser.add_argument("--sizes", type=lambda s: tuple(int(x) for x in s.split(",")), default=None,
                        help="connection counts (default 1000; --full 1000,10000)")
    parser.add_argument("--repeat", type=int, default=None, help="audits per size (default 2; 1 at 10,000)")
    parser.add_argument("--out", type=Path, default=None)
    parsed = parser.parse_args(args)
    result = run(parsed.quick, parsed.sizes, parsed.repeat, parsed.full)
    print(calls_table(result))
    report(result, parsed.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
