"""Simulated Dynamics 365 / Dataverse Web API: WhoAmI, systemusers, mailboxes, tracelogs (D2-D5)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any, Final

from aiohttp import web

from adapters.sandbox.scenario import DynamicsOrg, Fault, User, bind_text, stable_digest, stable_uuid
from adapters.sandbox.sim_base import (
    AccessToken,
    Caller,
    Reply,
    Route,
    authenticate,
    bearer,
    json_answer,
    object_id,
    origin,
    request_id,
    state_of,
)

PROVIDER: Final = "dynamics"
SCOPES: Final = ("user_impersonation", ".default")
FORMATTED: Final = "@OData.Community.Display.V1.FormattedValue"
_THROTTLE_MESSAGES: Final = {
    "0x80072322": "Number of requests exceeded the limit of 6000 over time window of 300 seconds.",
    "0x80072321": (
        "Combined execution time of incoming requests exceeded limit of 1,200,000 milliseconds over time "
        "window of 300 seconds. Decrease number of concurrent requests or reduce the duration of requests "
        "and try again later."
    ),
    "0x80072326": "Number of concurrent requests exceeded the limit of 52",
}
_SYNC: Final = {"not_run": 0, "success": 1, "failure": 2}
_SYNC_LABELS: Final = {0: "Not Run", 1: "Success", 2: "Failure"}
_APPROVAL: Final = {"empty": 0, "approved": 1, "pending": 2, "rejected": 3}
_APPROVAL_LABELS: Final = {0: "Empty", 1: "Approved", 2: "Pending Approval", 3: "Rejected"}
_LEVEL: Final = {"information": 1, "warning": 2, "error": 3}
_LEVEL_LABELS: Final = {1: "Information", 2: "Warning", 3: "Error"}
# The labels a choice column gets with `Prefer: odata.include-annotations` (provider-apis.md §8.8).
_CHOICES: Final[dict[str, dict[int, str]]] = {
    "accessmode": {
        0: "Read-Write",
        1: "Administrative",
        2: "Read",
        3: "Support User",
        4: "Non-interactive",
        5: "Delegated Admin",
    },
    "emailrouteraccessapproval": _APPROVAL_LABELS,
    "incomingemailstatus": _SYNC_LABELS,
    "outgoingemailstatus": _SYNC_LABELS,
    "actstatus": _SYNC_LABELS,
    "mailboxstatus": _SYNC_LABELS,
    "incomingemaildeliverymethod": {
        0: "None",
        1: "Microsoft Dynamics 365 for Outlook",
        2: "Server-Side Synchronization or Email Router",
        3: "Forward Mailbox",
    },
    "outgoingemaildeliverymethod": {
        0: "None",
        1: "Microsoft Dynamics 365 for Outlook",
        2: "Server-Side Synchronization or Email Router",
    },
    "actdeliverymethod": {
        0: "Microsoft Dynamics 365 for Outlook",
        1: "Server-Side Synchronization",
        2: "None",
    },
    "level": _LEVEL_LABELS,
    "statecode": {0: "Active", 1: "Inactive"},
    "statuscode": {1: "Active", 2: "Inactive"},
}
# Dataverse timezonecode per IANA zone, for usersettings (provider-apis.md D3 asks to verify the mapping;
# these are the codes of the timezonedefinition rows for the common zones).
# Dataverse timezone codes (timezonedefinition rows) of the common zones: code, IANA zone, Windows name.
TIMEZONES: Final = (
    (4, "America/Los_Angeles", "Pacific Standard Time"),
    (10, "America/Denver", "Mountain Standard Time"),
    (15, "America/Phoenix", "US Mountain Standard Time"),
    (20, "America/Chicago", "Central Standard Time"),
    (35, "America/New_York", "Eastern Standard Time"),
    (85, "Europe/London", "GMT Standard Time"),
    (92, "UTC", "UTC"),
    (95, "Europe/Budapest", "Central Europe Standard Time"),
    (105, "Europe/Paris", "Romance Standard Time"),
    (110, "Europe/Berlin", "W. Europe Standard Time"),
    (190, "Asia/Kolkata", "India Standard Time"),
    (235, "Asia/Tokyo", "Tokyo Standard Time"),
    (255, "Australia/Sydney", "AUS Eastern Standard Time"),
)
TIMEZONE_CODES: Final = {iana: code for code, iana, _ in TIMEZONES}
UTC_CODE: Final = 92


def dataverse_error(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    return json_answer({"error": {"code": code, "message": message}}, status, headers)


def _retry(seconds: float) -> str:
    return str(int(seconds)) if seconds == int(seconds) else str(seconds)


class DataverseSurface:
    provider = PROVIDER

    def unauthorized(
        self, request: web.Request, status: str, token: AccessToken | None
    ) -> web.StreamResponse:
        # An empty body: only the challenge header says where to get a token.
        tenant = state_of(request).scenario.organisation.tenant_id
        return web.Response(
            status=401,
            headers={
                "WWW-Authenticate": (
                    f"Bearer authorization_uri={origin(request)}/microsoft-login/{tenant}/oauth2/authorize, "
                    f"resource_id={origin(request)}/dynamics/"
                )
            },
        )

    def forbidden_scope(self, request: web.Request, needed: tuple[str, ...]) -> web.StreamResponse:
        return dataverse_error(403, "0x80072560", "The user is not a member of the organization.")

    def rate_limited(self, request: web.Request, fault: Fault) -> web.StreamResponse:
        return dataverse_error(
            429,
            "0x80072322",
            _THROTTLE_MESSAGES["0x80072322"],
            {"Retry-After": _retry(fault.number("retry_after"))},
        )

    def server_error(self, request: web.Request, status: int) -> web.StreamResponse:
        return dataverse_error(status, "0x80040216", "An unexpected error occurred.")


API: Final = DataverseSurface()


def budget_headers(request: web.Request, response: web.StreamResponse) -> None:
    """After-hook: OData-Version and the service-protection budget headers of the caller's org."""
    state = state_of(request)
    response.headers["OData-Version"] = "4.0"
    token = state.access.get(bearer(request))
    user = state.user(token.user) if token is not None and token.provider == PROVIDER else None
    if user is None:
        return
    org = state.scenario.dynamics_org(user)
    response.headers["x-ms-ratelimit-burst-remaining-xrm-requests"] = str(org.burst_remaining)
    response.headers["x-ms-ratelimit-time-remaining-xrm-requests"] = f"{org.time_remaining_ms:,}.00"
    response.headers["x-ms-service-request-id"] = request_id()


async def _caller(request: web.Request) -> tuple[Caller, DynamicsOrg]:
    caller = await authenticate(request, API, scopes=SCOPES)
    org = state_of(request).scenario.dynamics_org(caller.user)
    if org.throttled_retry_after is not None:
        raise Reply(
            dataverse_error(
                429,
                org.throttle_code,
                _THROTTLE_MESSAGES[org.throttle_code],
                {"Retry-After": _retry(org.throttled_retry_after)},
            )
        )
    return caller, org


def _org_url(request: web.Request, org: DynamicsOrg) -> str:
    return bind_text(org.url, origin(request))


def _context(request: web.Request, org: DynamicsOrg, fragment: str) -> str:
    return f"{_org_url(request, org)}/api/data/{request.match_info['version']}/$metadata#{fragment}"


# ---------------------------------------------------------------------------------------------- rows


def systemuser_id(user: User) -> str:
    return stable_uuid("systemuser", user.email.lower())


def mailbox_id(user: User) -> str:
    return stable_uuid("mailbox", user.email.lower())


def _etag(seed: str) -> str:
    return f'W/"{4_800_000 + int(stable_digest("etag", seed, length=5), 16)}"'


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _systemuser(user: User) -> dict[str, Any]:
    return {
        "@odata.etag": _etag(user.email + "systemuser"),
        "systemuserid": systemuser_id(user),
        "fullname": user.name,
        "firstname": user.first_name,
        "lastname": user.last_name,
        "internalemailaddress": user.crm_address,
        "windowsliveid": user.principal_name,
        "domainname": user.principal_name,
        "isdisabled": not user.crm_active,
        "accessmode": 0,
        "azureactivedirectoryobjectid": object_id(user.email),
        "emailrouteraccessapproval": _APPROVAL[user.dynamics_mailbox.approval],
        "_defaultmailbox_value": mailbox_id(user),
    }


def _mailbox(user: User, now: datetime) -> dict[str, Any]:
    box = user.dynamics_mailbox
    states = [_SYNC[box.incoming], _SYNC[box.outgoing], _SYNC[box.act]]
    overall = 2 if 2 in states else (1 if 1 in states else 0)
    failing = overall == 2
    return {
        "@odata.etag": _etag(user.email + "mailbox"),
        "mailboxid": mailbox_id(user),
        "name": user.name,
        "emailaddress": user.email,
        "emailrouteraccessapproval": _APPROVAL[box.approval],
        "isemailaddressapprovedbyo365admin": box.approval == "approved",
        "incomingemaildeliverymethod": 2,
        "outgoingemaildeliverymethod": 2,
        "actdeliverymethod": 1,
        "enabledforincomingemail": True,
        "enabledforoutgoingemail": True,
        "enabledforact": True,
        "incomingemailstatus": states[0],
        "outgoingemailstatus": states[1],
        "actstatus": states[2],
        "mailboxstatus": overall,
        "testemailconfigurationscheduled": False,
        "testemailconfigurationretrycount": 3 if failing else 0,
        "testmailboxaccesscompletedon": _stamp(box.last_success.resolve(now)),
        "processingstatecode": 0,
        "processinglastattemptedon": _stamp(now),
        "lastsuccessfulsynccompletedon": _stamp(box.last_success.resolve(now)),
        "lastsyncerror": box.last_error or None,
        "lastsyncerrorcount": 12 if failing else 0,
        "lastsyncerroroccurredon": _stamp(now) if failing else None,
        "isforwardmailbox": False,
        "isserviceaccount": False,
        "statecode": 0 if box.active else 1,
        "statuscode": 1 if box.active else 2,
        "_emailserverprofile_value": stable_uuid("emailserverprofile", "exchange-online"),
        "_regardingobjectid_value": systemuser_id(user),
    }


def _tracelogs(user: User, now: datetime) -> list[dict[str, Any]]:
    rows = []
    for index, alert in enumerate(user.dynamics_mailbox.alerts):
        level = _LEVEL[alert.level]
        rows.append(
            {
                "@odata.etag": _etag(f"{user.email}alert{index}"),
                "tracelogid": stable_uuid("tracelog", user.email.lower(), str(index)),
                "level": level,
                "tracecode": alert.code,
                "text": alert.text,
                "errordetails": "",
                "tracestatus": level == 1,
                "createdon": _stamp(alert.created.resolve(now)),
                "modifiedon": _stamp(alert.modified.resolve(now)),
                "_regardingobjectid_value": mailbox_id(user),
            }
        )
    return rows


# ---------------------------------------------------------------------------------------- OData query options


_FILTER_TOKEN: Final = re.compile(r"\s*('(?:[^']|'')*'|\(|\)|[^\s()]+)")
_GUID: Final = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
Row = dict[str, Any]
Predicate = Callable[[Row], bool]


class _Filter:
    """$filter: eq/ne/gt/ge/lt/le comparisons joined by and/or, with parentheses and not."""

    def __init__(self, text: str, entity: str) -> None:
        self.tokens = [m.group(1) for m in _FILTER_TOKEN.finditer(text)]
        self.pos = 0
        self.entity = entity

    def bad(self, detail: str) -> Reply:
        return Reply(dataverse_error(400, "0x80060888", f"Syntax error: {detail} in $filter."))

    def parse(self) -> Predicate:
        predicate = self.expr()
        if self.pos != len(self.tokens):
            raise self.bad(f"character '{self.tokens[self.pos]}' is not valid at position {self.pos}")
        return predicate

    def take(self) -> str:
        if self.pos >= len(self.tokens):
            raise self.bad("unexpected end of expression")
        self.pos += 1
        return self.tokens[self.pos - 1]

    def peek(self) -> str:
        return self.tokens[self.pos].lower() if self.pos < len(self.tokens) else ""

    def expr(self) -> Predicate:
        terms = [self.term()]
        while self.peek() == "or":
            self.take()
            terms.append(self.term())
        return lambda row: any(t(row) for t in terms)

    def term(self) -> Predicate:
        factors = [self.factor()]
        while self.peek() == "and":
            self.take()
            factors.append(self.factor())
        return lambda row: all(f(row) for f in factors)

    def factor(self) -> Predicate:
        if self.peek() == "not":
            self.take()
            inner = self.factor()
            return lambda row: not inner(row)
        if self.peek() == "(":
            self.take()
            inner = self.expr()
            if self.take() != ")":
                raise self.bad("')' expected")
            return inner
        name = self.take()
        if "(" in name or not re.fullmatch(r"[A-Za-z_][\w]*", name):
            raise Reply(
                dataverse_error(
                    400,
                    "0x80060888",
                    f"The query function or property '{name}' is not supported by the simulator.",
                )
            )
        op = self.take().lower()
        if op not in ("eq", "ne", "gt", "ge", "lt", "le"):
            raise self.bad(f"unknown operator '{op}'")
        value = _value(self.take())
        return _comparison(name, op, value)


def _value(token: str) -> Any:
    if token.startswith("'"):
        return token[1:-1].replace("''", "'")
    lowered = token.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered == "null":
        return None
    if _GUID.match(token):
        return token.lower()
    try:
        return float(token) if "." in token else int(token)
    except ValueError:
        return token


def _comparison(name: str, op: str, value: Any) -> Predicate:
    def check(row: Row) -> bool:
        if name not in row:
            return False
        actual = row[name]
        if isinstance(actual, str) and isinstance(value, str):
            left, right = actual.lower(), value.lower()  # Dataverse compares text case-insensitively
        else:
            left, right = actual, value
        if op == "eq":
            return bool(left == right)
        if op == "ne":
            return bool(left != right)
        if left is None or right is None:
            return False
        try:
            return bool(
                {"gt": left > right, "ge": left >= right, "lt": left < right, "le": left <= right}[op]
            )
        except TypeError:
            return False

    return check


def _wants_labels(request: web.Request) -> bool:
    prefer = request.headers.get("Prefer", "")
    return "odata.include-annotations" in prefer and ("FormattedValue" in prefer or '"*"' in prefer)


def _shape(request: web.Request, row: Row, entity: str, key: str) -> Row:
    """$select and formatted values applied to one row."""
    raw = request.query.get("$select", "")
    names = (
        [n.strip() for n in raw.split(",") if n.strip()] if raw else [k for k in row if not k.startswith("@")]
    )
    shaped: Row = {"@odata.etag": row["@odata.etag"]} if "@odata.etag" in row else {}
    labels = _wants_labels(request)
    for name in names:
        if name not in row:
            raise Reply(
                dataverse_error(
                    400,
                    "0x80060888",
                    f"Could not find a property named '{name}' on type 'Microsoft.Dynamics.CRM.{entity}'.",
                )
            )
        shaped[name] = row[name]
        if labels and name in _CHOICES and isinstance(row[name], int):
            shaped[name + FORMATTED] = _CHOICES[name].get(row[name], str(row[name]))
    shaped.setdefault(key, row[key])
    return shaped


def _collection(
    request: web.Request, org: DynamicsOrg, rows: list[Row], entity: str, entity_set: str, key: str
) -> web.Response:
    flt = request.query.get("$filter", "")
    if flt:
        predicate = _Filter(flt, entity).parse()
        rows = [r for r in rows if predicate(r)]
    order = request.query.get("$orderby", "").strip()
    if order:
        field_name, _, direction = order.partition(" ")
        rows = sorted(
            rows,
            key=lambda r: (r.get(field_name) is None, str(r.get(field_name, ""))),
            reverse=direction.strip().lower() == "desc",
        )
    top = request.query.get("$top", "")
    if top:
        if not top.isdigit():
            return dataverse_error(400, "0x80060888", f"Invalid value '{top}' for $top query option found.")
        rows = rows[: int(top)]
    select = request.query.get("$select", "")
    fragment = f"{entity_set}({select})" if select else entity_set
    return json_answer(
        {
            "@odata.context": _context(request, org, fragment),
            "value": [_shape(request, r, entity, key) for r in rows],
        }
    )


def _single(
    request: web.Request, org: DynamicsOrg, rows: list[Row], entity: str, entity_set: str, key: str
) -> web.Response:
    wanted = request.match_info["id"].strip().lower()
    if not _GUID.match(wanted):
        return dataverse_error(
            400, "0x80060888", f"Bad Request - Error in query syntax: '{wanted}' is not a guid."
        )
    row = next((r for r in rows if str(r[key]).lower() == wanted), None)
    if row is None:
        return dataverse_error(404, "0x80040217", f"{entity} With Id = {wanted} Does Not Exist")
    select = request.query.get("$select", "")
    fragment = f"{entity_set}({select})/$entity" if select else f"{entity_set}/$entity"
    return json_answer(
        {"@odata.context": _context(request, org, fragment), **_shape(request, row, entity, key)}
    )


def _org_people(request: web.Request, org: DynamicsOrg) -> tuple[User, ...]:
    return state_of(request).scenario.org_users(PROVIDER, org.id)


# ---------------------------------------------------------------------------------------------- D2-D5


async def who_am_i(request: web.Request) -> web.StreamResponse:
    """D2."""
    caller, org = await _caller(request)
    return json_answer(
        {
            "@odata.context": _context(request, org, "Microsoft.Dynamics.CRM.WhoAmIResponse"),
            "BusinessUnitId": stable_uuid("businessunit", org.id),
            "UserId": systemuser_id(caller.user),
            "OrganizationId": stable_uuid("organization", org.id),
        }
    )


async def systemuser(request: web.Request) -> web.StreamResponse:
    """D3, one user by id."""
    _, org = await _caller(request)
    return _single(
        request,
        org,
        [_systemuser(u) for u in _org_people(request, org)],
        "systemuser",
        "systemusers",
        "systemuserid",
    )


async def systemusers(request: web.Request) -> web.StreamResponse:
    """D3 as a collection: `$filter=internalemailaddress eq '...'` finds the user by Primary Email."""
    _, org = await _caller(request)
    return _collection(
        request,
        org,
        [_systemuser(u) for u in _org_people(request, org)],
        "systemuser",
        "systemusers",
        "systemuserid",
    )


async def user_settings(request: web.Request) -> web.StreamResponse:
    """D3's note: usersettings.timezonecode, a Dataverse integer code, not an IANA name."""
    _, org = await _caller(request)
    rows = [
        {
            "@odata.etag": _etag(u.email + "settings"),
            "systemuserid": systemuser_id(u),
            "timezonecode": TIMEZONE_CODES.get(u.crm_timezone, UTC_CODE),
        }
        for u in _org_people(request, org)
    ]
    return _single(request, org, rows, "usersettings", "usersettingscollection", "systemuserid")


async def mailbox(request: web.Request) -> web.StreamResponse:
    """D4, one mailbox by id."""
    _, org = await _caller(request)
    now = state_of(request).clock.now()
    return _single(
        request,
        org,
        [_mailbox(u, now) for u in _org_people(request, org)],
        "mailbox",
        "mailboxes",
        "mailboxid",
    )


async def mailboxes(request: web.Request) -> web.StreamResponse:
    """D4: `$filter=_regardingobjectid_value eq {UserId}` finds a user's mailbox."""
    _, org = await _caller(request)
    now = state_of(request).clock.now()
    return _collection(
        request,
        org,
        [_mailbox(u, now) for u in _org_people(request, org)],
        "mailbox",
        "mailboxes",
        "mailboxid",
    )


async def tracelogs(request: web.Request) -> web.StreamResponse:
    """D5: the alerts server-side sync wrote on each mailbox."""
    _, org = await _caller(request)
    now = state_of(request).clock.now()
    rows = [row for u in _org_people(request, org) for row in _tracelogs(u, now)]
    return _collection(request, org, rows, "tracelog", "tracelogs", "tracelogid")


# ----------------------------------------------------------------------- extras (not in provider-apis.md yet)


async def contacts(request: web.Request) -> web.StreamResponse:
    """The CRM's contacts: `$filter=emailaddress1 eq '...'` finds a message's sender."""
    _, org = await _caller(request)
    rows = []
    for contact in state_of(request).scenario.counterparts():
        first, _, last = contact.name.partition(" ")
        rows.append(
            {
                "@odata.etag": _etag(org.id + contact.email + "contact"),
                "contactid": stable_uuid("contact", org.id, contact.email.lower()),
                "fullname": contact.name,
                "firstname": first,
                "lastname": last,
                "emailaddress1": contact.email,
                "statecode": 0,
            }
        )
    return _collection(request, org, rows, "contact", "contacts", "contactid")


async def timezone_definitions(request: web.Request) -> web.StreamResponse:
    """timezonedefinitions: `$filter=timezonecode eq 35` gives the Windows standardname of a code."""
    _, org = await _caller(request)
    rows = [
        {
            "@odata.etag": _etag(f"tz{code}"),
            "timezonedefinitionid": stable_uuid("timezone", str(code)),
            "timezonecode": code,
            "standardname": windows,
        }
        for code, _, windows in TIMEZONES
    ]
    return _collection(
        request, org, rows, "timezonedefinition", "timezonedefinitions", "timezonedefinitionid"
    )


_BIND: Final = re.compile(r"^/?systemusers\(([0-9a-fA-F-]{36})\)$")


async def create_task(request: web.Request) -> web.StreamResponse:
    """A task (the write probe): 201 with the row under `Prefer: return=representation`, else 204."""
    caller, org = await _caller(request)
    try:
        fields = json.loads(await request.text() or "null")
    except ValueError:
        return dataverse_error(
            400, "0x80048d19", "Error identified in Payload provided by the user for Entity :'tasks'"
        )
    if not isinstance(fields, dict):
        return dataverse_error(
            400, "0x80048d19", "Error identified in Payload provided by the user for Entity :'tasks'"
        )
    owner = systemuser_id(caller.user)
    bound = fields.get("ownerid@odata.bind")
    if bound is not None:
        match = _BIND.match(str(bound))
        people = {systemuser_id(u) for u in _org_people(request, org)}
        if match is None or match.group(1).lower() not in people:
            return dataverse_error(400, "0x80040217", f"systemuser With Id = {bound} Does Not Exist")
        owner = match.group(1).lower()
    state = state_of(request)
    task_id = stable_uuid("task", org.id, str(len(state.records)), str(state.clock.now().timestamp()))
    row = {
        "@odata.etag": _etag(task_id),
        "activityid": task_id,
        "subject": fields.get("subject"),
        "description": fields.get("description"),
        "_ownerid_value": owner,
        "statecode": 0,
    }
    state.records[f"dataverse-task:{task_id}"] = {"attributes": {"type": "dataverse-task"}, **row}
    location = f"{_org_url(request, org)}/api/data/{request.match_info['version']}/tasks({task_id})"
    if "return=representation" not in request.headers.get("Prefer", ""):
        return web.Response(status=204, headers={"OData-EntityId": location})
    select = request.query.get("$select", "")
    fragment = f"tasks({select})/$entity" if select else "tasks/$entity"
    shaped = _shape(request, row, "task", "activityid")
    return json_answer(
        {"@odata.context": _context(request, org, fragment), **shaped}, 201, {"OData-EntityId": location}
    )


async def delete_task(request: web.Request) -> web.StreamResponse:
    await _caller(request)
    wanted = request.match_info["id"].lower()
    if state_of(request).records.pop(f"dataverse-task:{wanted}", None) is None:
        return dataverse_error(404, "0x80040217", f"task With Id = {wanted} Does Not Exist")
    return web.Response(status=204)


async def not_found(request: web.Request) -> web.StreamResponse:
    segment = request.path.rstrip("/").rsplit("/", 1)[-1].split("(", 1)[0]
    return dataverse_error(404, "0x8006088a", f"Resource not found for the segment '{segment}'.")


_ORG: Final = "{org}/api/data/v9.2"
_API: Final = r"/api/data/{version:v\d+\.\d+}"

ROUTES: Final = (
    Route(
        "GET",
        "dynamics",
        _API + r"/{function:WhoAmI(?:\(\))?}",
        "D2",
        f"{_ORG}/WhoAmI",
        who_am_i,
        after=budget_headers,
    ),
    Route(
        "GET",
        "dynamics",
        _API + "/systemusers({id})",
        "D3",
        f"{_ORG}/systemusers({{UserId}})?$select=fullname",
        systemuser,
        after=budget_headers,
    ),
    Route(
        "GET",
        "dynamics",
        _API + "/systemusers",
        "D3",
        f"{_ORG}/systemusers",
        systemusers,
        after=budget_headers,
    ),
    Route(
        "GET",
        "dynamics",
        _API + "/usersettingscollection({id})",
        "D3",
        "usersettingscollection({systemuserid})?$select=timezonecode",
        user_settings,
        doc_root=_ORG,
        after=budget_headers,
    ),
    Route(
        "GET",
        "dynamics",
        _API + "/mailboxes({id})",
        "D4",
        f"{_ORG}/mailboxes({{mailboxid}})?$select=",
        mailbox,
        after=budget_headers,
    ),
    Route(
        "GET",
        "dynamics",
        _API + "/mailboxes",
        "D4",
        f"{_ORG}/mailboxes?$filter=_regardingobjectid_value eq {{UserId}}",
        mailboxes,
        after=budget_headers,
    ),
    Route(
        "GET",
        "dynamics",
        _API + "/tracelogs",
        "D5",
        f"{_ORG}/tracelogs?$filter=_regardingobjectid_value eq {{mailboxid}}",
        tracelogs,
        after=budget_headers,
    ),
)

# Endpoints the Dynamics client calls that provider-apis.md does not list yet;
# served too (see EXTRA_ROUTES in simulator.py).
_WEB_API: Final = "https://learn.microsoft.com/en-us/power-apps/developer/data-platform/"
EXTRA_ROUTES: Final = (
    Route(
        "GET",
        "dynamics",
        _API + "/contacts",
        "extra",
        _WEB_API + "reference/entities/contact",
        contacts,
        after=budget_headers,
        note="DynamicsClient.find_contact looks the newest message's sender up by emailaddress1",
    ),
    Route(
        "GET",
        "dynamics",
        _API + "/timezonedefinitions",
        "extra",
        _WEB_API + "reference/entities/timezonedefinition",
        timezone_definitions,
        after=budget_headers,
        note="DynamicsClient reads the Windows name of the user's timezonecode",
    ),
    Route(
        "POST",
        "dynamics",
        _API + "/tasks",
        "extra",
        _WEB_API + "webapi/create-entity-web-api",
        create_task,
        after=budget_headers,
        note="DynamicsClient.create_test_activity writes the test task (write probe only)",
    ),
    Route(
        "DELETE",
        "dynamics",
        _API + "/tasks({id})",
        "extra",
        _WEB_API + "webapi/update-delete-entities-using-web-api",
        delete_task,
        after=budget_headers,
        note="DynamicsClient.delete_activity removes the test task again",
    ),
)
