"""Time to card: one connection, every check, each provider call answered after a fixed latency L.

Same three processes as bench/ack.py: `chatops serve`, the world (fake Slack and the provider simulator)
and this one. Every scenario user has a `slow` fault (adapters/sandbox/scenario.py), so the simulator
answers each of their calls, token refreshes included, after L; no code in the simulator changes for it.
One connection of each shape is measured: Salesforce + Gmail + Google Calendar, Dynamics + Outlook +
Outlook calendar, HubSpot + Gmail. The figure is the time from sending the signed /syncstatus to the card
arriving at its response_url (the median over the runs).

The floor is the longest chain of dependent provider calls times L. The chain is derived, not assumed:
the simulator records every call (start and end), and a call depends on every call that ended before it
started; the chain is the deepest such path, read from the runs at the largest L, where the client's own
milliseconds are small against L. A diagnosis whose checks ran one after another would have a chain of
every call; one that runs them concurrently has the few calls that really wait for each other.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Final

from bench.ack import CHATOPS, Client
from bench.common import (
    BOT_TOKEN,
    KINDS,
    ROOT,
    SIGNING_SECRET,
    Result,
    Row,
    child_env,
    free_port,
    median,
    ms,
    report,
    say,
    seed_store,
    start_world,
    stop,
    table,
    wait_http,
    write_scenario,
)

LATENCIES: Final = (0.050, 0.200)
TARGET_RATIO: Final = 1.3
_PREFIXES: Final = {"google-oauth": "google", "google": "google", "microsoft-login": "microsoft",
                    "graph": "microsoft", "salesforce": "salesforce", "hubspot": "hubspot", "dynamics": "dynamics"}


def label(call: dict[str, Any]) -> str:
    """'google POST /token': the provider and the endpoint, ids cut off."""
    prefix, _, rest = call["path"].lstrip("/").partition("/")
    parts = [p for p in rest.split("/") if p and not any(ch.isdigit() for ch in p[:1]) and len(p) < 40]
    return f"{_PREFIXES.get(prefix, prefix)} {call['method']} /{'/'.join(parts[-3:])}"


def chain(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The longest path of calls in which each started after the previous one ended."""
    ordered = sorted(calls, key=lambda c: c["t"])
    depth: list[int] = []
    parent: list[int | None] = []
    for i, call in enumerate(ordered):
        before = [j for j in range(i) if ordered[j]["end"] <= call["t"]]
        best = max(before, key=lambda j: depth[j], default=None)
        depth.append(1 + (depth[best] if best is not None else 0))
        parent.append(best)
    if not ordered:
        return []
    at: int | None = max(range(len(ordered)), key=lambda i: depth[i])
    path = []
    while at is not None:
        path.append(ordered[at])
        at = parent[at]
    return path[::-1]


async def measure(world: dict[str, Any], url: str, users: dict[tuple[int, float], int],
                  runs: int) -> dict[str, Any]:
    client = Client(world)
    out: dict[str, Any] = {}
    try:
        for index in users.values():  # warm up: users.info, auth.test, the pools
            await client.send(url, (await client.bodies([index]))[0])
            await client.cards(1, timeout=30)
        for (kind, latency), index in users.items():
            times, chains, calls_seen = [], [], []
            for _ in range(runs):
                body = (await client.bodies([index]))[0]
                await client.log()  # skip what came before
                sent = time.monotonic()
                status = (await client.send(url, body))[2]
                records: list[dict[str, Any]] = []
                while not any(r["kind"] == "card" for r in records):
                    if time.monotonic() - sent > 30:
                        raise TimeoutError(f"no card for user {index} within 30 s")
                    await asyncio.sleep(0.005)
                    records += await client.log()
                card = next(r for r in records if r["kind"] == "card")
                calls = [r for r in records if r["kind"] == "call" and r["t"] >= sent and r["end"] <= card["t"]]
                times.append(card["t"] - sent)
                chains.append(chain(calls))
                calls_seen.append(len(calls))
                timeline = [(label(c), ms(c["t"] - sent), ms(c["end"] - c["t"]))
                            for c in sorted(calls, key=lambda c: c["t"])]
                assert status == 200, status
            out[f"{kind}@{latency}"] = {"kind": kind, "latency_s": latency, "times_s": times,
                                        "calls": calls_seen, "chains": [[label(c) for c in ch] for ch in chains],
                                        "blocks": card["blocks"], "text": card["text"],
                                        "timeline_ms": timeline, "card_ms": ms(card["t"] - sent)}
            say(f"  {KINDS[kind]['crm']}+{KINDS[kind]['mail']} at L={ms(latency):g} ms: "
                f"{ms(median(times))} ms, chain {max(len(c) for c in chains)}, {median(calls_seen):g} calls")
    finally:
        await client.close()
    return out


def run(quick: bool, runs: int | None = None) -> Result:
    from chatops.store.crypto import GrantCipher

    runs = runs or (2 if quick else 5)
    result = Result("time_to_card", quick)
    # user index -> (shape, latency): users 0..2 answer after 50 ms, 3..5 after 200 ms
    users = {(i % len(KINDS), LATENCIES[i // len(KINDS)]): i for i in range(len(KINDS) * len(LATENCIES))}
    with tempfile.TemporaryDirectory(prefix="bench-card-") as folder:
        data = Path(folder)
        log = data / "processes.log"
        scenario = write_scenario(data / "scenario.json", len(users),
                                  faults=lambda i: [{"slow": LATENCIES[i // len(KINDS)]}])
        world_process, world = start_world(scenario, log, record_provider_calls=True)
        processes: list[subprocess.Popen[Any]] = [world_process]
        try:
            key = GrantCipher.generate_key()
            database = f"sqlite:///{data / 'chatops.db'}"
            seed_store(database, key, world["records"])
            port = free_port()
            env = child_env({**world["env"], "CHATOPS_DATA_DIR": str(data), "CHATOPS_DATABASE_URL": database,
                             "CHATOPS_ENCRYPTION_KEYS": key, "SLACK_SIGNING_SECRET": SIGNING_SECRET,
                             "SLACK_BOT_TOKEN": BOT_TOKEN, "CHATOPS_SLACK_API_URL": world["api_url"]})
            with log.open("ab") as sink:
                processes.append(subprocess.Popen([CHATOPS, "serve", "--port", str(port)], env=env, stdout=sink,
                                                  stderr=sink, cwd=ROOT))
            wait_http(f"http://127.0.0.1:{port}/readyz", process=processes[1])
            say(f"time to card: {len(KINDS)} connection shapes x L = "
                f"{', '.join(f'{ms(x):g}' for x in LATENCIES)} ms, {runs} runs each")
            measured = asyncio.run(measure(world, f"http://127.0.0.1:{port}/slack/events", users, runs))
        except BaseException:
            say(log.read_text(errors="replace")[-3000:])
            raise
        finally:
            for process in reversed(processes):
                stop(process)
    slowest = max(LATENCIES)
    for kind, shape in enumerate(KINDS):
        chains = measured[f"{kind}@{slowest}"]["chains"]
        longest = max(chains, key=len)
        for latency in LATENCIES:
            figures = measured[f"{kind}@{latency}"]
            figures["chain"] = longest
            value = median(figures["times_s"])
            floor = len(longest) * latency
            result.rows.append(Row(
                f"time to card, {shape['crm']}+{shape['mail']}, L={ms(latency):g} ms", ms(value), "ms", ms(floor),
                "<= 1.3x", value <= TARGET_RATIO * floor, note=f"chain of {len(longest)}: {' -> '.join(longest)}"))
    result.details = {"runs": runs, "latencies_s": list(LATENCIES), "measured": measured}
    return result


def chains_table(result: Result) -> str:
    rows = [("connection", "chain (longest path of dependent calls)", "calls")]
    for kind, shape in enumerate(KINDS):
        figures = result.details["measured"][f"{kind}@{max(LATENCIES)}"]
        rows.append((f"{shape['crm']}+{shape['mail']}", " -> ".join(figures["chain"]), f"{median(figures['calls']):g}"))
    return table(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.time_to_card", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="2 runs each (CI smoke)")
    parser.add_argument("--runs", type=int, default=None, help="runs per shape and latency (default 5, quick 2)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    result = run(args.quick, args.runs)
    print(chains_table(result))
    report(result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
