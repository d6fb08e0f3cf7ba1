"""Simulated Salesforce: OAuth refresh and userinfo (S1, S2), REST limits, SOQL and sObjects (S3-S5)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aiohttp import web

from adapters.sandbox import sim_consent
from adapters.sandbox.scenario import Fault, SalesforceOrg, User, scope_key
from adapters.sandbox.sim_base import (
    AccessToken,
    Caller,
    Reply,
    Route,
    SimState,
    authenticate,
    bearer,
    client_credentials,
    epoch,
    fake_jwt,
    form,
    json_answer,
    network_faults,
    origin,
    salesforce_id,
    salesforce_time,
    state_of,
)

PROVIDER: Final = "salesforce"
SCOPES_REST: Final = ("api", "full")
SCOPES_USERINFO: Final = ("openid", "id", "full")
_VERSION: Final = r"{version:v\d+\.\d+}"
EAC_MIN_VERSION: Final = 54.0  # ActivityUsrConnectionStatus exists from API v54.0 (provider-apis.md S5)


def rest_error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> web.Response:
    """Salesforce REST errors are a JSON array (provider-apis.md §8.6)."""
    return json_answer([{"message": message, "errorCode": code}], status, headers)


class RestSurface:
    provider = PROVIDER

    def unauthorized(
        self, request: web.Request, status: str, token: AccessToken | None
    ) -> web.StreamResponse:
        return rest_error(401, "INVALID_SESSION_ID", "Session expired or invalid")

    def forbidden_scope(self, request: web.Request, needed: tuple[str, ...]) -> web.StreamResponse:
        # A session from a connected app without the `api` scope.
        return rest_error(403, "INVALID_SESSION_ID", "This session is not valid for use with the REST API")

    def rate_limited(self, request: web.Request, fault: Fault) -> web.StreamResponse:
        # Salesforce has no 429: a concurrency or allocation limit is a 403 REQUEST_LIMIT_EXCEEDED without
        # Retry-After (provider-apis.md S REST errors). The daily allocation running out is "TotalRequests".
        return rest_error(403, "REQUEST_LIMIT_EXCEEDED", "ConcurrentPerOrgLongTxn Limit exceeded.")

    def server_error(self, request: web.Request, status: int) -> web.StreamResponse:
        if status == 500:
            return rest_error(
                500,
                "UNKNOWN_EXCEPTION",
                "An unexpected error occurred. Please include this ErrorId if "
                "you contact support: 1938072564-41210 (-1102729408)",
            )
        return rest_error(
            status, "SERVER_UNAVAILABLE", "Server temporarily unavailable, please try again later."
        )


class IdentitySurface(RestSurface):
    """The userinfo endpoint answers a bad token with a plain-text 403 (provider-apis.md S2)."""

    def unauthorized(
        self, request: web.Request, status: str, token: AccessToken | None
    ) -> web.StreamResponse:
        return web.Response(status=403, text="Bad_OAuth_Token", content_type="text/plain")

    def forbidden_scope(self, request: web.Request, needed: tuple[str, ...]) -> web.StreamResponse:
        return web.Response(status=403, text="Insufficient_Scope", content_type="text/plain")


REST: Final = RestSurface()
IDENTITY: Final = IdentitySurface()


def _oauth_error(error: str, description: str, status: int = 400) -> web.Response:
    return json_answer({"error": error, "error_description": description}, status)


def _oauth_server_error(request: web.Request, status: int) -> web.StreamResponse:
    return _oauth_error("temporarily_unavailable", "service temporarily unavailable", status)


# ------------------------------------------------------------------------------------------ ids and org facts


def org_id(org: SalesforceOrg) -> str:
    return salesforce_id("00D", org.id)


def user_id(user: User) -> str:
    return salesforce_id("005", user.email.lower())


def _org_of(state: SimState, email: str) -> SalesforceOrg | None:
    user = state.user(email)
    return state.scenario.salesforce_org(user) if user is not None else None


def _usage(state: SimState, org: SalesforceOrg) -> int:
    return state.salesforce_used.setdefault(org.id, org.used_requests)


def limit_info(request: web.Request, response: web.StreamResponse) -> None:
    """After-hook of every REST answer: Sforce-Limit-Info with the caller's org usage."""
    state = state_of(request)
    token = state.access.get(bearer(request))
    if token is None or token.provider != PROVIDER:
        return  # nobody known: no org to report on
    org = _org_of(state, token.user)
    if org is not None:
        response.headers["Sforce-Limit-Info"] = f"api-usage={_usage(state, org)}/{org.max_requests}"


async def _rest_caller(request: web.Request) -> tuple[Caller, SalesforceOrg]:
    """The caller of a REST call, counted against the org's daily allocation."""
    caller = await authenticate(request, REST, scopes=SCOPES_REST)
    state = state_of(request)
    org = state.scenario.salesforce_org(caller.user)
    if _usage(state, org) >= org.max_requests:
        raise Reply(rest_error(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."))
    state.salesforce_used[org.id] += 1
    return caller, org


def _base(request: web.Request) -> str:
    return f"{origin(request)}/salesforce"


# ---------------------------------------------------------------------------------------------- S1, S2


async def token(request: web.Request) -> web.StreamResponse:
    """S1: no expires_in, issued_at in epoch milliseconds as a string, and an HMAC signature."""
    state = state_of(request)
    fields = await form(request)
    grant_type = fields.get("grant_type", "")
    if grant_type == "authorization_code":  # a Reconnect consent (sim_consent.py), the web server flow
        return await sim_consent.redeem(request, (PROVIDER,), fields, error=_oauth_error, answer=_consented,
                                        server_error=_oauth_server_error)
    if grant_type != "refresh_token":
        return _oauth_error("unsupported_grant_type", "grant type not supported")
    client_id, secret = client_credentials(request, fields)
    client = state.scenario.clients[PROVIDER]
    if client_id != client.client_id:
        return _oauth_error("invalid_client_id", "client identifier invalid")
    if secret != client.client_secret:
        return _oauth_error("invalid_client", "invalid client credentials")
    refresh = state.refresh.get(fields.get("refresh_token", ""))
    if refresh is None or PROVIDER not in refresh.scopes:
        return _oauth_error("invalid_grant", "expired access/refresh token")
    await network_faults(request, state.faults(refresh.user, PROVIDER), _oauth_server_error)
    if state.is_revoked(refresh.user, PROVIDER, refresh.family):
        return _oauth_error("invalid_grant", "expired access/refresh token")
    user = state.user(refresh.user)
    assert user is not None
    if not user.crm_active:
        return _oauth_error("invalid_grant", "inactive user")
    org = state.scenario.salesforce_org(user)
    scopes = refresh.scopes[PROVIDER]
    issued = state.issue_access(
        refresh.user,
        PROVIDER,
        scopes,
        refresh.family,
        client_id,
        timedelta(minutes=org.session_timeout_minutes),
        f"{org_id(org)[:15]}!AQ0-sim-",
    )
    identity = f"{_base(request)}/id/{org_id(org)}/{user_id(user)}"
    issued_at = str(int(issued.issued_at.timestamp() * 1000))
    signature = base64.b64encode(
        hmac.new(client.client_secret.encode(), (identity + issued_at).encode(), hashlib.sha256).digest()
    ).decode()
    body: dict[str, Any] = {"access_token": issued.value, "signature": signature, "scope": " ".join(scopes)}
    if "openid" in {scope_key(s) for s in scopes}:
        body["id_token"] = fake_jwt(
            {
                "iss": _base(request),
                "sub": identity,
                "aud": client_id,
                "iat": epoch(issued.issued_at),
                "exp": epoch(issued.issued_at) + 300,
            }
        )
    body.update(
        {"instance_url": _base(request), "id": identity, "token_type": "Bearer", "issued_at": issued_at}
    )
    if org.rotate_refresh_tokens:  # the old token dies: using it again is invalid_grant
        rotated = state.issue_refresh(refresh, "5Aep861sim-")
        del state.refresh[refresh.value]
        body["refresh_token"] = rotated.value
    return json_answer(body)


def _consented(request: web.Request, redeemed: sim_consent.Redeemed) -> web.StreamResponse:
    """S1's answer to an authorization code: the identity URL, the instance, a signature, a refresh token when
    the `refresh_token` (or `offline_access`) scope was granted."""
    state, code = state_of(request), redeemed.code
    user = state.user(code.user)
    assert user is not None  # only scenario users can approve a consent
    org = state.scenario.salesforce_org(user)
    client = state.scenario.clients[PROVIDER]
    identity = f"{_base(request)}/id/{org_id(org)}/{user_id(user)}"
    issued_at = str(int(redeemed.access.issued_at.timestamp() * 1000))
    signature = base64.b64encode(
        hmac.new(client.client_secret.encode(), (identity + issued_at).encode(), hashlib.sha256).digest()
    ).decode()
    body: dict[str, Any] = {"access_token": redeemed.access.value, "signature": signature,
                            "scope": " ".join(code.scopes)}
    if {scope_key(s) for s in code.scopes} & {"refresh_token", "offline_access"}:
        body["refresh_token"] = redeemed.refresh.value
    body.update({"instance_url": _base(request), "id": identity, "token_type": "Bearer", "issued_at": issued_at})
    return json_answer(body)


async def revoke(request: web.Request) -> web.StreamResponse:
    """The revocation endpoint: `token=` an access token ends it, a refresh token ends it and its access tokens."""
    state = state_of(request)
    fields = await form(request)
    value = fields.get("token", "")
    if not value:
        return _oauth_error("unsupported_token_type", "Token type not supported")
    found = state.find_token(value, PROVIDER)
    if found is None:
        return _oauth_error("invalid_token", "Token was invalid")
    await network_faults(request, state.faults(found.user, PROVIDER), _oauth_server_error)
    state.revoke(PROVIDER, found)
    return web.Response(status=200)


def _utc_offset_ms(zone: str, now: datetime) -> int:
    try:
        offset = now.astimezone(ZoneInfo(zone)).utcoffset()
    except (ZoneInfoNotFoundError, ValueError):
        return 0
    return int(offset.total_seconds() * 1000) if offset is not None else 0


async def userinfo(request: web.Request) -> web.StreamResponse:
    """S2: who the token belongs to, its org, zoneinfo and active flag."""
    caller = await authenticate(request, IDENTITY, scopes=SCOPES_USERINFO)
    state = state_of(request)
    user = caller.user
    org = state.scenario.salesforce_org(user)
    base = _base(request)
    uid, oid = user_id(user), org_id(org)
    return json_answer(
        {
            "sub": f"{base}/id/{oid}/{uid}",
            "user_id": uid,
            "organization_id": oid,
            "preferred_username": user.crm_address,
            "nickname": user.first_name.lower(),
            "name": user.name,
            "email": user.crm_address,
            "email_verified": True,
            "given_name": user.first_name,
            "family_name": user.last_name,
            "zoneinfo": user.crm_timezone,
            "photos": {"picture": f"{base}/profilephoto/005/F", "thumbnail": f"{base}/profilephoto/005/T"},
            "profile": f"{base}/{uid}",
            "picture": f"{base}/profilephoto/005/F",
            "address": {},
            "is_salesforce_integration_user": False,
            "urls": {
                "enterprise": f"{base}/services/Soap/c/{{version}}/{oid[:15]}",
                "rest": f"{base}/services/data/v{{version}}/",
                "query": f"{base}/services/data/v{{version}}/query/",
                "custom_domain": base,
            },
            "active": user.crm_active,
            "user_type": "STANDARD",
            "language": "en_US",
            "locale": "en_US",
            "utcOffset": _utc_offset_ms(user.crm_timezone, state.clock.now()),
            "updated_at": "2024-04-02T11:20:03Z",
            "is_app_installed": True,
        }
    )


# ---------------------------------------------------------------------------------------------- S3


_VERSIONS: Final = (
    ("Summer '23", "58.0"),
    ("Winter '24", "59.0"),
    ("Spring '24", "60.0"),
    ("Summer '24", "61.0"),
    ("Winter '25", "62.0"),
)


async def versions(request: web.Request) -> web.StreamResponse:
    """S3's versions URI: needs no token and counts against no limit."""
    return json_answer(
        [
            {"label": label, "url": f"/services/data/v{number}", "version": number}
            for label, number in _VERSIONS
        ]
    )


async def limits(request: web.Request) -> web.StreamResponse:
    """S3: DailyApiRequests from the org, with a per-app sub-limit; other limits fixed."""
    _, org = await _rest_caller(request)
    remaining = max(0, org.max_requests - _usage(state_of(request), org))
    fixed = {
        "DailyAsyncApexExecutions": (250000, 250000),
        "DailyBulkApiBatches": (15000, 15000),
        "DailyBulkV2QueryJobs": (10000, 10000),
        "DailyDurableStreamingApiEvents": (10000, 10000),
        "DataStorageMB": (1024, 1001),
        "FileStorageMB": (10240, 10234),
        "HourlyODataCallout": (10000, 9999),
        "MassEmail": (5000, 5000),
        "SingleEmail": (5000, 4998),
    }
    body: dict[str, Any] = {
        "DailyApiRequests": {
            "Max": org.max_requests,
            "Remaining": remaining,
            "Ant Migration Tool": {"Max": 0, "Remaining": 0},
            "CRM Sync Bot": {"Max": 0, "Remaining": 0},
        }
    }
    body.update({name: {"Max": mx, "Remaining": rem} for name, (mx, rem) in fixed.items()})
    return json_answer(body)


# ---------------------------------------------------------------------------------------------- S4, S5: SOQL


Row = dict[str, Any]


def _objects(
    request: web.Request, caller: Caller, org: SalesforceOrg, version: float
) -> dict[str, list[Row]]:
    """Every queryable object of the caller's org as rows (canonical field names)."""
    state = state_of(request)
    now = state.clock.now()
    users = state.scenario.org_users(PROVIDER, org.id)
    tables: dict[str, list[Row]] = {
        "User": [
            {
                "Id": user_id(u),
                "Username": u.crm_address,
                "Email": u.crm_address,
                "Name": u.name,
                "FirstName": u.first_name,
                "LastName": u.last_name,
                "Alias": u.first_name[:8].lower(),
                "TimeZoneSidKey": u.crm_timezone,
                "IsActive": u.crm_active,
                "UserType": "Standard",
                "LanguageLocaleKey": "en_US",
                "LocaleSidKey": "en_US",
                "LastLoginDate": salesforce_time(now - timedelta(hours=3)),
                "FederationIdentifier": None,
            }
            for u in users
        ],
        "Contact": [],
        "Lead": [],
        "Task": [dict(r) for r in state.records.values() if r["attributes"]["type"] == "Task"],
        "Event": [dict(r) for r in state.records.values() if r["attributes"]["type"] == "Event"],
    }
    for contact in state.scenario.counterparts():
        first, _, last = (contact.name or contact.email).partition(" ")
        tables["Contact"].append(
            {
                "Id": salesforce_id("003", org.id, contact.email.lower()),
                "Email": contact.email,
                "Name": contact.name,
                "FirstName": first,
                "LastName": last or first,
                "AccountId": salesforce_id("001", org.id, contact.email.rsplit("@", 1)[1].lower()),
            }
        )
    if org.eac_enabled and version >= EAC_MIN_VERSION:
        tables["ActivityUsrConnectionStatus"] = [
            {
                "Id": salesforce_id("0Xy", u.email.lower()),
                "UserId": user_id(u),
                "UserName": u.name,
                "EmailAddress": u.email,
                "ConnectivityStatus": u.eac_status.status,
                "ConfigurationName": u.eac_status.configuration,
                "ContactsSynced": 12,
                "EventsSynced": 3,
                "ExternalId": None,
                "GlobalOauthTermsState": None,
                "IsTermsOfServiceAccepted": True,
                "RecommendedActionTitle": u.eac_status.title or None,
                "RecommendedActionDescription": u.eac_status.description or None,
                "UserOnboardingStatus": None,
            }
            for u in users
        ]
    return tables


_EXTRA_FIELDS: Final = {
    "Lead": ("Id", "Email", "Name", "FirstName", "LastName", "Company", "IsConverted"),
    "Task": ("Id", "Subject", "OwnerId", "Description", "Status", "Priority", "WhoId"),
    "Event": ("Id", "Subject", "OwnerId", "Description", "StartDateTime", "EndDateTime"),
}
_TOKEN: Final = re.compile(r"\s*('(?:[^'\\]|\\.)*'|<=|>=|!=|<>|=|<|>|\(|\)|,|[\w.:+-]+)")


class SoqlError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _tokens(text: str) -> list[str]:
    out: list[str] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            if text[pos:].strip():
                raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{text[pos:].split()[0]}'")
            break
        out.append(match.group(1))
        pos = match.end()
    return out


def _literal(token: str) -> Any:
    if token.startswith("'"):
        return re.sub(r"\\(.)", r"\1", token[1:-1])
    lowered = token.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered == "null":
        return None
    try:
        return float(token) if "." in token else int(token)
    except ValueError:
        return token  # a date literal such as TODAY: compared as text


Predicate = Callable[[Row], bool]


class _Where:
    """WHERE of a SOQL query: comparisons, IN, NOT, AND, OR and parentheses over one object's fields."""

    def __init__(self, tokens: list[str], fields: dict[str, str]) -> None:
        self.tokens = tokens
        self.pos = 0
        self.fields = fields  # lower-case name -> canonical name

    def parse(self) -> Predicate:
        predicate = self.expr()
        if self.pos != len(self.tokens):
            raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{self.tokens[self.pos]}'")
        return predicate

    def peek(self) -> str:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else ""

    def take(self) -> str:
        token = self.peek()
        if not token:
            raise SoqlError("MALFORMED_QUERY", "unexpected end of query")
        self.pos += 1
        return token

    def expr(self) -> Predicate:
        terms = [self.term()]
        while self.peek().upper() == "OR":
            self.take()
            terms.append(self.term())
        return lambda row: any(t(row) for t in terms)

    def term(self) -> Predicate:
        factors = [self.factor()]
        while self.peek().upper() == "AND":
            self.take()
            factors.append(self.factor())
        return lambda row: all(f(row) for f in factors)

    def factor(self) -> Predicate:
        if self.peek().upper() == "NOT":
            self.take()
            inner = self.factor()
            return lambda row: not inner(row)
        if self.peek() == "(":
            self.take()
            inner = self.expr()
            if self.take() != ")":
                raise SoqlError("MALFORMED_QUERY", "expecting a right parentheses")
            return inner
        name = self.field(self.take())
        op = self.take().upper()
        if op == "NOT" and self.peek().upper() == "IN":
            self.take()
            values = self.values()
            return lambda row: not any(_equal(row.get(name), v) for v in values)
        if op == "IN":
            values = self.values()
            return lambda row: any(_equal(row.get(name), v) for v in values)
        if op not in ("=", "!=", "<>", "<", ">", "<=", ">=", "LIKE"):
            raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{op}'")
        value = _literal(self.take())
        return _compare(name, op, value)

    def values(self) -> list[Any]:
        if self.take() != "(":
            raise SoqlError("MALFORMED_QUERY", "expecting a left parentheses")
        values = [_literal(self.take())]
        while self.peek() == ",":
            self.take()
            values.append(_literal(self.take()))
        if self.take() != ")":
            raise SoqlError("MALFORMED_QUERY", "expecting a right parentheses")
        return values

    def field(self, token: str) -> str:
        name = self.fields.get(token.lower())
        if name is None:
            raise SoqlError("INVALID_FIELD", f"No such column '{token}' on entity")
        return name


def _equal(actual: Any, wanted: Any) -> bool:
    if isinstance(actual, str) and isinstance(wanted, str):
        return actual.lower() == wanted.lower()  # Salesforce compares text case-insensitively
    return bool(actual == wanted)


def _compare(name: str, op: str, value: Any) -> Predicate:
    def check(row: Row) -> bool:
        actual = row.get(name)
        if op == "=":
            return _equal(actual, value)
        if op in ("!=", "<>"):
            return not _equal(actual, value)
        if op == "LIKE":
            pattern = re.escape(str(value).lower()).replace("%", ".*").replace("_", ".")
            return isinstance(actual, str) and re.fullmatch(pattern, actual.lower()) is not None
        if actual is None or value is None:
            return False
        try:
            return bool(
                {"<": actual < value, ">": actual > value, "<=": actual <= value, ">=": actual >= value}[op]
            )
        except TypeError:
            return False

    return check


_SOQL: Final = re.compile(
    r"^\s*SELECT\s+(?P<fields>.+?)\s+FROM\s+(?P<object>\w+)(?:\s+WHERE\s+(?P<where>.+?))?"
    r"(?:\s+ORDER\s+BY\s+(?P<order>.+?))?(?:\s+LIMIT\s+(?P<limit>\d+))?"
    r"(?:\s+OFFSET\s+\d+)?\s*$",
    re.IGNORECASE | re.DOTALL,
)


def _soql_error(query: str, code: str, message: str) -> web.Response:
    return rest_error(400, code, f"\n{query}\n^\nERROR at Row:1:Column:1\n{message}")


def run_query(query: str, tables: dict[str, list[Row]], version: str) -> tuple[list[Row], str]:
    """(records, object name) of a SOQL query over the tables; SoqlError for what Salesforce would refuse."""
    match = _SOQL.match(query)
    if match is None:
        raise SoqlError("MALFORMED_QUERY", "unexpected token: query")
    wanted = match.group("object")
    obj = next((name for name in tables if name.lower() == wanted.lower()), None)
    if obj is None:
        raise SoqlError(
            "INVALID_TYPE",
            f"sObject type '{wanted}' is not supported. If you are attempting to use a "
            "custom object, be sure to append the '__c' after the entity name. Please "
            "reference your WSDL or the describe call for the appropriate names.",
        )
    rows = tables[obj]
    known = [key for key in (rows[0] if rows else ("Id",)) if key != "attributes"]
    known += [extra for extra in _EXTRA_FIELDS.get(obj, ()) if extra not in known]
    fields = {name.lower(): name for name in known}
    selected: list[str] = []
    for raw in (f.strip() for f in match.group("fields").split(",")):
        if raw.upper().startswith("COUNT("):
            raise SoqlError("MALFORMED_QUERY", "COUNT() is not supported by the simulator")
        name = fields.get(raw.lower())
        if name is None:
            raise SoqlError(
                "INVALID_FIELD",
                f"No such column '{raw}' on entity '{obj}'. If you are attempting to "
                "use a custom field, be sure to append the '__c' after the custom field "
                "name. Please reference your WSDL or the describe call for the "
                "appropriate names.",
            )
        selected.append(name)
    where = match.group("where")
    predicate = _Where(_tokens(where), fields).parse() if where else (lambda row: True)
    found = [row for row in rows if predicate(row)]
    if match.group("limit"):
        found = found[: int(match.group("limit"))]
    records = [
        {
            "attributes": {"type": obj, "url": f"/services/data/{version}/sobjects/{obj}/{row.get('Id')}"},
            **{name: row.get(name) for name in selected},
        }
        for row in found
    ]
    return records, obj


def _version_number(request: web.Request) -> float:
    return float(request.match_info["version"][1:])


async def query(request: web.Request) -> web.StreamResponse:
    """S4 and S5: SOQL over the org's users, EAC rows (when EAC is on), contacts and written tasks."""
    caller, org = await _rest_caller(request)
    text = request.query.get("q", "")
    if not text.strip():
        return rest_error(400, "MALFORMED_QUERY", "A query string has to be specified")
    version = request.match_info["version"]
    tables = _objects(request, caller, org, _version_number(request))
    try:
        records, _ = run_query(text, tables, version)
    except SoqlError as exc:
        return _soql_error(text, exc.code, str(exc))
    return json_answer({"totalSize": len(records), "done": True, "records": records})


# ---------------------------------------------------------------------------------------------- sObjects


def _find(tables: dict[str, list[Row]], sobject: str, record_id: str) -> Row | None:
    rows = next((rows for name, rows in tables.items() if name.lower() == sobject.lower()), None)
    if rows is None:
        return None
    # Salesforce accepts the 15- and the 18-character form of an id.
    return next((r for r in rows if str(r.get("Id", ""))[:15] == record_id[:15]), None)


def _not_found() -> web.Response:
    return rest_error(404, "NOT_FOUND", "The requested resource does not exist")


async def sobject_get(request: web.Request) -> web.StreamResponse:
    """One record by id, with its attributes (the S4 `attributes.url`)."""
    caller, org = await _rest_caller(request)
    sobject, record_id = request.match_info["sobject"], request.match_info["record_id"]
    version = request.match_info["version"]
    row = _find(_objects(request, caller, org, _version_number(request)), sobject, record_id)
    if row is None:
        return _not_found()
    body = {key: value for key, value in row.items() if key != "attributes"}
    return json_answer(
        {
            "attributes": {
                "type": sobject,
                "url": f"/services/data/{version}/sobjects/{sobject}/{row['Id']}",
            },
            **body,
        }
    )


_WRITABLE: Final = frozenset({"Task", "Event"})


async def sobject_create(request: web.Request) -> web.StreamResponse:
    """The write probe: a Task or Event; 201 with the new id."""
    caller, org = await _rest_caller(request)
    sobject = request.match_info["sobject"]
    canonical = next((name for name in _WRITABLE if name.lower() == sobject.lower()), None)
    if canonical is None:
        return _not_found()
    try:
        fields = json.loads(await request.text())
    except ValueError:
        return rest_error(400, "JSON_PARSER_ERROR", "Unexpected character: was expecting a JSON object")
    if not isinstance(fields, dict):
        return rest_error(400, "JSON_PARSER_ERROR", "Cannot deserialize instance of Task from a non-object")
    allowed = {n.lower(): n for n in _EXTRA_FIELDS[canonical]}
    for key in fields:
        if key.lower() not in allowed:
            return rest_error(400, "INVALID_FIELD", f"No such column '{key}' on sobject of type {canonical}")
    record_id = salesforce_id("00T" if canonical == "Task" else "00U", org.id, secrets.token_hex(8))
    state_of(request).records[record_id] = {
        "attributes": {"type": canonical},
        "Id": record_id,
        **{allowed[k.lower()]: v for k, v in fields.items()},
    }
    return json_answer({"id": record_id, "success": True, "errors": []}, 201)


async def sobject_delete(request: web.Request) -> web.StreamResponse:
    await _rest_caller(request)
    records = state_of(request).records
    record_id = request.match_info["record_id"]
    found = next((key for key in records if key[:15] == record_id[:15]), None)
    if found is None or records[found]["attributes"]["type"].lower() != request.match_info["sobject"].lower():
        return _not_found()
    del records[found]
    return web.Response(status=204)


async def not_found(request: web.Request) -> web.StreamResponse:
    return _not_found()


_INSTANCE: Final = "{instance}"
_DATA: Final = "/services/data/" + _VERSION

ROUTES: Final = (
    Route(
        "POST",
        "salesforce",
        "/services/oauth2/token",
        "S1",
        "https://login.salesforce.com/services/oauth2/token",
        token,
    ),
    Route(
        "GET",
        "salesforce",
        "/services/oauth2/userinfo",
        "S2",
        "https://login.salesforce.com/services/oauth2/userinfo",
        userinfo,
    ),
    Route("GET", "salesforce", "/services/data{slash:/?}", "S3", "{instance}/services/data/", versions),
    Route(
        "GET",
        "salesforce",
        f"{_DATA}/limits",
        "S3",
        "{instance}/services/data/v62.0/limits",
        limits,
        after=limit_info,
    ),
    Route(
        "GET",
        "salesforce",
        f"{_DATA}/query",
        "S4 S5",
        "{instance}/services/data/v62.0/query?q=",
        query,
        after=limit_info,
    ),
    Route(
        "GET",
        "salesforce",
        f"{_DATA}/sobjects/{{sobject}}/{{record_id}}",
        "S4",
        "/services/data/v62.0/sobjects/User/0055g00000AbCdEAAV",
        sobject_get,
        doc_root=_INSTANCE,
        after=limit_info,
    ),
    Route(
        "DELETE",
        "salesforce",
        f"{_DATA}/sobjects/{{sobject}}/{{record_id}}",
        "S4",
        "/services/data/v62.0/sobjects/User/0055g00000AbCdEAAV",
        sobject_delete,
        doc_root=_INSTANCE,
        after=limit_info,
    ),
    Route(
        "POST",
        "salesforce",
        f"{_DATA}/sobjects/{{sobject}}",
        "S4",
        "/services/data/v62.0/sobjects/User",
        sobject_create,
        doc_root=_INSTANCE,
        after=limit_info,
    ),
)

# Endpoints the Salesforce client calls that provider-apis.md does not list yet;
# served too (see EXTRA_ROUTES in simulator.py).
EXTRA_ROUTES: Final = (
    Route(
        "POST",
        "salesforce",
        "/services/oauth2/revoke",
        "extra",
        "https://help.salesforce.com/s/articleView?id=xcloud.remoteaccess_revoke_token.htm",
        revoke,
        note="SalesforceConsent.revoke ends the tokens of a consent given by the wrong account",
    ),
)
