"""Reconnect: single-use OAuth states (PKCE verifier encrypted) and the messages to update after a reconnect.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Tables are added here by the reconnect work; the revision exists so later ones can chain on it."""


def downgrade() -> None:
    """Nothing to undo yet."""
