"""Scheduled audits' storage: subscriptions, sent digests, alert states, snoozes and exactly-once delivery keys.

Everything lives in the shared database, so any replica that becomes the scheduler's leader carries on where
the last one stopped. Exactly once: a delivery's key is stored (`pending`) before the message is sent and
marked `sent` after; a second replica finds the key and does nothing, and a key left `pending` by a crash is
claimed again once its lease has run out, so the message is retried once, not twice.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Connection,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from chatops.errors import StoreError
from chatops.findings import Status
from chatops.store.tables import FindingRow, IdempotencyKeyRow, MemberRow, RunRow, UTCDateTime, utc

# Created by migration 0005; described with SQLAlchemy Core (kept out of SQLModel's metadata), as
# installations.py does.
METADATA: Final = MetaData()

SUBSCRIPTIONS: Final = Table(
    "audit_subscriptions", METADATA,
    Column("id", String(32), primary_key=True),
    Column("workspace_id", String(96), nullable=False),
    Column("platform", String(16), nullable=False),
    Column("destination", String(255), nullable=False),  # Slack channel id / Teams conversation id
    Column("destination_name", Text, nullable=False, default=""),
    Column("cadence", String(8), nullable=False),  # weekly | daily
    Column("weekday", Integer, nullable=False),  # 0 = Monday; ignored for daily
    Column("hour", Integer, nullable=False),
    Column("minute", Integer, nullable=False),
    Column("timezone", String(64), nullable=False),
    Column("created_by", String(128), nullable=False, default=""),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("workspace_id", "destination", name="uq_audit_subscriptions_destination"),
)

DIGESTS: Final = Table(
    "audit_digests", METADATA,
    Column("subscription_id", String(32), primary_key=True),
    Column("period", String(32), primary_key=True),  # the local date the period starts on
    Column("workspace_id", String(96), nullable=False),
    Column("sent_at", UTCDateTime, nullable=False),
    Column("snapshot", JSON, nullable=False),  # {"statuses": {connection id: status}, "problems": n}
)

ALERTS: Final = Table(
    "audit_alerts", METADATA,
    Column("workspace_id", String(96), primary_key=True),
    Column("connection_id", String(64), primary_key=True),
    Column("kind", String(160), primary_key=True),  # quota, expiring, failing, pattern:<signature>
    Column("fingerprint", Text, nullable=False),  # what the alert says; a change is a new alert
    Column("summary", Text, nullable=False),
    Column("open", Boolean, nullable=False),
    Column("version", Integer, nullable=False),  # +1 for every new alert of this kind on this connection
    Column("notified_version", Integer, nullable=False),  # the last version posted (0: none)
    Column("resolved_notified", Boolean, nullable=False),
    Column("opened_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("resolved_at", UTCDateTime, nullable=True),
)

SNOOZES: Final = Table(
    "audit_snoozes", METADATA,
    Column("workspace_id", String(96), primary_key=True),
    Column("connection_id", String(64), primary_key=True),
    Column("until", UTCDateTime, nullable=False),
    Column("snoozed_by", String(128), nullable=False, default=""),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_audit_snoozes_until", "until"),
)

KEYS: Final = IdempotencyKeyRow.__table__  # type: ignore[attr-defined]  # from migration 0001
RUNS: Final = RunRow.__table__  # type: ignore[attr-defined]
FINDINGS: Final = FindingRow.__table__  # type: ignore[attr-defined]
MEMBERS: Final = MemberRow.__table__  # type: ignore[attr-defined]

DEFAULT_LEASE: Final = timedelta(minutes=5)  # a pending key older than this was left by a crash
_FAILING: Final = frozenset({Status.FAIL.value, Status.ERROR.value})


@dataclass(frozen=True, slots=True)
class SubscriptionRow:
    """A stored subscription (chatops.audits.schedule.Subscription is built from it)."""

    id: str
    workspace_id: str
    platform: str
    destination: str
    destination_name: str
    cadence: str
    weekday: int
    hour: int
    minute: int
    timezone: str
    created_by: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class AlertState:
    workspace_id: str
    connection_id: str
    kind: str
    fingerprint: str
    summary: str
    open: bool
    version: int
    notified_version: int
    resolved_notified: bool
    opened_at: datetime
    resolved_at: datetime | None


class Claim:
    """What claiming a delivery key found."""

    CLAIMED: Final = "claimed"  # ours: send, then mark it sent
    SENT: Final = "sent"  # done before: nothing to do
    BUSY: Final = "busy"  # pending and leased by someone else (or a crash within the lease): later


class AuditStore:
    """Audits' tables on the store's engine (synchronous: the async core calls it via to_thread)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @contextmanager
    def _begin(self, doing: str) -> Iterator[Connection]:
        try:
            with self._engine.begin() as connection:
                yield connection
        except SQLAlchemyError as exc:
            problem = str(getattr(exc, "orig", None) or exc).strip().splitlines()
            raise StoreError(f"cannot {doing}: {problem[0] if problem else type(exc).__name__}") from exc

    # ------------------------------------------------------------ subscriptions

    def subscribe(self, row: SubscriptionRow) -> SubscriptionRow:
        """Insert, or replace the schedule of the workspace's subscription for the same destination."""
        values = {
            "platform": row.platform, "destination_name": row.destination_name, "cadence": row.cadence,
            "weekday": row.weekday, "hour": row.hour, "minute": row.minute, "timezone": row.timezone,
            "created_by": row.created_by, "updated_at": row.created_at,
        }
        where = and_(SUBSCRIPTIONS.c.workspace_id == row.workspace_id,
                     SUBSCRIPTIONS.c.destination == row.destination)
        with self._begin("save the subscription") as connection:
            if not connection.execute(update(SUBSCRIPTIONS).where(where).values(**values)).rowcount:
                try:
                    with connection.begin_nested():
                        connection.execute(insert(SUBSCRIPTIONS).values(
                            id=row.id, workspace_id=row.workspace_id, destination=row.destination,
                            created_at=row.created_at, **values))
                except IntegrityError:  # another replica subscribed the same channel meanwhile
                    connection.execute(update(SUBSCRIPTIONS).where(where).values(**values))
            found = connection.execute(select(SUBSCRIPTIONS).where(where)).mappings().one()
        return _subscription(found)

    def unsubscribe(self, workspace_id: str, destination: str) -> SubscriptionRow | None:
        where = and_(SUBSCRIPTIONS.c.workspace_id == workspace_id, SUBSCRIPTIONS.c.destination == destination)
        with self._begin("remove the subscription") as connection:
            found = connection.execute(select(SUBSCRIPTIONS).where(where)).mappings().first()
            if found is None:
                return None
            connection.execute(delete(SUBSCRIPTIONS).where(where))
        return _subscription(found)

    def subscriptions(self, workspace_id: str | None = None) -> list[SubscriptionRow]:
        """A workspace's subscriptions (every workspace's when None), oldest first."""
        query = select(SUBSCRIPTIONS).order_by(SUBSCRIPTIONS.c.created_at, SUBSCRIPTIONS.c.id)
        if workspace_id is not None:
            query = query.where(SUBSCRIPTIONS.c.workspace_id == workspace_id)
        with self._begin("list the subscriptions") as connection:
            return [_subscription(r) for r in connection.execute(query).mappings()]

    def subscription(self, subscription_id: str) -> SubscriptionRow | None:
        with self._begin("read the subscription") as connection:
            found = connection.execute(select(SUBSCRIPTIONS).where(
                SUBSCRIPTIONS.c.id == subscription_id)).mappings().first()
        return None if found is None else _subscription(found)

    # ------------------------------------------------------------ digests sent

    def record_digest(self, workspace_id: str, subscription_id: str, period: str, sent_at: datetime,
                      snapshot: dict[str, Any]) -> None:
        with self._begin("record the digest") as connection:
            connection.execute(delete(DIGESTS).where(and_(DIGESTS.c.subscription_id == subscription_id,
                                                          DIGESTS.c.period == period)))
            connection.execute(insert(DIGESTS).values(subscription_id=subscription_id, period=period,
                                                      workspace_id=workspace_id, sent_at=sent_at, snapshot=snapshot))

    def digests(self, subscription_id: str, limit: int = 8) -> list[tuple[str, datetime, dict[str, Any]]]:
        """(period, sent at, snapshot) of the newest digests of a subscription, newest first."""
        with self._begin("read the digests") as connection:
            rows = connection.execute(select(DIGESTS.c.period, DIGESTS.c.sent_at, DIGESTS.c.snapshot).where(
                DIGESTS.c.subscription_id == subscription_id).order_by(DIGESTS.c.sent_at.desc()).limit(limit)).all()
        return [(p, at, dict(s)) for p, at, s in rows]

    def audit_snapshots(self, workspace_id: str, limit: int = 60) -> list[tuple[datetime, dict[str, Any]]]:
        """(sent at, snapshot) of the workspace's newest digests, every subscription's, newest first."""
        with self._begin("read the digests") as connection:
            rows = connection.execute(select(DIGESTS.c.sent_at, DIGESTS.c.snapshot).where(
                DIGESTS.c.workspace_id == workspace_id).order_by(DIGESTS.c.sent_at.desc()).limit(limit)).all()
        return [(utc(at), dict(s)) for at, s in rows]

    # ------------------------------------------------------------ exactly-once delivery keys

    def claim(self, workspace_id: str, key: str, now: datetime, lease: timedelta = DEFAULT_LEASE) -> str:
        """Store `key` as pending (ours to send), or say it was sent or is someone else's for now (Claim)."""
        now = utc(now)
        try:
            with self._engine.begin() as connection:
                connection.execute(insert(KEYS).values(workspace_id=workspace_id, key=key, state="pending",
                                                       created_at=now, updated_at=now))
            return Claim.CLAIMED
        except IntegrityError:
            pass
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot store the delivery key: {str(getattr(exc, 'orig', None) or exc)}") from exc
        where = and_(KEYS.c.workspace_id == workspace_id, KEYS.c.key == key)
        with self._begin("claim the delivery key") as connection:
            # a pending key whose lease ran out was left by a process that died before sending
            taken = connection.execute(update(KEYS).where(and_(
                where, KEYS.c.state == "pending", KEYS.c.updated_at < now - lease)).values(updated_at=now)).rowcount
            if taken:
                return Claim.CLAIMED
            state = connection.execute(select(KEYS.c.state).where(where)).scalar()
        return Claim.SENT if state == "sent" else Claim.BUSY

    def reclaimed_since(self, workspace_id: str, key: str) -> datetime | None:
        """When a pending key was first claimed, if it has been claimed again since (a run died holding it)."""
        with self._begin("read the delivery key") as connection:
            row = connection.execute(select(KEYS.c.created_at, KEYS.c.updated_at).where(and_(
                KEYS.c.workspace_id == workspace_id, KEYS.c.key == key, KEYS.c.state == "pending"))).first()
        if row is None or utc(row.updated_at) <= utc(row.created_at):
            return None
        return utc(row.created_at)

    def mark_sent(self, workspace_id: str, key: str, now: datetime) -> None:
        with self._begin("mark the delivery sent") as connection:
            connection.execute(update(KEYS).where(and_(KEYS.c.workspace_id == workspace_id, KEYS.c.key == key))
                               .values(state="sent", updated_at=utc(now)))

    def release(self, workspace_id: str, key: str) -> None:
        """The send failed for sure (the platform refused): forget the key so the next run tries again."""
        with self._begin("release the delivery key") as connection:
            connection.execute(delete(KEYS).where(and_(KEYS.c.workspace_id == workspace_id, KEYS.c.key == key,
                                                       KEYS.c.state == "pending")))

    def key_state(self, workspace_id: str, key: str) -> str | None:
        with self._begin("read the delivery key") as connection:
            return connection.execute(select(KEYS.c.state).where(and_(
                KEYS.c.workspace_id == workspace_id, KEYS.c.key == key))).scalar()

    def pending_keys(self, workspace_id: str, prefix: str) -> list[str]:
        with self._begin("list the pending delivery keys") as connection:
            return list(connection.execute(select(KEYS.c.key).where(and_(
                KEYS.c.workspace_id == workspace_id, KEYS.c.state == "pending",
                KEYS.c.key.startswith(prefix, autoescape=True)))).scalars())

    # ------------------------------------------------------------ alert states

    def alerts(self, workspace_id: str) -> list[AlertState]:
        with self._begin("read the alerts") as connection:
            rows = connection.execute(select(ALERTS).where(ALERTS.c.workspace_id == workspace_id)
                                      .order_by(ALERTS.c.connection_id, ALERTS.c.kind)).mappings().all()
        return [_alert(r) for r in rows]

    def open_alert(self, workspace_id: str, connection_id: str, kind: str, fingerprint: str, summary: str,
                   now: datetime, *, expected_version: int) -> AlertState | None:
        """A new alert (or a changed one): version + 1, unless another replica moved it first (None)."""
        key = (ALERTS.c.workspace_id == workspace_id) & (ALERTS.c.connection_id == connection_id) & (
            ALERTS.c.kind == kind)
        values = {"fingerprint": fingerprint, "summary": summary, "open": True, "version": expected_version + 1,
                  "resolved_notified": False, "opened_at": now, "updated_at": now, "resolved_at": None}
        try:
            with self._begin("open the alert") as connection:
                if expected_version == 0:
                    connection.execute(insert(ALERTS).values(workspace_id=workspace_id, connection_id=connection_id,
                                                             kind=kind, notified_version=0, **values))
                elif not connection.execute(update(ALERTS).where(key & (ALERTS.c.version == expected_version))
                                            .values(**values)).rowcount:
                    return None
                row = connection.execute(select(ALERTS).where(key)).mappings().one()
        except StoreError as exc:
            if isinstance(exc.__cause__, IntegrityError):
                return None
            raise
        return _alert(row)

    def touch_alert(self, state: AlertState, summary: str, now: datetime) -> None:
        with self._begin("update the alert") as connection:
            connection.execute(update(ALERTS).where(_alert_key(state)).values(summary=summary, updated_at=now))

    def mark_alert_notified(self, state: AlertState, now: datetime) -> None:
        with self._begin("mark the alert posted") as connection:
            connection.execute(update(ALERTS).where(_alert_key(state) & (ALERTS.c.version == state.version))
                               .values(notified_version=state.version, updated_at=now))

    def resolve_alert(self, state: AlertState, now: datetime) -> bool:
        """Close an open alert; False when another replica changed it first."""
        with self._begin("resolve the alert") as connection:
            return bool(connection.execute(update(ALERTS).where(
                _alert_key(state) & (ALERTS.c.version == state.version) & ALERTS.c.open.is_(True))
                .values(open=False, resolved_at=now, updated_at=now)).rowcount)

    def mark_resolution_notified(self, state: AlertState, now: datetime) -> None:
        with self._begin("mark the resolution posted") as connection:
            connection.execute(update(ALERTS).where(_alert_key(state) & (ALERTS.c.version == state.version))
                               .values(resolved_notified=True, updated_at=now))

    # ------------------------------------------------------------ snoozes

    def snooze(self, workspace_id: str, connection_id: str, until: datetime, by: str, now: datetime) -> None:
        key = and_(SNOOZES.c.workspace_id == workspace_id, SNOOZES.c.connection_id == connection_id)
        with self._begin("snooze the alerts") as connection:
            connection.execute(delete(SNOOZES).where(key))
            connection.execute(insert(SNOOZES).values(workspace_id=workspace_id, connection_id=connection_id,
                                                      until=until, snoozed_by=by, created_at=now))

    def snoozed_until(self, workspace_id: str, now: datetime) -> dict[str, datetime]:
        """Connections whose alerts are snoozed at `now`, with when the snooze ends."""
        with self._begin("read the snoozes") as connection:
            rows = connection.execute(select(SNOOZES.c.connection_id, SNOOZES.c.until).where(and_(
                SNOOZES.c.workspace_id == workspace_id, SNOOZES.c.until > utc(now)))).all()
        return {c: until for c, until in rows}

    # ------------------------------------------------------------ history the digest and alerts read

    def status_history(self, workspace_id: str, since: datetime) -> dict[str, list[tuple[datetime, str]]]:
        """Per connection, (run start, worst status) of every run since `since` that looked at it, newest first."""
        with self._begin("read the run history") as connection:
            rows = connection.execute(
                select(FINDINGS.c.connection_id, RUNS.c.started_at, RUNS.c.pk, FINDINGS.c.status, func.count())
                .join(RUNS, RUNS.c.pk == FINDINGS.c.run_pk)
                .where(and_(FINDINGS.c.workspace_id == workspace_id, RUNS.c.started_at >= utc(since)))
                .group_by(FINDINGS.c.connection_id, RUNS.c.started_at, RUNS.c.pk, FINDINGS.c.status)).all()
        worst: dict[tuple[str, int], tuple[datetime, str]] = {}
        for connection_id, started_at, run_pk, status, _ in rows:
            previous = worst.get((connection_id, run_pk))
            if previous is None or Status(status).rank > Status(previous[1]).rank:
                worst[(connection_id, run_pk)] = (started_at, status)
        history: dict[str, list[tuple[int, datetime, str]]] = {}
        for (connection_id, run_pk), (at, status) in worst.items():
            history.setdefault(connection_id, []).append((run_pk, at, status))
        return {c: [(at, s) for _, at, s in sorted(runs, key=lambda r: (r[1], r[0]), reverse=True)]
                for c, runs in history.items()}

    def member_ids(self, workspace_id: str, email: str) -> list[str]:
        """Chat user ids of the workspace's members with this email (for a DM to a connection's owner)."""
        with self._begin("find the member") as connection:
            return list(connection.execute(select(MEMBERS.c.chat_user_id).where(and_(
                MEMBERS.c.workspace_id == workspace_id,
                func.lower(MEMBERS.c.email) == email.strip().lower()))).scalars())


def failing_since(history: list[tuple[datetime, str]]) -> tuple[datetime | None, int]:
    """When the current run of failures began, and how many runs in a row failed (newest first input)."""
    since, streak = None, 0
    for at, status in history:
        if status not in _FAILING:
            break
        since, streak = at, streak + 1
    return since, streak


def _subscription(row: Any) -> SubscriptionRow:
    return SubscriptionRow(id=row["id"], workspace_id=row["workspace_id"], platform=row["platform"],
                           destination=row["destination"], destination_name=row["destination_name"],
                           cadence=row["cadence"], weekday=row["weekday"], hour=row["hour"], minute=row["minute"],
                           timezone=row["timezone"], created_by=row["created_by"], created_at=row["created_at"])


def _alert(row: Any) -> AlertState:
    return AlertState(workspace_id=row["workspace_id"], connection_id=row["connection_id"], kind=row["kind"],
                      fingerprint=row["fingerprint"], summary=row["summary"], open=bool(row["open"]),
                      version=row["version"], notified_version=row["notified_version"],
                      resolved_notified=bool(row["resolved_notified"]), opened_at=row["opened_at"],
                      resolved_at=row["resolved_at"])


def _alert_key(state: AlertState) -> Any:
    return (ALERTS.c.workspace_id == state.workspace_id) & (ALERTS.c.connection_id == state.connection_id) & (
        ALERTS.c.kind == state.kind)

