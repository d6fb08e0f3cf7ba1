"""Reconnect's storage: single-use OAuth states (PKCE verifier encrypted), finished links, cards to update.

Everything here is shared by the replicas through the database, so a Reconnect started on one replica can
finish on another: the `state` row is created by `GET /connect/<token>` and consumed exactly once by the
provider's callback. States are kept (used or not) for a day after they expire, so a reused or late one
gets a precise answer ("already used", "expired") instead of "unknown".
"""

from __future__ import annotations

import hashlib
import secrets
import string
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import (
    Column,
    Connection,
    Engine,
    Index,
    MetaData,
    String,
    Table,
    Text,
    and_,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlmodel import Session
from sqlmodel import select as model_select

from chatops.errors import NotFound, StoreError
from chatops.model import Grant, GrantRole, Keeper, Provider
from chatops.ports import TokenSet
from chatops.store.crypto import GrantCipher
from chatops.store.tables import GrantRow, UTCDateTime, row_to_grant, seal, utc

# Created by migration 0004; described with SQLAlchemy Core (kept out of SQLModel's metadata), as
# installations.py does.
METADATA: Final = MetaData()

STATES: Final = Table(
    "reconnect_states", METADATA,
    Column("state_hash", String(64), primary_key=True),  # sha256 of the `state` sent to the provider
    Column("link_id", String(64), nullable=False),
    Column("workspace_id", String(96), nullable=False),
    Column("platform", String(16), nullable=False),
    Column("chat_user_id", String(128), nullable=False),
    Column("connection_id", String(64), nullable=False),
    Column("role", String(16), nullable=False),
    Column("provider", String(16), nullable=False),
    Column("verifier_enc", Text, nullable=False),  # the PKCE code_verifier, encrypted and bound to this row
    Column("browser_hash", String(64), nullable=False),  # sha256 of the cookie that ties it to one browser
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("used_at", UTCDateTime, nullable=True),
    Index("ix_reconnect_states_expires", "expires_at"),
)

LINKS: Final = Table(
    "reconnect_links", METADATA,
    Column("link_id", String(64), primary_key=True),  # a start link that finished a reconnect: never again
    Column("workspace_id", String(96), nullable=False),
    Column("connection_id", String(64), nullable=False),
    Column("role", String(16), nullable=False),
    Column("completed_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),  # when the link itself stops working; kept until then
)

CONSENTS: Final = Table(
    "reconnect_consents", METADATA,  # the last fresh consent per grant: log errors from before it are history
    Column("workspace_id", String(96), primary_key=True),
    Column("connection_id", String(64), primary_key=True),
    Column("role", String(16), primary_key=True),
    Column("provider", String(16), nullable=False),
    Column("consented_at", UTCDateTime, nullable=False),
)

MESSAGES: Final = Table(
    "reconnect_messages", METADATA,
    Column("link_id", String(64), primary_key=True),
    Column("message_key", String(64), primary_key=True),  # sha256 of where the message is
    Column("workspace_id", String(96), nullable=False),
    Column("platform", String(16), nullable=False),
    Column("channel_id", Text, nullable=False),
    Column("message_id", Text, nullable=False),
    Column("response_url_enc", Text, nullable=False),  # Slack's response_url is a capability: encrypted
    Column("shown", Text, nullable=False),  # the connection ids the card shows, comma-separated
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Index("ix_reconnect_messages_expires", "expires_at"),
)

KEEP_AFTER_EXPIRY: Final = timedelta(days=1)  # how long a spent or expired state still gets a precise answer
_ID_ALPHABET: Final = string.ascii_lowercase + string.digits


def digest(value: str) -> str:
    """The hex sha256 of a secret value: what the database keeps instead of the value itself."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def _verifier_context(state_hash: str) -> str:
    return f"reconnect-state:{state_hash}"


def _url_context(link_id: str, message_key: str) -> str:
    return f"reconnect-message:{link_id}:{message_key}"


@dataclass(frozen=True, slots=True)
class PendingState:
    """One started Reconnect: who, which grant, and the PKCE verifier the callback must present."""

    state_hash: str
    link_id: str
    workspace_id: str
    platform: str
    chat_user_id: str
    connection_id: str
    role: GrantRole
    provider: Provider
    code_verifier: str
    browser_hash: str
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None = None

    def __repr__(self) -> str:  # never print the verifier
        return (f"PendingState(workspace={self.workspace_id!r}, connection={self.connection_id!r}, "
                f"role={self.role.value!r}, expires_at={self.expires_at!r}, used_at={self.used_at!r})")


@dataclass(frozen=True, slots=True)
class CardMessage:
    """A posted card that carries a Reconnect link: where it is and which connections it shows."""

    platform: str
    channel_id: str
    message_id: str = ""
    response_url: str = ""
    shown: tuple[str, ...] = ()


class ReconnectStates:
    """States, finished links and card messages over the store's engine (sync: call via to_thread)."""

    def __init__(self, engine: Engine, cipher: GrantCipher) -> None:
        self._engine = engine
        self._cipher = cipher

    @contextmanager
    def _begin(self, doing: str) -> Iterator[Connection]:
        try:
            with self._engine.begin() as connection:
                yield connection
        except SQLAlchemyError as exc:
            problem = str(getattr(exc, "orig", None) or exc).strip().splitlines()
            raise StoreError(f"cannot {doing}: {problem[0] if problem else type(exc).__name__}") from exc

    # ------------------------------------------------------------ states

    def issue(self, pending: PendingState) -> None:
        """Keep a new state (and forget states that expired more than a day ago)."""
        values = {
            "state_hash": pending.state_hash, "link_id": pending.link_id, "workspace_id": pending.workspace_id,
            "platform": pending.platform, "chat_user_id": pending.chat_user_id,
            "connection_id": pending.connection_id, "role": pending.role.value,
            "provider": pending.provider.value,
            "verifier_enc": self._cipher.encrypt(pending.code_verifier,
                                                 context=_verifier_context(pending.state_hash)),
            "browser_hash": pending.browser_hash, "created_at": pending.created_at,
            "expires_at": pending.expires_at, "used_at": None,
        }
        with self._begin("save the reconnect state") as connection:
            connection.execute(delete(STATES).where(STATES.c.expires_at < pending.created_at - KEEP_AFTER_EXPIRY))
            connection.execute(delete(MESSAGES).where(MESSAGES.c.expires_at < pending.created_at))
            connection.execute(delete(LINKS).where(LINKS.c.expires_at < pending.created_at - KEEP_AFTER_EXPIRY))
            connection.execute(insert(STATES).values(**values))

    def find(self, state_hash: str) -> PendingState | None:
        with self._begin("read the reconnect state") as connection:
            row = connection.execute(select(STATES).where(STATES.c.state_hash == state_hash)).mappings().first()
        if row is None:
            return None
        return PendingState(
            state_hash=row["state_hash"], link_id=row["link_id"], workspace_id=row["workspace_id"],
            platform=row["platform"], chat_user_id=row["chat_user_id"], connection_id=row["connection_id"],
            role=GrantRole(row["role"]), provider=Provider(row["provider"]),
            code_verifier=self._cipher.decrypt(row["verifier_enc"], context=_verifier_context(row["state_hash"])),
            browser_hash=row["browser_hash"], created_at=row["created_at"], expires_at=row["expires_at"],
            used_at=row["used_at"],
        )

    def claim(self, state_hash: str, now: datetime) -> bool:
        """True exactly once for an unused, unexpired state: every replica races on the same row."""
        with self._begin("use the reconnect state") as connection:
            return connection.execute(update(STATES).where(and_(
                STATES.c.state_hash == state_hash, STATES.c.used_at.is_(None), STATES.c.expires_at >= now,
            )).values(used_at=now)).rowcount == 1

    # ------------------------------------------------------------ links

    def completed(self, link_id: str) -> datetime | None:
        """When a reconnect through this start link finished, or None."""
        with self._begin("read the reconnect link") as connection:
            value = connection.execute(select(LINKS.c.completed_at).where(LINKS.c.link_id == link_id)).scalar()
        return value if isinstance(value, datetime) else None

    def save_grant(
        self, pending: PendingState, tokens: TokenSet, *, account: str, now: datetime, link_expires_at: datetime,
    ) -> Grant | None:
        """Store a fresh consent's tokens and close the start link, in one transaction.

        The grant of (connection, role) gets the new access and refresh tokens (the old refresh token is
        gone), expiry, scopes and account; a connection without a grant for that role gets one. Returns
        None when the link was completed meanwhile (another tab, another replica): nothing is stored.
        """
        workspace_id = pending.workspace_id
        try:
            with self._engine.begin() as connection, Session(bind=connection) as session:
                found = session.exec(
                    model_select(GrantRow).where(
                        GrantRow.workspace_id == workspace_id, GrantRow.connection_id == pending.connection_id,
                        GrantRow.role == pending.role.value,
                    ).with_for_update()
                ).first()
                if found is None:
                    row = GrantRow(workspace_id=workspace_id, id=_new_grant_id(), connection_id=pending.connection_id,
                                   provider=pending.provider.value, role=pending.role.value, account=account)
                else:
                    row = found
                row.provider = pending.provider.value
                row.account = account
                row.access_token_enc = seal(self._cipher, workspace_id, row.id, tokens.access_token)
                row.refresh_token_enc = seal(self._cipher, workspace_id, row.id, tokens.refresh_token or "")
                row.key_id = self._cipher.key_id
                row.scopes = sorted(tokens.scopes)
                row.expires_at = utc(tokens.expires_at) if tokens.expires_at else None
                if tokens.instance_url:
                    row.instance_url = tokens.instance_url
                row.keeper = Keeper.CHATOPS.value
                row.needs_reconnect = False
                row.updated_at = now
                session.add(row)
                session.flush()
                connection.execute(insert(LINKS).values(
                    link_id=pending.link_id, workspace_id=workspace_id, connection_id=pending.connection_id,
                    role=pending.role.value, completed_at=now, expires_at=link_expires_at))
                connection.execute(delete(CONSENTS).where(and_(
                    CONSENTS.c.workspace_id == workspace_id, CONSENTS.c.connection_id == pending.connection_id,
                    CONSENTS.c.role == pending.role.value)))
                connection.execute(insert(CONSENTS).values(
                    workspace_id=workspace_id, connection_id=pending.connection_id, role=pending.role.value,
                    provider=pending.provider.value, consented_at=now))
                return row_to_grant(row, self._cipher)
        except IntegrityError as exc:
            if self.completed(pending.link_id) is not None:
                return None  # rolled back: another tab or replica finished this link first
            raise NotFound(f"no connection {pending.connection_id!r} in workspace {workspace_id}") from exc
        except SQLAlchemyError as exc:
            problem = str(getattr(exc, "orig", None) or exc).strip().splitlines()
            raise StoreError(f"cannot store the reconnected grant: {problem[0] if problem else exc}") from exc

    def consents(self, workspace_id: str, connection_id: str) -> dict[GrantRole, datetime]:
        """When each grant of the connection was last consented afresh through Reconnect."""
        with self._begin("read the consents") as connection:
            rows = connection.execute(select(CONSENTS.c.role, CONSENTS.c.consented_at).where(and_(
                CONSENTS.c.workspace_id == workspace_id, CONSENTS.c.connection_id == connection_id))).all()
        return {GrantRole(role): at for role, at in rows}

    # ------------------------------------------------------------ card messages

    def remember_message(self, link_id: str, workspace_id: str, message: CardMessage, *, now: datetime,
                         expires_at: datetime) -> None:
        """Where a card with this link is (a newer sighting of the same message replaces the older)."""
        where = f"{message.channel_id}\x1f{message.message_id or message.response_url}"
        key = digest(where)
        url = (self._cipher.encrypt(message.response_url, context=_url_context(link_id, key))
               if message.response_url else "")
        with self._begin("remember the card") as connection:
            connection.execute(delete(MESSAGES).where(and_(MESSAGES.c.link_id == link_id,
                                                           MESSAGES.c.message_key == key)))
            connection.execute(insert(MESSAGES).values(
                link_id=link_id, message_key=key, workspace_id=workspace_id, platform=message.platform,
                channel_id=message.channel_id, message_id=message.message_id, response_url_enc=url,
                shown=",".join(message.shown), created_at=now, expires_at=expires_at))

    def messages(self, link_id: str, workspace_id: str) -> list[CardMessage]:
        """The cards carrying this link in this workspace, oldest first."""
        with self._begin("read the cards") as connection:
            rows = connection.execute(select(MESSAGES).where(and_(
                MESSAGES.c.link_id == link_id, MESSAGES.c.workspace_id == workspace_id,
            )).order_by(MESSAGES.c.created_at)).mappings().all()
        found = []
        for row in rows:
            url = ""
            if row["response_url_enc"]:
                url = self._cipher.decrypt(row["response_url_enc"],
                                           context=_url_context(link_id, row["message_key"]))
            found.append(CardMessage(platform=row["platform"], channel_id=row["channel_id"],
                                     message_id=row["message_id"], response_url=url,
                                     shown=tuple(s for s in row["shown"].split(",") if s)))
        return found


def _new_grant_id() -> str:
    return "g_" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(10))
