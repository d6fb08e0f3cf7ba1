"""A local Slack: the Web API methods chatops calls and response_url endpoints, in Slack's own formats.

It records every call, answers `ok: false` errors and 429 + Retry-After on demand, keeps the messages it
was sent (so chat.update and replace_original change them), and signs requests to a bot the way Slack
does, so tests and the demo can play the workspace's part over real sockets.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import itertools
import json
import secrets
import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import parse_qsl, quote, urlencode

from aiohttp import ClientSession, web

MAX_MESSAGE_BLOCKS: Final = 50
MAX_VIEW_BLOCKS: Final = 100
RESPONSE_URL_USES: Final = 5
RESPONSE_URL_LIFETIME_S: Final = 30 * 60


@dataclass(frozen=True, slots=True)
class Call:
    """One request the fake received: a Web API method or a response_url post."""

    method: str  # "chat.postMessage", ..., or "response_url"
    params: dict[str, Any]
    team_id: str = ""
    token: str = ""
    url: str = ""  # the response_url posted to


@dataclass
class SlackUser:
    id: str
    team_id: str
    email: str = ""
    name: str = ""
    is_admin: bool = False
    is_owner: bool = False
    is_bot: bool = False
    deleted: bool = False

    def to_api(self, with_email: bool) -> dict[str, Any]:
        profile: dict[str, Any] = {"real_name": self.name, "display_name": self.name,
                                   "real_name_normalized": self.name, "display_name_normalized": self.name,
                                   "team": self.team_id}
        if with_email and self.email:
            profile["email"] = self.email
        return {"id": self.id, "team_id": self.team_id, "name": self.name.lower().replace(" ", "."),
                "deleted": self.deleted, "real_name": self.name, "tz": "Europe/Berlin", "tz_offset": 3600,
                "profile": profile, "is_admin": self.is_admin, "is_owner": self.is_owner,
                "is_primary_owner": False, "is_restricted": False, "is_ultra_restricted": False,
                "is_bot": self.is_bot, "is_app_user": False, "updated": 1502138686}


@dataclass
class Team:
    id: str
    name: str
    bot_token: str
    bot_user_id: str = "U0BOT"
    bot_id: str = "B0BOT"
    app_id: str = "A0CHATOPS"
    scopes: tuple[str, ...] = ("commands", "chat:write", "users:read", "users:read.email", "channels:history",
                               "groups:history")
    refresh_token: str = ""
    expires_in: int = 0  # > 0: token rotation is on
    earlier_tokens: list[str] = field(default_factory=list)  # a rotated-out token works until it expires

    def holds(self, token: str) -> bool:
        return bool(token) and (token == self.bot_token or token in self.earlier_tokens)


@dataclass
class Message:
    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    user: str = ""  # for ephemeral messages: who sees it
    ephemeral: bool = False
    metadata: dict[str, Any] | None = None  # chat.postMessage's `metadata` (event_type, event_payload)
    bot_id: str = ""


@dataclass
class ResponseUrl:
    url: str
    team_id: str
    channel: str
    user: str
    created: float = field(default_factory=time.monotonic)
    uses: int = 0
    message: Message | None = None  # the message it replaces (buttons), or the last one it posted


@dataclass
class _Fault:
    status: int
    error: str
    retry_after: int = 0
    times: int = 1


class FakeSlack:
    """Serve with start(); point CHATOPS_SLACK_API_URL at `api_url`."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.teams: dict[str, Team] = {}
        self.users: dict[tuple[str, str], SlackUser] = {}
        self.messages: dict[tuple[str, str], Message] = {}
        self.views: dict[str, dict[str, Any]] = {}  # user id -> the Home view published
        self.modals: list[dict[str, Any]] = []
        self.ephemeral: list[Message] = []  # every ephemeral message, in order (the emulator shows them)
        self.observers: list[Callable[[Call], None]] = []  # told after a call changed what Slack shows
        self.response_urls: dict[str, ResponseUrl] = {}
        self.codes: dict[str, str] = {}  # OAuth code -> team id
        self.delays: dict[str, float] = {}  # method -> seconds to wait before answering
        self.app_tokens: set[str] = set()  # xapp- tokens allowed to open Socket Mode connections
        self.sockets: list[web.WebSocketResponse] = []
        self._acks: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._faults: dict[str, list[_Fault]] = defaultdict(list)
        self._ts = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.base_url = ""
        self._changed = asyncio.Condition()

    # ------------------------------------------------------------ set-up

    def add_team(self, team_id: str, name: str = "", *, bot_token: str = "", **kwargs: Any) -> Team:
        team = Team(team_id, name or team_id, bot_token or f"xoxb-{team_id}-{secrets.token_hex(8)}", **kwargs)
        self.teams[team_id] = team
        return team

    def add_user(self, team_id: str, user_id: str, email: str = "", name: str = "", *, is_admin: bool = False,
                 is_owner: bool = False, **kwargs: Any) -> SlackUser:
        user = SlackUser(user_id, team_id, email, name or user_id, is_admin, is_owner, **kwargs)
        self.users[(team_id, user_id)] = user
        return user

    def fail(self, method: str, error: str, *, times: int = 1) -> None:
        """The next `times` calls of `method` answer HTTP 200 {"ok": false, "error": error}."""
        self._faults[method].append(_Fault(200, error, times=times))

    def rate_limit(self, method: str, retry_after: int = 1, *, times: int = 1) -> None:
        """The next `times` calls of `method` answer 429 with Retry-After (response_url: "response_url")."""
        self._faults[method].append(_Fault(429, "ratelimited", retry_after, times))

    def response_url(self, team_id: str, channel: str, user: str, message: Message | None = None) -> str:
        url = f"{self.base_url}/response/{team_id}/{secrets.token_urlsafe(12)}"
        self.response_urls[url] = ResponseUrl(url, team_id, channel, user, message=message)
        return url

    def issue_code(self, team_id: str) -> str:
        code = secrets.token_hex(8)
        self.codes[code] = team_id
        return code

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api/"

    def called(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    async def wait_for(self, method: str, count: int = 1, timeout: float = 10.0) -> list[Call]:
        """Block until `method` was called `count` times (the bot works in the background)."""
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: len(self.called(method)) >= count), timeout)
        return self.called(method)

    # ------------------------------------------------------------ server

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/response/{team}/{key}", self._respond)
        app.router.add_get("/oauth/v2/authorize", self._authorize)
        app.router.add_get("/socket-mode/{ticket}", self._socket)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> FakeSlack:
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        address = site._server.sockets[0].getsockname()  # type: ignore[union-attr]
        self.base_url = f"http://{address[0]}:{address[1]}"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _record(self, call: Call) -> None:
        self.calls.append(call)
        async with self._changed:
            self._changed.notify_all()

    # ------------------------------------------------------------ Web API

    async def _params(self, request: web.Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query)
        if request.can_read_body:
            raw = await request.read()
            if request.content_type == "application/json":
                params.update(json.loads(raw or b"{}"))
            else:
                params.update(dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True)))
        for key in ("blocks", "view", "metadata"):  # form posts carry them as JSON text
            if isinstance(params.get(key), str):
                params[key] = json.loads(params[key])
        return params

    def _token(self, request: web.Request, params: Mapping[str, Any]) -> str:
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            return header.removeprefix("Bearer ").strip()
        return str(params.get("token", ""))

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params = await self._params(request)
        token = self._token(request, params)
        team = next((t for t in self.teams.values() if t.holds(token)), None)
        call = Call(method, params, team.id if team else "", token)
        await self._record(call)
        if method in self.delays:
            await asyncio.sleep(self.delays[method])
        fault = self._fault(method)
        if fault is not None:
            return self._rate_limited(fault) if fault.status == 429 else _error(fault.error)
        if method == "oauth.v2.access":
            return self._oauth_access(request, params)
        if method == "apps.connections.open":
            if token not in self.app_tokens:
                return _error("invalid_auth")
            return _ok(url=f"{self.base_url.replace('http://', 'ws://')}/socket-mode/{secrets.token_hex(8)}")
        if not token:
            return _error("not_authed")
        if team is None:
            return _error("invalid_auth")
        handler = {
            "auth.test": self._auth_test, "users.info": self._users_info, "chat.postMessage": self._post,
            "chat.postEphemeral": self._post_ephemeral, "chat.update": self._update,
            "views.open": self._view_open,
            "views.publish": self._view_publish,
            "conversations.history": self._history,
        }.get(method)
        if handler is None:
            return _error("unknown_method")
        answer = await handler(team, params)
        self._observe(call)
        return answer

    def _observe(self, call: Call) -> None:
        for observer in self.observers:
            observer(call)

    def _fault(self, method: str) -> _Fault | None:
        queue = self._faults.get(method)
        if not queue:
            return None
        fault = queue[0]
        fault.times -= 1
        if fault.times <= 0:
            queue.pop(0)
        return fault

    @staticmethod
    def _rate_limited(fault: _Fault) -> web.Response:
        return web.json_response({"ok": False, "error": fault.error}, status=429,
                                 headers={"Retry-After": str(fault.retry_after)})

    async def _auth_test(self, team: Team, params: dict[str, Any]) -> web.Response:
        return _ok(url=f"https://{team.id.lower()}.slack.example/", team=team.name, user="chatops",
                   team_id=team.id, user_id=team.bot_user_id, bot_id=team.bot_id, is_enterprise_install=False)

    async def _users_info(self, team: Team, params: dict[str, Any]) -> web.Response:
        user = self.users.get((team.id, str(params.get("user", ""))))
        if user is None:
            return _error("user_not_found")
        return _ok(user=user.to_api(with_email="users:read.email" in team.scopes))

    def _next_ts(self) -> str:
        return f"{int(time.time())}.{next(self._ts):06d}"

    def _check_message(self, params: dict[str, Any], *, channel_required: bool = True) -> web.Response | None:
        if channel_required and not params.get("channel"):
            return _error("channel_not_found")
        blocks = params.get("blocks")
        if blocks is not None and (not isinstance(blocks, list) or len(blocks) > MAX_MESSAGE_BLOCKS):
            return _error("invalid_blocks")
        if not params.get("text") and not blocks:
            return _error("no_text")
        return None

    async def _post(self, team: Team, params: dict[str, Any]) -> web.Response:
        problem = self._check_message(params)
        if problem is not None:
            return problem
        metadata = params.get("metadata")
        if metadata is not None and not (isinstance(metadata, dict) and isinstance(metadata.get("event_type"), str)
                                         and isinstance(metadata.get("event_payload", {}), dict)):
            return _error("invalid_metadata_format")
        channel = str(params["channel"])
        message = Message(channel, self._next_ts(), str(params.get("text", "")),
                          list(params.get("blocks") or []), metadata=metadata, bot_id=team.bot_id)
        self.messages[(channel, message.ts)] = message
        return _ok(channel=channel, ts=message.ts, message=self._message_api(team, message, with_metadata=True))

    def _message_api(self, team: Team, message: Message, *, with_metadata: bool) -> dict[str, Any]:
        shown: dict[str, Any] = {"type": "message", "subtype": "bot_message", "text": message.text,
                                 "ts": message.ts, "bot_id": message.bot_id or team.bot_id, "app_id": team.app_id,
                                 "blocks": message.blocks}
        if with_metadata and message.metadata is not None:
            shown["metadata"] = message.metadata
        return shown

    async def _history(self, team: Team, params: dict[str, Any]) -> web.Response:
        """conversations.history: newest first, `oldest`/`latest` exclusive, `limit` and a cursor; metadata only
        with include_all_metadata (Slack's own rule)."""
        if not {"channels:history", "groups:history"} & set(team.scopes):
            return _error("missing_scope", needed="channels:history,groups:history",
                          provided=",".join(team.scopes))
        channel = str(params.get("channel", ""))
        if not channel:
            return _error("channel_not_found")
        try:
            oldest = float(params.get("oldest") or 0)
            latest = float(params.get("latest") or "inf")
            limit = max(1, min(999, int(params.get("limit") or 100)))
            start = int(params.get("cursor") or 0)
        except ValueError:
            return _error("invalid_arguments")
        with_metadata = str(params.get("include_all_metadata", "")).lower() in ("1", "true")
        found = sorted((m for (c, _), m in self.messages.items() if c == channel and oldest < float(m.ts) < latest),
                       key=lambda m: float(m.ts), reverse=True)
        page = found[start:start + limit]
        more = start + limit < len(found)
        return _ok(messages=[self._message_api(team, m, with_metadata=with_metadata) for m in page],
                   has_more=more, pin_count=0,
                   response_metadata={"next_cursor": str(start + limit) if more else ""})

    async def _post_ephemeral(self, team: Team, params: dict[str, Any]) -> web.Response:
        problem = self._check_message(params)
        if problem is not None:
            return problem
        if not params.get("user"):
            return _error("user_not_found")
        message = Message(str(params["channel"]), self._next_ts(), str(params.get("text", "")),
                          list(params.get("blocks") or []), user=str(params["user"]), ephemeral=True)
        self.ephemeral.append(message)
        return _ok(message_ts=message.ts)

    async def _update(self, team: Team, params: dict[str, Any]) -> web.Response:
        problem = self._check_message(params)
        if problem is not None:
            return problem
        message = self.messages.get((str(params["channel"]), str(params.get("ts", ""))))
        if message is None:
            return _error("message_not_found")
        message.text = str(params.get("text", message.text))
        message.blocks = list(params.get("blocks") or message.blocks)
        return _ok(channel=message.channel, ts=message.ts, text=message.text,
                   message={"type": "message", "text": message.text, "user": team.bot_user_id,
                            "bot_id": team.bot_id, "blocks": message.blocks})

    def _view(self, team: Team, view: Any, kind: str) -> tuple[dict[str, Any] | None, web.Response | None]:
        if not isinstance(view, dict) or view.get("type") != kind:
            return None, _error("invalid_arguments")
        if len(view.get("blocks") or []) > MAX_VIEW_BLOCKS:
            return None, _error("invalid_arguments")
        stored = {**view, "id": f"V{secrets.token_hex(4).upper()}", "team_id": team.id, "app_id": team.app_id,
                  "bot_id": team.bot_id, "hash": f"{int(time.time())}.{secrets.token_hex(4)}",
                  "state": {"values": {}}, "private_metadata": view.get("private_metadata", ""),
                  "callback_id": view.get("callback_id", ""), "external_id": view.get("external_id", "")}
        return stored, None

    async def _view_open(self, team: Team, params: dict[str, Any]) -> web.Response:
        if not params.get("trigger_id"):
            return _error("invalid_trigger_id")
        view, problem = self._view(team, params.get("view"), "modal")
        if problem is not None:
            return problem
        assert view is not None
        self.modals.append(view)
        return _ok(view=view)

    async def _view_publish(self, team: Team, params: dict[str, Any]) -> web.Response:
        if (team.id, str(params.get("user_id", ""))) not in self.users:
            return _error("user_not_found")
        view, problem = self._view(team, params.get("view"), "home")
        if problem is not None:
            return problem
        assert view is not None
        self.views[str(params["user_id"])] = view
        return _ok(view=view)

    def _oauth_access(self, request: web.Request, params: dict[str, Any]) -> web.Response:
        client_id = str(params.get("client_id", ""))
        header = request.headers.get("Authorization", "")
        if header.startswith("Basic "):
            client_id = base64.b64decode(header[6:]).decode().partition(":")[0]
        if not client_id:
            return _error("invalid_client_id")
        if params.get("grant_type") == "refresh_token":
            team = next((t for t in self.teams.values() if t.refresh_token
                         and t.refresh_token == params.get("refresh_token")), None)
            if team is None:
                return _error("invalid_refresh_token")
            team.earlier_tokens.append(team.bot_token)
            team.bot_token = f"xoxe.xoxb-{team.id}-{secrets.token_hex(8)}"
            team.refresh_token = f"xoxe-1-{secrets.token_hex(8)}"
            return _ok(access_token=team.bot_token, token_type="bot", scope=",".join(team.scopes),
                       bot_user_id=team.bot_user_id, app_id=team.app_id,
                       team={"name": team.name, "id": team.id},
                       enterprise=None, is_enterprise_install=False, expires_in=team.expires_in or 43200,
                       refresh_token=team.refresh_token)
        team_id = self.codes.pop(str(params.get("code", "")), "")
        team = self.teams.get(team_id)
        if team is None:
            return _error("invalid_code")
        body: dict[str, Any] = {
            "access_token": team.bot_token, "token_type": "bot", "scope": ",".join(team.scopes),
            "bot_user_id": team.bot_user_id, "app_id": team.app_id,
            "team": {"name": team.name, "id": team.id},
            "enterprise": None, "is_enterprise_install": False,
            "authed_user": {"id": next((u.id for (t, _), u in self.users.items()
                                        if t == team.id and u.is_admin), "U0INSTALLER")},
        }
        if team.expires_in:
            body.update(expires_in=team.expires_in, refresh_token=team.refresh_token)
        return _ok(**body)

    async def _authorize(self, request: web.Request) -> web.Response:
        """Slack's consent page, approved at once for the team named in ?team= (else the first one)."""
        team_id = request.query.get("team") or next(iter(self.teams), "")
        code = self.issue_code(team_id)
        redirect = request.query.get("redirect_uri", "")
        state = request.query.get("state", "")
        raise web.HTTPFound(f"{redirect}?{urlencode({'code': code, 'state': state})}")

    # ------------------------------------------------------------ Socket Mode

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()  # answers the client's pings itself
        await ws.prepare(request)
        await ws.send_json({"type": "hello", "num_connections": len(self.sockets) + 1,
                            "debug_info": {"host": "fake-slack", "approximate_connection_time": 18060},
                            "connection_info": {"app_id": "A0CHATOPS"}})
        self.sockets.append(ws)
        async with self._changed:
            self._changed.notify_all()
        try:
            async for message in ws:
                data = json.loads(message.data) if message.type.name == "TEXT" else {}
                waiting = self._acks.pop(str(data.get("envelope_id", "")), None)
                if waiting is not None and not waiting.done():
                    waiting.set_result(data)
        finally:
            self.sockets.remove(ws)
        return ws

    async def socket_send(self, kind: str, payload: Mapping[str, Any],
                          timeout: float = 5.0) -> dict[str, Any]:
        """Deliver an envelope ("slash_commands", "interactive", "events_api") and wait for the app's ack."""
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: bool(self.sockets)), timeout)
        envelope_id = secrets.token_hex(8)
        acked: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._acks[envelope_id] = acked
        await self.sockets[-1].send_json({"envelope_id": envelope_id, "type": kind, "payload": dict(payload),
                                          "accepts_response_payload": kind != "events_api",
                                          "retry_attempt": 0, "retry_reason": ""})
        return await asyncio.wait_for(acked, timeout)

    # ------------------------------------------------------------ response_url

    async def _respond(self, request: web.Request) -> web.Response:
        url = f"{self.base_url}{request.path}"
        body = json.loads(await request.read() or b"{}")
        hook = self.response_urls.get(url)
        call = Call("response_url", body, hook.team_id if hook else "", url=url)
        await self._record(call)
        fault = self._fault("response_url")
        if fault is not None:  # response_url answers in plain text: 404 "expired_url" and the like
            if fault.status == 429:
                return self._rate_limited(fault)
            return web.Response(status=404, text=fault.error)
        if hook is None:
            return web.Response(status=404, text="no_active_hooks")
        if time.monotonic() - hook.created > RESPONSE_URL_LIFETIME_S:
            return web.Response(status=404, text="expired_url")
        if hook.uses >= RESPONSE_URL_USES:
            return web.Response(status=404, text="used_url")
        hook.uses += 1
        blocks = body.get("blocks")
        if blocks is not None and (not isinstance(blocks, list) or len(blocks) > MAX_MESSAGE_BLOCKS):
            return web.Response(status=400, text="invalid_blocks")
        text, blocks = str(body.get("text", "")), list(body.get("blocks") or [])
        if body.get("delete_original"):
            hook.message = None
        elif body.get("replace_original") and hook.message is not None:
            hook.message.text, hook.message.blocks = text, blocks
        else:
            ephemeral = body.get("response_type", "ephemeral") != "in_channel"
            hook.message = Message(hook.channel, self._next_ts(), text, blocks,
                                   user=hook.user if ephemeral else "", ephemeral=ephemeral)
            if not ephemeral:
                self.messages[(hook.channel, hook.message.ts)] = hook.message
            else:
                self.ephemeral.append(hook.message)
        self._observe(call)
        return web.Response(text="ok")

    # ------------------------------------------------------------ playing Slack's part towards the bot

    @staticmethod
    def sign(secret: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
        ts = str(int(time.time()) if timestamp is None else timestamp)
        digest = hmac.new(secret.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256).hexdigest()
        return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}

    def command_body(self, team_id: str, user_id: str, text: str = "", *, channel: str = "C0GENERAL",
                     command: str = "/syncstatus") -> bytes:
        fields = {
            "token": "deprecated-verification-token", "team_id": team_id, "team_domain": team_id.lower(),
            "channel_id": channel, "channel_name": "general", "user_id": user_id,
            "user_name": self.users.get((team_id, user_id), SlackUser(user_id, team_id)).name,
            "command": command, "text": text, "api_app_id": "A0CHATOPS", "is_enterprise_install": "false",
            "response_url": self.response_url(team_id, channel, user_id),
            "trigger_id": f"{next(self._ts)}.{secrets.token_hex(6)}",
        }
        return urlencode(fields).encode()

    def action_body(self, team_id: str, user_id: str, message: Message | None, action: Mapping[str, Any], *,
                    block_id: str = "", view: Mapping[str, Any] | None = None) -> bytes:
        """A block_actions payload for a click on `action` (a rendered button) in a message or a view."""
        payload: dict[str, Any] = {
            "type": "block_actions", "team": {"id": team_id, "domain": team_id.lower()},
            "user": {"id": user_id, "username": user_id, "name": user_id, "team_id": team_id},
            "api_app_id": "A0CHATOPS", "token": "deprecated-verification-token",
            "trigger_id": f"{next(self._ts)}.{secrets.token_hex(6)}",
            "actions": [{"action_id": action["action_id"], "block_id": block_id, "text": action.get("text"),
                         "value": action.get("value", ""), "type": "button",
                         "action_ts": f"{time.time():.6f}"}],
        }
        if view is not None:
            payload["container"] = {"type": "view", "view_id": view.get("id", "")}
            payload["view"] = dict(view)
        elif message is not None:
            payload["container"] = {"type": "message", "message_ts": message.ts,
                                    "channel_id": message.channel, "is_ephemeral": message.ephemeral}
            payload["channel"] = {"id": message.channel, "name": "general"}
            if not message.ephemeral:  # Slack leaves ephemeral messages out of the payload
                payload["message"] = {"type": "message", "ts": message.ts, "text": message.text,
                                      "blocks": message.blocks}
            payload["response_url"] = self.response_url(team_id, message.channel, user_id, message)
        return ("payload=" + quote(json.dumps(payload))).encode()

    def view_submission_body(self, team_id: str, user_id: str, view: Mapping[str, Any],
                             values: Mapping[str, str] | None = None) -> bytes:
        """A view_submission payload for `view` (as views.open returned it), its inputs holding `values` by
        block_id; an input not named keeps the initial value it was opened with."""
        state: dict[str, dict[str, Any]] = {}
        for block in view.get("blocks") or []:
            if block.get("type") != "input":
                continue
            element = block.get("element") or {}
            given = (values or {}).get(str(block.get("block_id")))
            state[str(block.get("block_id"))] = {str(element.get("action_id")): input_state(element, given)}
        payload = {
            "type": "view_submission", "team": {"id": team_id, "domain": team_id.lower()},
            "user": {"id": user_id, "username": user_id, "name": user_id, "team_id": team_id},
            "api_app_id": "A0CHATOPS", "token": "deprecated-verification-token",
            "trigger_id": f"{next(self._ts)}.{secrets.token_hex(6)}",
            "view": {**view, "state": {"values": state}}, "response_urls": [],
        }
        return ("payload=" + quote(json.dumps(payload))).encode()

    @staticmethod
    def event_body(team_id: str, event: Mapping[str, Any], event_id: str = "") -> bytes:
        envelope = {"token": "deprecated-verification-token", "team_id": team_id, "api_app_id": "A0CHATOPS",
                    "event": dict(event), "type": "event_callback",
                    "event_id": event_id or f"Ev{secrets.token_hex(5).upper()}",
                    "event_time": int(time.time()),
                    "authorizations": [{"enterprise_id": None, "team_id": team_id, "user_id": "U0BOT",
                                        "is_bot": True, "is_enterprise_install": False}],
                    "is_ext_shared_channel": False}
        return json.dumps(envelope, separators=(",", ":")).encode()

    async def send(self, session: ClientSession, url: str, body: bytes, secret: str, *,
                   content_type: str = "application/x-www-form-urlencoded", timestamp: int | None = None,
                   headers: Mapping[str, str] | None = None) -> tuple[int, str, float]:
        """POST a signed request to the bot; (status, body, seconds until the answer)."""
        started = time.monotonic()
        async with session.post(url, data=body, headers={"Content-Type": content_type,
                                                          **self.sign(secret, body, timestamp),
                                                          **(headers or {})}) as answer:
            text = await answer.text()
        return answer.status, text, time.monotonic() - started


def input_state(element: Mapping[str, Any], value: str | None) -> dict[str, Any]:
    """What Slack reports for one input element of a submitted view: `value`, else its initial value."""
    kind = str(element.get("type", ""))
    if kind == "timepicker":
        return {"type": kind, "selected_time": value if value is not None else element.get("initial_time")}
    if kind in ("conversations_select", "channels_select"):
        key = "selected_conversation" if kind == "conversations_select" else "selected_channel"
        return {"type": kind, key: value if value is not None else element.get("initial_conversation")}
    if kind in ("static_select", "radio_buttons"):
        if value is None:
            return {"type": kind, "selected_option": element.get("initial_option")}
        found = [o for o in element.get("options") or [] if o.get("value") == value]
        return {"type": kind, "selected_option": found[0] if found else {"value": value}}
    return {"type": kind, "value": value if value is not None else element.get("initial_value")}


def _ok(**fields: Any) -> web.Response:
    return web.json_response({"ok": True, **fields})


def _error(error: str, **fields: Any) -> web.Response:
    # Slack reports application errors with HTTP 200
    return web.json_response({"ok": False, "error": error, **fields})
