"""Email addresses normalised, made canonical and compared, for the identity check."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Final
from urllib.parse import unquote

__all__ = [
    "Equivalence",
    "IdentityMatch",
    "InvalidAddress",
    "MatchKind",
    "canonical",
    "compare",
    "normalise",
    "parse_proxy_addresses",
]

# RFC 5322 "atext": what an unquoted local part may hold besides letters, digits and dots.
_ATEXT_SYMBOLS: Final = frozenset("!#$%&'*+-/=?^_`{|}~")
_LABEL: Final = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
# The dots IDNA treats as label separators: ASCII, ideographic, full-width and half-width.
_DOTS: Final = re.compile(r"[.\u3002\uff0e\uff61]")
_TYPE_PREFIX: Final = re.compile(r"([A-Za-z][A-Za-z0-9]*):(.*)", re.DOTALL)


class InvalidAddress(ValueError):
    """Text that is not an email address; `reason` says what is wrong, in plain words."""

    def __init__(self, address: str, reason: str) -> None:
        super().__init__(f'"{address}" is not an email address: {reason}.')
        self.address = address
        self.reason = reason


class MatchKind(StrEnum):
    EXACT = "exact"  # the same text
    EQUIVALENT = "equivalent"  # the same mailbox written differently (case, plus tag, googlemail, ...)
    ALIAS = "alias"  # one of the mailbox's other addresses (alias, send-as, proxyAddress)
    DOMAIN_MISMATCH = "domain_mismatch"  # same person's name at a domain the mailbox doesn't have
    MISMATCH = "mismatch"  # a different person


class Equivalence(StrEnum):
    """The rules by which two spellings name the same mailbox."""

    CASE = "case"
    IDN = "idn"
    GOOGLEMAIL = "googlemail"
    GMAIL_DOTS = "gmail_dots"
    PLUS_ADDRESS = "plus_address"


@dataclass(frozen=True, slots=True)
class IdentityMatch:
    """How a CRM user's email relates to a mailbox, with the sentence to show and the fix.

    Args:
        matched: the mailbox address (normalised) the CRM email matched or nearly matched, or None.
        domains_aligned: the CRM email's domain is one the mailbox already has an address at.
        rules: for `equivalent`, the rules that make the two spellings one address.
    """

    kind: MatchKind
    matched: str | None
    explanation: str
    fix: str
    domains_aligned: bool
    rules: tuple[Equivalence, ...] = ()


def normalise(address: str) -> str:
    """The address as a mailbox compares it: "Ana <Ana@Bücher.DE>" -> "ana@xn--bcher-kva.de".

    Trims, drops a display name and a `mailto:`, lowercases, and writes an international domain in
    punycode. Raises InvalidAddress, with the reason, for anything that isn't one address.
    """
    local, domain = _spellings(address)[-1]
    return f"{local}@{domain}"


def canonical(address: str) -> str:
    """The address with provider equivalences applied: "A.Na+crm@googlemail.com" -> "ana@gmail.com".

    googlemail.com is gmail.com, dots in a Gmail local part don't count, and a plus tag is dropped
    everywhere (Gmail, Google Workspace and Microsoft 365 all deliver "ana+crm@" to "ana@").
    """
    local, domain = _canonical_stages(address)[-1]
    return f"{local}@{domain}"


def parse_proxy_addresses(values: Iterable[str]) -> tuple[str | None, tuple[str, ...]]:
    """Split Graph / Exchange proxyAddresses into (primary, aliases).

    "SMTP:" (upper case) marks the primary, "smtp:" an alias; "SIP:", "X500:", "X400:" and other
    types are not email addresses and are dropped. Values are trimmed, since Microsoft's own example
    writes "SMTP: bob@contoso.com"; aliases repeat neither the primary nor each other.
    """
    primary: str | None = None
    aliases: list[str] = []
    for value in values:
        typed = _TYPE_PREFIX.fullmatch(value.strip())
        kind, address = (typed.group(1), typed.group(2).strip()) if typed else ("smtp", value.strip())
        if kind.lower() != "smtp" or not address:
            continue
        if kind == "SMTP" and primary is None:
            primary = address
        else:
            aliases.append(address)
    seen = {primary.casefold()} if primary else set()
    unique = []
    for alias in aliases:
        if alias.casefold() not in seen:
            seen.add(alias.casefold())
            unique.append(alias)
    return primary, tuple(unique)


def compare(crm_email: str, mailbox_primary: str, aliases: Iterable[str]) -> IdentityMatch:
    """How the CRM user's email relates to the mailbox: exact, equivalent, alias or mismatch.

    `aliases` are the mailbox's other addresses (aliases, send-as addresses); raw proxyAddresses work
    too ("smtp:" ones count, "SIP:" and the like are skipped). An alias that is not an address is
    skipped; a CRM email or primary address that is not one raises InvalidAddress.
    """
    crm_stages = _canonical_stages(crm_email)
    primary_stages = _canonical_stages(mailbox_primary)
    crm, primary = _joined(crm_stages[_NORMALISED]), _joined(primary_stages[_NORMALISED])
    crm_local, crm_domain = crm_stages[-1]
    others = _alias_stages(aliases, primary_stages[-1])
    mailbox_domains = {domain for _, domain in (primary_stages[-1], *(stages[-1] for stages in others))}
    aligned = crm_domain in mailbox_domains

    if crm_stages[0] == primary_stages[0]:
        return IdentityMatch(
            MatchKind.EXACT, primary, f"The CRM user's email matches the mailbox {primary}.", "", True
        )
    if crm_stages[-1] == primary_stages[-1]:
        rules = _rules_between(crm_stages, primary_stages)
        return IdentityMatch(
            MatchKind.EQUIVALENT,
            primary,
            f"The CRM user's email {_bare(crm_email)} is the mailbox {_bare(mailbox_primary)} written "
            f"differently: {_describe_rules(rules, crm_email, mailbox_primary)}.",
            f"Nothing to fix; if sync still misses this user, change the CRM user's email to {primary}.",
            True,
            rules,
        )
    for stages in others:
        if crm_stages[-1] == stages[-1]:
            return IdentityMatch(
                MatchKind.ALIAS,
                _joined(stages[_NORMALISED]),
                f"The CRM user's email {crm} is an alias of the mailbox {primary}.",
                f"Nothing to fix; if sync still misses this user, change the CRM user's email to {primary}.",
                True,
            )
    same_name = [stages for stages in (primary_stages, *others) if stages[-1][0] == crm_local]
    if same_name:
        if aligned:
            explanation = (
                f"The CRM user is {crm} but the mailbox is {primary}, and {crm} is not one of its aliases."
            )
            fix = f"Add {crm} as an alias of the mailbox {primary}."
        else:
            explanation = (
                f"The CRM user is {crm} but the mailbox is {primary} and has no alias for {crm_domain}."
            )
            fix = (
                f"Verify the domain {crm_domain} in the mail admin console, "
                f"then add {crm} as an alias of the mailbox {primary}."
            )
        return IdentityMatch(
            MatchKind.DOMAIN_MISMATCH, _joined(same_name[0][_NORMALISED]), explanation, fix, aligned
        )
    return IdentityMatch(
        MatchKind.MISMATCH,
        None,
        f"The CRM user is {crm} but the connected mailbox is {primary}, which looks like a different person.",
        f"Reconnect with the mailbox of {crm}, "
        f"or change the CRM user's email to {primary} if this mailbox is theirs.",
        aligned,
    )


# --- spellings ---------------------------------------------------------------------------------------
#
# An address is taken through a fixed series of spellings, each one rule further than the last:
#   0 as written (display name and mailto: removed)   1 lowercased   2 domain in punycode (= normalise)
#   3 googlemail.com -> gmail.com   4 Gmail dots dropped   5 plus tag dropped (= canonical)
# Comparing two addresses stage by stage says which rules made them one.

_Spelling = tuple[str, str]  # (local part, domain)
_NORMALISED: Final = 2
_STAGE_RULES: Final = (
    None,
    Equivalence.CASE,
    Equivalence.IDN,
    Equivalence.GOOGLEMAIL,
    Equivalence.GMAIL_DOTS,
    Equivalence.PLUS_ADDRESS,
)


def _spellings(address: str) -> tuple[_Spelling, _Spelling, _Spelling]:
    """Stages 0-2: as written, lowercased, normalised. Validates on the way."""
    if not isinstance(address, str):
        raise InvalidAddress(repr(address), "it is not text")
    bare = _bare(address)
    if not bare:
        raise InvalidAddress(address, "it is empty")
    quoted_end = bare.rfind('"@') if bare.startswith('"') else -1
    unquoted = bare[quoted_end + 1 :] if quoted_end > 0 else bare  # a quoted local part may hold anything
    if "," in unquoted or ";" in unquoted:
        raise InvalidAddress(address, "it holds more than one address")
    if any(ch.isspace() for ch in unquoted):
        raise InvalidAddress(address, "it contains a space")
    local, at, domain = bare.rpartition("@")
    if not at:
        raise InvalidAddress(address, "it has no @")
    if "@" in local and not _is_quoted(local):
        raise InvalidAddress(address, "it has more than one @")
    if not local:
        raise InvalidAddress(address, "nothing comes before the @")
    if not domain:
        raise InvalidAddress(address, "nothing comes after the @")
    # Mail domains are case-insensitive by DNS rules. Local parts may be case-sensitive by RFC 5321,
    # but Gmail, Microsoft 365, Exchange and every CRM we sync with treat them as case-insensitive,
    # and a CRM often stores "Ana.Ruiz@" for the mailbox "ana.ruiz@": lowercasing both is what users mean.
    lowered_local = unicodedata.normalize("NFC", local.lower())
    _check_local(address, lowered_local)
    written_domain = domain[:-1] if domain.endswith(".") else domain  # the root dot of "acme.com."
    lowered_domain = written_domain.lower()
    return (
        (local, written_domain),
        (lowered_local, lowered_domain),
        (lowered_local, _ascii_domain(address, lowered_domain)),
    )


def _bare(address: str) -> str:
    """The address without display name, angle brackets or mailto:, trimmed and in NFC."""
    text = unicodedata.normalize("NFC", address.strip())
    if text.endswith(">") and "<" in text:
        text = text[text.rindex("<") + 1 : -1].strip()
    if "<" in text or ">" in text:
        raise InvalidAddress(address, "its < and > don't pair up")
    if text[:7].lower() == "mailto:":
        text = unquote(text[7:].split("?", 1)[0]).strip()
    return text


def _is_quoted(local: str) -> bool:
    return len(local) >= 2 and local[0] == local[-1] == '"'


def _check_local(address: str, local: str) -> None:
    if len(local.encode("utf-8")) > 64:
        raise InvalidAddress(address, "the part before the @ is longer than 64 characters")
    if _is_quoted(local):
        inner = local[1:-1]
        if not inner or any(ch in '"\\' or not ch.isprintable() for ch in inner):
            raise InvalidAddress(address, "the quoted part before the @ holds characters mail can't carry")
        return
    if local.startswith(".") or local.endswith("."):
        raise InvalidAddress(address, "the part before the @ starts or ends with a dot")
    if ".." in local:
        raise InvalidAddress(address, "the part before the @ has two dots in a row")
    for ch in local:
        allowed = (
            ch in _ATEXT_SYMBOLS
            or ch == "."
            or (ch.isascii() and ch.isalnum())
            # internationalised addresses (RFC 6531): letters, marks and digits of any script
            or (not ch.isascii() and unicodedata.category(ch)[0] in "LMN")
        )
        if not allowed:
            raise InvalidAddress(address, f'the part before the @ contains "{ch}"')


def _ascii_domain(address: str, domain: str) -> str:
    if domain.startswith("["):
        raise InvalidAddress(address, "the domain is an IP address, not a name")
    labels = _DOTS.split(domain)
    if any(not label for label in labels):
        raise InvalidAddress(address, "the domain has an empty part (two dots in a row, or a leading dot)")
    if len(labels) < 2:
        raise InvalidAddress(address, "the domain has no dot")
    try:
        # The stdlib codec is IDNA 2003 (it maps "ß" to "ss"); registrars and mail providers accept
        # that spelling for the domains a CRM user would have, and it needs no extra dependency.
        encoded = domain.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise InvalidAddress(address, "the domain has characters a domain name can't have") from exc
    if len(encoded) > 253:
        raise InvalidAddress(address, "the domain is longer than 253 characters")
    for label in encoded.split("."):
        if not _LABEL.fullmatch(label):
            raise InvalidAddress(address, f'the domain part "{label}" is not a valid name')
    if encoded.rsplit(".", 1)[1].isdigit():
        raise InvalidAddress(address, "the domain ends in a number, not a name")
    return encoded


def _canonical_stages(address: str) -> tuple[_Spelling, ...]:
    """Stages 0-5 (see above)."""
    written, lowered, normalised = _spellings(address)
    local, domain = normalised
    if domain == "googlemail.com":
        domain = "gmail.com"
    ungoogled = (local, domain)
    if domain == "gmail.com" and not _is_quoted(local):
        local = local.replace(".", "")
    undotted = (local, domain)
    untagged = _untagged(local)
    return written, lowered, normalised, ungoogled, undotted, (untagged, domain)


def _untagged(local: str) -> str:
    """The local part without its plus tag.

    Unchanged if dropping the tag would leave no valid name: "+ana" is a name, "ana.+x" would leave "ana.".
    """
    if _is_quoted(local) or "+" not in local[1:]:
        return local
    base = local[: local.index("+", 1)]
    return base if not base.endswith(".") else local


def _joined(spelling: _Spelling) -> str:
    return f"{spelling[0]}@{spelling[1]}"


def _alias_stages(aliases: Iterable[str], primary: _Spelling) -> list[tuple[_Spelling, ...]]:
    """The usable aliases, each as its stages; not-addresses, non-SMTP entries and repeats skipped."""
    found: list[tuple[_Spelling, ...]] = []
    seen = {primary}
    for alias in aliases:
        typed = _TYPE_PREFIX.fullmatch(alias.strip())
        if typed and typed.group(1).lower() not in ("smtp", "mailto"):
            continue
        if typed and typed.group(1).lower() == "smtp":
            alias = typed.group(2)
        try:
            stages = _canonical_stages(alias)
        except InvalidAddress:
            continue
        if stages[-1] not in seen:
            seen.add(stages[-1])
            found.append(stages)
    return found


def _rules_between(a: tuple[_Spelling, ...], b: tuple[_Spelling, ...]) -> tuple[Equivalence, ...]:
    """The rules that brought two differing spellings together.

    A stage counts when the two still differed before it and it changed at least one of them.
    """
    rules = []
    for stage in range(1, len(_STAGE_RULES)):
        rule = _STAGE_RULES[stage]
        if (
            rule is not None
            and a[stage - 1] != b[stage - 1]
            and (a[stage] != a[stage - 1] or b[stage] != b[stage - 1])
        ):
            rules.append(rule)
    return tuple(rules)


def _describe_rules(rules: tuple[Equivalence, ...], raw_a: str, raw_b: str) -> str:
    words = {
        Equivalence.CASE: "letter case",
        Equivalence.IDN: "the international domain written in two forms",
        Equivalence.GOOGLEMAIL: "googlemail.com for gmail.com",
        Equivalence.GMAIL_DOTS: "dots, which Gmail ignores",
    }
    parts = []
    for rule in rules:
        if rule is Equivalence.PLUS_ADDRESS:
            tags = [tag for tag in (_plus_tag(raw_a), _plus_tag(raw_b)) if tag]
            parts.append(
                f"a plus tag ({' and '.join(tags)})" if len(tags) < 2 else f"plus tags ({' and '.join(tags)})"
            )
        else:
            parts.append(words[rule])
    return parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} and {parts[-1]}"


def _plus_tag(address: str) -> str:
    local = _spellings(address)[_NORMALISED][0]
    untagged = _untagged(local)
    return local[len(untagged) :] if untagged != local else ""
