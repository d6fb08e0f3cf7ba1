"""Reconnect: single-use OAuth states (PKCE verifier encrypted) and the messages to update after a reconnect.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _when(name: str, nullable: bool = False) -> sa.Column[datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    """The tables chatops/store/reconnect_states.py describes."""
    op.create_table(
        "reconnect_states",
        sa.Column("state_hash", sa.String(64), primary_key=True),
        sa.Column("link_id", sa.String(64), nullable=False),
        sa.Column("workspace_id", sa.String(96), nullable=False),
        sa.Column("platform", sa.String(16), nullable=False),
        sa.Column("chat_user_id", sa.String(128), nullable=False),
        sa.Column("connection_id", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("provider", sa.String(16), nullable=False),
        sa.Column("verifier_enc", sa.Text(), nullable=False),
        sa.Column("browser_hash", sa.String(64), nullable=False),
        _when("created_at"),
        _when("expires_at"),
        _when("used_at", nullable=True),
    )
    op.create_index("ix_reconnect_states_expires", "reconnect_states", ["expires_at"])
    op.create_table(
        "reconnect_links",
        sa.Column("link_id", sa.String(64), primary_key=True),
        sa.Column("workspace_id", sa.String(96), nullable=False),
        sa.Column("connection_id", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        _when("completed_at"),
        _when("expires_at"),
    )
    op.create_table(
        "reconnect_consents",
        sa.Column("workspace_id", sa.String(96), primary_key=True),
        sa.Column("connection_id", sa.String(64), primary_key=True),
        sa.Column("role", sa.String(16), primary_key=True),
        sa.Column("provider", sa.String(16), nullable=False),
        _when("consented_at"),
    )
    op.create_table(
        "reconnect_messages",
        sa.Column("link_id", sa.String(64), primary_key=True),
        sa.Column("message_key", sa.String(64), primary_key=True),
        sa.Column("workspace_id", sa.String(96), nullable=False),
        sa.Column("platform", sa.String(16), nullable=False),
        sa.Column("channel_id", sa.Text(), nullable=False),
        sa.Column("message_id", sa.Text(), nullable=False),
        sa.Column("response_url_enc", sa.Text(), nullable=False),
        sa.Column("shown", sa.Text(), nullable=False),
        _when("created_at"),
        _when("expires_at"),
    )
    op.create_index("ix_reconnect_messages_expires", "reconnect_messages", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_reconnect_messages_expires", table_name="reconnect_messages")
    op.drop_table("reconnect_messages")
    op.drop_table("reconnect_consents")
    op.drop_table("reconnect_links")
    op.drop_index("ix_reconnect_states_expires", table_name="reconnect_states")
    op.drop_table("reconnect_states")
