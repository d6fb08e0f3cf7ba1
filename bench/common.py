"""What the benchmarks share: generated scenarios, the machine, statistics, results files, subprocess helpers."""

from __future__ import annotations

import json
import os
import platform
import resource
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

ROOT: Final = Path(__file__).resolve().parent.parent
RESULTS: Final = Path(__file__).resolve().parent / "results"
PYTHON: Final = sys.executable
TEAM: Final = "T0BENCH"
WORKSPACE: Final = f"slack:{TEAM}"
SIGNING_SECRET: Final = "8f742231b10e8888abcd99yyyzzz85a5"  # Slack's documented dummy signing secret
BOT_TOKEN: Final = "xoxb-bench-0000000000-bench"
DOMAIN: Final = "bench.example"
SYNC_ACCOUNT: Final = f"eac-sync@{DOMAIN}"

# The three healthy shapes of the demo (lea, max, nora), repeated: Salesforce + Gmail + Google Calendar,
# Dynamics + Outlook + Outlook calendar, HubSpot + Gmail. Every provider of the product is exercised.
KINDS: Final = (
    {"crm": "salesforce", "mail": "google", "calendar": "google", "org": "bench-sf"},
    {"crm": "dynamics", "mail": "microsoft", "calendar": "microsoft", "org": "bench-crm"},
    {"crm": "hubspot", "mail": "google", "calendar": None, "org": "bench-hub"},
)
ORG_SIZE: Final = 100  # users per CRM org: the simulator answers a query from every row of the org
_REFRESH_PREFIX: Final = {"google": "1//sim-", "microsoft": "1.AQEA-sim-", "salesforce": "5Aep861sim-",
                          "hubspot": "de3a-sim-", "dynamics": "1.AQEA-sim-dyn-"}


# ---------------------------------------------------------------------------------------------- scenarios


def user_email(index: int) -> str:
    return f"user{index:05d}@{DOMAIN}"


Faults = Sequence[Mapping[str, Any]]


def scenario_data(count: int, *, faults: Faults | Callable[[int], Faults] = (),
                  rate_limits: Mapping[str, float] | None = None) -> dict[str, Any]:
    """A scenario of `count` healthy connections (the three demo shapes in turn), each user with `faults`
    (or with faults(index)).

    Deterministic: the same count and faults give the same scenario, ids and tokens.
    """
    users: list[dict[str, Any]] = []
    connections: list[dict[str, Any]] = []
    for index in range(count):
        kind = KINDS[index % len(KINDS)]
        email = user_email(index)
        user: dict[str, Any] = {
            "email": email, "name": f"User {index:05d}", "mailbox_timezone": "America/New_York",
            "crm_timezone": "America/New_York", "crm_org": f"{kind['org']}-{index // ORG_SIZE}",
            "messages": [{"subject": "Pricing question", "from": "gina.lopez@globex.example", "received": "-45m"}],
        }
        if kind["calendar"] is not None:
            user["events"] = [{"subject": "Walkthrough", "start": "+3h", "attendees": ["gina.lopez@globex.example"]}]
        if kind["crm"] == "salesforce":
            user["calendar_shares"] = [{"grantee": SYNC_ACCOUNT, "role": "reader"}]
        mine = faults(index) if callable(faults) else faults
        if mine:
            user["faults"] = [dict(f) for f in mine]
        users.append(user)
        grants = [
            {"role": "mail", "provider": kind["mail"], "account": email,
             "refresh_token": f"{_REFRESH_PREFIX[kind['mail']]}{index:05d}-mail"},
            {"role": "crm", "provider": kind["crm"], "account": email,
             "refresh_token": f"{_REFRESH_PREFIX[kind['crm']]}{index:05d}-crm"},
        ]
        connection: dict[str, Any] = {
            "id": f"conn-{index:05d}", "name": f"user{index:05d}-{kind['crm']}-{kind['mail']}",
            "owner_email": email, "crm": kind["crm"], "crm_user_email": email,
            "mailbox_provider": kind["mail"], "mailbox_email": email, "calls_per_sync": 10,
            "sync_jobs": [{"name": "Sync", "tool": "Sync engine", "interval_minutes": 15, "duration_minutes": 1}],
            "grants": grants,
        }
        if kind["calendar"] is not None:
            connection["calendar_provider"] = kind["calendar"]
        if kind["crm"] == "salesforce":
            connection["sync_account"] = SYNC_ACCOUNT
        connections.append(connection)
    groups = max(1, -(-count // ORG_SIZE))
    data: dict[str, Any] = {
        "name": f"bench-{count}",
        "description": f"{count} healthy connections for the benchmarks",
        "organisation": {"name": "Bench Corp", "domain": DOMAIN},
        "orgs": {
            "salesforce": [{"id": f"bench-sf-{n}", "name": f"Bench {n}",
                            "daily_api_requests": {"max": 5_000_000, "used": 500_000}} for n in range(groups)],
            "hubspot": [{"id": f"bench-hub-{n}", "name": f"Bench Sales {n}", "domain": DOMAIN,
                         "daily": {"limit": 1_000_000, "used": 100_000}} for n in range(groups)],
            "dynamics": [{"id": f"bench-crm-{n}", "name": f"Bench CRM {n}", "url": "{simulator}/dynamics"}
                         for n in range(groups)],
        },
        "contacts": [{"email": "gina.lopez@globex.example", "name": "Gina Lopez"}],
        "users": users,
        "connections": connections,
    }
    if rate_limits:
        data["rate_limits"] = dict(rate_limits)
    return data


def write_scenario(path: Path, count: int, **kwargs: Any) -> Path:
    path.write_text(json.dumps(scenario_data(count, **kwargs)), encoding="utf-8")
    return path


# ---------------------------------------------------------------------------------------------- numbers


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100), nearest-rank: p99 of 50 samples is the 50th smallest."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


def median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


def ratio(value: float, floor: float) -> float:
    return value / floor if floor else float("inf")


def ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def peak_rss_mb() -> float:
    """This process's peak resident memory in MiB.

    VmHWM on Linux: ru_maxrss survives execve, so a child spawned by a big parent reports the parent's peak.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(kib / (1024 * 1024 if sys.platform == "darwin" else 1024), 1)


# ---------------------------------------------------------------------------------------------- results


def machine() -> dict[str, Any]:
    """nproc, CPU model and Python version: what the README names next to the figures."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"nproc": cpus, "cpu": model, "python": platform.python_version(),
            "implementation": platform.python_implementation(), "system": platform.system()}


@dataclass
class Row:
    """One figure of a benchmark, as the summary table shows it."""

    name: str
    value: float
    unit: str
    floor: float | None = None
    target: str = ""  # "p99 < 100 ms and <= 1.5x": what was aimed at, in words
    met: bool | None = None  # None: no target for this figure
    note: str = ""

    @property
    def ratio(self) -> float | None:
        return round(ratio(self.value, self.floor), 2) if self.floor else None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value, "unit": self.unit, "floor": self.floor,
                "ratio": self.ratio, "target": self.target, "met": self.met, "note": self.note}


@dataclass
class Result:
    benchmark: str
    quick: bool
    rows: list[Row] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"benchmark": self.benchmark, "quick": self.quick, "at": datetime.now(UTC).isoformat(),
                "machine": machine(), "rows": [r.to_json() for r in self.rows], "details": self.details}

    def write(self, out: Path | None = None) -> Path:
        path = out or RESULTS / f"{self.benchmark}{'-quick' if self.quick else ''}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json(), indent=2) + "\n", encoding="utf-8")
        return path


def fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    if unit in ("x", ""):
        text = f"{value:,.2f}"
    elif abs(value) >= 100:
        text = f"{value:,.0f}"
    else:
        text = f"{value:,.1f}"
    return f"{text} {unit}".strip() if unit not in ("", "x") else (text + ("x" if unit == "x" else ""))


def table(rows: Sequence[Sequence[str]]) -> str:
    """Plain text columns; the first row is the header."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
             for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def rows_table(rows: Sequence[Row]) -> str:
    header = ("figure", "value", "floor", "ratio", "target", "met")
    body = [(r.name, fmt(r.value, r.unit), fmt(r.floor, r.unit), fmt(r.ratio, "x"), r.target,
             {True: "yes", False: "NO", None: ""}[r.met]) for r in rows]
    return table([header, *body])


def report(result: Result, out: Path | None = None) -> Path:
    """Print the figures and write the JSON; returns where it went."""
    print(f"\n== {result.benchmark}{' (quick)' if result.quick else ''} ==")
    print(rows_table(result.rows))
    path = result.write(out)
    print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    return path


def say(message: str) -> None:
    """Progress on stderr, so stdout keeps only the figures."""
    print(message, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a child process: ours without CHATOPS_*/SLACK_* settings, plus `extra`."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("CHATOPS_", "SLACK_", "MICROSOFT_APP_"))}
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.update(extra or {})
    return env


def wait_http(url: str, timeout: float = 30.0, process: subprocess.Popen[Any] | None = None) -> float:
    """Poll GET url until it answers 200; returns the seconds it took. Raises if the process died."""
    import urllib.error
    import urllib.request

    started = time.perf_counter()
    while True:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited with {process.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=1) as answer:
                if answer.status == 200:
                    return time.perf_counter() - started
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        if time.perf_counter() - started > timeout:
            raise TimeoutError(f"{url} did not answer within {timeout:g} s")
        time.sleep(0.005)


def stop(process: subprocess.Popen[Any], timeout: float = 10.0) -> None:
    """SIGTERM, then SIGKILL; only the process we started."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)


# ---------------------------------------------------------------------------------------------- the world


def member_id(index: int) -> str:
    """The Slack user id of scenario user `index`."""
    return f"U{index:07d}"


def start_world(scenario: Path, log: Path, *,
                record_provider_calls: bool = False) -> tuple[subprocess.Popen[Any], dict[str, Any]]:
    """Start the world (fake Slack and the provider simulator) in its own process; (process, its address book)."""
    argv = [PYTHON, "-m", "bench.common", "world", str(scenario)]
    if record_provider_calls:
        argv.append("--record")
    with log.open("ab") as sink:
        process = subprocess.Popen(argv, env=child_env(), stdout=subprocess.PIPE, stderr=sink, cwd=ROOT)
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        process.wait(10)
        raise RuntimeError(f"the world process exited ({process.returncode}); see {log}")
    return process, json.loads(line)


def _world(scenario_path: str, record: bool) -> None:
    """Serve fake Slack and the simulator for `scenario_path` until stopped; print their addresses first.

    Control routes beside fake Slack's API: POST /bench/commands makes signed-ready /syncstatus bodies
    (their response_urls registered), GET /bench/log?since=N lists what arrived since record N: cards
    posted to response_urls and, with --record, every provider call the simulator answered, with
    CLOCK_MONOTONIC times that the benchmark process can compare with its own.
    """
    import asyncio
    import signal

    from aiohttp import web

    from adapters.sandbox.scenario import load_scenario
    from adapters.sandbox.sim_base import SIM_STATE
    from adapters.sandbox.simulator import SHUTDOWN_TIMEOUT_S, RunningSimulator, build_simulator
    from adapters.sandbox.slack_api import FakeSlack

    log: list[dict[str, Any]] = []

    @web.middleware
    async def cards(request: web.Request, handler: Any) -> web.StreamResponse:
        if not request.path.startswith("/response/"):
            return await handler(request)
        arrived = time.monotonic()
        body = await request.read()
        response = await handler(request)
        fields = json.loads(body or b"{}")
        log.append({"kind": "card", "t": arrived, "url": f"http://{request.host}{request.path}",
                    "blocks": len(fields.get("blocks") or ()), "text": str(fields.get("text", ""))[:200],
                    "status": response.status})
        return response

    @web.middleware
    async def provider_calls(request: web.Request, handler: Any) -> web.StreamResponse:
        started = time.monotonic()
        response = await handler(request)
        log.append({"kind": "call", "t": started, "end": time.monotonic(), "method": request.method,
                    "path": request.path, "status": response.status})
        return response

    async def main() -> None:
        scenario = load_scenario(scenario_path)
        fake = FakeSlack()
        fake.add_team(TEAM, "Bench Corp", bot_token=BOT_TOKEN)
        for index, user in enumerate(scenario.users):
            fake.add_user(TEAM, member_id(index), user.email, user.name)

        async def commands(request: web.Request) -> web.Response:
            asked = await request.json()
            bodies = [fake.command_body(TEAM, member_id(int(i)), str(asked.get("text", ""))).decode()
                      for i in asked["users"]]
            return web.json_response(bodies)

        async def since(request: web.Request) -> web.Response:
            return web.json_response(log[int(request.query.get("since", "0")):])

        async def counts(request: web.Request) -> web.Response:
            state = sim_app[SIM_STATE]
            return web.json_response({"served": dict(state.served), "throttled": dict(state.throttled)})

        slack_app = fake.app()
        slack_app.middlewares.append(cards)
        slack_app.router.add_post("/bench/commands", commands)
        slack_app.router.add_get("/bench/log", since)
        slack_app.router.add_get("/bench/counts", counts)
        slack_runner = web.AppRunner(slack_app, access_log=None)
        await slack_runner.setup()
        slack_site = web.TCPSite(slack_runner, "127.0.0.1", 0)
        await slack_site.start()
        fake.base_url = f"http://127.0.0.1:{slack_runner.addresses[0][1]}"

        sim_app = build_simulator(scenario)
        if record:
            sim_app.middlewares.append(provider_calls)
        sim_runner = web.AppRunner(sim_app, shutdown_timeout=SHUTDOWN_TIMEOUT_S, access_log=None)
        await sim_runner.setup()
        await web.TCPSite(sim_runner, "127.0.0.1", 0).start()
        simulator = RunningSimulator(scenario, f"http://127.0.0.1:{sim_runner.addresses[0][1]}", sim_app,
                                     sim_runner)
        print(json.dumps({"slack": fake.base_url, "api_url": fake.api_url, "simulator": simulator.base_url,
                          "env": simulator.settings_env(), "records": simulator.connection_records()}),
              flush=True)
        stopped = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stopped.set)
        await stopped.wait()
        await simulator.stop()
        await slack_runner.cleanup()

    asyncio.run(main())


def seed_store(database_url: str, key: str, records: list[dict[str, Any]], workspace: str = WORKSPACE) -> int:
    """Migrate the database and import the connections into the bench workspace; returns how many."""
    from chatops.imports import connections_from_records
    from chatops.model import Workspace
    from chatops.store import Store
    from chatops.store.crypto import GrantCipher

    store = Store.open(database_url, GrantCipher([key]))
    try:
        store.ensure_workspace(Workspace(workspace, "Bench Corp", "slack", TEAM))
        return len(store.import_connections(workspace, connections_from_records(records, workspace)))
    finally:
        store.close()


if __name__ == "__main__":  # python -m bench.common world SCENARIO [--record]
    if len(sys.argv) >= 3 and sys.argv[1] == "world":
        _world(sys.argv[2], "--record" in sys.argv[3:])
    else:
        sys.exit("usage: python -m bench.common world SCENARIO.json [--record]")
