"""Ack latency: N concurrent signed /syncstatus requests against `chatops serve` while every provider hangs.

Three processes: `chatops serve` (Slack in single-team mode, SQLite), the world (fake Slack and the
provider simulator, every user with a `hang` fault: each provider call is accepted and never answered),
and this one, which signs and sends the requests. The floor is a bare slack-bolt AsyncApp on the same
aiohttp stack (the same to_bolt_request/to_aiohttp_response route as adapters/slack) whose listener only
acks; both servers run side by side and each level is measured on the bare app, then on chatops.

A burst is N requests sent at once; its figures are the p50, p99 and max of the N ack latencies (send to
the last byte of the answer) and N / (last answer - first send) requests per second. Each level runs
several bursts; the figures are the medians over the bursts. Every user is warmed up once first (users.info
and auth.test are cached, as in a running workspace). CHATOPS_CHECK_TIMEOUT_S is 2 s, so a level's hung
diagnoses end, and their cards (each finding an `error`) are delivered, before the next level starts;
every ack is measured while all of its burst's provider calls still hang.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from bench.common import (
    BOT_TOKEN,
    PYTHON,
    ROOT,
    SIGNING_SECRET,
    Result,
    Row,
    child_env,
    free_port,
    median,
    ms,
    percentile,
    report,
    say,
    seed_store,
    start_world,
    stop,
    table,
    wait_http,
    write_scenario,
)

LEVELS: Final = (1, 10, 50, 200)
QUICK_LEVELS: Final = (1, 10, 50)
CHECK_TIMEOUT_S: Final = 2.0
TARGET_LEVEL: Final = 50
TARGET_P99_S: Final = 0.100
TARGET_RATIO: Final = 1.5
CHATOPS: Final = str(Path(PYTHON).with_name("chatops"))


def bare_app(port: int, api_url: str) -> None:
    """The floor: slack-bolt's AsyncApp on aiohttp, the /syncstatus listener only acks."""
    from aiohttp import web
    from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
    from slack_bolt.async_app import AsyncAck, AsyncApp
    from slack_sdk.web.async_client import AsyncWebClient

    async def build() -> web.Application:
        bolt = AsyncApp(token=BOT_TOKEN, signing_secret=SIGNING_SECRET,
                        client=AsyncWebClient(token=BOT_TOKEN, base_url=api_url))

        @bolt.command("/syncstatus")
        async def syncstatus(ack: AsyncAck) -> None:
            await ack()

        async def events(request: web.Request) -> web.Response:
            return await to_aiohttp_response(await bolt.async_dispatch(await to_bolt_request(request)))

        app = web.Application()
        app.router.add_post("/slack/events", events)
        app.router.add_get("/readyz", lambda _: web.json_response({"status": "ok"}))  # type: ignore[arg-type,return-value]
        return app

    web.run_app(build(), host="127.0.0.1", port=port, print=None)


class Client:
    """Signs and sends /syncstatus bodies made by the world's fake Slack."""

    def __init__(self, world: dict[str, Any]) -> None:
        import aiohttp

        self.world = world
        self.http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        self.seen = 0  # records of the world's log already read

    async def bodies(self, users: Sequence[int]) -> list[bytes]:
        async with self.http.post(f"{self.world['slack']}/bench/commands", json={"users": list(users)}) as answer:
            return [body.encode() for body in await answer.json()]

    async def send(self, url: str, body: bytes) -> tuple[float, float, int, str]:
        from adapters.sandbox.slack_api import FakeSlack

        headers = {"Content-Type": "application/x-www-form-urlencoded", **FakeSlack.sign(SIGNING_SECRET, body)}
        started = time.perf_counter()
        async with self.http.post(url, data=body, headers=headers) as answer:
            text = await answer.text()
        return started, time.perf_counter(), answer.status, text

    async def burst(self, url: str, bodies: list[bytes]) -> dict[str, Any]:
        sent = await asyncio.gather(*(self.send(url, body) for body in bodies))
        latencies = [end - start for start, end, _, _ in sent]
        wall = max(end for _, end, _, _ in sent) - min(start for start, _, _, _ in sent)
        failed = [(status, text[:200]) for _, _, status, text in sent if status != 200]
        return {"n": len(bodies), "p50": percentile(latencies, 50), "p99": percentile(latencies, 99),
                "max": max(latencies), "rps": len(bodies) / wall if wall else 0.0, "failed": failed,
                "answers": sorted({text[:80] for _, _, _, text in sent})[:3],
                "latencies_ms": [ms(x) for x in latencies]}

    async def log(self) -> list[dict[str, Any]]:
        async with self.http.get(f"{self.world['slack']}/bench/log", params={"since": str(self.seen)}) as answer:
            records: list[dict[str, Any]] = await answer.json()
        self.seen += len(records)
        return records

    async def cards(self, count: int, timeout: float) -> int:
        """Wait until `count` more cards reached response_urls; returns how many did."""
        got, deadline = 0, time.monotonic() + timeout
        while got < count and time.monotonic() < deadline:
            got += sum(1 for r in await self.log() if r["kind"] == "card")
            if got < count:
                await asyncio.sleep(0.05)
        return got

    async def close(self) -> None:
        await self.http.close()


def summarise(bursts: list[dict[str, Any]]) -> dict[str, float]:
    return {key: median(b[key] for b in bursts) for key in ("p50", "p99", "max", "rps")}


async def measure(world: dict[str, Any], chatops_url: str, bare_url: str, levels: Sequence[int],
                  bursts: int, users: int) -> dict[str, Any]:
    client = Client(world)
    out: dict[str, Any] = {"levels": {}}
    try:
        say("  warming up: one command per user, then wait for their cards")
        warm = await client.bodies(range(users))
        for start in range(0, len(warm), 20):
            await asyncio.gather(*(client.send(chatops_url, body) for body in warm[start:start + 20]))
        delivered = await client.cards(len(warm), timeout=60)
        await client.send(bare_url, (await client.bodies([0]))[0])
        out["warmup_cards"] = f"{delivered}/{len(warm)}"
        for level in levels:
            senders = [(i * 7) % users for i in range(level)]  # N different users (7 is prime to the count)
            runs: dict[str, list[dict[str, Any]]] = {"bare": [], "chatops": []}
            for name, url in (("bare", bare_url), ("chatops", chatops_url)):
                for _ in range(bursts):
                    bodies = await client.bodies(senders)
                    runs[name].append(await client.burst(url, bodies))
                    await asyncio.sleep(0.1)
            expected = level * bursts
            cards = await client.cards(expected, timeout=CHECK_TIMEOUT_S * 4 + 30)
            out["levels"][level] = {
                "bare": summarise(runs["bare"]), "chatops": summarise(runs["chatops"]),
                "bursts": runs, "cards": f"{cards}/{expected}",
                "failed": sum(len(b["failed"]) for r in runs.values() for b in r),
            }
            c, b = out["levels"][level]["chatops"], out["levels"][level]["bare"]
            say(f"  N={level}: chatops p99 {ms(c['p99'])} ms, bare p99 {ms(b['p99'])} ms; cards {cards}/{expected}")
    finally:
        await client.close()
    return out


def run(quick: bool, bursts: int | None = None, levels: Sequence[int] | None = None) -> Result:
    from chatops.store.crypto import GrantCipher

    bursts = bursts or (1 if quick else 5)
    levels = levels or (QUICK_LEVELS if quick else LEVELS)
    users = max(levels)  # scenario users, one connection each; a burst of N comes from N different users
    result = Result("ack", quick)
    with tempfile.TemporaryDirectory(prefix="bench-ack-") as folder:
        data = Path(folder)
        log = data / "processes.log"
        scenario = write_scenario(data / "scenario.json", users, faults=[{"hang": True}])
        world_process, world = start_world(scenario, log)
        processes = [world_process]
        try:
            key = GrantCipher.generate_key()
            database = f"sqlite:///{data / 'chatops.db'}"
            seed_store(database, key, world["records"])
            chatops_port, bare_port = free_port(), free_port()
            env = child_env({
                **world["env"], "CHATOPS_DATA_DIR": str(data), "CHATOPS_DATABASE_URL": database,
                "CHATOPS_ENCRYPTION_KEYS": key, "SLACK_SIGNING_SECRET": SIGNING_SECRET,
                "SLACK_BOT_TOKEN": BOT_TOKEN, "CHATOPS_SLACK_API_URL": world["api_url"],
                "CHATOPS_CHECK_TIMEOUT_S": str(CHECK_TIMEOUT_S), "CHATOPS_DEADLINE_S": str(CHECK_TIMEOUT_S + 1),
            })
            with log.open("ab") as sink:
                processes.append(__import__("subprocess").Popen(
                    [CHATOPS, "serve", "--port", str(chatops_port)], env=env, stdout=sink, stderr=sink, cwd=ROOT))
                processes.append(__import__("subprocess").Popen(
                    [PYTHON, "-m", "bench.ack", "--bare-server", str(bare_port), world["api_url"]],
                    env=child_env(), stdout=sink, stderr=sink, cwd=ROOT))
            wait_http(f"http://127.0.0.1:{chatops_port}/readyz", process=processes[1])
            wait_http(f"http://127.0.0.1:{bare_port}/readyz", process=processes[2])
            say(f"ack: levels {', '.join(map(str, levels))}, {bursts} bursts each")
            measured = asyncio.run(measure(world, f"http://127.0.0.1:{chatops_port}/slack/events",
                                           f"http://127.0.0.1:{bare_port}/slack/events", levels, bursts, users))
        except BaseException:
            say(log.read_text(errors="replace")[-3000:])
            raise
        finally:
            for process in reversed(processes):
                stop(process)
    for level, figures in measured["levels"].items():
        c, b = figures["chatops"], figures["bare"]
        target = level == TARGET_LEVEL
        met = c["p99"] < TARGET_P99_S and c["p99"] <= TARGET_RATIO * b["p99"] if target else None
        result.rows.append(Row(f"ack p99, {level} concurrent", ms(c["p99"]), "ms", ms(b["p99"]),
                               "< 100 ms and <= 1.5x" if target else "", met))
    result.details = {"bursts": bursts, "users": users, "check_timeout_s": CHECK_TIMEOUT_S, **measured}
    return result


def levels_table(result: Result) -> str:
    rows = [("N", "app", "p50 ms", "p99 ms", "max ms", "req/s", "p99 ratio", "cards", "failed")]
    for level, figures in result.details["levels"].items():
        c, b = figures["chatops"], figures["bare"]
        for name, f in (("bare slack-bolt", b), ("chatops serve", c)):
            rows.append((str(level), name, f"{ms(f['p50'])}", f"{ms(f['p99'])}", f"{ms(f['max'])}",
                         f"{f['rps']:,.0f}", f"{c['p99'] / b['p99']:.2f}x" if f is c else "",
                         figures["cards"] if f is c else "", str(figures["failed"]) if f is c else ""))
    return table(rows)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["--bare-server"]:
        bare_app(int(args[1]), args[2])
        return 0
    parser = argparse.ArgumentParser(prog="python -m bench.ack", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1 burst at 1, 10 and 50 (CI smoke)")
    parser.add_argument("--bursts", type=int, default=None, help="bursts per level (default 5, quick 1)")
    parser.add_argument("--levels", type=lambda s: [int(x) for x in s.split(",")], default=None,
                        help="concurrency levels (default 1,10,50,200)")
    parser.add_argument("--out", type=Path, default=None)
    parsed = parser.parse_args(args)
    result = run(parsed.quick, parsed.bursts, parsed.levels)
    print(levels_table(result))
    report(result, parsed.out)
    print(json.dumps({"answers": {k: v["bursts"]["chatops"][0]["answers"]
                                  for k, v in result.details["levels"].items()}}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
