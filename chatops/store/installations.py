"""Chat app installations (bot tokens encrypted), single-use install states, and handled-event keys."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import (
    Column,
    Connection,
    Engine,
    MetaData,
    String,
    Table,
    Text,
    and_,
    delete,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from chatops.errors import StoreError
from chatops.model import Secret
from chatops.store.crypto import GrantCipher, UndecryptableGrant
from chatops.store.tables import ProcessedEventRow, UTCDateTime, utc_now

# Created by migration 0003; described here with SQLAlchemy Core (kept out of SQLModel's metadata).
METADATA: Final = MetaData()

INSTALLATIONS: Final = Table(
    "chat_installations", METADATA,
    Column("workspace_id", String(96), primary_key=True),  # "slack:T123"
    Column("platform", String(16), nullable=False),
    Column("team_id", String(64), nullable=False),
    Column("enterprise_id", String(64), nullable=False, default=""),
    Column("team_name", Text, nullable=False, default=""),
    Column("app_id", String(64), nullable=False, default=""),
    Column("bot_id", String(64), nullable=False, default=""),
    Column("bot_user_id", String(64), nullable=False, default=""),
    Column("bot_scopes", Text, nullable=False, default=""),
    Column("bot_token_enc", Text, nullable=False),
    Column("bot_refresh_token_enc", Text, nullable=False, default=""),
    Column("bot_token_expires_at", UTCDateTime, nullable=True),
    Column("installer_user_id", String(64), nullable=False, default=""),
    Column("key_id", String(32), nullable=False),
    Column("installed_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("rotating_until", UTCDateTime, nullable=True),  # a replica refreshing the token holds this lease
)

INSTALL_STATES: Final = Table(
    "chat_install_states", METADATA,
    Column("state", String(128), primary_key=True),
    Column("expires_at", UTCDateTime, nullable=False),
)

DEFAULT_STATE_TTL: Final = timedelta(minutes=10)
ROTATION_LEASE: Final = timedelta(seconds=30)


@dataclass(frozen=True, slots=True)
class Installation:
    """One chat workspace's installation of the bot: who installed it and the bot's (decrypted) tokens."""

    workspace_id: str
    platform: str
    team_id: str
    bot_token: Secret
    enterprise_id: str = ""
    team_name: str = ""
    app_id: str = ""
    bot_id: str = ""
    bot_user_id: str = ""
    bot_scopes: tuple[str, ...] = ()
    bot_refresh_token: Secret = field(default_factory=lambda: Secret(""))
    bot_token_expires_at: datetime | None = None
    installer_user_id: str = ""
    installed_at: datetime | None = None


def _context(workspace_id: str, which: str) -> str:
    return f"installation:{workspace_id}:{which}"


class Installations:
    """Installations, install states and handled events on the store's engine (sync: call via to_thread)."""

    def __init__(self, engine: Engine, cipher: GrantCipher) -> None:
        self._engine = engine
        self._cipher = cipher

    @contextmanager
    def _begin(self, doing: str, *, write: bool = True) -> Iterator[Connection]:
        # the store hands us its writing engine (SQLite: BEGIN IMMEDIATE); a read must not take the write lock,
        # or every Slack request's look-up queues behind (and fails with) whoever is writing
        engine = self._engine if write else self._engine.execution_options(chatops_write=False)
        try:
            with engine.begin() as connection:
                yield connection
        except SQLAlchemyError as exc:
            problem = str(getattr(exc, "orig", None) or exc).splitlines()[0]
            raise StoreError(f"cannot {doing}: {problem}") from exc

    # ------------------------------------------------------------ installations

    def save(self, inst: Installation) -> None:
        """Insert or replace the installation of `inst.workspace_id` (a reinstall overwrites)."""
        now = utc_now()
        seal = self._cipher.encrypt
        refresh = inst.bot_refresh_token.reveal()
        values = {
            "platform": inst.platform, "team_id": inst.team_id, "enterprise_id": inst.enterprise_id,
            "team_name": inst.team_name, "app_id": inst.app_id, "bot_id": inst.bot_id,
            "bot_user_id": inst.bot_user_id, "bot_scopes": ",".join(inst.bot_scopes),
            "bot_token_enc": seal(inst.bot_token.reveal(), context=_context(inst.workspace_id, "bot")),
            "bot_refresh_token_enc": (seal(refresh, context=_context(inst.workspace_id, "refresh"))
                                      if refresh else ""),
            "bot_token_expires_at": inst.bot_token_expires_at, "installer_user_id": inst.installer_user_id,
            "key_id": self._cipher.key_id, "updated_at": now, "rotating_until": None,
        }
        with self._begin("save the installation") as connection:
            changed = connection.execute(update(INSTALLATIONS).where(
                INSTALLATIONS.c.workspace_id == inst.workspace_id).values(**values)).rowcount
            if not changed:
                connection.execute(insert(INSTALLATIONS).values(
                    workspace_id=inst.workspace_id, installed_at=inst.installed_at or now, **values))

    def find(self, workspace_id: str) -> Installation | None:
        with self._begin("read the installation", write=False) as connection:
            row = connection.execute(select(INSTALLATIONS).where(
                INSTALLATIONS.c.workspace_id == workspace_id)).mappings().first()
        if row is None:
            return None
        opened = self._cipher.decrypt
        refresh = row["bot_refresh_token_enc"]
        return Installation(
            workspace_id=row["workspace_id"], platform=row["platform"], team_id=row["team_id"],
            enterprise_id=row["enterprise_id"], team_name=row["team_name"], app_id=row["app_id"],
            bot_id=row["bot_id"], bot_user_id=row["bot_user_id"],
            bot_scopes=tuple(s for s in row["bot_scopes"].split(",") if s),
            bot_token=Secret(opened(row["bot_token_enc"], context=_context(row["workspace_id"], "bot"))),
            bot_refresh_token=Secret(opened(refresh, context=_context(row["workspace_id"], "refresh"))
                                     if refresh else ""),
            bot_token_expires_at=row["bot_token_expires_at"], installer_user_id=row["installer_user_id"],
            installed_at=row["installed_at"],
        )

    def delete(self, workspace_id: str) -> bool:
        """Forget the installation (uninstalled, tokens revoked); True when there was one."""
        with self._begin("delete the installation") as connection:
            return bool(connection.execute(delete(INSTALLATIONS).where(
                INSTALLATIONS.c.workspace_id == workspace_id)).rowcount)

    def claim_rotation(self, workspace_id: str, now: datetime, lease: timedelta = ROTATION_LEASE) -> bool:
        """Take the lease to refresh this installation's token; exactly one replica wins until it expires."""
        with self._begin("lease the token refresh") as connection:
            won = connection.execute(update(INSTALLATIONS).where(and_(
                INSTALLATIONS.c.workspace_id == workspace_id,
                or_(INSTALLATIONS.c.rotating_until.is_(None), INSTALLATIONS.c.rotating_until < now),
            )).values(rotating_until=now + lease)).rowcount
        return won == 1

    def release_rotation(self, workspace_id: str) -> None:
        with self._begin("release the token refresh lease") as connection:
            connection.execute(update(INSTALLATIONS).where(INSTALLATIONS.c.workspace_id == workspace_id)
                               .values(rotating_until=None))

    def with_tokens(self, inst: Installation, token: str, refresh_token: str, expires_at: datetime | None
                    ) -> Installation:
        return replace(inst, bot_token=Secret(token), bot_refresh_token=Secret(refresh_token),
                       bot_token_expires_at=expires_at)

    def rotate_keys(self) -> int:
        """Re-encrypt every bot token not yet under the current key; returns the rows rewritten."""
        current = self._cipher.key_id
        rewritten = 0
        with self._begin("re-encrypt the installations") as connection:
            rows = connection.execute(select(INSTALLATIONS).where(INSTALLATIONS.c.key_id != current)).mappings().all()
            for row in rows:
                try:
                    values = {"key_id": current, "bot_token_enc": self._cipher.rotate(row["bot_token_enc"])}
                    if row["bot_refresh_token_enc"]:
                        values["bot_refresh_token_enc"] = self._cipher.rotate(row["bot_refresh_token_enc"])
                except UndecryptableGrant:
                    continue  # its key is gone: the workspace has to reinstall the app

                connection.execute(update(INSTALLATIONS).where(
                    INSTALLATIONS.c.workspace_id == row["workspace_id"]).values(**values))
                rewritten += 1
        return rewritten

    # ------------------------------------------------------------ install states (OAuth `state`)

    def issue_state(self, state: str, now: datetime, ttl: timedelta = DEFAULT_STATE_TTL) -> None:
        with self._begin("save the install state") as connection:
            connection.execute(delete(INSTALL_STATES).where(INSTALL_STATES.c.expires_at < now))
            connection.execute(insert(INSTALL_STATES).values(state=state, expires_at=now + ttl))

    def consume_state(self, state: str, now: datetime) -> bool:
        """True once for a state issued here and not expired; any replica may consume it."""
        with self._begin("use the install state") as connection:
            return connection.execute(delete(INSTALL_STATES).where(and_(
                INSTALL_STATES.c.state == state, INSTALL_STATES.c.expires_at >= now))).rowcount == 1

    # ------------------------------------------------------------ retried deliveries

    def remember_event(self, workspace_id: str, key: str) -> bool:
        """True the first time (workspace, key) is seen, False for every retry: a unique key, not a set."""
        table = ProcessedEventRow.__table__  # type: ignore[attr-defined]
        try:
            with self._engine.begin() as connection:
                connection.execute(insert(table).values(workspace_id=workspace_id, key=key,
                                                        seen_at=utc_now()))
        except IntegrityError:
            return False
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot remember the event: {str(getattr(exc, 'orig', None) or exc)}") from exc
        return True
