"""Scheduled audits: subscriptions, digest and alert deliveries, alert states and snoozes.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Tables are added here by the audits work; the revision exists so later ones can chain on it."""


def downgrade() -> None:
    """Nothing to undo yet."""
