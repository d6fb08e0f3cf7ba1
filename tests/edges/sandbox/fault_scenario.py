"""A scenario with one user per fault and provider, for the simulator tests."""

from __future__ import annotations

from typing import Any

DOMAIN = "ex.example"
GMAIL_READONLY = "https://www.googleapis.com/auth/gmail.readonly"


def email(local: str) -> str:
    return f"{local}@{DOMAIN}"


def _connection(
    name: str,
    user: str,
    *,
    mail: str | None = None,
    mail_token: str = "",
    crm: str = "salesforce",
    crm_token: str = "",
    **extra: Any,
) -> dict[str, Any]:
    grants = []
    if mail is not None:
        grants.append({"role": "mail", "provider": mail, "account": email(user), "refresh_token": mail_token})
    if crm_token:
        grants.append({"role": "crm", "provider": crm, "account": email(user), "refresh_token": crm_token})
    return {
        "id": f"conn-{name}",
        "name": name,
        "owner_email": email(user),
        "crm": crm,
        "crm_user_email": email(user),
        "mailbox_provider": mail or "imap",
        "mailbox_email": email(user),
        "mail_host": "" if mail else "imap.ex.example",
        "calls_per_sync": 5,
        "sync_jobs": [{"name": "sync", "tool": "test", "interval_minutes": 10, "duration_minutes": 1}],
        "grants": grants,
        **extra,
    }


def _user(local: str, *faults: Any, **extra: Any) -> dict[str, Any]:
    return {
        "email": email(local),
        "name": local.replace("-", " ").title(),
        "mailbox_timezone": "America/New_York",
        "crm_timezone": "America/New_York",
        "faults": list(faults),
        **extra,
    }


def fault_scenario() -> dict[str, Any]:
    """One user per fault and provider; the refresh token of user X at provider P is rt-P-X."""
    google = {
        "g-good": [],
        "g-empty": [],
        "g-revoked": ["revoked"],
        "g-expired": ["expired_access_token"],
        "g-scopes": [{"missing_scopes": [GMAIL_READONLY]}],
        "g-401": ["api_401"],
        "g-429": [{"rate_limited": {"retry_after": 30}}],
        "g-403": ["google_403_rate_limit"],
        "g-nomail": ["mailbox_not_enabled"],
        "g-slow": [{"slow": 0.6}],
        "g-hang": ["hang"],
        "g-html": ["html_instead_of_json"],
        "g-503": [{"server_error": 503}],
    }
    microsoft = {
        "m-good": [],
        "m-idle": [{"aadsts": 700082}],
        "m-old": [{"aadsts": 70008}],
        "m-revoked": ["revoked"],
        "m-nomail": [{"mailbox_not_enabled": "inactive", "provider": "microsoft"}],
        "m-429": [{"rate_limited": 2.128, "provider": "microsoft"}],
    }
    salesforce = {
        "s-good": [],
        "s-revoked": ["revoked"],
        "s-inactive": [],
        "s-quota": [],
        "s-noeac": [],
        "s-busy": [{"rate_limited": 5}],
        "s-500": [{"server_error": 500}],
    }
    hubspot = {
        "h-good": [],
        "h-revoked": ["revoked"],
        "h-429": [{"rate_limited": {"retry_after": 10}}],
        "h-daily": [],
        "h-private": [],
        "h-scopes": [{"missing_scopes": ["crm.objects.owners.read"]}],
    }
    dynamics = {"d-good": [], "d-throttled": []}
    users = []
    for local, faults in google.items():
        extra: dict[str, Any] = {}
        if local == "g-good":
            extra = {
                "aliases": [email("g-good.alias")],
                "calendar_timezone": "Europe/Berlin",
                "calendar_shares": [
                    {"grantee": email("sync"), "role": "reader"},
                    {"grantee": DOMAIN, "role": "freeBusyReader"},
                ],
                "messages": [
                    {"subject": "Old", "from": "a@customer.example", "received": "-2d"},
                    {"subject": "New", "from": "b@customer.example", "received": "-1h"},
                    {"subject": "Future", "from": "c@customer.example", "received": "+1h"},
                ],
                "events": [
                    {
                        "subject": "Kickoff",
                        "start": "2030-01-15T17:00:00Z",
                        "duration_minutes": 30,
                        "attendees": ["a@customer.example"],
                    }
                ],
            }
        elif local != "g-empty":
            extra = {"messages": [{"subject": "Hi", "from": "a@customer.example", "received": "-1h"}]}
        users.append(_user(local, *faults, **extra))
    for local, faults in microsoft.items():
        extra = {"mailbox_timezone": "Pacific Standard Time"}
        if local == "m-good":
            extra.update(
                {
                    "aliases": [email("m-good.alias")],
                    "upn": "m-good@ex.onmicrosoft.example",
                    "working_hours_timezone": "Eastern Standard Time",
                    "calendar_shares": [{"grantee": email("sync"), "role": "read"}],
                    "messages": [{"subject": "Q2 renewal", "from": "a@customer.example", "received": "-1h"}],
                    "events": [
                        {
                            "subject": "Review",
                            "start": "2030-01-15T17:00:00Z",
                            "duration_minutes": 30,
                            "attendees": ["a@customer.example"],
                        }
                    ],
                }
            )
        users.append(_user(local, *faults, **extra))
    for local, faults in salesforce.items():
        extra = {
            "crm_org": {"s-quota": "sf-full", "s-noeac": "sf-noeac"}.get(local, "sf-main"),
            "crm_active": local != "s-inactive",
            "eac_status": "NEEDSATTENTION" if local == "s-good" else "ACTIVE",
        }
        if local == "s-good":
            extra["crm_email"] = "s-good@ex.io"
        users.append(_user(local, *faults, **extra))
    for local, faults in hubspot.items():
        users.append(
            _user(
                local,
                *faults,
                crm_org={"h-daily": "hs-full", "h-private": "hs-private"}.get(local, "hs-main"),
            )
        )
    for local, faults in dynamics.items():
        users.append(
            _user(
                local,
                *faults,
                crm_org="dyn-slow" if local == "d-throttled" else "dyn-main",
                crm_timezone="Europe/Berlin",
                dynamics_mailbox={
                    "incoming": "failure",
                    "last_error": "credentials expired",
                    "alerts": [
                        {
                            "level": "error",
                            "code": 101,
                            "text": "Email can't be received",
                            "created": "-2d",
                            "modified": "-5m",
                        },
                        {"level": "information", "code": 1, "text": "Mailbox enabled", "created": "-20d"},
                    ],
                }
                if local == "d-good"
                else None,
            )
        )
    for user in users:
        if user.get("dynamics_mailbox") is None:
            user.pop("dynamics_mailbox", None)
    connections = [_connection(f"google-{u}", u, mail="google", mail_token=f"rt-google-{u}") for u in google]
    connections += [
        _connection(
            f"ms-{u}",
            u,
            mail="microsoft",
            mail_token=f"rt-microsoft-{u}",
            crm="dynamics",
            crm_token=f"rt-dynamics-{u}" if u == "m-good" else "",
        )
        for u in microsoft
    ]
    connections += [_connection(f"sf-{u}", u, crm_token=f"rt-salesforce-{u}") for u in salesforce]
    connections += [_connection(f"hs-{u}", u, crm="hubspot", crm_token=f"rt-hubspot-{u}") for u in hubspot]
    connections += [
        _connection(f"dyn-{u}", u, crm="dynamics", crm_token=f"rt-dynamics-{u}") for u in dynamics
    ]
    return {
        "name": "faults",
        "description": "one user per fault",
        "organisation": {
            "name": "Example Ltd",
            "domain": DOMAIN,
            "tenant_id": "72f988bf-86f1-41af-91ab-2d7cd011db47",
        },
        "clients": {
            p: {"client_id": f"id-{p}", "client_secret": f"secret-{p}"}
            for p in ("google", "microsoft", "salesforce", "hubspot", "dynamics")
        },
        "members": [{"email": "admin@ex.example", "admin": True}],
        "contacts": [{"email": "a@customer.example", "name": "Alice Customer"}],
        "orgs": {
            "salesforce": [
                {"id": "sf-main", "daily_api_requests": {"max": 100000, "used": 91000}},
                {"id": "sf-full", "daily_api_requests": {"max": 5000, "used": 5000}},
                {"id": "sf-noeac", "eac_enabled": False},
            ],
            "hubspot": [
                {"id": "hs-main", "hub_id": 62515, "daily": {"limit": 250000, "used": 240000}},
                {"id": "hs-full", "daily": {"limit": 1000, "used": 1000}},
                {"id": "hs-private", "daily": {"limit": 500000, "used": 1}, "daily_headers": True},
            ],
            "dynamics": [{"id": "dyn-main"}, {"id": "dyn-slow", "throttling": {"retry_after": 45}}],
        },
        "users": users,
        "connections": connections,
    }
