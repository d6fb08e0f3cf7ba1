"""Every error chatops raises on purpose, and where each is translated.

ChatopsError
├── ConfigError          a setting is missing or invalid (CLI exit 2, start-up stops)
├── NotFound             unknown connection, user or subscription
├── AlreadyExists        a connection name or id already used in the workspace
├── CommandError         text the grammar can't parse; carries a suggestion
├── StoreError           database unavailable, locked or read-only
└── ProviderError        an outside API answered badly: provider, status, code, detail
    ├── AuthError        401, invalid_grant, AADSTS...: Reconnect fixes it
    ├── PermissionDenied 403, missing scope, calendar not shared
    ├── RateLimited      429 or quota exhausted; carries retry_after
    ├── Unavailable      5xx, timeout, refused, after retries
    └── BadResponse      HTML instead of JSON, truncated body, unexpected shape

Provider clients turn httpx errors into ProviderError; checks turn ProviderError into findings;
the runner turns anything else into an `error` finding; edges turn the rest into a status or a line.
"""

from __future__ import annotations

from datetime import timedelta


class ChatopsError(Exception):
    """Base of every error chatops raises on purpose."""


class ConfigError(ChatopsError):
    """A setting is missing or invalid."""


class NotFound(ChatopsError):
    """An unknown connection, user, workspace or subscription."""


class AlreadyExists(ChatopsError):
    """A connection or grant with that name or id is already in the workspace."""


class CommandError(ChatopsError):
    """Command text the grammar cannot parse."""

    def __init__(self, message: str, suggestion: str | None = None) -> None:
        super().__init__(message)
        self.suggestion = suggestion


class StoreError(ChatopsError):
    """The database is unavailable, locked or read-only."""


class ProviderError(ChatopsError):
    """An outside API answered badly.

    Args:
        provider: provider id ("google", "microsoft", ...).
        status: HTTP status, or 0 when there was no HTTP answer.
        code: the provider's own error code ("invalid_grant", "AADSTS700082", "INVALID_SESSION_ID").
        detail: a short, token-free description fit for a ticket.
    """

    def __init__(self, provider: str, detail: str, *, status: int = 0, code: str = "") -> None:
        super().__init__(f"{provider}: {detail}")
        self.provider = provider
        self.status = status
        self.code = code
        self.detail = detail

    @property
    def evidence(self) -> str:
        """One line for a finding's evidence: "400 invalid_grant: Token has been expired or revoked."."""
        head = " ".join(part for part in (str(self.status) if self.status else "", self.code) if part)
        return f"{head}: {self.detail}" if head else self.detail


class AuthError(ProviderError):
    """The grant no longer works (revoked, expired, consent missing); Reconnect fixes it."""


class PermissionDenied(ProviderError):
    """The grant works but lacks a scope or a share."""


class RateLimited(ProviderError):
    """A rate limit or quota was hit."""

    def __init__(
        self, provider: str, detail: str, *, status: int = 429, code: str = "",
        retry_after: timedelta | None = None,
    ) -> None:
        super().__init__(provider, detail, status=status, code=code)
        self.retry_after = retry_after


class Unavailable(ProviderError):
    """The provider could not be reached or answered 5xx, after retries."""


class BadResponse(ProviderError):
    """The provider answered with something that is not what its API documents."""
