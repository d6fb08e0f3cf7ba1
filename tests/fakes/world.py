"""Small scenarios for check tests: people with one connection each, served by the real provider simulator.

`diagnose(world, tmp_path, ...)` runs the real checks, through the real provider clients and the real store,
against the simulator over 127.0.0.1: the only fake is the providers' side of the wire.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from adapters.sandbox.demo import install
from adapters.sandbox.scenario import parse_scenario
from adapters.sandbox.simulator import start_simulator
from adapters.wiring import Config, build
from chatops.model import SyncEvent, Workspace
from chatops.report import ConnectionReport, Report

DOMAIN = "acme.example"
WORKSPACE = Workspace("local", "Acme")
ORGS: dict[str, Any] = {
    "salesforce": [
        {"id": "sf-quiet", "daily_api_requests": {"max": 100000, "used": 10000}, "eac_enabled": True},
        {"id": "sf-busy", "daily_api_requests": {"max": 100000, "used": 85000}},
        {"id": "sf-full", "daily_api_requests": {"max": 5000, "used": 5000}},
    ],
    "hubspot": [
        {"id": "hs-quiet", "hub_id": 62515, "daily": {"limit": 250000, "used": 1000}},
        {"id": "hs-full", "hub_id": 62516, "daily": {"limit": 1000, "used": 1000}},
    ],
    "dynamics": [{"id": "dyn", "url": "{simulator}/dynamics"}],
}
CRM_ORG = {"salesforce": "sf-quiet", "hubspot": "hs-quiet", "dynamics": "dyn"}


def email(local: str) -> str:
    return f"{local}@{DOMAIN}"


@dataclass
class World:
    users: list[dict[str, Any]] = field(default_factory=list)
    connections: list[dict[str, Any]] = field(default_factory=list)
    orgs: dict[str, Any] = field(default_factory=lambda: copy.deepcopy(ORGS))

    def person(self, local: str, *, crm: str = "salesforce", mail: str = "google", calendar: str | None = None,
               faults: list[Any] | None = None, jobs: list[dict[str, Any]] | None = None,
               calls_per_sync: int = 10, sync_account: str = "", mail_host: str = "",
               grants: list[str] | None = None, **user: Any) -> str:
        """Add a person and their connection `conn-<local>`; `user` overrides the simulator's facts."""
        self.users.append({"email": email(local), "name": local.title(), "mailbox_timezone": "America/New_York",
                           "calendar_timezone": "America/New_York", "crm_timezone": "America/New_York",
                           "crm_org": CRM_ORG[crm],
                           "messages": [{"subject": "Hello", "from": "gina@globex.example", "received": "-1h"}],
                           "events": [{"subject": "Call", "start": "+1d", "attendees": ["gina@globex.example"]}],
                           "faults": faults or [], **user})
        roles = grants if grants is not None else ["mail", "crm"]
        providers = {"mail": mail, "crm": crm, "calendar": calendar}
        self.connections.append({
            "id": f"conn-{local}", "name": f"{local}-{crm}-{mail}", "owner_email": email(local), "crm": crm,
            "crm_user_email": user.get("crm_email", email(local)), "mailbox_provider": mail, "mailbox_email": email(local),
            "calendar_provider": calendar, "sync_account": sync_account, "mail_host": mail_host,
            "calls_per_sync": calls_per_sync,
            "sync_jobs": jobs if jobs is not None else [
                {"name": "sync", "tool": "CRM sync", "interval_minutes": 15, "duration_minutes": 1}],
            "grants": [{"role": r, "provider": providers[r], "account": email(local),
                        "refresh_token": f"rt-{providers[r]}-{local}"} for r in roles],
        })
        return f"conn-{local}"

    def scenario(self) -> str:
        return yaml.safe_dump({
            "name": "checks", "description": "check tests",
            "organisation": {"name": "Acme", "domain": DOMAIN},
            "clients": {p: {"client_id": f"id-{p}", "client_secret": f"secret-{p}"}
                        for p in ("google", "microsoft", "salesforce", "hubspot", "dynamics")},
            "members": [{"email": "admin@acme.example", "admin": True}],
            "contacts": [{"email": "gina@globex.example", "name": "Gina Lopez"}],
            "orgs": self.orgs, "users": self.users, "connections": self.connections,
        }, sort_keys=False)


async def diagnose(world: World, tmp_path: Path, *, checks: list[str] | None = None,
                   events: dict[str, list[str]] | None = None, write_probe: bool = False,
                   settings: dict[str, str] | None = None) -> Report:
    """Serve the world, import its connections into a fresh store, and diagnose them all."""
    simulator = await start_simulator(parse_scenario(world.scenario(), source="world"))
    try:
        overrides = {**simulator.settings_env(), "CHATOPS_DATA_DIR": str(tmp_path),
                     "CHATOPS_DATABASE_URL": f"sqlite:///{tmp_path / 'checks.db'}", "CHATOPS_ENCRYPTION_KEYS": "",
                     **(settings or {})}
        services = build(Config.load(overrides))
        try:
            connections = install(services.store, simulator, WORKSPACE)
            for connection_id, lines in (events or {}).items():
                services.store.add_events(WORKSPACE.id, connection_id,
                                          [SyncEvent(connection_id, line) for line in lines])
            return await services.core.diagnose(WORKSPACE.id, connections, only=checks, write_probe=write_probe)
        finally:
            await services.close()
    finally:
        await simulator.stop()


def part(report: Report, connection_id: str) -> ConnectionReport:
    return next(p for p in report.connections if p.connection.id == connection_id)
