"""bolt's AsyncInstallationStore and AsyncOAuthStateStore over our database (bot tokens encrypted)."""

from __future__ import annotations

import asyncio
import logging
import secrets
from datetime import UTC, datetime
from logging import Logger
from typing import Any

from slack_sdk.oauth.installation_store import Bot
from slack_sdk.oauth.installation_store import Installation as SlackInstallation
from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.oauth.state_store.async_state_store import AsyncOAuthStateStore

from adapters.slack import parse
from chatops.model import Secret, Workspace
from chatops.store import Store
from chatops.store.installations import Installation, Installations

log = logging.getLogger(__name__)


def _when(epoch: int | float | None) -> datetime | None:
    return datetime.fromtimestamp(epoch, UTC) if epoch else None


def _scopes(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(s for s in value.split(",") if s)
    return tuple(str(s) for s in value or ())


def from_slack(found: SlackInstallation | Bot) -> Installation:
    if not found.team_id or not found.bot_token:
        raise ValueError("an installation needs a team id and a bot token (no org-wide installs)")
    return Installation(
        workspace_id=parse.workspace_id(found.team_id), platform=parse.PLATFORM, team_id=found.team_id,
        enterprise_id=found.enterprise_id or "", team_name=found.team_name or "", app_id=found.app_id or "",
        bot_id=found.bot_id or "", bot_user_id=found.bot_user_id or "", bot_scopes=_scopes(found.bot_scopes),
        bot_token=Secret(found.bot_token), bot_refresh_token=Secret(found.bot_refresh_token or ""),
        bot_token_expires_at=_when(found.bot_token_expires_at),
        installer_user_id=getattr(found, "user_id", "") or "",
    )


def to_bot(inst: Installation) -> Bot:
    return Bot(
        app_id=inst.app_id or None, enterprise_id=inst.enterprise_id or None, team_id=inst.team_id,
        team_name=inst.team_name or None, bot_token=inst.bot_token.reveal(), bot_id=inst.bot_id,
        bot_user_id=inst.bot_user_id, bot_scopes=list(inst.bot_scopes),
        bot_refresh_token=inst.bot_refresh_token.reveal() or None,
        bot_token_expires_at=(int(inst.bot_token_expires_at.timestamp())
                              if inst.bot_token_expires_at else None),
        installed_at=(inst.installed_at or datetime.now(UTC)).timestamp(),
    )


class SlackInstallationStore(AsyncInstallationStore, AsyncOAuthStateStore):
    """Installations keyed by our workspace id ("slack:<team_id>"); the OAuth `state` is single-use and shared
    by every replica (kept in the database, not in a file or in memory)."""

    def __init__(self, store: Store, installations: Installations) -> None:
        self._store = store
        self.installations = installations

    @property
    def logger(self) -> Logger:
        return log

    @property
    def store(self) -> Store:
        return self._store

    # ------------------------------------------------------------ installations

    async def async_save(self, installation: SlackInstallation) -> None:
        await self.save(from_slack(installation))

    async def async_save_bot(self, bot: Bot) -> None:
        await self.save(from_slack(bot))

    async def save(self, inst: Installation) -> None:
        """Keep the installation and make sure its workspace exists."""
        await asyncio.to_thread(self._store.ensure_workspace, Workspace(
            inst.workspace_id, inst.team_name or inst.team_id, platform=parse.PLATFORM,
            external_id=inst.team_id))
        await asyncio.to_thread(self.installations.save, inst)
        log.info("Slack workspace installed", extra={"workspace": inst.workspace_id})

    async def find(self, team_id: str | None) -> Installation | None:
        if not team_id:
            return None
        return await asyncio.to_thread(self.installations.find, parse.workspace_id(team_id))

    async def async_find_bot(self, *, enterprise_id: str | None, team_id: str | None,
                             is_enterprise_install: bool | None = False) -> Bot | None:
        found = await self.find(team_id)
        return to_bot(found) if found is not None else None

    async def async_find_installation(self, *, enterprise_id: str | None, team_id: str | None,
                                      user_id: str | None = None, is_enterprise_install: bool | None = False
                                      ) -> SlackInstallation | None:
        found = await self.find(team_id)
        if found is None or (user_id is not None and user_id != found.installer_user_id):
            return None
        bot = to_bot(found)
        return SlackInstallation(
            app_id=bot.app_id, enterprise_id=bot.enterprise_id, team_id=bot.team_id, team_name=bot.team_name,
            bot_token=bot.bot_token, bot_id=bot.bot_id, bot_user_id=bot.bot_user_id,
            bot_scopes=bot.bot_scopes,
            bot_refresh_token=bot.bot_refresh_token, bot_token_expires_at=bot.bot_token_expires_at,
            user_id=found.installer_user_id, installed_at=bot.installed_at,
        )

    async def async_delete_bot(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        await self.delete(team_id)

    async def async_delete_installation(self, *, enterprise_id: str | None, team_id: str | None,
                                        user_id: str | None = None) -> None:
        if user_id is None:  # only the whole installation is ours to delete; we keep no user tokens
            await self.delete(team_id)

    async def async_delete_all(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        await self.delete(team_id)

    async def delete(self, team_id: str | None) -> bool:
        if not team_id:
            return False
        gone = await asyncio.to_thread(self.installations.delete, parse.workspace_id(team_id))
        if gone:
            log.info("Slack installation removed", extra={"workspace": parse.workspace_id(team_id)})
        return gone

    # ------------------------------------------------------------ OAuth state

    async def async_issue(self, *args: Any, **kwargs: Any) -> str:
        state = secrets.token_urlsafe(32)
        await asyncio.to_thread(self.installations.issue_state, state, datetime.now(UTC))
        return state

    async def async_consume(self, state: str) -> bool:
        return await asyncio.to_thread(self.installations.consume_state, state, datetime.now(UTC))
