"""The browser's side of Reconnect: GET /connect/<token> and GET /oauth/callback/<provider>, short escaped pages."""

from __future__ import annotations

import html
import logging
import secrets
from typing import TYPE_CHECKING, Final

from aiohttp import web

from chatops.reconnect import CALLBACK_PATH, CONNECT_PATH, Page, Reconnect

if TYPE_CHECKING:
    from adapters.wiring import Services

log = logging.getLogger(__name__)

COOKIE: Final = "chatops_reconnect"  # ties a started sign-in to the browser that started it (RFC 9700 §4.7)
HEADERS: Final = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; "
                               "form-action 'none'; frame-ancestors 'none'",
}
_STYLE: Final = ("body{font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem;"
                 "line-height:1.5;color:#1d1c1d}h1{font-size:1.4rem}.ok{color:#1a7f37}.no{color:#b42318}"
                 "footer{margin-top:2rem;color:#616061;font-size:.85rem}")


def render(page: Page) -> str:
    """The page as HTML; every text is escaped (names and provider messages come from outside)."""
    mark = '<span class="ok">✔</span> ' if page.ok else ('<span class="no">✖</span> ' if page.status >= 400 else "")
    lines = "".join(f"<p>{html.escape(line)}</p>" for line in page.lines)
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" '
            f'content="width=device-width,initial-scale=1"><title>{html.escape(page.title)} · chatops</title>'
            f"<style>{_STYLE}</style></head><body><h1>{mark}{html.escape(page.title)}</h1>{lines}"
            "<footer>chatops · sync doctor</footer></body></html>")


def answer(page: Page) -> web.Response:
    return web.Response(text=render(page), status=page.status, content_type="text/html", charset="utf-8",
                        headers=HEADERS)


def _failed(what: str) -> web.Response:
    code = secrets.token_hex(4)
    log.exception("reconnect %s failed (incident %s)", what, code, extra={"incident": code})
    return answer(Page("Something went wrong on our side", (
        f"Please open the Reconnect link from chat again; if it keeps failing, give your admin incident {code}.",),
        500))


def mount(app: web.Application, services: Services) -> None:
    """GET /connect/<token> and GET /oauth/callback/<provider>; nothing when Reconnect isn't wired."""
    flow: Reconnect | None = services.core.reconnect
    if flow is None:
        return
    secure = services.config.settings.public_url.startswith("https://")
    max_age = int(flow.state_ttl.total_seconds())

    async def connect(request: web.Request) -> web.Response:
        try:
            result = await flow.start(request.match_info["token"], request.cookies.get(COOKIE, ""))
        except Exception:
            return _failed("start")
        if isinstance(result, Page):
            return answer(result)
        response = web.Response(status=302, headers={**HEADERS, "Location": result.url})
        response.set_cookie(COOKIE, result.browser, max_age=max_age, path="/", secure=secure, httponly=True,
                            samesite="Lax")  # Lax: sent on the provider's top-level redirect back to us
        return response

    async def callback(request: web.Request) -> web.Response:
        try:
            page = await flow.callback(request.match_info["provider"], dict(request.query),
                                       request.cookies.get(COOKIE, ""))
        except Exception:
            return _failed("callback")
        return answer(page)

    app.router.add_get(CONNECT_PATH + "{token}", connect)
    app.router.add_get(CALLBACK_PATH + "{provider}", callback)

