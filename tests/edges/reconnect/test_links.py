"""Signed start links (what they bind, expiry, tampering, key rotation) and PKCE (RFC 7636)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from chatops.chat import ChatUser
from chatops.model import Connection, GrantRole, Provider
from chatops.reconnect import BadLink, ExpiredLink, LinkClaims, Links, code_challenge, code_verifier
from chatops.store.crypto import GrantCipher
from tests.fakes.clock import FakeClock

BASE = "https://chatops.example.com"
ANA = ChatUser("slack", "U0ANA", email="ana@acme.example")
CONNECTION = Connection(id="c_ana", workspace_id="slack:T0ACME", name="ana", owner_email="ana@acme.example",
                        crm=Provider.SALESFORCE, crm_user_email="ana@acme.example", mailbox_provider=Provider.GOOGLE,
                        mailbox_email="ana@acme.example")


def links(cipher: GrantCipher, clock: FakeClock, **kw) -> Links:
    return Links(cipher.derive("chatops reconnect links"), BASE, clock, **kw)


def test_a_link_binds_workspace_platform_user_connection_and_role(cipher: GrantCipher) -> None:
    clock = FakeClock()
    made = links(cipher, clock)

    url = made.url(CONNECTION, "c_ana:mail", ANA)
    claims = made.open(made.token_in(url))

    assert url.startswith(f"{BASE}/connect/") and len(url) < 400
    assert (claims.workspace_id, claims.platform, claims.user_id, claims.connection_id, claims.role) == (
        "slack:T0ACME", "slack", "U0ANA", "c_ana", GrantRole.MAIL)
    assert timedelta(minutes=14, seconds=59) <= claims.expires_at - clock.now() <= timedelta(minutes=15)
    assert not claims.admin
    assert made.url(CONNECTION, "c_ana:mail", ANA) != url  # every card gets its own single-use link
    assert re.fullmatch(r"[A-Za-z0-9_.\-]+", made.token_in(url))


def test_no_viewer_or_a_target_of_another_connection_gives_no_link(cipher: GrantCipher) -> None:
    made = links(cipher, FakeClock())

    assert made.url(CONNECTION, "c_ana:mail", None) == ""
    assert made.url(CONNECTION, "c_other:mail", ANA) == ""
    assert made.url(CONNECTION, "c_ana:inbox", ANA) == ""


def test_a_link_expires_after_its_ttl(cipher: GrantCipher) -> None:
    clock = FakeClock()
    made = links(cipher, clock, ttl=timedelta(minutes=5))
    token = made.token_in(made.url(CONNECTION, "c_ana:crm", ANA))

    clock.advance(minutes=4, seconds=59)
    assert made.open(token).role is GrantRole.CRM
    clock.advance(seconds=2)
    with pytest.raises(ExpiredLink):
        made.open(token)
    assert made.open(token, allow_expired=True).connection_id == "c_ana"


def test_a_changed_link_or_one_signed_with_another_key_is_refused(cipher: GrantCipher) -> None:
    clock = FakeClock()
    made = links(cipher, clock)
    token = made.token_in(made.url(CONNECTION, "c_ana:mail", ANA))
    stranger = links(GrantCipher([GrantCipher.generate_key()]), clock)

    for bad in (token[:-1] + ("A" if token[-1] != "A" else "B"), token.replace(".", "", 1), "", "x.y",
                stranger.token_in(stranger.url(CONNECTION, "c_ana:mail", ANA))):
        with pytest.raises(BadLink):
            made.open(bad)


def test_links_survive_a_key_rotation_and_die_with_the_old_key(cipher: GrantCipher) -> None:
    clock = FakeClock()
    old_key = GrantCipher.generate_key()
    before = links(GrantCipher([old_key]), clock)
    token = before.token_in(before.url(CONNECTION, "c_ana:mail", ANA))

    rotated = links(GrantCipher([GrantCipher.generate_key(), old_key]), clock)
    retired = links(GrantCipher([GrantCipher.generate_key()]), clock)

    assert rotated.open(token).user_id == "U0ANA"
    with pytest.raises(BadLink):
        retired.open(token)


def test_an_admins_link_says_so_and_only_our_urls_carry_a_token(cipher: GrantCipher) -> None:
    made = links(cipher, FakeClock())
    admin = ChatUser("teams", "aad-admin", is_admin=True)

    url = made.url(CONNECTION, "c_ana:mail", admin)

    assert made.open(made.token_in(url)).admin
    assert made.token_in("https://evil.example/connect/" + made.token_in(url)) == ""
    assert made.token_in(url + "/more") == "" and made.token_in(url + "?x=1") == ""


def test_claims_round_trip_through_a_token(cipher: GrantCipher) -> None:
    clock = FakeClock()
    made = links(cipher, clock)
    claims = LinkClaims("teams:t1", "teams", "aad-1", "c1", GrantRole.CALENDAR, "L1",
                        clock.now().replace(microsecond=0) + timedelta(minutes=1))

    assert made.open(made.token(claims)) == claims


def test_pkce_verifier_and_s256_challenge_follow_rfc_7636() -> None:
    verifiers = {code_verifier() for _ in range(50)}

    assert len(verifiers) == 50
    for verifier in verifiers:
        assert 43 <= len(verifier) <= 128 and re.fullmatch(r"[A-Za-z0-9\-._~]+", verifier)
        assert code_challenge(verifier) == create_s256_code_challenge(verifier)  # authlib's, independently
        assert len(code_challenge(verifier)) == 43 and "=" not in code_challenge(verifier)
