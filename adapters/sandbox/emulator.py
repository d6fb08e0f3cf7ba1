"""The workspace emulator: a Slack channel and a Teams chat in the browser, played against the real bot over HTTP.

The page (static/) asks this module's JSON API what to show and tells it what the person did. This module
plays Slack's and Teams' part towards the bot exactly as they do: signed form posts to /slack/events with a
response_url and a trigger_id, block_actions payloads for clicks, app_home_opened events, and Bot Framework
activities to /api/messages. What the bot sends back lands in FakeSlack (Web API methods, response_url) and
in the BotConnector; every change is pushed to the page over one event stream, and the page asks again.

    GET  /                                  the page
    GET  /emulator/static/{file}            its CSS, JS and images
    GET  /emulator/api/workspace            team, channel, bot, members, the slash command's hint
    GET  /emulator/api/events               text/event-stream: "change" after anything the bot did
    GET  /emulator/api/slack?user=U…        the channel as that member sees it, their modal and App Home
    POST /emulator/api/slack/command        {user, text}: what was typed in the composer
    POST /emulator/api/slack/action         {user, message | view, block_id, action_id, option?}: a click
    POST /emulator/api/slack/home           {user}: the App Home tab was opened
    POST /emulator/api/slack/modal/close    {user}
    POST /emulator/api/slack/modal/submit   {user, view, values}: the modal's Submit (view_submission)
    GET  /emulator/api/teams?user=U…        that member's personal chat with the bot
    POST /emulator/api/teams/open           {user}: they opened the bot's chat (the first time: it is installed)
    POST /emulator/api/teams/message        {user, text}
    POST /emulator/api/teams/invoke         {user, message, verb, data, title}: Action.Execute
    POST /emulator/api/teams/submit         {user, message, data}: Action.Submit (a message with a value)
    POST /emulator/api/digest               the sandbox's "Send digest now": the subscribed channel's digest, now

"Send digest now" is no part of Slack or Teams: it stands in for a week passing. The sandbox hands the emulator
the function that posts the digest the way the scheduler does (exactly once, through the bot's chat sink).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qsl, quote, unquote

import aiohttp
from aiohttp import web

from adapters.sandbox import bot_connector
from adapters.sandbox.bot_connector import BotConnector
from adapters.sandbox.slack_api import Call, FakeSlack, Message

log = logging.getLogger(__name__)

STATIC_DIR: Final = Path(__file__).resolve().parent / "static"
MANIFEST: Final = Path(__file__).resolve().parents[2] / "manifest" / "slack.yaml"
TEAMS_MANIFEST: Final = Path(__file__).resolve().parents[2] / "manifest" / "teams" / "manifest.json"
COMMAND: Final = "/syncstatus"
CHANNEL_ID: Final = "C0GENERAL"  # FakeSlack.command_body's channel, named "general" there too
CHANNEL_NAME: Final = "general"
BOT_NAME: Final = "chatops"
HEARTBEAT_S: Final = 15.0
BOT_TIMEOUT_S: Final = 30.0  # the longest the emulator waits for one answer of the bot
# What Slack shows when an app does not answer a slash command properly (its own wording).
DISPATCH_FAILED: Final = '{command} failed with the error "dispatch_failed"'
TIMED_OUT: Final = '{command} failed with the error "operation_timeout"'
NOT_A_COMMAND: Final = ('{command} is not a valid command. In Slack, all messages that start with the "/" '
                        "character are interpreted as commands.")
ACK_DEADLINE_S: Final = 3.0
NAMESPACE: Final = uuid.UUID("5f1c0e4e-7a51-4c5e-9a0b-6d656d6f0000")  # demo members' stable AAD object ids


@dataclass(frozen=True, slots=True)
class Member:
    """One person of the demo workspace, as Slack and as Teams know them."""

    slack_id: str
    email: str
    name: str
    admin: bool = False

    @property
    def teams_id(self) -> str:
        return f"29:{self.slack_id}"

    @property
    def aad_object_id(self) -> str:
        return str(uuid.uuid5(NAMESPACE, self.email))

    @property
    def conversation_id(self) -> str:
        """Their personal chat with the bot in Teams."""
        return f"a:demo-{self.slack_id.lower()}"

    def to_json(self) -> dict[str, Any]:
        return {"id": self.slack_id, "email": self.email, "name": self.name, "admin": self.admin,
                "teams_id": self.teams_id}


@dataclass
class Entry:
    """One row of the Slack channel: the bot's message (live: updates change it in place) or a person's."""

    key: str
    message: Message
    author: str = ""  # a member's id; "" for the bot, "USLACKBOT" for Slack's own notices
    at: float = field(default_factory=time.time)

    def visible_to(self, user: str) -> bool:
        m = self.message
        if m.ephemeral:
            return m.user == user
        if m.channel.startswith(("U", "W", "D")):  # a DM from the app (sink's fallback)
            return m.channel == user
        return True


@dataclass
class TeamsItem:
    """One message of a Teams personal chat: the person's activity, or the key of the bot's in the Connector."""

    key: str
    conversation: str
    at: float
    author: str = ""  # the member's id; "" for the bot
    text: str = ""
    connector_key: tuple[str, str] | None = None


class Emulator:
    """Plays a Slack workspace and a Teams tenant for one bot; mount() adds the page and its API to a web app."""

    def __init__(self, *, bot_url: str, fake: FakeSlack, team_id: str, team_name: str, signing_secret: str,
                 members: list[Member], connector: BotConnector | None = None, tenant_id: str = "",
                 send_digest: Callable[[], Awaitable[Mapping[str, str]]] | None = None) -> None:
        self.bot_url = bot_url.rstrip("/")
        self.fake = fake
        self.team_id = team_id
        self.team_name = team_name
        self.signing_secret = signing_secret
        self.members = {m.slack_id: m for m in members}
        self.connector = connector
        self.tenant_id = tenant_id
        self.send_digest = send_digest
        self.entries: list[Entry] = []
        self.modals: dict[str, list[dict[str, Any]]] = defaultdict(list)  # user -> the stack of open modals
        self.triggers: dict[str, str] = {}  # trigger_id -> the user whose click or command made it
        self.teams_items: list[TeamsItem] = []
        self.teams_cards: dict[tuple[str, str], tuple[int, dict[str, Any]]] = {}  # invoke answers, per message
        self.teams_notices: dict[tuple[str, str], str] = {}
        self.teams_installed: set[str] = set()  # members whose personal chat has the bot added
        self._seen: set[int] = set()
        self._teams_seen: set[tuple[str, str]] = set()
        self._keys = itertools.count(1)
        self._ts = itertools.count(1)
        self._version = 0
        self._listeners: set[asyncio.Queue[int | None]] = set()
        self._http: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closing = False
        fake.observers.append(self._slack_changed)

    # ------------------------------------------------------------ wiring

    def mount(self, app: web.Application) -> None:
        app.router.add_get("/", self._index)
        app.router.add_static("/emulator/static/", STATIC_DIR, append_version=False)
        app.router.add_get("/emulator/api/workspace", self._workspace)
        app.router.add_get("/emulator/api/events", self._events)
        app.router.add_get("/emulator/api/slack", self._slack_state)
        app.router.add_post("/emulator/api/slack/command", self._slack_command)
        app.router.add_post("/emulator/api/slack/action", self._slack_action)
        app.router.add_post("/emulator/api/slack/home", self._slack_home)
        app.router.add_post("/emulator/api/slack/modal/close", self._slack_modal_close)
        app.router.add_post("/emulator/api/slack/modal/submit", self._slack_modal_submit)
        app.router.add_get("/emulator/api/teams", self._teams_state)
        app.router.add_post("/emulator/api/teams/open", self._teams_open)
        app.router.add_post("/emulator/api/teams/message", self._teams_message)
        app.router.add_post("/emulator/api/teams/invoke", self._teams_invoke)
        app.router.add_post("/emulator/api/teams/submit", self._teams_submit)
        app.router.add_post("/emulator/api/digest", self._digest)
        app.on_startup.append(self._start)
        app.on_shutdown.append(self._shutdown)

    async def _start(self, _: web.Application) -> None:
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=BOT_TIMEOUT_S))
        if self.connector is not None:
            self._spawn(self._watch_connector())

    async def _shutdown(self, _: web.Application) -> None:
        """Ends the event streams (else the server waits for them) and the emulator's own work."""
        self._closing = True
        for queue in list(self._listeners):
            queue.put_nowait(None)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._http is not None:
            await self._http.close()

    def _spawn(self, work: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task: asyncio.Task[Any] = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    @property
    def http(self) -> aiohttp.ClientSession:
        assert self._http is not None, "the web app has not started"
        return self._http

    def _changed(self) -> None:
        self._version += 1
        for queue in self._listeners:
            queue.put_nowait(self._version)

    def member(self, user_id: str) -> Member:
        found = self.members.get(user_id)
        if found is None:
            raise web.HTTPBadRequest(text=json.dumps({"error": f"no member {user_id!r} in this workspace"}),
                                     content_type="application/json")
        return found

    def _next_ts(self) -> str:
        return f"{int(time.time())}.{900000 + next(self._ts):06d}"

    # ------------------------------------------------------------ the page and the stream

    async def _index(self, request: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-store"})

    async def _workspace(self, request: web.Request) -> web.Response:
        return web.json_response({
            "team": {"id": self.team_id, "name": self.team_name},
            "channel": {"id": CHANNEL_ID, "name": CHANNEL_NAME,
                        "topic": "Where CRM sync problems get sorted out. Try /syncstatus all"},
            "bot": {"name": BOT_NAME, "avatar": "/emulator/static/avatar.svg"},
            "command": _command_hint(),
            "members": [m.to_json() for m in self.members.values()],
            "teams": {"enabled": self.connector is not None, "tenant": self.tenant_id, **_teams_bot()},
            "digest": {"enabled": self.send_digest is not None},
        })

    async def _digest(self, request: web.Request) -> web.Response:
        """"Send digest now": what became of each subscription's digest ({} when nothing is subscribed)."""
        if self.send_digest is None:
            return web.json_response({"error": "this sandbox has no digest to send"}, status=404)
        try:
            outcomes = dict(await self.send_digest())
        except Exception as exc:  # a clear answer to the page; the sandbox keeps running
            log.exception("Send digest now failed")
            return web.json_response({"error": f"the digest was not sent: {exc}"}, status=502)
        return web.json_response({"outcomes": outcomes})

    async def _events(self, request: web.Request) -> web.StreamResponse:
        stream = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store",
                                             "X-Accel-Buffering": "no"})
        await stream.prepare(request)
        queue: asyncio.Queue[int | None] = asyncio.Queue()
        self._listeners.add(queue)
        try:
            await stream.write(f"event: hello\ndata: {self._version}\n\n".encode())
            while not self._closing:
                try:
                    version = await asyncio.wait_for(queue.get(), HEARTBEAT_S)
                except TimeoutError:
                    await stream.write(b": still here\n\n")
                    continue
                if version is None:
                    break
                while not queue.empty():  # a burst of changes is one refresh
                    later = queue.get_nowait()
                    if later is None:
                        return stream
                    version = later
                await stream.write(f"event: change\ndata: {version}\n\n".encode())
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self._listeners.discard(queue)
        return stream

    # ------------------------------------------------------------ Slack: what the bot did

    def _slack_changed(self, call: Call) -> None:
        if call.method == "views.open":
            user = self.triggers.get(str(call.params.get("trigger_id", "")), "")
            if user and self.fake.modals:
                self.modals[user].append(self.fake.modals[-1])
        self._sync_slack()
        self._changed()

    def _sync_slack(self) -> None:
        """Every message FakeSlack holds that the channel does not show yet goes to its end."""
        for message in [*self.fake.messages.values(), *self.fake.ephemeral]:
            if id(message) not in self._seen:
                self._add(message)

    def _add(self, message: Message, author: str = "") -> Entry:
        self._seen.add(id(message))
        entry = Entry(f"m{next(self._keys)}", message, author)
        self.entries.append(entry)
        return entry

    def _notice(self, user: str, text: str) -> None:
        """Slackbot's "only visible to you" line."""
        self._add(Message(CHANNEL_ID, self._next_ts(), text, [], user=user, ephemeral=True), "USLACKBOT")
        self._changed()

    async def _slack_state(self, request: web.Request) -> web.Response:
        user = self.member(request.query.get("user", "")).slack_id
        self._sync_slack()
        messages = [self._entry_json(e) for e in self.entries if e.visible_to(user)]
        stack = self.modals.get(user) or []
        return web.json_response({"version": self._version, "messages": messages,
                                  "modal": stack[-1] if stack else None, "home": self.fake.views.get(user)})

    def _entry_json(self, entry: Entry) -> dict[str, Any]:
        m = entry.message
        if entry.author == "USLACKBOT":
            author = {"kind": "slackbot", "id": "USLACKBOT", "name": "Slackbot"}
        elif entry.author:
            member = self.members.get(entry.author)
            author = {"kind": "user", "id": entry.author, "name": member.name if member else entry.author}
        else:
            author = {"kind": "bot", "id": "", "name": BOT_NAME}
        return {"id": entry.key, "ts": m.ts, "time": _ts_seconds(m.ts, entry.at), "channel": m.channel,
                "dm": m.channel.startswith(("U", "W", "D")), "author": author, "text": m.text,
                "blocks": m.blocks, "ephemeral": m.ephemeral}

    # ------------------------------------------------------------ Slack: what the person did

    async def _slack_command(self, request: web.Request) -> web.Response:
        data = await _json(request)
        user = self.member(str(data.get("user", ""))).slack_id
        typed = str(data.get("text", "")).strip()
        if not typed:
            raise _bad("nothing was typed")
        if not typed.startswith("/"):  # an ordinary message: in the channel for everyone; the bot ignores it
            self._add(Message(CHANNEL_ID, self._next_ts(), _escape(typed), []), user)
            self._changed()
            return web.json_response({"status": "posted"})
        command, _, rest = typed.partition(" ")
        if command.lower() != COMMAND:
            self._notice(user, NOT_A_COMMAND.format(command=_escape(command)))
            return web.json_response({"status": "unknown_command"})
        return web.json_response(await self.send_command(user, rest.strip()))

    async def send_command(self, user: str, text: str) -> dict[str, Any]:
        """/syncstatus `text` by `user`: the invocation shows for them, then the bot's answer (ack) replaces it."""
        body = self.fake.command_body(self.team_id, user, self._mentions(text), channel=CHANNEL_ID)
        fields = dict(parse_qsl(body.decode(), keep_blank_values=True))
        self.triggers[fields["trigger_id"]] = user
        invocation = Message(CHANNEL_ID, self._next_ts(), _escape(f"{COMMAND} {text}".strip()), [], user=user,
                             ephemeral=True)
        self._add(invocation, user)
        self._changed()
        try:
            status, answer, seconds = await self.fake.send(self.http, f"{self.bot_url}/slack/events", body,
                                                           self.signing_secret)
        except (aiohttp.ClientError, TimeoutError):
            self._notice(user, TIMED_OUT.format(command=COMMAND))
            return {"status": "timeout"}
        if status != 200:
            self._notice(user, DISPATCH_FAILED.format(command=COMMAND))
            return {"status": "failed", "http_status": status}
        if seconds > ACK_DEADLINE_S:
            self._notice(user, TIMED_OUT.format(command=COMMAND))
            return {"status": "timeout", "seconds": round(seconds, 3)}
        ack = _ack_body(answer)
        if ack is not None:  # Slack shows the ack body at once; the response_url can replace it later
            in_channel = ack.get("response_type") == "in_channel"
            message = Message(CHANNEL_ID, self._next_ts(), str(ack.get("text", "")), list(ack.get("blocks") or []),
                              user="" if in_channel else user, ephemeral=not in_channel)
            hook = self.fake.response_urls.get(fields["response_url"])
            if hook is not None and hook.message is None:
                hook.message = message
            if in_channel:
                self.fake.messages[(CHANNEL_ID, message.ts)] = message
            else:
                self.fake.ephemeral.append(message)
            self._sync_slack()
            self._changed()
        return {"status": "ok", "seconds": round(seconds, 3)}

    def _mentions(self, text: str) -> str:
        """@name as Slack sends it with should_escape: <@U…|name> (the bot resolves it with users.info)."""
        words = []
        for word in text.split(" "):
            found = self._member_named(word[1:]) if word.startswith("@") else None
            words.append(f"<@{found.slack_id}|{found.name.split()[0].lower()}>" if found else word)
        return " ".join(words)

    def _member_named(self, name: str) -> Member | None:
        name = name.lower()
        if not name:
            return None
        for m in self.members.values():
            if name in (m.name.lower().replace(" ", "."), m.name.split()[0].lower(), m.email.split("@")[0]):
                return m
        return None

    async def _slack_action(self, request: web.Request) -> web.Response:
        data = await _json(request)
        user = self.member(str(data.get("user", ""))).slack_id
        return web.json_response(await self.click(
            user, message=str(data.get("message", "")), view=str(data.get("view", "")),
            block_id=str(data.get("block_id", "")), action_id=str(data.get("action_id", "")),
            option=data.get("option") if isinstance(data.get("option"), dict) else None))

    async def click(self, user: str, *, message: str = "", view: str = "", block_id: str, action_id: str,
                    option: dict[str, Any] | None = None) -> dict[str, Any]:
        """A click on an element of a message (by entry key) or a view (by id): the block_actions payload."""
        held: Message | None = None
        shown: dict[str, Any] | None = None
        if message:
            entry = next((e for e in self.entries if e.key == message and e.visible_to(user)), None)
            if entry is None:
                raise _bad("no such message")
            held, blocks = entry.message, entry.message.blocks
        else:
            shown = self._view(user, view)
            if shown is None:
                raise _bad("no such view")
            blocks = list(shown.get("blocks") or [])
        element = _element(blocks, block_id, action_id)
        if element is None:
            raise _bad("no such element")
        body = self.fake.action_body(self.team_id, user, held, element, block_id=block_id, view=shown)
        body = _with_details(body, element, option, self.members.get(user))
        trigger = json.loads(unquote(body.decode().removeprefix("payload=")))["trigger_id"]
        self.triggers[trigger] = user
        try:
            status, _, seconds = await self.fake.send(self.http, f"{self.bot_url}/slack/events", body,
                                                      self.signing_secret)
        except (aiohttp.ClientError, TimeoutError):
            return {"status": "timeout"}
        return {"status": "ok" if status == 200 else "failed", "http_status": status, "seconds": round(seconds, 3)}

    def _view(self, user: str, view_id: str) -> dict[str, Any] | None:
        for candidate in [*self.modals.get(user, []), self.fake.views.get(user)]:
            if candidate is not None and candidate.get("id") == view_id:
                return candidate
        return None

    async def _slack_home(self, request: web.Request) -> web.Response:
        data = await _json(request)
        user = self.member(str(data.get("user", ""))).slack_id
        return web.json_response(await self.open_home(user))

    async def open_home(self, user: str) -> dict[str, Any]:
        event: dict[str, Any] = {"type": "app_home_opened", "user": user, "channel": f"D0{user[1:]}",
                                 "tab": "home", "event_ts": f"{time.time():.6f}"}
        if user in self.fake.views:
            event["view"] = self.fake.views[user]
        body = self.fake.event_body(self.team_id, event)
        try:
            status, _, _ = await self.fake.send(self.http, f"{self.bot_url}/slack/events", body,
                                                self.signing_secret, content_type="application/json")
        except (aiohttp.ClientError, TimeoutError):
            return {"status": "timeout"}
        return {"status": "ok" if status == 200 else "failed", "http_status": status}

    async def _slack_modal_close(self, request: web.Request) -> web.Response:
        data = await _json(request)
        user = self.member(str(data.get("user", ""))).slack_id
        if self.modals.get(user):
            if data.get("all"):  # a page (re)load: Slack closes every modal when the client reloads
                self.modals[user].clear()
            else:
                self.modals[user].pop()
            self._changed()
        return web.json_response({"status": "ok"})

    async def _slack_modal_submit(self, request: web.Request) -> web.Response:
        data = await _json(request)
        user = self.member(str(data.get("user", ""))).slack_id
        values = data.get("values") if isinstance(data.get("values"), dict) else {}
        assert isinstance(values, dict)
        fields = {str(k): str(v) for k, v in values.items()}
        return web.json_response(await self.submit_modal(user, str(data.get("view", "")), fields))

    async def submit_modal(self, user: str, view_id: str, values: dict[str, str]) -> dict[str, Any]:
        """The top modal's Submit: a view_submission with the inputs' values; the bot's answer closes the modal,
        names the bad fields (response_action errors), or replaces, pushes or clears views, as in Slack."""
        stack = self.modals.get(user) or []
        if not stack or stack[-1].get("id") != view_id:
            raise _bad("no such view")
        body = self.fake.view_submission_body(self.team_id, user, stack[-1], values)
        try:
            status, text, _ = await self.fake.send(self.http, f"{self.bot_url}/slack/events", body,
                                                   self.signing_secret)
        except (aiohttp.ClientError, TimeoutError):
            return {"status": "timeout"}
        if status != 200:
            return {"status": "failed", "http_status": status}
        try:
            answer = json.loads(text) if text.strip() else {}
        except ValueError:
            answer = {}
        action = answer.get("response_action") if isinstance(answer, dict) else None
        if action == "errors":
            return {"status": "errors", "errors": answer.get("errors") or {}}
        if action == "clear":
            stack.clear()
        elif action in ("update", "push") and isinstance(answer.get("view"), dict):
            shown = {**answer["view"], "id": stack[-1]["id"] if action == "update" else f"V{next(self._ts)}"}
            if action == "update":
                stack[-1] = shown
            else:
                stack.append(shown)
        elif stack:
            stack.pop()
        self._changed()
        return {"status": "ok"}

    # ------------------------------------------------------------ Teams

    def _require_teams(self) -> BotConnector:
        if self.connector is None:
            raise _bad("Teams is not part of this sandbox")
        return self.connector

    async def _watch_connector(self) -> None:
        connector = self._require_teams()
        seen = -1

        def moved(c: BotConnector) -> bool:
            return len(c.requests) != seen

        while True:
            with contextlib.suppress(TimeoutError):
                await connector.wait_for(moved, timeout_s=HEARTBEAT_S)
            if len(connector.requests) != seen:
                seen = len(connector.requests)
                self._sync_teams()
                self._changed()

    def _sync_teams(self) -> None:
        if self.connector is None:
            return
        for key in list(self.connector.messages):
            if key not in self._teams_seen:
                self._teams_seen.add(key)
                self.teams_items.append(TeamsItem(f"t{next(self._keys)}", key[0], time.time(), connector_key=key))

    async def _teams_state(self, request: web.Request) -> web.Response:
        connector = self._require_teams()
        member = self.member(request.query.get("user", ""))
        self._sync_teams()
        messages = []
        for item in self.teams_items:
            if item.conversation != member.conversation_id:
                continue
            if item.connector_key is None:
                who = self.members.get(item.author)
                messages.append({"id": item.key, "from": "user", "name": who.name if who else item.author,
                                 "time": item.at, "text": item.text, "card": None})
                continue
            activity = connector.messages.get(item.connector_key) or {}
            card = _adaptive_card(activity)
            override = self.teams_cards.get(item.connector_key)
            if override is not None and override[0] == id(activity):
                card = override[1]
            messages.append({"id": item.key, "activity_id": item.connector_key[1], "from": "bot", "name": BOT_NAME,
                             "time": item.at, "text": str(activity.get("text") or ""),
                             "summary": str(activity.get("summary") or ""), "card": card,
                             "notice": self.teams_notices.get(item.connector_key, "")})
        return web.json_response({"version": self._version, "conversation": member.conversation_id,
                                  "messages": messages})

    async def _teams_open(self, request: web.Request) -> web.Response:
        data = await _json(request)
        return web.json_response(await self.open_teams(self.member(str(data.get("user", "")))))

    async def open_teams(self, member: Member) -> dict[str, Any]:
        """The first time a member opens the bot's chat, Teams adds the bot to it (and the bot says hello)."""
        connector = self._require_teams()
        if member.slack_id in self.teams_installed:
            return {"status": "open"}
        self.teams_installed.add(member.slack_id)
        activity = bot_connector.conversation_update(connector, conversation_id=member.conversation_id,
                                                     tenant_id=self.tenant_id, kind="personal")
        activity["from"] = {"id": member.teams_id, "name": member.name, "aadObjectId": member.aad_object_id}
        activity["timestamp"] = _iso_now()
        status, _ = await self._deliver(activity)
        return {"status": "installed" if status == 200 else "failed", "http_status": status}

    async def _teams_message(self, request: web.Request) -> web.Response:
        data = await _json(request)
        member = self.member(str(data.get("user", "")))
        text = str(data.get("text", "")).strip()
        if not text:
            raise _bad("nothing was typed")
        return web.json_response(await self.send_teams(member, text))

    async def send_teams(self, member: Member, text: str) -> dict[str, Any]:
        """A message from `member` in their personal chat with the bot, delivered as Teams does."""
        connector = self._require_teams()
        activity = bot_connector.message(connector, text, conversation_id=member.conversation_id,
                                         user_id=member.teams_id, aad_object_id=member.aad_object_id,
                                         tenant_id=self.tenant_id)
        activity["from"]["name"] = member.name
        activity["timestamp"] = _iso_now()
        self.teams_items.append(TeamsItem(f"t{next(self._keys)}", member.conversation_id, time.time(),
                                          author=member.slack_id, text=text))
        self._changed()
        # The bot answers within its reply budget or posts a placeholder first; the page hears of both.
        self._spawn(self._deliver(activity))
        return {"status": "sent"}

    async def _deliver(self, activity: dict[str, Any]) -> tuple[int, Any]:
        try:
            return await bot_connector.deliver(f"{self.bot_url}/api/messages", activity, timeout_s=BOT_TIMEOUT_S)
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("the bot did not take a Teams activity: %s", type(exc).__name__)
            return 0, None

    async def _teams_invoke(self, request: web.Request) -> web.Response:
        data = await _json(request)
        member = self.member(str(data.get("user", "")))
        action: dict[str, Any] = data["data"] if isinstance(data.get("data"), dict) else {}
        return web.json_response(await self.invoke(member, str(data.get("message", "")), str(data.get("verb", "")),
                                                   action, title=str(data.get("title", ""))))

    async def _teams_submit(self, request: web.Request) -> web.Response:
        data = await _json(request)
        member = self.member(str(data.get("user", "")))
        value: dict[str, Any] = data["data"] if isinstance(data.get("data"), dict) else {}
        return web.json_response(await self.submit(member, str(data.get("message", "")), value))

    async def submit(self, member: Member, message: str, data: dict[str, Any]) -> dict[str, Any]:
        """Action.Submit: Teams sends a message activity whose value is the action's data, replying to the card."""
        connector = self._require_teams()
        item = self._teams_item(member, message)
        assert item.connector_key is not None
        activity = bot_connector.message(connector, "", conversation_id=member.conversation_id,
                                         user_id=member.teams_id, aad_object_id=member.aad_object_id,
                                         tenant_id=self.tenant_id, value=data, replyToId=item.connector_key[1])
        activity["from"]["name"] = member.name
        self._spawn(self._deliver(activity))
        return {"status": "sent"}

    def _teams_item(self, member: Member, message: str) -> TeamsItem:
        item = next((i for i in self.teams_items if i.key == message and i.connector_key is not None
                     and i.conversation == member.conversation_id), None)
        if item is None:
            raise _bad("no such message")
        return item

    async def invoke(self, member: Member, message: str, verb: str, data: dict[str, Any], *,
                     title: str = "") -> dict[str, Any]:
        """Action.Execute on a card: the adaptiveCard/action invoke; its answer replaces the card (for the clicker)."""
        connector = self._require_teams()
        item = self._teams_item(member, message)
        assert item.connector_key is not None
        activity = bot_connector.invoke(connector, data, verb=verb, reply_to_id=item.connector_key[1],
                                        conversation_id=member.conversation_id, user_id=member.teams_id,
                                        aad_object_id=member.aad_object_id, tenant_id=self.tenant_id,
                                        title=title)
        activity["from"]["name"] = member.name
        status, answer = await self._deliver(activity)
        self.teams_notices.pop(item.connector_key, None)
        kind = answer.get("type") if isinstance(answer, dict) else None
        if status == 200 and kind == "application/vnd.microsoft.card.adaptive" and isinstance(answer["value"], dict):
            current = connector.messages.get(item.connector_key)
            self.teams_cards[item.connector_key] = (id(current), answer["value"])
        elif status == 200 and isinstance(answer, dict) and isinstance(answer.get("value"), str):
            self.teams_notices[item.connector_key] = answer["value"]
        elif status != 200 or (isinstance(answer, dict) and answer.get("statusCode", 200) >= 400):
            self.teams_notices[item.connector_key] = "Something went wrong. Please try again."
        self._changed()
        return {"status": "ok" if status == 200 else "failed", "http_status": status, "type": kind}


# ---------------------------------------------------------------- helpers


def _bad(message: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=json.dumps({"error": message}), content_type="application/json")


async def _json(request: web.Request) -> dict[str, Any]:
    try:
        data = await request.json()
    except ValueError:
        raise _bad("the body is not JSON") from None
    if not isinstance(data, dict):
        raise _bad("the body is not a JSON object")
    return data


def _escape(text: str) -> str:
    """What Slack does to typed text: its three control characters become entities."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _ts_seconds(ts: str, fallback: float) -> float:
    try:
        return float(ts.split(".")[0])
    except ValueError:
        return fallback


def _iso_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())


def _ack_body(answer: str) -> dict[str, Any] | None:
    """The message in a slash command's HTTP answer: JSON, or plain text (Slack shows that too)."""
    if not answer.strip():
        return None
    try:
        body = json.loads(answer)
    except ValueError:
        return {"text": answer, "response_type": "ephemeral"}
    return body if isinstance(body, dict) and (body.get("text") or body.get("blocks")) else None


def _element(blocks: list[dict[str, Any]], block_id: str, action_id: str) -> dict[str, Any] | None:
    """The interactive element `action_id` in block `block_id` (actions elements or a section's accessory)."""
    for block in blocks:
        if block_id and block.get("block_id", "") != block_id:
            continue
        candidates = list(block.get("elements") or []) if block.get("type") == "actions" else []
        if isinstance(block.get("accessory"), dict):
            candidates.append(block["accessory"])
        for element in candidates:
            if isinstance(element, dict) and element.get("action_id") == action_id:
                return element
    return None


def _with_details(body: bytes, element: dict[str, Any], option: dict[str, Any] | None,
                  member: Member | None) -> bytes:
    """FakeSlack's payload, completed as Slack sends it: the user's name, and a select's chosen option."""
    payload = json.loads(unquote(body.decode().removeprefix("payload=")))
    if member is not None:
        payload["user"]["name"] = payload["user"]["username"] = member.name.split()[0].lower()
    action = payload["actions"][0]
    kind = str(element.get("type", "button"))
    if kind != "button":
        action["type"] = kind
        action.pop("value", None)
        action.pop("text", None)
        if kind == "overflow" or kind.endswith("_select"):
            action["selected_option"] = option or {}
        if kind.endswith("_select"):
            action["placeholder"] = element.get("placeholder")
    return ("payload=" + quote(json.dumps(payload))).encode()


def _adaptive_card(activity: dict[str, Any]) -> dict[str, Any] | None:
    for attachment in activity.get("attachments") or []:
        if isinstance(attachment, dict) and attachment.get("contentType") == "application/vnd.microsoft.card.adaptive":
            content = attachment.get("content")
            return content if isinstance(content, dict) else None
    return None


def _teams_bot() -> dict[str, Any]:
    """The bot's description and command menu, as the Teams app manifest declares them."""
    try:
        manifest = json.loads(TEAMS_MANIFEST.read_text(encoding="utf-8"))
        commands = [{"title": str(c["title"]), "description": str(c.get("description", ""))}
                    for bot in manifest.get("bots", []) for group in bot.get("commandLists", [])
                    for c in group.get("commands", [])]
        return {"description": str(manifest["description"]["short"]), "commands": commands}
    except (OSError, KeyError, TypeError, ValueError):
        log.info("the Teams manifest could not be read; the chat shows no command menu")
        return {"description": "", "commands": []}


def _command_hint() -> dict[str, str]:
    """The slash command as the app manifest declares it (description and usage hint)."""
    import yaml

    hint = {"command": COMMAND, "description": "", "usage_hint": ""}
    try:
        manifest = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))
        for command in manifest["features"]["slash_commands"]:
            if command.get("command") == COMMAND:
                hint.update(description=str(command.get("description", "")),
                            usage_hint=str(command.get("usage_hint", "")))
    except (OSError, KeyError, TypeError, ValueError, yaml.YAMLError):
        log.info("the Slack manifest could not be read; the composer shows no usage hint")
    return hint
