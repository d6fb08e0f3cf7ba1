"""Email addresses normalise, become canonical, and compare the way mail providers treat them."""

from __future__ import annotations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from chatops.addresses import (
    Equivalence,
    IdentityMatch,
    InvalidAddress,
    MatchKind,
    canonical,
    compare,
    normalise,
    parse_proxy_addresses,
)

# --- normalise -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "normalised"),
    [
        ("ana@acme.com", "ana@acme.com"),
        ("  Ana@ACME.com\n", "ana@acme.com"),
        ("Ana Ruiz <Ana@Acme.com>", "ana@acme.com"),
        ('"Ruiz, Ana" <ana@acme.com>', "ana@acme.com"),
        ("<ana@acme.com>", "ana@acme.com"),
        ("mailto:ana@acme.com", "ana@acme.com"),
        ("MAILTO:ana%2Bcrm@acme.com?subject=Hello", "ana+crm@acme.com"),
        ("ana@bücher.de", "ana@xn--bcher-kva.de"),
        ("ana@BÜCHER.de", "ana@xn--bcher-kva.de"),
        ("ana@xn--bcher-kva.de", "ana@xn--bcher-kva.de"),
        ("ana@acme.com.", "ana@acme.com"),
        ("ana+crm@acme.com", "ana+crm@acme.com"),  # normalise keeps the tag; canonical drops it
        ("a.na@gmail.com", "a.na@gmail.com"),
        ("José@acme.com", "josé@acme.com"),
        ('"ana ruiz"@acme.com', '"ana ruiz"@acme.com'),
        ("o'neil@acme.co.uk", "o'neil@acme.co.uk"),
    ],
)
def test_normalise_trims_lowercases_and_punycodes(address: str, normalised: str) -> None:
    assert normalise(address) == normalised


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("", "it is empty"),
        ("   ", "it is empty"),
        ("mailto:", "it is empty"),
        ("Ana <>", "it is empty"),
        ("ana", "it has no @"),
        ("ana@", "nothing comes after the @"),
        ("@acme.com", "nothing comes before the @"),
        ("ana@@acme.com", "it has more than one @"),
        ("ana@bob@acme.com", "it has more than one @"),
        ("ana@acme", "the domain has no dot"),
        ("a na@acme.com", "it contains a space"),
        ("ana@acme.com, bob@acme.com", "it holds more than one address"),
        ("ana@acme.com;bob@acme.com", "it holds more than one address"),
        ("Ana <ana@acme.com", "its < and > don't pair up"),
        ("ana@acme..com", "the domain has an empty part (two dots in a row, or a leading dot)"),
        ("ana@.acme.com", "the domain has an empty part (two dots in a row, or a leading dot)"),
        ("a..na@acme.com", "the part before the @ has two dots in a row"),
        (".ana@acme.com", "the part before the @ starts or ends with a dot"),
        ("ana.@acme.com", "the part before the @ starts or ends with a dot"),
        ("ana(x)@acme.com", 'the part before the @ contains "("'),
        ("ana@-acme.com", 'the domain part "-acme" is not a valid name'),
        ("ana@acme_corp.com", 'the domain part "acme_corp" is not a valid name'),
        ("ana@[192.0.2.1]", "the domain is an IP address, not a name"),
        ("ana@acme.123", "the domain ends in a number, not a name"),
        ("a" * 65 + "@acme.com", "the part before the @ is longer than 64 characters"),
        ("ana@" + "a" * 64 + ".com", "the domain has characters a domain name can't have"),
        ('"a"b"@acme.com', "the quoted part before the @ holds characters mail can't carry"),
    ],
)
def test_garbage_is_refused_with_a_reason(address: str, reason: str) -> None:
    with pytest.raises(InvalidAddress) as caught:
        normalise(address)

    assert caught.value.reason == reason
    assert str(caught.value) == f'"{address}" is not an email address: {reason}.'
    assert isinstance(caught.value, ValueError)


def test_non_text_is_refused() -> None:
    with pytest.raises(InvalidAddress, match="it is not text"):
        normalise(None)  # type: ignore[arg-type]


# --- canonical -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "canonical_form"),
    [
        ("ana+crm@acme.com", "ana@acme.com"),
        ("Ana+CRM+x@Acme.com", "ana@acme.com"),
        ("ana@googlemail.com", "ana@gmail.com"),
        ("A.Na+news@GoogleMail.com", "ana@gmail.com"),
        ("a.na@gmail.com", "ana@gmail.com"),
        ("a.na@acme.com", "a.na@acme.com"),  # dots matter outside Gmail
        ("+ana@acme.com", "+ana@acme.com"),  # a leading + is the name, not a tag
        ("ana@bücher.de", "ana@xn--bcher-kva.de"),
    ],
)
def test_canonical_applies_provider_equivalences(address: str, canonical_form: str) -> None:
    assert canonical(address) == canonical_form


# --- parse_proxy_addresses -------------------------------------------------------------------------


def test_proxy_addresses_split_into_primary_and_aliases() -> None:
    # the shape Graph returns for GET /me?$select=proxyAddresses
    values = ["SMTP:ana@acme.com", "smtp:ana.ruiz@acme.com", "smtp:ana@acme.onmicrosoft.com"]

    assert parse_proxy_addresses(values) == (
        "ana@acme.com",
        ("ana.ruiz@acme.com", "ana@acme.onmicrosoft.com"),
    )


def test_sip_x500_and_other_types_are_ignored() -> None:
    values = [
        "SIP:ana@acme.com",
        "X500:/o=ExchangeLabs/ou=Exchange Administrative Group/cn=Recipients/cn=ana",
        "smtp:ana@acme.io",
        "EUM:1234;phone-context=acme.com",
        "SMTP:ana@acme.com",
    ]

    assert parse_proxy_addresses(values) == ("ana@acme.com", ("ana@acme.io",))


def test_proxy_values_are_trimmed_and_repeats_dropped() -> None:
    values = ["SMTP: ana@acme.com ", " smtp:ANA@acme.io", "smtp:ana@acme.io", "smtp:Ana@Acme.com", "smtp:"]

    assert parse_proxy_addresses(values) == ("ana@acme.com", ("ANA@acme.io",))


def test_without_an_upper_case_smtp_there_is_no_primary() -> None:
    assert parse_proxy_addresses(["smtp:ana@acme.com", "SIP:ana@acme.com"]) == (None, ("ana@acme.com",))
    assert parse_proxy_addresses([]) == (None, ())


# --- compare ---------------------------------------------------------------------------------------


def test_the_same_address_is_exact() -> None:
    assert compare("ana@acme.com", "ana@acme.com", []) == IdentityMatch(
        kind=MatchKind.EXACT,
        matched="ana@acme.com",
        explanation="The CRM user's email matches the mailbox ana@acme.com.",
        fix="",
        domains_aligned=True,
    )


def test_case_and_a_plus_tag_make_an_equivalent_address() -> None:
    match = compare("Ana+crm@Acme.com", "ana@acme.com", [])

    assert match == IdentityMatch(
        kind=MatchKind.EQUIVALENT,
        matched="ana@acme.com",
        explanation=(
            "The CRM user's email Ana+crm@Acme.com is the mailbox ana@acme.com written differently: "
            "letter case and a plus tag (+crm)."
        ),
        fix="Nothing to fix; if sync still misses this user, change the CRM user's email to ana@acme.com.",
        domains_aligned=True,
        rules=(Equivalence.CASE, Equivalence.PLUS_ADDRESS),
    )


@pytest.mark.parametrize(
    ("crm", "mailbox", "rules", "words"),
    [
        ("ANA@ACME.COM", "ana@acme.com", (Equivalence.CASE,), "letter case"),
        ("ana@googlemail.com", "ana@gmail.com", (Equivalence.GOOGLEMAIL,), "googlemail.com for gmail.com"),
        ("a.na@gmail.com", "ana@gmail.com", (Equivalence.GMAIL_DOTS,), "dots, which Gmail ignores"),
        (
            "a.na@googlemail.com",
            "ana@gmail.com",
            (Equivalence.GOOGLEMAIL, Equivalence.GMAIL_DOTS),
            "googlemail.com for gmail.com and dots, which Gmail ignores",
        ),
        (
            "ana@bücher.de",
            "ana@xn--bcher-kva.de",
            (Equivalence.IDN,),
            "the international domain written in two forms",
        ),
        ("ana+a@acme.com", "ana+b@acme.com", (Equivalence.PLUS_ADDRESS,), "plus tags (+a and +b)"),
        (
            "Ana+x@Bücher.de",
            "ana@xn--bcher-kva.de",
            (Equivalence.CASE, Equivalence.IDN, Equivalence.PLUS_ADDRESS),
            "letter case, the international domain written in two forms and a plus tag (+x)",
        ),
    ],
)
def test_each_equivalence_rule_is_named(
    crm: str, mailbox: str, rules: tuple[Equivalence, ...], words: str
) -> None:
    match = compare(crm, mailbox, [])

    assert match.kind is MatchKind.EQUIVALENT
    assert match.rules == rules
    assert match.explanation.endswith(f"written differently: {words}.")


def test_a_display_name_alone_does_not_make_a_difference() -> None:
    assert compare("Ana Ruiz <ana@acme.com>", "mailto:ana@acme.com", []).kind is MatchKind.EXACT


def test_an_alias_of_the_mailbox_matches() -> None:
    match = compare("ana@acme.io", "ana@acme.com", ["ana.ruiz@acme.com", "ana@acme.io"])

    assert match == IdentityMatch(
        kind=MatchKind.ALIAS,
        matched="ana@acme.io",
        explanation="The CRM user's email ana@acme.io is an alias of the mailbox ana@acme.com.",
        fix="Nothing to fix; if sync still misses this user, change the CRM user's email to ana@acme.com.",
        domains_aligned=True,
    )


def test_raw_proxy_addresses_work_as_aliases_and_non_smtp_ones_do_not() -> None:
    assert (
        compare("Ana@acme.io", "ana@acme.com", ["SMTP:ana@acme.com", "smtp:ana@acme.io"]).kind
        is MatchKind.ALIAS
    )
    assert compare("ana@acme.io", "ana@acme.com", ["SIP:ana@acme.io"]).kind is MatchKind.DOMAIN_MISMATCH


def test_a_domain_the_mailbox_does_not_have_is_a_domain_mismatch_to_verify() -> None:
    match = compare("ana@acme.io", "ana@acme.com", [])

    assert match == IdentityMatch(
        kind=MatchKind.DOMAIN_MISMATCH,
        matched="ana@acme.com",
        explanation=(
            "The CRM user is ana@acme.io but the mailbox is ana@acme.com and has no alias for acme.io."
        ),
        fix=(
            "Verify the domain acme.io in the mail admin console, "
            "then add ana@acme.io as an alias of the mailbox ana@acme.com."
        ),
        domains_aligned=False,
    )


def test_a_domain_the_mailbox_already_uses_only_needs_the_alias() -> None:
    match = compare("ana@acme.io", "ana@acme.com", ["sales@acme.io"])

    assert match.kind is MatchKind.DOMAIN_MISMATCH
    assert match.domains_aligned is True
    assert match.explanation == (
        "The CRM user is ana@acme.io but the mailbox is ana@acme.com, "
        "and ana@acme.io is not one of its aliases."
    )
    assert match.fix == "Add ana@acme.io as an alias of the mailbox ana@acme.com."


def test_the_same_name_at_an_alias_domain_points_at_that_alias() -> None:
    match = compare("ana@acme.io", "ana.ruiz@acme.com", ["ana@acme.com"])

    assert match.kind is MatchKind.DOMAIN_MISMATCH
    assert match.matched == "ana@acme.com"
    assert match.fix == (
        "Verify the domain acme.io in the mail admin console, "
        "then add ana@acme.io as an alias of the mailbox "
        "ana.ruiz@acme.com."
    )


def test_a_different_person_is_a_mismatch() -> None:
    match = compare("bob@acme.com", "ana@acme.com", ["ana@acme.io"])

    assert match == IdentityMatch(
        kind=MatchKind.MISMATCH,
        matched=None,
        explanation=(
            "The CRM user is bob@acme.com but the connected mailbox is ana@acme.com, "
            "which looks like a different person."
        ),
        fix=(
            "Reconnect with the mailbox of bob@acme.com, "
            "or change the CRM user's email to ana@acme.com if this mailbox is theirs."
        ),
        domains_aligned=True,
    )


def test_a_different_person_at_another_domain_is_not_aligned() -> None:
    assert compare("bob@other.org", "ana@acme.com", []).domains_aligned is False


def test_googlemail_and_gmail_are_one_domain_for_alignment() -> None:
    match = compare("bob@googlemail.com", "ana@gmail.com", [])

    assert (match.kind, match.domains_aligned) == (MatchKind.MISMATCH, True)


def test_garbage_aliases_are_skipped() -> None:
    assert (
        compare("ana@acme.io", "ana@acme.com", ["not an address", "", "smtp:ana@acme.io"]).kind
        is MatchKind.ALIAS
    )


@pytest.mark.parametrize(("crm", "mailbox"), [("ana", "ana@acme.com"), ("ana@acme.com", ""), ("", "")])
def test_a_garbage_crm_email_or_primary_raises(crm: str, mailbox: str) -> None:
    with pytest.raises(InvalidAddress):
        compare(crm, mailbox, [])


# --- properties ------------------------------------------------------------------------------------

_LOCAL_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+/=?^_`{|}~-éßÆ"
atoms = st.text(alphabet=_LOCAL_CHARS, min_size=1, max_size=10)
locals_ = st.lists(atoms, min_size=1, max_size=3).map(".".join).filter(lambda local: len(local) <= 64)
labels = st.from_regex(r"[a-zA-Z0-9]([a-zA-Z0-9-]{0,8}[a-zA-Z0-9])?", fullmatch=True) | st.sampled_from(
    ["bücher", "münchen", "straße", "GoogleMail", "gmail"]
)
tlds = st.sampled_from(["com", "io", "de", "co.uk", "COM", "xn--p1ai"])
domains = st.builds(
    lambda parts, tld: ".".join([*parts, tld]), st.lists(labels, min_size=1, max_size=3), tlds
)
plain_addresses = st.builds(lambda local, domain: f"{local}@{domain}", locals_, domains)
addresses = st.one_of(
    plain_addresses,
    plain_addresses.map(lambda address: f"Ana Ruiz <{address}>"),
    plain_addresses.map(lambda address: f"  mailto:{address}  "),
)


def _normalised_or_none(address: str) -> str | None:
    try:
        return normalise(address)
    except InvalidAddress:
        return None


@settings(max_examples=300, deadline=None, database=None)
@given(address=addresses)
def test_normalise_is_idempotent(address: str) -> None:
    once = _normalised_or_none(address)
    assume(once is not None)
    assert once is not None
    assert normalise(once) == once
    assert once == once.strip() and "<" not in once


@settings(max_examples=300, deadline=None, database=None)
@given(address=addresses)
def test_canonical_is_idempotent_and_ignores_normalisation(address: str) -> None:
    assume(_normalised_or_none(address) is not None)
    assert canonical(canonical(address)) == canonical(address)
    assert canonical(normalise(address)) == canonical(address)


@settings(max_examples=200, deadline=None, database=None)
@given(address=addresses)
def test_an_address_matches_itself_and_its_other_spellings(address: str) -> None:
    assume(_normalised_or_none(address) is not None)
    assert compare(address, address, []).kind is MatchKind.EXACT
    shouted = "".join(ch.upper() if ch.isascii() else ch for ch in address)  # "ß".upper() is "SS"
    assert compare(shouted, address, []).kind in (MatchKind.EXACT, MatchKind.EQUIVALENT)
    assert compare(address, normalise(address), []).kind in (MatchKind.EXACT, MatchKind.EQUIVALENT)


@settings(max_examples=500, deadline=None, database=None)
@given(text=st.text(max_size=80))
def test_any_text_either_normalises_or_is_refused_with_invalid_address(text: str) -> None:
    result = _normalised_or_none(text)
    if result is not None:
        assert normalise(result) == result
        assert "@" in result
