"""The consent requests per provider: the pinned least-privilege scopes, PKCE and state in every authorize URL.

Widening a scope list is a deliberate change: it fails here until PINNED says so too.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from adapters.providers.consent import build_consent, id_token_claims
from adapters.providers.settings import ProviderSettings
from chatops.errors import BadResponse
from chatops.model import GrantRole, Provider
from chatops.ports import ConsentRequest
from tests.fakes.clock import FakeClock

G = "https://www.googleapis.com/auth/"
ORG = "https://acme.crm.dynamics.com"
MAIL, CALENDAR, CRM = GrantRole.MAIL, GrantRole.CALENDAR, GrantRole.CRM

# Exactly what each consent asks for, per provider and the roles its grant serves.
PINNED: dict[tuple[Provider, tuple[GrantRole, ...]], list[str]] = {
    (Provider.GOOGLE, (MAIL,)): [f"{G}gmail.readonly", f"{G}userinfo.email", "openid"],
    (Provider.GOOGLE, (MAIL, CALENDAR)): [f"{G}calendar.acls.readonly", f"{G}calendar.readonly",
                                          f"{G}gmail.readonly", f"{G}userinfo.email", "openid"],
    (Provider.GOOGLE, (CALENDAR,)): [f"{G}calendar.acls.readonly", f"{G}calendar.readonly", f"{G}userinfo.email",
                                     "openid"],
    (Provider.MICROSOFT, (MAIL,)): ["offline_access", "openid", "email", "Mail.Read", "MailboxSettings.Read",
                                    "User.Read"],
    (Provider.MICROSOFT, (MAIL, CALENDAR)): ["offline_access", "openid", "email", "Calendars.Read", "Mail.Read",
                                             "MailboxSettings.Read", "User.Read"],
    (Provider.MICROSOFT, (CALENDAR,)): ["offline_access", "openid", "email", "Calendars.Read",
                                        "MailboxSettings.Read"],
    (Provider.DYNAMICS, (CRM,)): ["offline_access", "openid", "email", f"{ORG}/user_impersonation"],
    (Provider.SALESFORCE, (CRM,)): ["api", "refresh_token"],
    (Provider.HUBSPOT, (CRM,)): ["crm.objects.contacts.read", "crm.objects.owners.read", "oauth"],
}
# Never asked for by Reconnect: write access, full mailbox access, everything-scopes.
FORBIDDEN = ("https://mail.google.com/", f"{G}gmail.modify", f"{G}calendar", "Mail.ReadWrite", "Mail.Send",
             "Calendars.ReadWrite", "full", "crm.objects.contacts.write", ".default", "profile")

SETTINGS = ProviderSettings(
    _env_file=None,  # type: ignore[call-arg]
    google_client_id="g-id", microsoft_client_id="m-id", salesforce_client_id="s-id", hubspot_client_id="h-id",
    dynamics_client_id="d-id", dynamics_url=ORG, microsoft_tenant="acme.example",
)


def consent() -> dict:
    return build_consent(SETTINGS, httpx.AsyncClient(), FakeClock())


def params(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


@pytest.mark.parametrize(("provider", "roles"), list(PINNED))
def test_the_consent_asks_for_exactly_the_pinned_scopes(provider: Provider, roles: tuple[GrantRole, ...]) -> None:
    flows = consent()
    url = flows[provider].authorize_url(ConsentRequest(roles=roles, state="s" * 43, code_challenge="c" * 43,
                                                       redirect_uri="https://bot.example/oauth/callback/x",
                                                       login_hint="ana@acme.example", instance_url=ORG))
    asked = params(url)

    assert asked["scope"].split() == PINNED[(provider, roles)]
    assert not set(asked["scope"].split()) & set(FORBIDDEN)
    assert (asked["response_type"], asked["code_challenge_method"], asked["state"]) == ("code", "S256", "s" * 43)
    assert asked["code_challenge"] == "c" * 43 and asked["redirect_uri"] == "https://bot.example/oauth/callback/x"
    assert asked["client_id"] == {"google": "g-id", "microsoft": "m-id", "dynamics": "d-id", "salesforce": "s-id",
                                  "hubspot": "h-id"}[provider.value]


def test_the_authorize_endpoints_are_the_providers_own() -> None:
    flows = consent()
    request = ConsentRequest(roles=(MAIL,), state="s", code_challenge="c", redirect_uri="https://b/cb")

    hosts = {p: urlsplit(f.authorize_url(request)).netloc + urlsplit(f.authorize_url(request)).path
             for p, f in flows.items()}

    assert hosts == {
        Provider.GOOGLE: "accounts.google.com/o/oauth2/v2/auth",
        Provider.MICROSOFT: "login.microsoftonline.com/acme.example/oauth2/v2.0/authorize",
        Provider.DYNAMICS: "login.microsoftonline.com/acme.example/oauth2/v2.0/authorize",
        Provider.SALESFORCE: "login.salesforce.com/services/oauth2/authorize",
        Provider.HUBSPOT: "app.hubspot.com/oauth/authorize",
    }
    google = params(flows[Provider.GOOGLE].authorize_url(request))
    assert (google["access_type"], google["prompt"]) == ("offline", "consent")  # a refresh token every time
    assert "include_granted_scopes" not in google  # no widening with earlier grants


def test_a_provider_without_a_client_id_is_not_offered() -> None:
    flows = build_consent(ProviderSettings(_env_file=None, google_client_id="g"),  # type: ignore[call-arg]
                          httpx.AsyncClient(), FakeClock())

    assert set(flows) == {Provider.GOOGLE}


def test_an_id_token_for_another_app_is_refused() -> None:
    import base64
    import json

    def jwt(claims: dict) -> str:
        body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
        return f"e30.{body}.sig"

    assert id_token_claims({"id_token": jwt({"aud": "me", "email": "a@b"})}, "me", "google")["email"] == "a@b"
    assert id_token_claims({}, "me", "google") == {}
    for bad in (jwt({"aud": "someone-else"}), "not-a-jwt", "a.!!!.c"):
        with pytest.raises(BadResponse):
            id_token_claims({"id_token": bad}, "me", "google")
