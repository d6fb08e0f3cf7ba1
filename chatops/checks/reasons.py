"""What provider error codes mean for a person, and what to do about them (data, not branches)."""

from __future__ import annotations

from dataclasses import dataclass

from chatops.errors import (
    AuthError,
    BadResponse,
    PermissionDenied,
    ProviderError,
    RateLimited,
    Unavailable,
)
from chatops.findings import Cause, Status
from chatops.model import Provider


@dataclass(frozen=True, slots=True)
class Reason:
    cause: Cause
    status: Status
    text: str  # completes "<Provider> ... while reading the mailbox."
    remedy: tuple[str, ...]


_RECONNECT = "Click Reconnect and sign in again with the same account."

# Token-endpoint and API codes -> what happened. Keys are the codes ProviderError.code carries.
AUTH_CODES: dict[str, tuple[str, tuple[str, ...]]] = {
    "invalid_grant": ("access was revoked or has expired (invalid_grant)", (_RECONNECT,)),
    "undecryptable": (
        "access can no longer be read because the encryption key that protected it was retired",
        (_RECONNECT,),
    ),
    "AADSTS700082": (
        "sign-in expired because it was not used for 90 days (AADSTS700082)", (_RECONNECT,)),
    "AADSTS70008": ("sign-in expired (AADSTS70008)", (_RECONNECT,)),
    "AADSTS50173": (
        "sign-in was invalidated by a password change or an admin revoking sessions (AADSTS50173)",
        (_RECONNECT,),
    ),
    "AADSTS700084": (
        "sign-in reached the end of its fixed lifetime (AADSTS700084)", (_RECONNECT,)),
    "AADSTS54005": ("sign-in code was already used (AADSTS54005)", (_RECONNECT,)),
    "needs_reconnect": (
        "access was refused for good on an earlier check, so it is not asked again until Reconnect",
        (_RECONNECT,),
    ),
    "AADSTS65001": (
        "access was never consented to for this app (AADSTS65001)",
        ("Ask your Microsoft 365 admin to grant consent to the sync app, or click Reconnect and accept.",),
    ),
    "AADSTS50076": (
        "now requires multi-factor sign-in (AADSTS50076)",
        ("Click Reconnect and complete the multi-factor prompt.",),
    ),
    "AADSTS50079": (
        "now requires multi-factor enrolment (AADSTS50079)",
        ("Enrol in multi-factor authentication, then click Reconnect.",),
    ),
    "AADSTS53003": (
        "sign-in was blocked by a Conditional Access policy (AADSTS53003)",
        ("Ask your Microsoft 365 admin to allow the sync app in Conditional Access, then click Reconnect.",),
    ),
    "AADSTS50126": ("rejected the user name or password (AADSTS50126)", (_RECONNECT,)),
    "AADSTS50057": (
        "reports the user account is disabled (AADSTS50057)",
        ("Ask your admin to re-enable the account, then click Reconnect.",),
    ),
    "AADSTS7000215": (
        "rejected the sync app's client secret (AADSTS7000215)",
        ("Ask your admin to renew the app's client secret in Entra ID and update it in chatops.",),
    ),
    "AADSTS700016": (
        "does not know the sync app in this tenant (AADSTS700016)",
        ("Ask your admin to register or consent to the sync app in this tenant.",),
    ),
    "BAD_REFRESH_TOKEN": ("access was revoked or has expired (BAD_REFRESH_TOKEN)", (_RECONNECT,)),
    "EXPIRED_AUTHENTICATION": ("access has expired", (_RECONNECT,)),
    "INVALID_SESSION_ID": ("session is no longer valid (INVALID_SESSION_ID)", (_RECONNECT,)),
    "InvalidAuthenticationToken": ("rejected the access token", (_RECONNECT,)),
    "unauthorized_client": (
        "does not allow the sync app to refresh access (unauthorized_client)",
        ("Ask your admin to check the sync app's OAuth client settings.",),
    ),
    "invalid_client": (
        "rejected the sync app's client id or secret (invalid_client)",
        ("Ask your admin to check the sync app's client id and secret.",),
    ),
}

# Refusals no retry can cure: only a new consent (Reconnect) revives the grant, so after one such answer the
# grant is marked needs_reconnect and its token endpoint is not called again. Per provider, each code maps to
# words its description must carry ("" = any). Left out on purpose, because they recover without a Reconnect:
# Salesforce's IP and login-hour refusals (also invalid_grant), Conditional Access and MFA codes (AADSTS53003,
# AADSTS50076, AADSTS50079) and client-secret errors (invalid_client, AADSTS7000215), which fail every grant.
_MICROSOFT_TERMINAL: dict[str, tuple[str, ...]] = {
    "AADSTS70008": ("",),  # refresh token expired through inactivity
    "AADSTS700082": ("",),  # refresh token expired: unused for 90 days
    "AADSTS50173": ("",),  # grant revoked: password change or sessions revoked
    "AADSTS700084": ("",),  # refresh token of a single-page app reached its fixed lifetime
    "AADSTS54005": ("",),  # authorization code already redeemed
}
TERMINAL_REFUSALS: dict[str, dict[str, tuple[str, ...]]] = {
    "google": {"invalid_grant": ("has been expired or revoked",)},  # revoked, or Testing-mode 7-day expiry
    "microsoft": _MICROSOFT_TERMINAL,
    "dynamics": _MICROSOFT_TERMINAL,  # the same identity platform
    "salesforce": {"invalid_grant": ("expired access/refresh token",)},
    "hubspot": {"BAD_REFRESH_TOKEN": ("",)},  # app uninstalled or the refresh token revoked
}


def is_terminal(exc: ProviderError) -> bool:
    """Whether a refresh refusal means the grant is dead until Reconnect (TERMINAL_REFUSALS)."""
    if not isinstance(exc, AuthError):
        return False
    words = TERMINAL_REFUSALS.get(exc.provider, {}).get(exc.code)
    detail = exc.detail.lower()
    return words is not None and any(w in detail for w in words)


# Codes that look like other errors but mean a mailbox that is not set up for API access.
MAILBOX_CODES: dict[str, tuple[str, tuple[str, ...]]] = {
    "MailboxNotEnabledForRESTAPI": (
        "says this mailbox is not enabled for API access (MailboxNotEnabledForRESTAPI): it is on-premises, "
        "inactive, soft-deleted or has no Exchange Online licence",
        ("Ask your Microsoft 365 admin to assign an Exchange Online licence or migrate the mailbox to "
         "Exchange Online.",),
    ),
    "ErrorNonExistentMailbox": (
        "has no mailbox for this user (ErrorNonExistentMailbox)",
        ("Ask your Microsoft 365 admin to create the mailbox or assign an Exchange Online licence.",),
    ),
    "failedPrecondition": (
        "says Gmail is not enabled for this account (failedPrecondition)",
        ("Ask your Google Workspace admin to turn Gmail on for this user.",),
    ),
    "API_DISABLED_FOR_ORG": (
        "has API access turned off for this org or user (API_DISABLED_FOR_ORG)",
        ("Ask your Salesforce admin to give the user the 'API Enabled' permission.",),
    ),
}


def provider_label(provider: str) -> str:
    try:
        return Provider(provider).label
    except ValueError:
        return provider


# Token-endpoint answers whose description, not their code, says what happened.
AUTH_DETAILS: dict[str, tuple[Cause, str, tuple[str, ...]]] = {
    "inactive user": (
        Cause.MAILBOX_CONFIG, "reports the user is deactivated (invalid_grant: inactive user)",
        ("Ask your CRM admin to reactivate the user or move the connection to an active user, then click Retest.",),
    ),
}


def describe(exc: ProviderError) -> Reason:
    """The plain meaning of a ProviderError."""
    detail = exc.detail.lower()
    for words, (cause, text, remedy) in AUTH_DETAILS.items():
        if isinstance(exc, AuthError) and words in detail:
            return Reason(cause, Status.FAIL, text, remedy)
    if exc.code in MAILBOX_CODES:
        text, remedy = MAILBOX_CODES[exc.code]
        return Reason(Cause.MAILBOX_CONFIG, Status.FAIL, text, remedy)
    if isinstance(exc, AuthError):
        text, remedy = AUTH_CODES.get(exc.code, ("rejected the stored access", (_RECONNECT,)))
        return Reason(Cause.CREDENTIALS, Status.FAIL, text, remedy)
    if isinstance(exc, RateLimited):
        wait = (f" for {int(exc.retry_after.total_seconds())} s" if exc.retry_after else "")
        return Reason(
            Cause.RATE_LIMIT, Status.WARN, f"is throttling requests{wait} ({exc.code or exc.status})",
            ("Wait for the limit to reset; if it keeps happening, lengthen the sync interval.",),
        )
    if isinstance(exc, PermissionDenied):
        return Reason(
            Cause.CREDENTIALS, Status.FAIL, f"refused access ({exc.code or exc.status})",
            ("Click Reconnect and approve every permission the app asks for.",),
        )
    if isinstance(exc, Unavailable):
        return Reason(
            Cause.NETWORK, Status.WARN, f"could not be reached ({exc.detail})",
            ("Run Retest in a few minutes; if it persists, see the network finding.",),
        )
    if isinstance(exc, BadResponse):
        if exc.code == "html":
            return Reason(
                Cause.NETWORK, Status.FAIL,
                "answered with a web page instead of API data, which is what a proxy or captive portal does",
                ("Ask IT to let the sync reach this host without a proxy login or web filter.",),
            )
        return Reason(Cause.OTHER, Status.ERROR, f"gave an answer we could not read ({exc.detail})",
                      ("Run Retest; if it persists, contact support with the evidence.",))
    return Reason(Cause.OTHER, Status.ERROR, f"answered with an error ({exc.evidence})",
                  ("Run Retest; if it persists, contact support with the evidence.",))
