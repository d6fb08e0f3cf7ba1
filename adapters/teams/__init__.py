"""mount(web_app, services, settings): the Teams bot on POST /api/messages; package(...): the uploadable app zip."""

from __future__ import annotations

import json
import logging
import re
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

from aiohttp import web

from adapters.teams.settings import TeamsSettings
from chatops.errors import ConfigError

if TYPE_CHECKING:  # botbuilder loads when Teams is mounted, not when this package is imported
    from adapters.teams.app import TeamsApp
    from adapters.wiring import Services

log = logging.getLogger(__name__)

TEAMS: Final[web.AppKey[TeamsApp]] = web.AppKey("teams")
MANIFEST_DIR: Final = Path(__file__).resolve().parents[2] / "manifest" / "teams"
_GUID: Final = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def mount(web_app: web.Application, services: Services, settings: TeamsSettings | None = None) -> TeamsApp | None:
    """Adds POST /api/messages; nothing when neither credentials nor the demo sandbox are configured."""
    settings = settings if settings is not None else services.config.teams
    if not settings.enabled:
        log.info("Teams is not configured (no MICROSOFT_APP_ID); its endpoint is off")
        return None
    from adapters.teams import app as teams_app

    teams = teams_app.build(settings, services.core)
    web_app[TEAMS] = teams
    web_app.router.add_post(teams_app.MESSAGES_PATH, teams.messages)
    web_app.on_shutdown.append(teams.close)
    log.info("Teams mounted", extra={"authenticated": settings.authenticated, "demo": settings.demo})
    return teams


# ---------------------------------------------------------------- the app package


def manifest(app_id: str, url: str, *, source: Path = MANIFEST_DIR / "manifest.json") -> dict[str, Any]:
    """manifest.json with this bot's app id and public host filled in."""
    if not _GUID.match(app_id):
        raise ConfigError(f"--app-id: {app_id!r} is not a Microsoft App ID (a GUID)")
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise ConfigError(f"--url: {url!r} is not an https:// URL (Teams reaches the bot over https)")
    host = parts.hostname + (f":{parts.port}" if parts.port else "")
    data: dict[str, Any] = json.loads(source.read_text(encoding="utf-8"))
    data["id"] = app_id.lower()
    for bot in data.get("bots", []):
        bot["botId"] = app_id.lower()
    base = f"https://{host}"
    developer = data.setdefault("developer", {})
    developer["websiteUrl"] = base
    developer["privacyUrl"] = f"{base}/privacy"
    developer["termsOfUseUrl"] = f"{base}/terms"
    data["validDomains"] = [host]
    return data


def package(app_id: str, url: str, out: Path, *, folder: Path = MANIFEST_DIR) -> Path:
    """The zip Teams accepts in "Upload a custom app": manifest.json, color.png, outline.png at its root."""
    data = manifest(app_id, url, source=folder / "manifest.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("manifest.json", json.dumps(data, indent=2, ensure_ascii=False) + "\n")
        for icon in ("color.png", "outline.png"):
            archive.write(folder / icon, icon)
    return out
