"""Reconnect: signed start links, PKCE with a single-use state, and what happens after the provider's callback.

1. A card's Reconnect button carries `{public_url}/connect/<token>`. The token (itsdangerous, signed with keys
   derived from the encryption keys) binds workspace, chat platform, chat user, connection and grant role,
   and expires (15 minutes by default). `Links.url` makes it; cards call it as their LinkMaker.
2. `GET /connect/<token>` runs `Reconnect.start`: the link is checked (signature, expiry, not used yet, the
   connection still in that workspace, its chat user still allowed to act on it); a `state` and a PKCE
   verifier (S256) are made and kept in the database, the verifier encrypted, for 10 minutes, bound to the
   browser by a cookie; the browser goes to the provider's consent page.
3. `GET /oauth/callback/<provider>` runs `Reconnect.callback`: the state is consumed exactly once, the code
   redeemed with the verifier, the consenting account compared with the connection's, the grant stored in
   one transaction (the old refresh token is gone), the connection diagnosed again, and every card carrying
   the link updated in place through its chat platform's ChatSink. The browser gets a short page.

Any refusal is a `Page` that says what happened and what to do next, and nothing is stored.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from itsdangerous import BadData, URLSafeSerializer

from chatops.addresses import InvalidAddress, canonical
from chatops.cards import STATUS_WORDS, Button, Buttons, Card, Header, Line, report_card
from chatops.chat import APP_HOME, ActionRequest, ChatUser, MessageRef, Reply
from chatops.commands.status import owns
from chatops.errors import AuthError, BadResponse, ChatopsError, NotFound, ProviderError, Unavailable
from chatops.findings import ActionKind, Status
from chatops.model import Connection, Grant, GrantRole, Keeper, Provider
from chatops.ports import Clock, ConsentApi, ConsentRequest, TokenSet
from chatops.report import Report
from chatops.store.crypto import UndecryptableGrant
from chatops.store.reconnect_states import CardMessage, PendingState, digest

if TYPE_CHECKING:
    from chatops.core import Chatops

log = logging.getLogger(__name__)

DEFAULT_LINK_TTL: Final = timedelta(minutes=15)
DEFAULT_STATE_TTL: Final = timedelta(minutes=10)  # RFC 9700 leaves it to us; short, as the research notes
CONNECT_PATH: Final = "/connect/"
CALLBACK_PATH: Final = "/oauth/callback/"
LINK_SALT: Final = "chatops.reconnect.link"
KEY_PURPOSE: Final = "chatops reconnect links"
_BROWSER: Final = re.compile(r"^[A-Za-z0-9_-]{32,128}$")
_ROLE_WORDS: Final = {GrantRole.MAIL: "mail", GrantRole.CALENDAR: "calendar", GrantRole.CRM: "CRM"}
_MAX_DETAIL: Final = 200


class BadLink(ChatopsError):
    """A start link that is not ours, was changed, or is cut short."""


class ExpiredLink(BadLink):
    """A genuine start link past its expiry."""


@dataclass(frozen=True, slots=True)
class LinkClaims:
    """What a start link binds: who may use it, for which grant, until when."""

    workspace_id: str
    platform: str
    user_id: str
    connection_id: str
    role: GrantRole
    link_id: str
    expires_at: datetime
    admin: bool = False  # the viewer was a chat admin when the card was made


@dataclass(frozen=True, slots=True)
class Page:
    """What the browser is shown: a title, a few plain lines (escaped by the web edge) and an HTTP status."""

    title: str
    lines: tuple[str, ...] = ()
    status: int = 200
    ok: bool = False


@dataclass(frozen=True, slots=True)
class Redirect:
    """Send the browser to the provider's consent page, holding `browser` in a cookie until the callback."""

    url: str
    browser: str


# ---------------------------------------------------------------- PKCE (RFC 7636)


def code_verifier() -> str:
    """86 characters of the unreserved alphabet from 64 random bytes (RFC 7636 §4.1 asks for 43 to 128)."""
    return secrets.token_urlsafe(64)


def code_challenge(verifier: str) -> str:
    """BASE64URL(SHA256(verifier)) without padding: the S256 method (RFC 7636 §4.2)."""
    hashed = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(hashed).rstrip(b"=").decode("ascii")


# ---------------------------------------------------------------- signed start links


class Links:
    """Makes and opens Reconnect start links; `url` is the LinkMaker cards call."""

    def __init__(self, keys: Sequence[bytes], public_url: str, clock: Clock, *,
                 ttl: timedelta = DEFAULT_LINK_TTL) -> None:
        if not keys:
            raise ValueError("Links needs at least one signing key")
        self._serializer = URLSafeSerializer(list(keys), salt=LINK_SALT,
                                             signer_kwargs={"digest_method": hashlib.sha256})
        self._base = public_url.rstrip("/")
        self._clock = clock
        self.ttl = ttl

    @property
    def prefix(self) -> str:
        return f"{self._base}{CONNECT_PATH}"

    def url(self, connection: Connection, target: str, viewer: ChatUser | None) -> str:
        """The start link for `target` ("<connection id>:<role>") bound to the card's viewer; "" without one."""
        connection_id, _, role = target.partition(":")
        if viewer is None or not viewer.user_id or connection_id != connection.id or not connection.workspace_id:
            return ""
        try:
            grant_role = GrantRole(role)
        except ValueError:
            return ""
        return self.prefix + self.token(LinkClaims(
            workspace_id=connection.workspace_id, platform=viewer.platform, user_id=viewer.user_id,
            connection_id=connection.id, role=grant_role, link_id=secrets.token_urlsafe(12),
            expires_at=self._clock.now() + self.ttl, admin=viewer.is_admin))

    def token(self, claims: LinkClaims) -> str:
        data: dict[str, Any] = {"w": claims.workspace_id, "p": claims.platform, "u": claims.user_id,
                                "c": claims.connection_id, "r": claims.role.value, "l": claims.link_id,
                                "e": int(claims.expires_at.timestamp())}
        if claims.admin:
            data["a"] = 1
        return self._serializer.dumps(data)

    def token_in(self, url: str) -> str:
        """The token of one of our start links, or ""."""
        if not url.startswith(self.prefix):
            return ""
        token = url[len(self.prefix):]
        return token if token and "/" not in token and "?" not in token else ""

    def open(self, token: str, *, allow_expired: bool = False) -> LinkClaims:
        """The claims of a genuine link; raises BadLink, or ExpiredLink once it is past its time."""
        try:
            data = self._serializer.loads(token)
        except (BadData, UnicodeError, ValueError):
            raise BadLink("this Reconnect link is not one of ours, or it was changed or cut short") from None
        try:
            claims = LinkClaims(
                workspace_id=_text(data, "w"), platform=_text(data, "p"), user_id=_text(data, "u"),
                connection_id=_text(data, "c"), role=GrantRole(_text(data, "r")), link_id=_text(data, "l"),
                expires_at=datetime.fromtimestamp(int(data["e"]), UTC), admin=data.get("a") == 1)
        except (KeyError, TypeError, ValueError, OverflowError):
            raise BadLink("this Reconnect link is incomplete") from None
        if not allow_expired and claims.expires_at <= self._clock.now():
            raise ExpiredLink("this Reconnect link has expired")
        return claims


def _text(data: Any, key: str) -> str:
    value = data[key]
    if not isinstance(value, str) or not value:
        raise ValueError(key)
    return value


# ---------------------------------------------------------------- the flow


def provider_for(connection: Connection, role: GrantRole, grant: Grant | None) -> Provider | None:
    """Which provider a grant of this role is with: the stored grant's, else the connection's."""
    if grant is not None:
        return grant.provider
    if role is GrantRole.CRM:
        return connection.crm
    if role is GrantRole.CALENDAR:
        return connection.calendar_provider or connection.mailbox_provider
    return connection.mailbox_provider


def served_roles(connection: Connection, role: GrantRole) -> tuple[GrantRole, ...]:
    """The roles a grant of `role` serves: a mail grant also serves its own calendar when there is no
    separate calendar grant (the calendar checks fall back to it), so its consent covers both."""
    if (role is GrantRole.MAIL and connection.calendar_provider is connection.mailbox_provider
            and connection.grant(GrantRole.CALENDAR) is None):
        return (GrantRole.MAIL, GrantRole.CALENDAR)
    return (role,)


def expected_accounts(connection: Connection, role: GrantRole, grant: Grant | None) -> tuple[str, ...]:
    """Who must consent: the connection's CRM user for the CRM grant, its mailbox for mail and calendar.

    A stored CRM grant's account is accepted too: Salesforce users sign in with a username that need not
    be their email.
    """
    if role is GrantRole.CRM:
        names = [connection.crm_user_email, grant.account if grant is not None else ""]
    else:
        names = [connection.mailbox_email]
    return tuple(dict.fromkeys(n.strip() for n in names if n.strip()))


def same_account(a: str, b: str) -> bool:
    """Two names of one account: equal once lowercased, or the same mailbox (googlemail.com, plus tags)."""
    if a.strip().lower() == b.strip().lower():
        return True
    try:
        return canonical(a) == canonical(b)
    except InvalidAddress:
        return False


class Reconnect:
    """The Reconnect flow over the store, the providers' consent APIs and the chat platforms' sinks."""

    def __init__(self, core: Chatops, consent: Mapping[Provider, ConsentApi], links: Links, *, public_url: str,
                 clock: Clock, state_ttl: timedelta = DEFAULT_STATE_TTL) -> None:
        self._core = core
        self._consent = consent
        self.links = links
        self._base = public_url.rstrip("/")
        self._clock = clock
        self.state_ttl = state_ttl

    def redirect_uri(self, provider: Provider) -> str:
        """The callback the provider sends the browser back to (registered exactly so with the provider)."""
        return f"{self._base}{CALLBACK_PATH}{provider.value}"

    async def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(fn, *args, **kwargs)

    # ------------------------------------------------------------ GET /connect/<token>

    async def start(self, token: str, browser: str = "") -> Page | Redirect:
        """Check the start link and send the browser to the provider, or say why not."""
        minutes = int(self.links.ttl.total_seconds() // 60)
        try:
            claims = self.links.open(token)
        except ExpiredLink:
            return Page("This Reconnect link has expired", (
                f"Reconnect links work for {minutes} minutes after the card is shown.",
                "Go back to chat, press Retest on the card for a fresh one, then press Reconnect."), 410)
        except BadLink:
            return Page("This Reconnect link is not valid", (
                "It may have been copied incompletely or changed on the way.",
                "Go back to chat and press Reconnect on your status card again."), 400)
        store = self._core.store
        done = await self._call(store.reconnect.completed, claims.link_id)
        if done is not None:
            return _used_link(done)
        checked = await self._checked(claims)
        if isinstance(checked, Page):
            return checked
        connection, grant, provider, consent = checked
        verifier = code_verifier()
        state = secrets.token_urlsafe(32)
        browser = browser if _BROWSER.match(browser or "") else secrets.token_urlsafe(32)
        now = self._clock.now()
        await self._call(store.reconnect.issue, PendingState(
            state_hash=digest(state), link_id=claims.link_id, workspace_id=claims.workspace_id,
            platform=claims.platform, chat_user_id=claims.user_id, connection_id=connection.id, role=claims.role,
            provider=provider, code_verifier=verifier, browser_hash=digest(browser), created_at=now,
            expires_at=now + self.state_ttl))
        expected = expected_accounts(connection, claims.role, grant)
        url = consent.authorize_url(ConsentRequest(
            roles=served_roles(connection, claims.role), state=state, code_challenge=code_challenge(verifier),
            redirect_uri=self.redirect_uri(provider), login_hint=expected[0] if expected else "",
            instance_url=grant.instance_url if grant is not None else ""))
        log.info("reconnect started", extra={"workspace": claims.workspace_id, "connection": connection.id,
                                             "role": claims.role.value, "provider": provider.value})
        return Redirect(url, browser)

    async def _checked(self, claims: LinkClaims
                       ) -> Page | tuple[Connection, Grant | None, Provider, ConsentApi]:
        """The connection, its grant, provider and consent API for a genuine link, or the Page refusing it."""
        store = self._core.store
        try:
            connection = await self._call(store.get_connection, claims.workspace_id, claims.connection_id)
        except NotFound:
            connection = None
        if connection is None or connection.id != claims.connection_id:
            return Page("That connection is not in this workspace", (
                "It may have been removed, or the link belongs to another chat workspace.",
                "Nothing was changed. Run /syncstatus in chat for a fresh card."), 404)
        member = await self._call(store.member, claims.workspace_id, claims.user_id)
        allowed = claims.admin or (member is not None and (member.is_admin or owns(member.email, connection)))
        if not allowed:
            return Page("This link can't change that connection", (
                "A Reconnect link works only for the person the card was made for, and only for their own "
                "connections (admins may reconnect any).",
                "Nothing was changed. Run /syncstatus in chat to get a card of your own."), 403)
        grant = connection.grant(claims.role)
        provider = provider_for(connection, claims.role, grant)
        crm = connection.crm.label
        if grant is not None and grant.keeper is Keeper.CRM:
            return Page(f"Reconnect this in {crm}", (
                f"{crm} keeps the tokens of this {_ROLE_WORDS[claims.role]} connection itself, so chatops can't "
                "renew them.",
                f"Use the card's “Reconnect in {crm}” button and reconnect the mailbox there, then press Retest."),
                409)
        consent = self._consent.get(provider) if provider is not None else None
        if provider is None or consent is None:
            label = provider.label if provider is not None else "this account"
            return Page(f"Reconnect isn't available for {label}", (
                f"chatops has no OAuth app for {label} configured, so it can't ask for a new sign-in.",
                "Ask your chatops admin to set the provider's client id and secret, or reconnect the account "
                "in the sync tool itself."), 400)
        return connection, grant, provider, consent

    # ------------------------------------------------------------ GET /oauth/callback/<provider>

    async def callback(self, provider_name: str, params: Mapping[str, str], browser: str = "") -> Page:
        """Finish a consent; every way it can go wrong is a Page, and then nothing is stored."""
        state = params.get("state", "")
        if not state:
            return Page("This sign-in answer is incomplete", (
                "It came back without the state that ties it to a Reconnect.",
                "Open the Reconnect link from your status card in chat again."), 400)
        store = self._core.store
        try:
            pending = await self._call(store.reconnect.find, digest(state))
        except UndecryptableGrant:
            pending = None  # its key was retired meanwhile: as good as unknown
        if pending is None or pending.provider.value != provider_name:
            return Page("This sign-in answer doesn't match a Reconnect we started", (
                "Each sign-in works once, from the Reconnect link in chat, within "
                f"{int(self.state_ttl.total_seconds() // 60)} minutes.",
                "Open the Reconnect link from your status card again."), 400)
        now = self._clock.now()
        if pending.used_at is not None:
            return Page("This sign-in answer was already used", (
                "A sign-in answer works once. If the reconnect did not finish, open the Reconnect link again.",), 409)
        if pending.expires_at < now:
            return Page("This sign-in took too long", (
                f"It has to finish within {int(self.state_ttl.total_seconds() // 60)} minutes of opening the "
                "Reconnect link, so nothing was changed.",
                "Open the Reconnect link from your status card again."), 410)
        if not browser or not secrets.compare_digest(digest(browser), pending.browser_hash):
            return Page("This sign-in was started in another browser", (
                "For your safety a sign-in has to finish in the browser that opened the Reconnect link, so "
                "nothing was changed.",
                "Open the Reconnect link again in this browser."), 400)
        if not await self._call(store.reconnect.claim, pending.state_hash, now):
            return Page("This sign-in answer was already used", (
                "A sign-in answer works once. If the reconnect did not finish, open the Reconnect link again.",), 409)
        label = pending.provider.label
        error = params.get("error", "")
        if error == "access_denied":
            return Page("You declined access", (
                f"{label} was not reconnected and nothing was changed.",
                "To reconnect, open the Reconnect link from chat again and choose Allow."), 403)
        if error:
            said = _short(f"{error}: {params.get('error_description', '')}".strip(": "))
            return Page(f"{label} refused the sign-in", (
                f"{label} answered: {said}",
                "Nothing was changed. Try the Reconnect link again; if it keeps failing, ask your chatops admin "
                f"to check the {label} app registration."), 400)
        code = params.get("code", "")
        if not code:
            return Page("This sign-in answer is incomplete", (
                f"{label} sent no authorization code, so nothing was changed.",
                "Open the Reconnect link from your status card again."), 400)
        return await self._finish(pending, code)

    async def _finish(self, pending: PendingState, code: str) -> Page:
        store = self._core.store
        label = pending.provider.label
        try:
            connection = await self._call(store.get_connection, pending.workspace_id, pending.connection_id)
        except NotFound:
            return Page("That connection is not in this workspace anymore", (
                "It was removed while you were signing in. Nothing was changed.",), 404)
        grant = connection.grant(pending.role)
        consent_api = self._consent.get(pending.provider)
        if consent_api is None:
            return Page(f"Reconnect isn't available for {label}", (
                f"chatops has no OAuth app for {label} configured.",), 400)
        try:
            consent = await consent_api.exchange_code(
                served_roles(connection, pending.role), code=code, code_verifier=pending.code_verifier,
                redirect_uri=self.redirect_uri(pending.provider),
                instance_url=grant.instance_url if grant is not None else "")
        except ProviderError as exc:
            log.warning("reconnect code exchange failed: %s", exc.evidence,
                        extra={"workspace": pending.workspace_id, "connection": pending.connection_id,
                               "provider": pending.provider.value})
            return _exchange_failed(label, exc)
        expected = expected_accounts(connection, pending.role, grant)
        who = next((a for a in consent.accounts if a), "an unknown account")
        if not any(same_account(a, e) for a in consent.accounts if a for e in expected):
            side = "CRM user" if pending.role is GrantRole.CRM else "mailbox"
            wanted = expected[0] if expected else "the connection's account"
            log.info("reconnect refused: consent by another account",
                     extra={"workspace": pending.workspace_id, "connection": connection.id})
            revoked = await self._discard(consent_api, pending, consent.tokens, who)
            return Page(f"You signed in as {who}, not {wanted}", (
                f"This connection's {side} is {wanted}, so the sign-in has to be with that account. "
                "Nothing was changed.", revoked,
                f"Open the Reconnect link again and choose {wanted} (use “another account” on the sign-in page "
                "if your browser remembers a different one)."), 403)
        tokens = consent.tokens
        if not tokens.refresh_token:
            return Page(f"{label} gave no lasting access", (
                f"{label} answered without a refresh token, so the sync would stop again within the hour. "
                "Nothing was changed.",
                f"Open the Reconnect link again; if this repeats, remove chatops' access in your {label} account "
                "settings first, then reconnect."), 502)
        keep_until = self._clock.now() + self.links.ttl + self.state_ttl  # past any use of the link
        account = expected[0] if expected else who
        try:
            stored = await self._call(store.reconnect.save_grant, pending, tokens, account=account,
                                      now=self._clock.now(), link_expires_at=keep_until)
        except NotFound:
            return Page("That connection is not in this workspace anymore", (
                "It was removed while you were signing in. Nothing was changed.",), 404)
        if stored is None:
            return _used_link(self._clock.now())
        log.info("reconnect stored a fresh grant", extra={"workspace": pending.workspace_id,
                                                          "connection": connection.id, "grant": stored.id})
        return await self._after(pending, connection, stored)

    async def _discard(self, consent_api: ConsentApi, pending: PendingState, tokens: TokenSet, who: str) -> str:
        """Revoke tokens we will not keep at the provider; the landing page's line saying how that went.

        A failure is logged (never with a token) and said on the page; it never turns the page into an error.
        """
        label = pending.provider.label
        where = {"workspace": pending.workspace_id, "connection": pending.connection_id,
                 "provider": pending.provider.value}
        yourself = f"{who} can remove chatops' access in that account's settings (connected apps)"
        try:
            revoked = await consent_api.revoke(tokens)
        except ProviderError as exc:
            log.warning("revoking the tokens of a refused consent failed: %s", exc.evidence, extra=where)
            return (f"The access {who} gave was not stored, but {label} did not confirm its revocation "
                    f"({_short(exc.evidence)}); {yourself}.")
        except Exception as exc:  # whatever went wrong, the page still says what happened
            log.warning("revoking the tokens of a refused consent failed: %s", type(exc).__name__, extra=where)
            return f"The access {who} gave was not stored, but revoking it at {label} failed; {yourself}."
        if not revoked:
            log.info("the tokens of a refused consent were discarded: %s has no revocation endpoint", label,
                     extra=where)
            return (f"The access {who} gave was discarded without being stored; {label} offers apps no way to "
                    f"revoke a single sign-in, so {yourself}.")
        log.info("the tokens of a refused consent were revoked at the provider", extra=where)
        return f"The access {who} gave was revoked at {label}."

    async def _after(self, pending: PendingState, connection: Connection, grant: Grant) -> Page:
        """Diagnose the connection again, update the cards that carry the link, and say how it went."""
        store = self._core.store
        label = f"{grant.provider.label} {_ROLE_WORDS[grant.role]} access for {grant.account}"
        lines = [f"{label} is stored again (encrypted); the old sign-in is gone."]
        status: Status | None = None
        try:
            fresh = await self._call(store.get_connection, pending.workspace_id, connection.id)
            report = await self._core.diagnose(pending.workspace_id, [fresh])
            part = report.connections[0]
            status = part.status
            lines.append(f"New status of {connection.name}: {STATUS_WORDS[part.status]}.")
            lines.extend(f.summary for f in part.problems[:3])
        except ChatopsError as exc:
            log.warning("diagnosis after reconnect failed: %s", exc, extra={"workspace": pending.workspace_id})
            lines.append("The new status will show the next time you press Retest.")
        updated = await self._update_cards(pending)
        if updated:
            lines.append("The card in chat was updated." if updated == 1 else f"{updated} cards in chat were updated.")
        lines.append("You can close this tab.")
        title = f"{grant.provider.label} reconnected"
        return Page(title if status in (Status.OK, None) else f"{title}; something else needs attention",
                    tuple(lines), 200, ok=True)

    async def _viewer(self, pending: PendingState) -> ChatUser:
        member = await self._call(self._core.store.member, pending.workspace_id, pending.chat_user_id)
        return ChatUser(pending.platform, pending.chat_user_id, email=member.email if member else "",
                        name=member.name if member else "", is_admin=bool(member and member.is_admin))

    async def _update_cards(self, pending: PendingState) -> int:
        """Replace every card that carries this link with one built from the newest results; how many."""
        store = self._core.store
        try:
            messages = await self._call(store.reconnect.messages, pending.link_id, pending.workspace_id)
        except (ChatopsError, UndecryptableGrant) as exc:
            log.warning("cannot read the cards to update: %s", exc, extra={"workspace": pending.workspace_id})
            return 0
        if not messages:
            return 0
        viewer = await self._viewer(pending)
        connections = {c.id: c for c in await self._call(store.list_connections, pending.workspace_id)}
        updated = 0
        for message in messages:
            if (message.channel_id, message.message_id) == (APP_HOME.channel_id, APP_HOME.message_id):
                updated += await self._republish_home(pending.workspace_id, message.platform, viewer)
                continue
            sink = self._core.sinks.get(message.platform)
            shown = [connections[i] for i in (message.shown or (pending.connection_id,)) if i in connections]
            if sink is None or not shown:
                continue
            findings = []
            for c in shown:
                findings.extend(await self._call(store.latest_findings, pending.workspace_id, c.id))
            now = self._clock.now()
            report = Report.build(shown, findings, now, now)
            card = report_card(report, link=self._core.link, viewer=viewer)
            reply = Reply(summary_text(report), card=card, replace_original=True)
            ref = MessageRef(message.channel_id, message.message_id, message.response_url)
            try:
                if await sink.update(pending.workspace_id, ref, reply):
                    updated += 1
                    await self.remember_card(pending.workspace_id, message.platform, card, ref, shown=message.shown)
            except Exception:  # a chat platform's failure must not turn a stored reconnect into an error page
                log.exception("updating a card after reconnect failed", extra={"workspace": pending.workspace_id})
        return updated

    async def _republish_home(self, workspace_id: str, platform: str, viewer: ChatUser) -> int:
        """The link was pressed on the member's App Home: publish the tab again, with the new results."""
        publish = self._core.home_publishers.get(platform)
        try:
            return 1 if publish is not None and await publish(workspace_id, viewer) else 0
        except Exception:  # as for cards: the reconnect is stored whatever the chat platform says
            log.exception("republishing App Home after reconnect failed", extra={"workspace": workspace_id})
            return 0

    # ------------------------------------------------------------ where the cards are

    async def remember_card(self, workspace_id: str, platform: str, card: Card | None, message: MessageRef,
                            *, shown: Sequence[str] = ()) -> int:
        """Note where a card with Reconnect links was posted, so a finished reconnect can update it."""
        if card is None:
            return 0
        links = [b.url for block in (*card.blocks, *card.details) if isinstance(block, Buttons)
                 for b in block.buttons if b.kind is ActionKind.RECONNECT and b.url]
        shown = tuple(shown) or connections_in(card)
        remembered = 0
        for url in links:
            remembered += await self._remember(workspace_id, platform, url, message, shown)
        return remembered

    async def _remember(self, workspace_id: str, platform: str, url: str, message: MessageRef,
                        shown: Sequence[str]) -> int:
        token = self.links.token_in(url)
        if not token:
            return 0
        try:
            claims = self.links.open(token, allow_expired=True)
        except BadLink:
            return 0
        if claims.workspace_id != workspace_id or claims.platform != platform:
            return 0
        await self._call(self._core.store.reconnect.remember_message, claims.link_id, workspace_id, CardMessage(
            platform=platform, channel_id=message.channel_id, message_id=message.message_id,
            response_url=message.response_url, shown=tuple(shown)),
            now=self._clock.now(), expires_at=claims.expires_at + self.state_ttl)
        return 1

    async def clicked(self, request: ActionRequest, shown: Sequence[str] = ()) -> Reply | None:
        """A Reconnect link button was pressed (the browser opens the link): remember the card it is on.

        Only a person other than the one the link was made for gets an answer: that the link is not theirs.
        """
        token = self.links.token_in(request.value)
        if not token or request.message is None:
            return None
        try:
            claims = self.links.open(token, allow_expired=True)
        except BadLink:
            return None
        if claims.workspace_id != request.workspace_id:
            return None
        if claims.user_id != request.user.user_id:
            return Reply("That Reconnect button was made for the person who asked for this card; it won't work "
                         "for you. Run /syncstatus to get a card with your own connections.", ephemeral=True)
        await self._remember(request.workspace_id, claims.platform, request.value, request.message, shown)
        return None

    def fresh_link_card(self, connection: Connection, target: str, user: ChatUser) -> Reply:
        """An ephemeral card with a Reconnect link for `user` (a card that had no link for them)."""
        url = self.links.url(connection, target, user)
        try:
            role = GrantRole(target.partition(":")[2])
        except ValueError:
            url = ""
        if not url:
            return Reply("That Reconnect button does not fit this connection any more; press Retest.",
                         ephemeral=True)
        minutes = int(self.links.ttl.total_seconds() // 60)
        provider = provider_for(connection, role, connection.grant(role))
        title = f"Reconnect {connection.name}"
        label = f"Reconnect {provider.label}" if provider is not None else "Reconnect"
        card = Card(title, (Header(title), Line(f"This link is yours and works for {minutes} minutes."),
                            Buttons((Button(label, ActionKind.RECONNECT, target, value=url, url=url,
                                            primary=True),))))
        return Reply(title, card=card, ephemeral=True)


# ---------------------------------------------------------------- helpers


def connections_in(card: Card) -> tuple[str, ...]:
    """The connection ids a card shows: the targets of its Retest buttons, in order."""
    return tuple(dict.fromkeys(b.target for block in card.blocks if isinstance(block, Buttons)
                               for b in block.buttons if b.kind is ActionKind.RETEST and b.target))


def summary_text(report: Report) -> str:
    problems = [c for c in report.connections if c.problems]
    if not problems:
        return f"All {len(report.connections)} connection(s) are healthy."
    return f"{len(problems)} of {len(report.connections)} connection(s) need attention."


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_DETAIL else text[: _MAX_DETAIL - 1] + "…"


def _used_link(at: datetime) -> Page:
    return Page("This Reconnect link was already used", (
        f"A reconnect finished with it at {at:%H:%M} UTC; each link works once.",
        "If the connection is broken again, press Retest in chat for a fresh card."), 410)


def _exchange_failed(label: str, exc: ProviderError) -> Page:
    detail = _short(exc.evidence)
    if isinstance(exc, AuthError):
        return Page(f"{label} did not accept the sign-in", (
            f"Its token endpoint answered: {detail}",
            "This happens when the sign-in code expired or its verification failed. Nothing was changed.",
            "Open the Reconnect link from chat again."), 502)
    if isinstance(exc, Unavailable):
        return Page(f"{label}'s sign-in service did not answer", (
            f"{detail}",
            "Nothing was changed. Wait a minute and open the Reconnect link from chat again."), 502)
    if isinstance(exc, BadResponse):
        return Page(f"{label}'s sign-in service answered something unexpected", (
            f"{detail}",
            "A proxy or web filter between chatops and the provider can cause this. Nothing was changed.",
            "Ask your chatops admin to check the network path, then open the Reconnect link again."), 502)
    return Page(f"{label} refused the sign-in", (
        f"Its token endpoint answered: {detail}", "Nothing was changed. Open the Reconnect link again."), 502)
