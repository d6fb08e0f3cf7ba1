"""Chat app installations (bot tokens encrypted) and single-use install states for OAuth installs.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _when(name: str, nullable: bool = False) -> sa.Column[datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "chat_installations",
        sa.Column("workspace_id", sa.String(96), primary_key=True),
        sa.Column("platform", sa.String(16), nullable=False),
        sa.Column("team_id", sa.String(64), nullable=False),
        sa.Column("enterprise_id", sa.String(64), nullable=False, server_default=""),
        sa.Column("team_name", sa.Text(), nullable=False, server_default=""),
        sa.Column("app_id", sa.String(64), nullable=False, server_default=""),
        sa.Column("bot_id", sa.String(64), nullable=False, server_default=""),
        sa.Column("bot_user_id", sa.String(64), nullable=False, server_default=""),
        sa.Column("bot_scopes", sa.Text(), nullable=False, server_default=""),
        sa.Column("bot_token_enc", sa.Text(), nullable=False),
        sa.Column("bot_refresh_token_enc", sa.Text(), nullable=False, server_default=""),
        _when("bot_token_expires_at", nullable=True),
        sa.Column("installer_user_id", sa.String(64), nullable=False, server_default=""),
        sa.Column("key_id", sa.String(32), nullable=False),
        _when("installed_at"),
        _when("updated_at"),
        _when("rotating_until", nullable=True),
    )
    op.create_table(
        "chat_install_states",
        sa.Column("state", sa.String(128), primary_key=True),
        _when("expires_at"),
    )


def downgrade() -> None:
    op.drop_table("chat_install_states")
    op.drop_table("chat_installations")
