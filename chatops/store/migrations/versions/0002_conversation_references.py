"""Conversation references: where the chat bot may post later (Teams channels, group chats, personal chats).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _when(name: str) -> sa.Column[datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False)


def upgrade() -> None:
    op.create_table(
        "conversation_references",
        sa.Column("workspace_id", sa.String(), nullable=False),
        sa.Column("conversation_id", sa.String(), nullable=False),
        sa.Column("platform", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("team_id", sa.String(), nullable=False),
        sa.Column("channel_id", sa.String(), nullable=False),
        sa.Column("user_id", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("service_url", sa.String(), nullable=False),
        sa.Column("reference", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        _when("created_at"),
        _when("updated_at"),
        sa.PrimaryKeyConstraint("workspace_id", "conversation_id"),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"], ondelete="CASCADE",
                                name="fk_conversation_references_workspace"),
    )
    op.create_index("ix_conversation_references_kind", "conversation_references",
                    ["workspace_id", "platform", "kind"])
    op.create_index("ix_conversation_references_user", "conversation_references", ["workspace_id", "user_id"])


def downgrade() -> None:
    op.drop_index("ix_conversation_references_user", "conversation_references")
    op.drop_index("ix_conversation_references_kind", "conversation_references")
    op.drop_table("conversation_references")
