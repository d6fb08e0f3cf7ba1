"""Tokenise `/syncstatus ...` text into a command word and its arguments, with a "did you mean" for typos."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass

from chatops.errors import CommandError

MAX_TEXT = 500
_EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
_SLACK_MAILTO = re.compile(r"^<mailto:([^|>]+)(?:\|[^>]*)?>$")


@dataclass(frozen=True, slots=True)
class Parsed:
    word: str  # the command word, "" for the default (status)
    args: tuple[str, ...]


def tokens(text: str) -> list[str]:
    if len(text) > MAX_TEXT:
        raise CommandError(f"That command is too long ({len(text)} characters; at most {MAX_TEXT}).")
    return [_unwrap(t) for t in text.split()]


def _unwrap(token: str) -> str:
    """Slack turns typed emails into <mailto:a@b|a@b>: keep the address."""
    match = _SLACK_MAILTO.match(token)
    return match.group(1) if match else token


def is_email(token: str) -> bool:
    return bool(_EMAIL.match(token))


def parse(text: str, words: Iterable[str]) -> Parsed:
    """The command word if the text starts with a known one (case-insensitive), else the default."""
    parts = tokens(text)
    if not parts:
        return Parsed("", ())
    head = parts[0].lower()
    known = set(words)
    if head in known:
        return Parsed(head, tuple(parts[1:]))
    return Parsed("", tuple(parts))


def suggest(word: str, candidates: Iterable[str]) -> str | None:
    matches = difflib.get_close_matches(word.lower(), list(candidates), n=1, cutoff=0.6)
    return matches[0] if matches else None
