"""Hypothesis strategies for hostile input: chat text, names, log lines, findings, reports and import files."""

from __future__ import annotations

import string
from datetime import UTC, datetime, timedelta
from typing import Any

import yaml
from hypothesis import strategies as st

from chatops.checks import CHECKS
from chatops.findings import Action, ActionKind, Cause, Evidence, Finding, Status
from chatops.model import Connection, GrantRole, Provider
from chatops.report import Report

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)

# What a name, an email, a log line or a provider's error text might carry to hurt a chat message.
NASTY = (
    "<!channel>", "<!here>", "<!everyone>", "<!subteam^S0ADMINS>", "<@U0ADMIN>", "<@W0ADMIN|ada>", "<#C0GENERAL>",
    "<http://evil.example|Reconnect here>", "<https://evil.example>", "<mailto:x@evil.example|admin>",
    "[Reconnect](https://evil.example/login)", "![pixel](https://evil.example/p.png)", "[a]: https://evil.example",
    "&lt;!channel&gt;", "&amp;", "&", "&#60;", "*bold*", "_it_", "~strike~", "`code`", "```block```", "> quote",
    "1. ", "2) ", "- ", "+ ", "* ", "# heading", "{{DATE(2017-02-14T06:08:39Z, SHORT)}}", "{{TIME(x)}}", "\\",
    "\\[", "\n", "\r\n", "\n\n", "\u202e", "\u200b", "\x00", "\x1f", "\x7f", "\t", "😀", "👨‍👩‍👧", "𝕏", "ä", "\ufeff",
    "ya29.a0AfB_leak", "xoxb-1-leak", "Bearer abc", "%s", "{0}", "'", '"', "</at>", "<at>Ada</at>", "<script>",
)
_pieces = st.one_of(st.sampled_from(NASTY), st.text(max_size=12))
short_text = st.one_of(st.text(max_size=40), st.lists(_pieces, max_size=10).map("".join))
huge_text = st.builds(lambda part, n: part * n, st.one_of(st.sampled_from(NASTY), st.text(min_size=1, max_size=6)),
                      st.integers(200, 3000))
any_text = st.one_of(short_text, short_text, short_text, huge_text)
nonempty = any_text.filter(lambda s: s.strip() != "")

connection_ids = st.one_of(
    st.text(string.ascii_lowercase + string.digits, min_size=10, max_size=10).map(lambda s: "c_" + s),
    st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._-]{0,40}\Z"),
)
emails = st.one_of(st.emails(), st.builds(lambda a, b: f"{a}@{b}", short_text, short_text))


@st.composite
def connections(draw: st.DrawFn, ids: st.SearchStrategy[str] = connection_ids) -> Connection:
    return Connection(
        id=draw(ids), workspace_id="ws", name=draw(nonempty), owner_email=draw(emails),
        crm=draw(st.sampled_from(sorted(p for p in Provider if p in (Provider.SALESFORCE, Provider.HUBSPOT,
                                                                    Provider.DYNAMICS)))),
        crm_user_email=draw(emails), mailbox_provider=draw(st.sampled_from([Provider.GOOGLE, Provider.MICROSOFT,
                                                                            Provider.IMAP])),
        mailbox_email=draw(emails), calendar_provider=draw(st.sampled_from([None, Provider.GOOGLE,
                                                                            Provider.MICROSOFT])),
    )


@st.composite
def actions(draw: st.DrawFn, connection: Connection) -> Action:
    kind = draw(st.sampled_from(list(ActionKind)))
    if kind is ActionKind.RECONNECT:
        target = f"{connection.id}:{draw(st.sampled_from(list(GrantRole))).value}"
    elif kind is ActionKind.OPEN_URL:
        target = draw(st.one_of(st.just("https://acme.my.salesforce.com/lightning/setup/x"), short_text))
    else:
        target = draw(st.one_of(st.just(connection.id), short_text))
    return Action(kind, draw(any_text), target)


@st.composite
def findings(draw: st.DrawFn, connection: Connection) -> Finding:
    return Finding(
        check=draw(st.one_of(st.sampled_from(list(CHECKS)), short_text)),
        connection_id=connection.id,
        status=draw(st.sampled_from(list(Status))),
        cause=draw(st.sampled_from(list(Cause))),
        summary=draw(any_text),
        evidence=tuple(Evidence(label, value) for label, value in
                       draw(st.lists(st.tuples(any_text, any_text), max_size=12))),
        remedy=tuple(draw(st.lists(any_text, max_size=8))),
        actions=tuple(draw(st.lists(actions(connection), max_size=6))),
        subject=draw(short_text),
        duration_ms=draw(st.integers(0, 10**7)),
    )


@st.composite
def reports(draw: st.DrawFn, max_connections: int = 20) -> Report:
    people = draw(st.lists(connections(), min_size=1, max_size=max_connections,
                           unique_by=(lambda c: c.id, lambda c: c.name)))
    found = [f for c in people for f in draw(st.lists(findings(c), max_size=4))]
    return Report.build(people, found, NOW - timedelta(seconds=draw(st.integers(0, 600))), NOW)


# ---------------------------------------------------------------- import documents

FIELDS = ("id", "name", "owner_email", "crm", "crm_user_email", "mailbox_provider", "mailbox_email",
          "calendar_provider", "sync_account", "mail_host", "calls_per_sync", "sync_jobs", "grants")
GRANT_FIELDS = ("id", "role", "provider", "account", "scopes", "access_token", "refresh_token", "expires_at",
                "instance_url", "keeper")
JOB_FIELDS = ("name", "tool", "interval_minutes", "cron", "duration_minutes")
VALID_RECORD: dict[str, Any] = {
    "name": "ana-salesforce-gmail", "owner_email": "ana@acme.example", "crm": "salesforce",
    "crm_user_email": "ana@acme.example", "mailbox_provider": "google", "mailbox_email": "ana@acme.example",
    "calendar_provider": "google", "calls_per_sync": 12,
    "sync_jobs": [{"name": "EAC", "tool": "Einstein Activity Capture", "interval_minutes": 5,
                   "duration_minutes": 2}, {"name": "nightly", "cron": "0 2 * * *"}],
    "grants": [{"role": "mail", "provider": "google", "account": "ana@acme.example", "refresh_token": "1//x",
                "scopes": ["openid", "email"], "expires_at": "2026-11-30T10:00:00Z"}],
}

scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12), st.floats(allow_nan=True),
                    any_text, st.sampled_from(["salesforce", "google", "microsoft", "hubspot", "dynamics", "imap",
                                               "mail", "crm", "calendar", "chatops", "0 2 * * *", "*/5 * * * *",
                                               "61 25 * * *", "2026-02-30T00:00:00", "ana@acme.example", ""]),
                    st.datetimes(timezones=st.none() | st.just(UTC)))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4),
    st.dictionaries(st.one_of(st.sampled_from(FIELDS + GRANT_FIELDS + JOB_FIELDS + ("connections",)), short_text),
                    inner, max_size=6)), max_leaves=20)


@st.composite
def mutated_documents(draw: st.DrawFn) -> str:
    """A valid import document with some fields replaced, removed or added, dumped as YAML or JSON."""
    records = []
    for n in range(draw(st.integers(1, 3))):
        record: dict[str, Any] = {**VALID_RECORD, "name": f"conn-{n}",
                                  "sync_jobs": [dict(j) for j in VALID_RECORD["sync_jobs"]],
                                  "grants": [dict(g) for g in VALID_RECORD["grants"]]}
        for _ in range(draw(st.integers(0, 4))):
            where = draw(st.sampled_from(["record", "grants", "sync_jobs"]))
            nested = record.get(where)
            if where != "record" and not (isinstance(nested, list) and nested and isinstance(nested[0], dict)):
                where = "record"  # that part was already replaced or removed
            target = record if where == "record" else record[where][0]
            names = FIELDS if where == "record" else GRANT_FIELDS if where == "grants" else JOB_FIELDS
            key = draw(st.sampled_from(names))
            if draw(st.booleans()) and key in target:
                del target[key]
            else:
                target[key] = draw(values)
        records.append(record)
    document: Any = records if draw(st.booleans()) else {"connections": records}
    if draw(st.booleans()):
        import json

        return json.dumps(document, default=str)
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True)


import_texts = st.one_of(
    st.text(max_size=300),
    values.map(lambda v: yaml.safe_dump(v, allow_unicode=True)),
    mutated_documents(),
    st.lists(st.sampled_from(["[", "]", "{", "}", "- ", "a: ", "&a ", "*a ", "!!python/object:os.system ", "\n", "  ",
                              "'", '"', "connections:", ",", "? ", "|", ">", "%YAML 1.1\n", "---\n", "...\n",
                              "!!binary ", "!!timestamp ", "<<: *a\n", "\t"]), max_size=40).map("".join),
)

# ---------------------------------------------------------------- log lines

log_lines = st.one_of(
    any_text,
    st.builds(lambda stamp, body: f"{stamp} {body}",
              st.sampled_from(["2026-11-30T09:00:00Z", "2026-13-45T99:99:99+99:99", "Nov 31 25:61:61",
                               "Feb 30 10:00:00",
                               "30/Feb/2026:10:00:00 +0000", "1799999999.123", "9999-12-31T23:59:59-23:59",
                               "0000-00-00 00:00", "<34>1 2026-11-30T09:00:00.123456789Z", "[ERROR] 2026/11/30 09:00"]),
              any_text),
    st.sampled_from([
        "AADSTS700082: The refresh token has expired due to inactivity.",
        "invalid_grant: Token has been expired or revoked.",
        "REQUEST_LIMIT_EXCEEDED: TotalRequests Limit exceeded.",
        "HTTP 429 Too Many Requests Retry-After: 30", "ErrorMailboxNotEnabledForRESTAPI",
    ]).flatmap(lambda known: st.builds(lambda a, b: a + known + b, short_text, short_text)),
)
