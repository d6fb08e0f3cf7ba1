"""Where the bot may post later (chat conversation references) and which chat activities were already handled."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from sqlalchemy import JSON, Engine, ForeignKeyConstraint, Index, Table, delete, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Field, Session, SQLModel, col, select

from chatops.errors import StoreError
from chatops.store.tables import UTCDateTime, utc_now

__all__ = ["ConversationRef", "ConversationRow", "Conversations"]

KINDS: Final = frozenset({"personal", "channel", "groupChat"})


class ConversationRow(SQLModel, table=True):
    """One conversation the bot was installed in or addressed from, with the platform's reference to reach it."""

    __tablename__ = "conversation_references"
    __table_args__ = (
        ForeignKeyConstraint(["workspace_id"], ["workspaces.id"], ondelete="CASCADE",
                             name="fk_conversation_references_workspace"),
        Index("ix_conversation_references_kind", "workspace_id", "platform", "kind"),
        Index("ix_conversation_references_user", "workspace_id", "user_id"),
    )

    workspace_id: str = Field(primary_key=True)
    conversation_id: str = Field(primary_key=True)
    platform: str
    kind: str  # personal, channel, groupChat
    team_id: str = ""
    channel_id: str = ""
    user_id: str = ""  # personal chats: the member (AAD object id) the chat is with
    name: str = ""  # channel or team name when the platform said it
    service_url: str
    reference: dict[str, Any] = Field(default_factory=dict, sa_type=JSON, nullable=False)
    active: bool = True  # False once the bot was removed from it: nothing is posted there
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime, nullable=False)
    updated_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime, nullable=False)


@dataclass(frozen=True, slots=True)
class ConversationRef:
    """A stored conversation: the platform's reference (opaque here) and what it is."""

    workspace_id: str
    conversation_id: str
    platform: str
    kind: str
    service_url: str
    reference: dict[str, Any] = field(default_factory=dict)
    team_id: str = ""
    channel_id: str = ""
    user_id: str = ""
    name: str = ""
    active: bool = True
    updated_at: datetime | None = None


def _table(model: type[SQLModel]) -> Table:
    return model.__table__  # type: ignore[attr-defined,no-any-return]


def _ref(row: ConversationRow) -> ConversationRef:
    return ConversationRef(workspace_id=row.workspace_id, conversation_id=row.conversation_id,
                           platform=row.platform, kind=row.kind, service_url=row.service_url,
                           reference=dict(row.reference), team_id=row.team_id, channel_id=row.channel_id,
                           user_id=row.user_id, name=row.name, active=row.active, updated_at=row.updated_at)


class Conversations:
    """Conversation references and handled-activity keys over the store's engine (sync; call via to_thread).

    Every method takes the workspace id and touches only that workspace's rows.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @contextmanager
    def _session(self, doing: str) -> Iterator[Session]:
        try:
            with Session(self._engine, expire_on_commit=False) as session, session.begin():
                yield session
        except SQLAlchemyError as exc:
            detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()
            raise StoreError(f"cannot {doing}: {detail[0] if detail else type(exc).__name__}") from exc

    def save(self, ref: ConversationRef) -> None:
        """Insert or refresh a reference: the newest serviceUrl and reference win, and it is active again."""
        if ref.kind not in KINDS:
            raise ValueError(f"unknown conversation kind {ref.kind!r}; known: {', '.join(sorted(KINDS))}")
        now = utc_now()
        values: dict[str, Any] = {
            "platform": ref.platform, "kind": ref.kind, "team_id": ref.team_id, "channel_id": ref.channel_id,
            "user_id": ref.user_id, "name": ref.name, "service_url": ref.service_url, "reference": ref.reference,
            "active": True, "updated_at": now,
        }
        kept = [k for k in values if k != "name" or ref.name]  # an event without the name keeps the known one
        with self._session("save the conversation reference") as session:
            dialect = session.get_bind().dialect.name
            statement = (postgresql_insert if dialect == "postgresql" else sqlite_insert)(
                _table(ConversationRow)).values(workspace_id=ref.workspace_id,
                                                conversation_id=ref.conversation_id, created_at=now, **values)
            # INSERT ... ON CONFLICT: two replicas seeing the same install at once both succeed
            session.execute(statement.on_conflict_do_update(
                index_elements=["workspace_id", "conversation_id"],
                set_={name: statement.excluded[name] for name in kept}))

    def get(self, workspace_id: str, conversation_id: str) -> ConversationRef | None:
        with self._session("read the conversation reference") as session:
            row = session.get(ConversationRow, (workspace_id, conversation_id))
            return None if row is None else _ref(row)

    def list(self, workspace_id: str, *, platform: str | None = None, kind: str | None = None,
             active_only: bool = True) -> list[ConversationRef]:
        """The workspace's conversations (channels first, then group chats, then people), oldest first."""
        query = select(ConversationRow).where(ConversationRow.workspace_id == workspace_id)
        if platform is not None:
            query = query.where(ConversationRow.platform == platform)
        if kind is not None:
            query = query.where(ConversationRow.kind == kind)
        if active_only:
            query = query.where(col(ConversationRow.active).is_(True))
        with self._session("list the conversation references") as session:
            rows = session.exec(query.order_by(col(ConversationRow.created_at),
                                               col(ConversationRow.conversation_id))).all()
            order = {"channel": 0, "groupChat": 1, "personal": 2}
            return sorted((_ref(r) for r in rows), key=lambda r: order.get(r.kind, 3))

    def personal(self, workspace_id: str, user_id: str) -> ConversationRef | None:
        """The 1:1 chat with a member, where the bot can message them directly."""
        query = (select(ConversationRow).where(ConversationRow.workspace_id == workspace_id)
                 .where(ConversationRow.kind == "personal").where(ConversationRow.user_id == user_id)
                 .where(col(ConversationRow.active).is_(True)).order_by(col(ConversationRow.updated_at).desc()))
        with self._session("find the personal chat") as session:
            row = session.exec(query).first()
            return None if row is None else _ref(row)

    def deactivate(self, workspace_id: str, *, conversation_id: str | None = None, team_id: str | None = None
                   ) -> int:
        """The bot was removed (from one conversation, or a whole team): stop posting there. Rows are kept."""
        table = _table(ConversationRow)
        where = table.c.workspace_id == workspace_id
        if conversation_id is not None:
            where = where & (table.c.conversation_id == conversation_id)
        elif team_id is not None:
            where = where & (table.c.team_id == team_id)
        else:
            raise ValueError("deactivate needs a conversation id or a team id")
        with self._session("deactivate the conversation reference") as session:
            return int(session.execute(update(table).where(where).values(  # type: ignore[attr-defined]
                active=False, updated_at=utc_now())).rowcount)

    def forget(self, workspace_id: str, conversation_id: str) -> bool:
        table = _table(ConversationRow)
        with self._session("delete the conversation reference") as session:
            return bool(session.execute(delete(table).where(  # type: ignore[attr-defined]
                (table.c.workspace_id == workspace_id) & (table.c.conversation_id == conversation_id))).rowcount)
