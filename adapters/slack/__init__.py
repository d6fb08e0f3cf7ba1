"""mount(web_app, services, settings): the Slack app on our aiohttp server (HTTP mode) or over Socket Mode."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Final

from aiohttp import web

from adapters.slack.settings import SlackMode, SlackSettings
from chatops.errors import ConfigError

if TYPE_CHECKING:  # the bolt app and the core load when Slack is mounted, not when a module here is imported
    from adapters.slack.app import SlackApp
    from adapters.wiring import Services

log = logging.getLogger(__name__)

MANIFEST: Final = Path(__file__).resolve().parents[2] / "manifest" / "slack.yaml"
MANIFEST_URL: Final = "https://chatops.example.com"  # what the template says where the public URL goes
SLACK: Final[web.AppKey[SlackApp]] = web.AppKey("slack")
SOCKET_MODE: Final = "slack_socket_mode"  # Services.extras flag set by `chatops serve --socket`


def manifest(url: str, *, socket_mode: bool = False) -> str:
    """manifest/slack.yaml with the public URL filled in (and Socket Mode switched on when asked)."""
    url = url.strip().rstrip("/")
    if not url.startswith(("https://", "http://")) or " " in url:
        raise ConfigError(f"--url: {url!r} is not an http(s) URL; Slack needs https:// for request URLs")
    text = MANIFEST.read_text(encoding="utf-8").replace(MANIFEST_URL, url)
    if socket_mode:
        text = text.replace("socket_mode_enabled: false", "socket_mode_enabled: true")
    return text


def build(services: Services, settings: SlackSettings) -> SlackApp:
    """The Slack app over the services' store and core (installations share the store's database)."""
    from adapters.slack import app as slack_app
    from adapters.slack.installation_store import SlackInstallationStore

    installs = SlackInstallationStore(services.store, services.store.installations)
    return slack_app.build(settings, services.core, installs, public_url=services.config.settings.public_url)


def mount(web_app: web.Application, services: Services,
          settings: SlackSettings | None = None) -> SlackApp | None:
    """Adds POST /slack/events (and the install routes in OAuth mode); nothing when Slack isn't configured."""
    settings = settings if settings is not None else services.config.slack
    if settings.mode is SlackMode.OFF:
        log.info("Slack is not configured (no SLACK_BOT_TOKEN or SLACK_CLIENT_ID); its endpoints are off")
        return None
    from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
    from slack_sdk.signature import SignatureVerifier

    from adapters.slack import app as slack_app

    slack = build(services, settings)
    web_app[SLACK] = slack
    bolt = slack.bolt
    verifier = SignatureVerifier(settings.signing_secret.get_secret_value())

    async def events(request: web.Request) -> web.Response:
        # slack_sdk's verifier raises on a timestamp that is not a number; that is a forged request, not a 500
        timestamp = request.headers.get("X-Slack-Request-Timestamp", "").strip()
        if not timestamp.isdigit():
            return web.json_response({"error": "invalid request"}, status=401)
        # bolt parses the body before it checks the signature: check it first, so nobody unsigned gets parsed
        try:
            signed = verifier.is_valid(await request.read(), timestamp, request.headers.get("X-Slack-Signature", ""))
        except UnicodeDecodeError:  # slack_sdk decodes the body to sign it; Slack only sends UTF-8
            return web.json_response({"error": "the body is not UTF-8"}, status=400)
        if not signed:
            return web.json_response({"error": "invalid request"}, status=401)
        try:
            bolt_request = await to_bolt_request(request)
        except UnicodeDecodeError:
            return web.json_response({"error": "the body is not UTF-8"}, status=400)
        except (ValueError, RecursionError, AttributeError, TypeError):  # not JSON, nested too deep, not an object
            return web.json_response({"error": "the body is not a Slack payload"}, status=400)
        if not _well_formed(bolt_request.body):
            return web.json_response({"error": "the body is not a Slack payload"}, status=400)
        return await to_aiohttp_response(await bolt.async_dispatch(bolt_request))

    web_app.router.add_post(slack_app.EVENTS_PATH, events)
    flow = bolt.oauth_flow
    if flow is not None:
        async def install(request: web.Request) -> web.Response:
            return await to_aiohttp_response(await flow.handle_installation(await to_bolt_request(request)))

        async def redirect(request: web.Request) -> web.Response:
            return await to_aiohttp_response(await flow.handle_callback(await to_bolt_request(request)))

        web_app.router.add_get(slack_app.INSTALL_PATH, install)
        web_app.router.add_get(slack_app.REDIRECT_PATH, redirect)
    if services.extras.get(SOCKET_MODE):
        _socket_mode(web_app, slack)
    log.info("Slack mounted", extra={"mode": settings.mode.value, "api": settings.web_api_url})
    return slack


_OBJECTS: Final = ("event", "team", "user", "channel", "container", "message", "view", "enterprise")


def _well_formed(body: object) -> bool:
    """The shape bolt's matchers take for granted (they call .get() on these); anything else is a 400."""
    if not isinstance(body, dict):
        return False
    if any(key in body and body[key] is not None and not isinstance(body[key], dict) for key in _OBJECTS):
        return False
    actions = body.get("actions")
    return actions is None or (isinstance(actions, list) and all(isinstance(a, dict) for a in actions))


def _socket_mode(web_app: web.Application, slack: SlackApp) -> None:
    """Connect to Slack over a WebSocket instead of receiving HTTP (no public URL needed)."""
    from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

    from adapters.slack import app as slack_app

    token = slack.settings.app_token.get_secret_value()
    if not token:
        raise ConfigError("SLACK_APP_TOKEN: Socket Mode needs an app-level token (xapp-...) "
                          "with the connections:write scope")
    handler = AsyncSocketModeHandler(slack.bolt, token, web_client=slack_app.web_client(slack.settings))

    async def start(_: web.Application) -> None:
        await handler.connect_async()  # type: ignore[no-untyped-call]
        log.info("Slack Socket Mode connected")

    async def stop(_: web.Application) -> None:
        await handler.close_async()  # type: ignore[no-untyped-call]

    web_app.on_startup.append(start)
    web_app.on_cleanup.append(stop)
