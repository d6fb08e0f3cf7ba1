"""The neutral chat currency: who asked what (CommandRequest, ActionRequest) and what to answer (Reply)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from chatops.cards import Card
from chatops.findings import ActionKind

if TYPE_CHECKING:  # progress.py imports this module
    from chatops.progress import Progress


@dataclass(frozen=True, slots=True)
class ChatUser:
    platform: str  # "slack", "teams", "local"
    user_id: str  # Slack U123 / Teams aadObjectId
    email: str = ""  # resolved by the adapter (users.info / roster); "" when unknown
    name: str = ""
    is_admin: bool = False


@dataclass(frozen=True, slots=True)
class MessageRef:
    """Where a card was posted, so it can be updated in place."""

    channel_id: str
    message_id: str = ""  # Slack ts / Teams activity id
    response_url: str = ""  # Slack only


APP_HOME: Final = MessageRef(channel_id="", message_id="app_home")
"""Where a card shown on a member's App Home tab is: one per member, republished rather than updated."""


@dataclass(frozen=True, slots=True)
class CommandRequest:
    workspace_id: str
    user: ChatUser
    text: str  # what followed the command word: "all", "@ana", "logs ana-sfdc"
    channel_id: str = ""
    command: str = "/syncstatus"  # how the user invokes it here (Teams: "syncstatus"), for help and hints
    # where the asker watches a diagnosis fill in, when the edge can update its answer in place
    progress: Progress | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class ActionRequest:
    workspace_id: str
    user: ChatUser
    kind: ActionKind
    target: str  # a connection id, or "<connection id>:<role>" for Reconnect
    value: str = ""  # e.g. snooze duration "1d" / "7d", or a page number
    message: MessageRef | None = None


@dataclass(frozen=True, slots=True)
class Reply:
    text: str  # always set: the notification / fallback text
    card: Card | None = None
    ephemeral: bool = False  # only the asker sees it
    replace_original: bool = False
