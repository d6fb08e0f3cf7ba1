"""SQLModel tables (rows), and the mapping between rows and model.py values; tokens only ever encrypted."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from enum import Enum
from typing import Any, Final

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    DateTime,
    Dialect,
    ForeignKeyConstraint,
    Index,
    Integer,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlmodel import Field, SQLModel

from chatops.findings import Action, ActionKind, Cause, Evidence, Finding, Status
from chatops.model import Connection, Grant, GrantRole, Keeper, Provider, Secret, Workspace
from chatops.schedules import SyncJob
from chatops.store.crypto import GrantCipher

# Row counts of these tables grow without bound; SQLite only autoincrements an INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def utc(value: datetime) -> datetime:
    """`value` in UTC; a naive datetime is a caller bug (whose clock?), so it is refused, not guessed."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value.isoformat()}: the store takes timezone-aware UTC times")
    return value.astimezone(UTC)


def utc_now() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC in and out. PostgreSQL keeps timestamptz; SQLite keeps naive UTC text, restored on read."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = utc(value)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# ---------------------------------------------------------------- tables


class WorkspaceRow(SQLModel, table=True):
    __tablename__ = "workspaces"

    id: str = Field(primary_key=True)
    name: str
    platform: str = "local"
    external_id: str = ""
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime, nullable=False)


class MemberRow(SQLModel, table=True):
    __tablename__ = "members"
    __table_args__ = (
        ForeignKeyConstraint(
            ["workspace_id"], ["workspaces.id"], ondelete="CASCADE", name="fk_members_workspace"
        ),
        Index("ix_members_email", "workspace_id", "email"),
    )

    workspace_id: str = Field(primary_key=True)
    chat_user_id: str = Field(primary_key=True)
    email: str
    name: str = ""
    is_admin: bool = False
    updated_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime, nullable=False)


class ConnectionRow(SQLModel, table=True):
    __tablename__ = "connections"
    __table_args__ = (
        ForeignKeyConstraint(
            ["workspace_id"], ["workspaces.id"], ondelete="CASCADE", name="fk_connections_workspace"
        ),
        UniqueConstraint("workspace_id", "name", name="uq_connections_name"),
    )

    workspace_id: str = Field(primary_key=True)
    id: str = Field(primary_key=True)
    name: str
    owner_email: str
    crm: str
    crm_user_email: str
    mailbox_provider: str
    mailbox_email: str
    calendar_provider: str | None = None
    sync_account: str = ""
    mail_host: str = ""
    calls_per_sync: int = 0
    sync_jobs: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSON, nullable=False)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime, nullable=False)


class GrantRow(SQLModel, table=True):
    __tablename__ = "grants"
    __table_args__ = (
        ForeignKeyConstraint(
            ["workspace_id", "connection_id"],
            ["connections.workspace_id", "connections.id"],
            ondelete="CASCADE",
            name="fk_grants_connection",
        ),
        UniqueConstraint("workspace_id", "id", name="uq_grants_id"),
        UniqueConstraint("workspace_id", "connection_id", "role", name="uq_grants_role"),
    )

    pk: int | None = Field(default=None, primary_key=True)
    workspace_id: str
    id: str
    connection_id: str
    provider: str
    role: str
    account: str
    scopes: list[str] = Field(default_factory=list, sa_type=JSON, nullable=False)
    access_token_enc: str = Field(default="", sa_type=Text)  # Fernet token, "" when none is held
    refresh_token_enc: str = Field(default="", sa_type=Text)
    key_id: str | None = None  # fingerprint of the key both ciphertexts are under; None when none is held
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    instance_url: str = ""
    keeper: str = Keeper.CHATOPS.value
    needs_reconnect: bool = False
    updated_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime, nullable=False)


class RunRow(SQLModel, table=True):
    __tablename__ = "runs"
    __table_args__ = (
        ForeignKeyConstraint(
            ["workspace_id"], ["workspaces.id"], ondelete="CASCADE", name="fk_runs_workspace"
        ),
        UniqueConstraint("id", name="uq_runs_id"),
        Index("ix_runs_started", "workspace_id", "started_at"),
    )

    pk: int | None = Field(default=None, primary_key=True)
    id: str
    workspace_id: str
    started_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    finished_at: datetime = Field(sa_type=UTCDateTime, nullable=False)


class FindingRow(SQLModel, table=True):
    __tablename__ = "findings"
    __table_args__ = (
        ForeignKeyConstraint(["run_pk"], ["runs.pk"], ondelete="CASCADE", name="fk_findings_run"),
        Index("ix_findings_connection", "workspace_id", "connection_id", "run_pk"),
        Index("ix_findings_run", "run_pk"),
    )

    pk: int | None = Field(default=None, primary_key=True, sa_type=BigId)
    run_pk: int
    workspace_id: str
    connection_id: str
    check: str
    status: str
    cause: str
    summary: str = Field(sa_type=Text)
    subject: str = ""
    evidence: list[dict[str, str]] = Field(default_factory=list, sa_type=JSON, nullable=False)
    remedy: list[str] = Field(default_factory=list, sa_type=JSON, nullable=False)
    actions: list[dict[str, str]] = Field(default_factory=list, sa_type=JSON, nullable=False)
    details: dict[str, Any] = Field(default_factory=dict, sa_type=JSON, nullable=False)
    duration_ms: int = 0


class SyncEventRow(SQLModel, table=True):
    __tablename__ = "sync_events"
    __table_args__ = (
        ForeignKeyConstraint(
            ["workspace_id", "connection_id"],
            ["connections.workspace_id", "connections.id"],
            ondelete="CASCADE",
            name="fk_sync_events_connection",
        ),
        Index("ix_sync_events_scope", "workspace_id", "connection_id", "at"),
    )

    pk: int | None = Field(default=None, primary_key=True, sa_type=BigId)
    workspace_id: str
    connection_id: str
    at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    line: str = Field(sa_type=Text)


class QuotaSampleRow(SQLModel, table=True):
    __tablename__ = "quota_samples"
    __table_args__ = (
        ForeignKeyConstraint(
            ["workspace_id", "connection_id"],
            ["connections.workspace_id", "connections.id"],
            ondelete="CASCADE",
            name="fk_quota_samples_connection",
        ),
        Index("ix_quota_samples_scope", "workspace_id", "connection_id", "name", "at"),
    )

    pk: int | None = Field(default=None, primary_key=True, sa_type=BigId)
    workspace_id: str
    connection_id: str
    name: str
    used: int = Field(sa_type=BigInteger)
    quota_limit: int = Field(sa_type=BigInteger)  # "limit" is a reserved word
    window: str
    resets_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    at: datetime = Field(sa_type=UTCDateTime, nullable=False)


class ProcessedEventRow(SQLModel, table=True):
    """A chat event already handled (Slack event_id, Teams activity id): retries hit the unique key."""

    __tablename__ = "processed_events"
    __table_args__ = (
        UniqueConstraint("workspace_id", "key", name="uq_processed_events_key"),
        Index("ix_processed_events_seen", "seen_at"),
    )

    pk: int | None = Field(default=None, primary_key=True, sa_type=BigId)
    workspace_id: str  # no foreign key: events may arrive before the workspace is known
    key: str
    seen_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime, nullable=False)


class IdempotencyKeyRow(SQLModel, table=True):
    """One side effect that must happen once (a digest for a subscription and period): pending, then sent."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (
        ForeignKeyConstraint(
            ["workspace_id"], ["workspaces.id"], ondelete="CASCADE", name="fk_idempotency_keys_workspace"
        ),
        UniqueConstraint("workspace_id", "key", name="uq_idempotency_keys_key"),
        CheckConstraint("state IN ('pending', 'sent')", name="ck_idempotency_keys_state"),
    )

    pk: int | None = Field(default=None, primary_key=True, sa_type=BigId)
    workspace_id: str
    key: str
    state: str = "pending"
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime, nullable=False)
    updated_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime, nullable=False)


TABLES: Final = (
    WorkspaceRow,
    MemberRow,
    ConnectionRow,
    GrantRow,
    RunRow,
    FindingRow,
    SyncEventRow,
    QuotaSampleRow,
    ProcessedEventRow,
    IdempotencyKeyRow,
)
"""The tables of this module, in creation order (migration 0001 creates them)."""


# ---------------------------------------------------------------- rows <-> values


def workspace_to_row(workspace: Workspace) -> WorkspaceRow:
    return WorkspaceRow(
        id=workspace.id, name=workspace.name, platform=workspace.platform, external_id=workspace.external_id
    )


def row_to_workspace(row: WorkspaceRow) -> Workspace:
    return Workspace(id=row.id, name=row.name, platform=row.platform, external_id=row.external_id)


def connection_to_row(workspace_id: str, connection: Connection) -> ConnectionRow:
    return ConnectionRow(
        workspace_id=workspace_id,
        id=connection.id,
        name=connection.name,
        owner_email=connection.owner_email,
        crm=connection.crm.value,
        crm_user_email=connection.crm_user_email,
        mailbox_provider=connection.mailbox_provider.value,
        mailbox_email=connection.mailbox_email,
        calendar_provider=connection.calendar_provider.value if connection.calendar_provider else None,
        sync_account=connection.sync_account,
        mail_host=connection.mail_host,
        calls_per_sync=connection.calls_per_sync,
        sync_jobs=[
            {
                "name": j.name,
                "tool": j.tool,
                "interval_minutes": j.interval_minutes,
                "cron": j.cron,
                "duration_minutes": j.duration_minutes,
            }
            for j in connection.sync_jobs
        ],
    )


def row_to_connection(row: ConnectionRow, grants: tuple[Grant, ...]) -> Connection:
    return Connection(
        id=row.id,
        workspace_id=row.workspace_id,
        name=row.name,
        owner_email=row.owner_email,
        crm=Provider(row.crm),
        crm_user_email=row.crm_user_email,
        mailbox_provider=Provider(row.mailbox_provider),
        mailbox_email=row.mailbox_email,
        calendar_provider=Provider(row.calendar_provider) if row.calendar_provider else None,
        sync_account=row.sync_account,
        mail_host=row.mail_host,
        calls_per_sync=row.calls_per_sync,
        sync_jobs=tuple(
            SyncJob(
                name=j["name"],
                tool=j["tool"],
                interval_minutes=j.get("interval_minutes"),
                cron=j.get("cron"),
                duration_minutes=float(j.get("duration_minutes") or 0.0),
            )
            for j in row.sync_jobs
        ),
        grants=grants,
    )


def grant_context(workspace_id: str, grant_id: str) -> str:
    """What binds a grant's ciphertexts to its row (see GrantCipher)."""
    return f"grant:{workspace_id}:{grant_id}"


def seal(cipher: GrantCipher, workspace_id: str, grant_id: str, token: str) -> str:
    """The stored form of a token: its ciphertext, or "" when there is none."""
    return cipher.encrypt(token, context=grant_context(workspace_id, grant_id)) if token else ""


def grant_to_row(workspace_id: str, connection_id: str, grant: Grant, cipher: GrantCipher) -> GrantRow:
    access = seal(cipher, workspace_id, grant.id, grant.access_token.reveal())
    refresh = seal(cipher, workspace_id, grant.id, grant.refresh_token.reveal())
    return GrantRow(
        workspace_id=workspace_id,
        id=grant.id,
        connection_id=connection_id,
        provider=grant.provider.value,
        role=grant.role.value,
        account=grant.account,
        scopes=sorted(grant.scopes),
        access_token_enc=access,
        refresh_token_enc=refresh,
        key_id=cipher.key_id if (access or refresh) else None,
        expires_at=utc(grant.expires_at) if grant.expires_at else None,
        instance_url=grant.instance_url,
        keeper=grant.keeper.value,
        needs_reconnect=grant.needs_reconnect,
    )


def row_to_grant(row: GrantRow, cipher: GrantCipher) -> Grant:
    """The grant with its tokens decrypted; raises UndecryptableGrant when a ciphertext can't be read."""
    context = grant_context(row.workspace_id, row.id)
    access = cipher.decrypt(row.access_token_enc, context=context) if row.access_token_enc else ""
    refresh = cipher.decrypt(row.refresh_token_enc, context=context) if row.refresh_token_enc else ""
    return _grant(row, Secret(access), Secret(refresh), row.needs_reconnect)


def row_to_locked_grant(row: GrantRow) -> Grant:
    """The grant without tokens, marked for Reconnect: what callers get when its ciphertext is unreadable."""
    return _grant(row, Secret(""), Secret(""), True)


def _grant(row: GrantRow, access: Secret, refresh: Secret, needs_reconnect: bool) -> Grant:
    return Grant(
        id=row.id,
        provider=Provider(row.provider),
        role=GrantRole(row.role),
        account=row.account,
        scopes=frozenset(row.scopes),
        access_token=access,
        refresh_token=refresh,
        expires_at=row.expires_at,
        instance_url=row.instance_url,
        keeper=Keeper(row.keeper),
        needs_reconnect=needs_reconnect,
    )


def jsonable(value: Any) -> Any:
    """Finding details as JSON: sets and tuples become lists, times ISO text, anything else its str()."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Enum):
        return jsonable(value.value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, set | frozenset):
        return sorted((jsonable(v) for v in value), key=str)
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return str(value)


def finding_to_row(run_pk: int, workspace_id: str, finding: Finding) -> FindingRow:
    return FindingRow(
        run_pk=run_pk,
        workspace_id=workspace_id,
        connection_id=finding.connection_id,
        check=finding.check,
        status=finding.status.value,
        cause=finding.cause.value,
        summary=finding.summary,
        subject=finding.subject,
        evidence=[{"label": e.label, "value": e.value} for e in finding.evidence],
        remedy=list(finding.remedy),
        actions=[{"kind": a.kind.value, "label": a.label, "target": a.target} for a in finding.actions],
        details=jsonable(finding.details),
        duration_ms=finding.duration_ms,
    )


def row_to_finding(row: FindingRow) -> Finding:
    return Finding(
        check=row.check,
        connection_id=row.connection_id,
        status=Status(row.status),
        cause=Cause(row.cause),
        summary=row.summary,
        evidence=tuple(Evidence(e["label"], e["value"]) for e in row.evidence),
        remedy=tuple(row.remedy),
        actions=tuple(Action(ActionKind(a["kind"]), a["label"], a.get("target", "")) for a in row.actions),
        subject=row.subject,
        duration_ms=row.duration_ms,
        details=dict(row.details),
    )
