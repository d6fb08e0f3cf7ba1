"""Logging set-up for every process: one format, and a filter that keeps tokens out of every log line."""

from __future__ import annotations

import logging
import re

REDACTED = "[redacted]"
_SECRETS = (
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"),
    re.compile(r"(?i)((?:access|refresh|id)_token[\"']?\s*[:=]\s*[\"']?)[^\s\"'&,}]+"),
    re.compile(r"(?i)(/access-tokens/|/refresh-tokens/)[^\s/?\"']+"),  # HubSpot puts tokens in the path
    re.compile(r"()\bxox[abpre]-[A-Za-z0-9-]+"),  # Slack tokens
    re.compile(r"(?i)(client_secret[\"']?\s*[:=]\s*[\"']?)[^\s\"'&,}]+"),
)


def redact(text: str) -> str:
    for pattern in _SECRETS:
        text = pattern.sub(lambda m: m.group(1) + REDACTED, text)
    return text


class RedactingFilter(logging.Filter):
    """Renders the message, removes anything token-shaped, and keeps the record otherwise as it was."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and record.exc_text is None and record.exc_info[1] is not None:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        return True


def configure(level: int = logging.INFO) -> None:
    """Idempotent: a stderr handler with the redacting filter; the HTTP libraries' request lines off."""
    root = logging.getLogger()
    if not any(isinstance(f, RedactingFilter) for h in root.handlers for f in h.filters):
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler.addFilter(RedactingFilter())
        root.addHandler(handler)
    root.setLevel(level)
    for noisy in ("httpx", "httpcore"):  # they log every URL, and HubSpot URLs can carry a token
        logging.getLogger(noisy).setLevel(logging.WARNING)
