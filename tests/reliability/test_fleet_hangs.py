"""A fleet audit where 2% of the connections' providers hang forever: it finishes in bounded time, the hung ones
are reported as timeouts and every other connection is healthy, the event loop stays responsive, and the sockets
to the providers stay within the concurrency. CHATOPS_FLEET_N connections (1,000 by default; the research's
5,000 takes a few minutes on two cores), the real checks and provider clients against the simulator, which runs
in its own thread over 127.0.0.1."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from pathlib import Path

import pytest

from adapters.sandbox.demo import install
from adapters.sandbox.scenario import parse_scenario
from adapters.sandbox.simulator import start_simulator
from adapters.wiring import Config, build
from chatops.findings import Status
from chatops.model import Workspace
from tests.fakes.world import World

N = int(os.environ.get("CHATOPS_FLEET_N", "1000"))
DEADLINE_S = 600
HUNG_EVERY = 50  # 2%
CONCURRENCY = 50
CHECK_TIMEOUT_S = 3.0


def sockets_to(port: int) -> int:
    """Established TCP connections from this process' machine to 127.0.0.1:port (both ends are ours)."""
    wanted = f"0100007F:{port:04X}"
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as lines:
                next(lines)
                for line in lines:
                    fields = line.split()
                    if fields[2].endswith(wanted) and fields[3] == "01":  # remote is the simulator, ESTABLISHED
                        count += 1
        except FileNotFoundError:
            continue
    return count


@pytest.mark.slow
@pytest.mark.timeout(900)
async def test_an_audit_with_two_percent_hanging_finishes_in_bounded_time_and_reports_the_timeouts(
        tmp_path: Path) -> None:
    world = World()
    hung = set()
    for n in range(N):
        made = world.person(f"u{n:05}", crm="hubspot" if n % 2 else "salesforce", mail="google",
                            faults=["hang"] if n % HUNG_EVERY == 0 else [])
        if n % HUNG_EVERY == 0:
            hung.add(made)

    loop = asyncio.new_event_loop()  # the providers' side gets its own thread, as it is another machine
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    simulator = asyncio.run_coroutine_threadsafe(
        start_simulator(parse_scenario(world.scenario(), source="fleet")), loop).result(60)
    port = int(simulator.base_url.rsplit(":", 1)[1])
    services = build(Config.load({
        **simulator.settings_env(), "CHATOPS_DATA_DIR": str(tmp_path),
        "CHATOPS_DATABASE_URL": f"sqlite:///{tmp_path / 'fleet.db'}", "CHATOPS_ENCRYPTION_KEYS": "",
        "CHATOPS_CONCURRENCY": str(CONCURRENCY), "CHATOPS_CHECK_TIMEOUT_S": str(CHECK_TIMEOUT_S),
        "CHATOPS_DEADLINE_S": str(DEADLINE_S)}))
    workspace = Workspace("local", "Acme")
    try:
        connections = await asyncio.to_thread(install, services.store, simulator, workspace)
        lag = sockets = 0.0
        stop = asyncio.Event()

        async def watch() -> None:
            nonlocal lag, sockets
            while not stop.is_set():
                before = time.monotonic()
                await asyncio.sleep(0.05)
                lag = max(lag, time.monotonic() - before - 0.05)
                sockets = max(sockets, sockets_to(port))

        watcher = asyncio.ensure_future(watch())
        started = time.monotonic()
        report = await services.core.diagnose(workspace.id, connections)
        took = time.monotonic() - started
        stop.set()
        await watcher
    finally:
        await services.close()
        asyncio.run_coroutine_threadsafe(simulator.stop(), loop).result(60)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()

    print(f"\n{N} connections, {len(hung)} hanging: {took:.1f} s, loop lag max {lag * 1000:.0f} ms, "
          f"sockets to the providers max {sockets:.0f}")
    by_connection = {part.connection.id: part for part in report.connections}
    assert len(by_connection) == N
    healthy = [c for c, part in by_connection.items() if c not in hung and part.status is Status.OK]
    assert len(healthy) == N - len(hung), [
        (c, [f.summary for f in p.problems][:2]) for c, p in by_connection.items() if c not in hung][:3]
    for connection in hung:
        said = " ".join(f.summary for f in by_connection[connection].problems).lower()
        assert "gave no answer" in said, said[:300]  # its check timed out; the run did not hit its deadline
    # The time and the loop lag are printed, not asserted: on a loaded CI machine they measure the machine
    # (the research's bar, 5,000 in 120 s with lag < 100 ms, is a benchmark figure). That the run ended on its
    # own, the hung checks cut by their timeout and not by the run's deadline, is behaviour:
    assert took < DEADLINE_S, took
    assert sockets <= CONCURRENCY, sockets
