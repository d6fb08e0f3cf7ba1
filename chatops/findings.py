"""The uniform result of every check, and the ids it may use (the ids are a contract)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"
    ERROR = "error"  # the check itself broke or ran out of time
    SKIPPED = "skipped"  # does not apply to this connection

    @property
    def rank(self) -> int:
        """Severity order for sorting: fail first, skipped last."""
        return _RANK[self]


_RANK = {Status.FAIL: 4, Status.ERROR: 3, Status.WARN: 2, Status.OK: 1, Status.SKIPPED: 0}


class Cause(StrEnum):
    CREDENTIALS = "credentials"
    NETWORK = "network"
    RATE_LIMIT = "rate_limit"
    DOMAIN_MISMATCH = "domain_mismatch"
    SCHEDULE_CONFLICT = "schedule_conflict"
    CALENDAR_TIMEZONE = "calendar_timezone"
    CALENDAR_PERMISSIONS = "calendar_permissions"
    MAILBOX_CONFIG = "mailbox_config"
    OTHER = "other"


class ActionKind(StrEnum):
    RECONNECT = "reconnect"
    RETEST = "retest"
    SNOOZE = "snooze"
    OPEN_URL = "open_url"
    DETAILS = "details"  # show every finding (Slack modal / Teams ShowCard)
    PAGE = "page"  # page through an overview card
    DIGEST_SETTINGS = "digest_settings"  # App Home, admins: open the digest form (a subscription id, or new)
    UNSUBSCRIBE = "unsubscribe"  # App Home, admins: stop a subscription's digest and alerts


@dataclass(frozen=True, slots=True)
class Evidence:
    label: str  # "token endpoint"
    value: str  # "400 invalid_grant: Token has been expired or revoked."


@dataclass(frozen=True, slots=True)
class Action:
    kind: ActionKind
    label: str
    target: str = ""  # grant id or URL; opaque to renderers


@dataclass(frozen=True, slots=True)
class Finding:
    check: str
    connection_id: str
    status: Status
    cause: Cause
    summary: str  # one plain sentence a salesperson understands
    evidence: tuple[Evidence, ...] = ()
    remedy: tuple[str, ...] = ()  # imperative steps, in order
    actions: tuple[Action, ...] = ()
    subject: str = ""  # what was looked at: a grant id, an endpoint, a calendar
    duration_ms: int = 0  # set by the runner, never by the check
    details: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def timed(self, duration_ms: int) -> Finding:
        return replace(self, duration_ms=duration_ms)

    def to_json(self) -> dict[str, Any]:
        """The CLI / API form: one flat object per finding, keys are a contract."""
        return {
            "connection": self.connection_id,
            "check": self.check,
            "status": self.status.value,
            "cause": self.cause.value,
            "summary": self.summary,
            "subject": self.subject,
            "evidence": [{"label": e.label, "value": e.value} for e in self.evidence],
            "remedy": list(self.remedy),
            "actions": [{"kind": a.kind.value, "label": a.label, "target": a.target} for a in self.actions],
            "duration_ms": self.duration_ms,
        }
