"""A local Bot Connector (Teams' side of the bot): records what the bot sends, serves the roster, can throttle.

It answers in the Connector REST API v3's formats (ResourceResponse, ConversationResourceResponse,
TeamsChannelAccount, ErrorResponse), so botbuilder's ConnectorClient talks to it unchanged: point an
activity's serviceUrl at `base_url`. It also plays the other direction: `deliver()` posts an activity to a
bot's /api/messages the way the Connector does.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import aiohttp
from aiohttp import web

DEMO_TENANT: Final = "0d0d0d0d-0000-4000-8000-000000000000"
BOT_ID: Final = "28:00000000-0000-4000-8000-00000000b07"


@dataclass(frozen=True, slots=True)
class Recorded:
    """One request the bot made."""

    method: str
    path: str
    operation: str  # send, reply, update, create_conversation, get_member
    conversation_id: str = ""
    activity_id: str = ""
    body: Any = None
    authorization: str = ""
    status: int = 200
    at: float = 0.0  # time.monotonic() when it arrived


@dataclass(slots=True)
class Fault:
    """Answer the next `count` matching requests with `status` (429 carries Retry-After)."""

    status: int
    count: int = 1
    operation: str = ""  # "" matches every operation
    retry_after: float | None = None


@dataclass
class BotConnector:
    """The fake's state: members per tenant, the messages posted, faults to inject."""

    members: dict[str, dict[str, Any]] = field(default_factory=dict)  # member id / aad id / upn -> account
    requests: list[Recorded] = field(default_factory=list)
    messages: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)  # (conversation, id) -> activity
    faults: list[Fault] = field(default_factory=list)
    base_url: str = ""
    _ids: Any = field(default_factory=lambda: itertools.count(int(time.time() * 1000)))
    _changed: asyncio.Condition | None = None
    _runner: web.AppRunner | None = None

    # ------------------------------------------------------------ set-up

    def add_member(self, member_id: str, *, name: str, email: str, aad_object_id: str = "",
                   tenant_id: str = DEMO_TENANT, user_role: str = "user", upn: str = "") -> dict[str, Any]:
        """A roster entry, as GET /v3/conversations/{id}/members/{userId} returns it (TeamsChannelAccount)."""
        given, _, surname = name.partition(" ")
        account = {"id": member_id, "name": name, "aadObjectId": aad_object_id or str(uuid.uuid4()),
                   "givenName": given, "surname": surname, "email": email,
                   "userPrincipalName": upn or email, "tenantId": tenant_id, "userRole": user_role}
        for key in (member_id, account["aadObjectId"], account["userPrincipalName"]):
            self.members[key.lower()] = account
        return account

    def fail(self, status: int, *, count: int = 1, operation: str = "", retry_after: float | None = None) -> None:
        self.faults.append(Fault(status, count, operation, retry_after))

    def sent(self, operation: str | None = None) -> list[Recorded]:
        """Successful requests, optionally of one operation."""
        return [r for r in self.requests if r.status < 300 and (operation is None or r.operation == operation)]

    async def wait_for(self, check: Callable[[BotConnector], bool], timeout_s: float = 10.0) -> None:
        """Until `check(self)` holds (raises TimeoutError otherwise)."""
        assert self._changed is not None, "start() the connector first"
        async with asyncio.timeout(timeout_s):
            async with self._changed:
                await self._changed.wait_for(lambda: check(self))

    # ------------------------------------------------------------ serving

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> BotConnector:
        self._changed = asyncio.Condition()
        app = web.Application()
        app.router.add_post("/v3/conversations", self._create_conversation)
        app.router.add_post("/v3/conversations/{conversation}/activities", self._send)
        app.router.add_post("/v3/conversations/{conversation}/activities/{activity}", self._reply)
        app.router.add_put("/v3/conversations/{conversation}/activities/{activity}", self._update)
        app.router.add_get("/v3/conversations/{conversation}/members/{member}", self._member)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound = self._runner.addresses[0]
        self.base_url = f"http://{host}:{bound[1]}/"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def host(self) -> str:
        """`host:port`, as CHATOPS_TEAMS_SERVICE_URL_HOSTS takes it."""
        return self.base_url.removeprefix("http://").rstrip("/")

    async def _record(self, request: web.Request, operation: str, status: int, body: Any = None) -> None:
        self.requests.append(Recorded(
            method=request.method, path=request.path, operation=operation,
            conversation_id=request.match_info.get("conversation", ""),
            activity_id=request.match_info.get("activity", ""), body=body,
            authorization=request.headers.get("Authorization", ""), status=status, at=time.monotonic()))
        assert self._changed is not None
        async with self._changed:
            self._changed.notify_all()

    def _fault(self, operation: str) -> Fault | None:
        for fault in self.faults:
            if fault.count > 0 and fault.operation in ("", operation):
                fault.count -= 1
                return fault
        return None

    async def _answer(self, request: web.Request, operation: str) -> tuple[Any, web.Response | None]:
        """The JSON body, or the response to give instead (a fault or a malformed body)."""
        body: Any = None
        if request.method in ("POST", "PUT"):
            try:
                body = json.loads(await request.read())
            except ValueError:
                await self._record(request, operation, 400)
                return None, _error(400, "BadArgument", "The body is not JSON")
        fault = self._fault(operation)
        if fault is not None:
            await self._record(request, operation, fault.status, body)
            headers = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after is not None else None
            codes = {429: "TooManyRequests", 403: "Forbidden", 404: "NotFound", 412: "PreconditionFailed"}
            return body, _error(fault.status, codes.get(fault.status, "ServiceError"),
                                f"injected {fault.status}", headers=headers,
                                sub_code="MessageWritesBlocked" if fault.status == 403 else "")
        return body, None

    def _new_id(self) -> str:
        return str(next(self._ids))

    async def _send(self, request: web.Request) -> web.Response:
        return await self._post(request, "send")

    async def _reply(self, request: web.Request) -> web.Response:
        return await self._post(request, "reply")

    async def _post(self, request: web.Request, operation: str) -> web.Response:
        body, refused = await self._answer(request, operation)
        if refused is not None:
            return refused
        if not isinstance(body, dict) or not isinstance(body.get("type"), str):
            await self._record(request, operation, 400, body)
            return _error(400, "BadArgument", "The activity has no type")
        activity_id = self._new_id()
        conversation = request.match_info["conversation"]
        self.messages[(conversation.split(";messageid=")[0], activity_id)] = body
        await self._record(request, operation, 201, body)
        return web.json_response({"id": activity_id}, status=201)

    async def _update(self, request: web.Request) -> web.Response:
        body, refused = await self._answer(request, "update")
        if refused is not None:
            return refused
        key = (request.match_info["conversation"].split(";messageid=")[0], request.match_info["activity"])
        if key not in self.messages:
            await self._record(request, "update", 404, body)
            return _error(404, "ActivityNotFoundInConversation", "Unknown activity")
        if not isinstance(body, dict):
            await self._record(request, "update", 400, body)
            return _error(400, "BadArgument", "The activity is not an object")
        self.messages[key] = body
        await self._record(request, "update", 200, body)
        return web.json_response({"id": key[1]})

    async def _create_conversation(self, request: web.Request) -> web.Response:
        body, refused = await self._answer(request, "create_conversation")
        if refused is not None:
            return refused
        conversation = "a:" + uuid.uuid4().hex
        answer: dict[str, Any] = {"id": conversation}
        if isinstance(body, dict) and isinstance(body.get("activity"), dict):
            activity_id = self._new_id()
            self.messages[(conversation, activity_id)] = body["activity"]
            answer["activityId"] = activity_id
        await self._record(request, "create_conversation", 201, body)
        return web.json_response(answer, status=201)

    async def _member(self, request: web.Request) -> web.Response:
        _, refused = await self._answer(request, "get_member")
        if refused is not None:
            return refused
        found = self.members.get(request.match_info["member"].lower())
        if found is None:
            await self._record(request, "get_member", 404)
            return _error(404, "MemberNotFoundInConversation", "The member is not in this conversation")
        await self._record(request, "get_member", 200)
        return web.json_response(found)


def _error(status: int, code: str, message: str, *, headers: Mapping[str, str] | None = None,
           sub_code: str = "") -> web.Response:
    error: dict[str, Any] = {"code": code, "message": message}
    if sub_code:
        error["innerHttpError"] = {"statusCode": status, "body": {"subCode": sub_code}}
    return web.json_response({"error": error}, status=status, headers=headers)


# ---------------------------------------------------------------- the other direction: Teams -> bot


def message(connector: BotConnector, text: str, *, conversation_id: str = "a:demo-personal",
            user_id: str = "29:demo-user", aad_object_id: str = "", tenant_id: str = DEMO_TENANT,
            kind: str = "personal", mention_bot: bool = False, **extra: Any) -> dict[str, Any]:
    """A Teams message activity (the docs' personal-chat shape, or a channel message with the bot's mention)."""
    body = _base(connector, "message", conversation_id, user_id, aad_object_id, tenant_id, kind)
    body.update({"text": text, "textFormat": "plain", "locale": "en-US"})
    if mention_bot:
        body["text"] = f"<at>chatops</at> {text}"
        body["entities"] = [{"type": "mention", "text": "<at>chatops</at>",
                             "mentioned": {"id": BOT_ID, "name": "chatops"}}]
    body.update(extra)
    return body


def invoke(connector: BotConnector, data: Mapping[str, Any], *, verb: str, reply_to_id: str,
           conversation_id: str = "a:demo-personal", user_id: str = "29:demo-user", aad_object_id: str = "",
           tenant_id: str = DEMO_TENANT, kind: str = "personal", title: str = "") -> dict[str, Any]:
    """An adaptiveCard/action invoke, as Teams sends it when Action.Execute is clicked."""
    body = _base(connector, "invoke", conversation_id, user_id, aad_object_id, tenant_id, kind)
    body.update({"name": "adaptiveCard/action", "replyToId": reply_to_id,
                 "value": {"action": {"type": "Action.Execute", "title": title or verb, "verb": verb,
                                      "data": dict(data)}, "trigger": "manual"}})
    return body


def conversation_update(connector: BotConnector, *, conversation_id: str, tenant_id: str = DEMO_TENANT,
                        kind: str = "channel", team_id: str = "", channel_name: str = "General",
                        added: bool = True) -> dict[str, Any]:
    """The bot added to (or removed from) a team, a group chat or a personal chat."""
    body = _base(connector, "conversationUpdate", conversation_id, "29:installer", "", tenant_id, kind)
    body["membersAdded" if added else "membersRemoved"] = [{"id": BOT_ID}]
    if team_id:
        body["channelData"].update({"team": {"id": team_id, "name": "Sales Ops"},
                                    "channel": {"id": conversation_id, "name": channel_name},
                                    "eventType": "teamMemberAdded" if added else "teamMemberRemoved"})
    return body


def _base(connector: BotConnector, kind_of_activity: str, conversation_id: str, user_id: str,
          aad_object_id: str, tenant_id: str, kind: str) -> dict[str, Any]:
    conversation: dict[str, Any] = {"id": conversation_id, "conversationType": kind, "tenantId": tenant_id}
    if kind != "personal":
        conversation["isGroup"] = True
    sender: dict[str, Any] = {"id": user_id, "name": "Demo User"}
    if aad_object_id:
        sender["aadObjectId"] = aad_object_id
    return {"type": kind_of_activity, "id": f"f:{uuid.uuid4()}", "timestamp": "2026-11-28T12:00:00.000Z",
            "serviceUrl": connector.base_url, "channelId": "msteams", "from": sender,
            "recipient": {"id": BOT_ID, "name": "chatops"}, "conversation": conversation,
            "channelData": {"tenant": {"id": tenant_id}}}


async def deliver(bot_url: str, activity: Mapping[str, Any] | str | bytes, *, token: str = "",
                  timeout_s: float = 30.0) -> tuple[int, Any]:
    """POST an activity to the bot as the Connector does; (status, JSON body or text)."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = activity if isinstance(activity, str | bytes) else json.dumps(activity)
    async with (aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout_s)) as session,
                session.post(bot_url, data=data, headers=headers) as response):
        text = await response.text()
        try:
            return response.status, json.loads(text) if text else None
        except ValueError:
            return response.status, text
