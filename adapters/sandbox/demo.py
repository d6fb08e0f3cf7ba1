"""Install a scenario's organisation into a workspace: connections bound to a running simulator, members, logs."""

from __future__ import annotations

import asyncio

from adapters.sandbox.simulator import RunningSimulator
from chatops.classify import parse_timestamp
from chatops.imports import connections_from_records
from chatops.model import Connection, SyncEvent, Workspace
from chatops.store import Store

DEMO_ADMIN_ID = "U0DEMOADMIN"


def member_ids(simulator: RunningSimulator) -> dict[str, str]:
    """A stable chat user id per scenario member: the admin is U0DEMOADMIN, the others U0DEMO00, U0DEMO01…"""
    return {m.email: DEMO_ADMIN_ID if m.admin else f"U0DEMO{n:02d}"
            for n, m in enumerate(simulator.scenario.chat_members())}


def install(store: Store, simulator: RunningSimulator, workspace: Workspace) -> list[Connection]:
    """Import the scenario into `workspace` (all or nothing) and return the stored connections."""
    scenario = simulator.scenario
    store.ensure_workspace(workspace)
    parsed = connections_from_records(simulator.connection_records(), workspace.id, source=scenario.source)
    stored = store.import_connections(workspace.id, parsed)
    ids = member_ids(simulator)
    for member in scenario.chat_members():
        store.upsert_member(workspace.id, ids[member.email], member.email, name=member.name, is_admin=member.admin)
    for spec, connection in zip(scenario.connections, stored, strict=True):
        if spec.sync_log:
            store.add_events(workspace.id, connection.id,
                             (SyncEvent(connection.id, line, parse_timestamp(line)) for line in spec.sync_log))
    return stored


async def install_async(store: Store, simulator: RunningSimulator, workspace: Workspace) -> list[Connection]:
    return await asyncio.to_thread(install, store, simulator, workspace)
