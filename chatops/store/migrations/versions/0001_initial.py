"""Initial schema: workspaces, members, connections, encrypted grants, reports, events, quotas, dedupe keys.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Written out, not imported from tables.py: a migration must keep meaning what it meant when written.
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _when(name: str, nullable: bool = False) -> sa.Column[datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "workspaces",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("platform", sa.String(), nullable=False),
        sa.Column("external_id", sa.String(), nullable=False),
        _when("created_at"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "members",
        sa.Column("workspace_id", sa.String(), nullable=False),
        sa.Column("chat_user_id", sa.String(), nullable=False),
        sa.Column("email", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("is_admin", sa.Boolean(), nullable=False),
        _when("updated_at"),
        sa.PrimaryKeyConstraint("workspace_id", "chat_user_id"),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspaces.id"], ondelete="CASCADE", name="fk_members_workspace"
        ),
    )
    op.create_index("ix_members_email", "members", ["workspace_id", "email"])
    op.create_table(
        "connections",
        sa.Column("workspace_id", sa.String(), nullable=False),
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("owner_email", sa.String(), nullable=False),
        sa.Column("crm", sa.String(), nullable=False),
        sa.Column("crm_user_email", sa.String(), nullable=False),
        sa.Column("mailbox_provider", sa.String(), nullable=False),
        sa.Column("mailbox_email", sa.String(), nullable=False),
        sa.Column("calendar_provider", sa.String(), nullable=True),
        sa.Column("sync_account", sa.String(), nullable=False),
        sa.Column("mail_host", sa.String(), nullable=False),
        sa.Column("calls_per_sync", sa.Integer(), nullable=False),
        sa.Column("sync_jobs", sa.JSON(), nullable=False),
        _when("created_at"),
        sa.PrimaryKeyConstraint("workspace_id", "id"),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspaces.id"], ondelete="CASCADE", name="fk_connections_workspace"
        ),
        sa.UniqueConstraint("workspace_id", "name", name="uq_connections_name"),
    )
    op.create_table(
        "grants",
        sa.Column("pk", sa.Integer(), nullable=False, autoincrement=True),
        sa.Column("workspace_id", sa.String(), nullable=False),
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("connection_id", sa.String(), nullable=False),
        sa.Column("provider", sa.String(), nullable=False),
        sa.Column("role", sa.String(), nullable=False),
        sa.Column("account", sa.String(), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("access_token_enc", sa.Text(), nullable=False),  # Fernet ciphertext only, never a token
        sa.Column("refresh_token_enc", sa.Text(), nullable=False),
        sa.Column("key_id", sa.String(), nullable=True),
        _when("expires_at", nullable=True),
        sa.Column("instance_url", sa.String(), nullable=False),
        sa.Column("keeper", sa.String(), nullable=False),
        sa.Column("needs_reconnect", sa.Boolean(), nullable=False),
        _when("updated_at"),
        sa.PrimaryKeyConstraint("pk"),
        sa.ForeignKeyConstraint(
            ["workspace_id", "connection_id"],
            ["connections.workspace_id", "connections.id"],
            ondelete="CASCADE",
            name="fk_grants_connection",
        ),
        sa.UniqueConstraint("workspace_id", "id", name="uq_grants_id"),
        sa.UniqueConstraint("workspace_id", "connection_id", "role", name="uq_grants_role"),
    )
    op.create_table(
        "runs",
        sa.Column("pk", sa.Integer(), nullable=False, autoincrement=True),
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("workspace_id", sa.String(), nullable=False),
        _when("started_at"),
        _when("finished_at"),
        sa.PrimaryKeyConstraint("pk"),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspaces.id"], ondelete="CASCADE", name="fk_runs_workspace"
        ),
        sa.UniqueConstraint("id", name="uq_runs_id"),
    )
    op.create_index("ix_runs_started", "runs", ["workspace_id", "started_at"])
    op.create_table(
        "findings",
        sa.Column("pk", BIG_ID, nullable=False, autoincrement=True),
        sa.Column("run_pk", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.String(), nullable=False),
        sa.Column("connection_id", sa.String(), nullable=False),
        sa.Column("check", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("cause", sa.String(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("subject", sa.String(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("remedy", sa.JSON(), nullable=False),
        sa.Column("actions", sa.JSON(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("pk"),
        sa.ForeignKeyConstraint(["run_pk"], ["runs.pk"], ondelete="CASCADE", name="fk_findings_run"),
    )
    op.create_index("ix_findings_connection", "findings", ["workspace_id", "connection_id", "run_pk"])
    op.create_index("ix_findings_run", "findings", ["run_pk"])
    op.create_table(
        "sync_events",
        sa.Column("pk", BIG_ID, nullable=False, autoincrement=True),
        sa.Column("workspace_id", sa.String(), nullable=False),
        sa.Column("connection_id", sa.String(), nullable=False),
        _when("at", nullable=True),
        sa.Column("line", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("pk"),
        sa.ForeignKeyConstraint(
            ["workspace_id", "connection_id"],
            ["connections.workspace_id", "connections.id"],
            ondelete="CASCADE",
            name="fk_sync_events_connection",
        ),
    )
    op.create_index("ix_sync_events_scope", "sync_events", ["workspace_id", "connection_id", "at"])
    op.create_table(
        "quota_samples",
        sa.Column("pk", BIG_ID, nullable=False, autoincrement=True),
        sa.Column("workspace_id", sa.String(), nullable=False),
        sa.Column("connection_id", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("used", sa.BigInteger(), nullable=False),
        sa.Column("quota_limit", sa.BigInteger(), nullable=False),
        sa.Column("window", sa.String(), nullable=False),
        _when("resets_at", nullable=True),
        _when("at"),
        sa.PrimaryKeyConstraint("pk"),
        sa.ForeignKeyConstraint(
            ["workspace_id", "connection_id"],
            ["connections.workspace_id", "connections.id"],
            ondelete="CASCADE",
            name="fk_quota_samples_connection",
        ),
    )
    op.create_index(
        "ix_quota_samples_scope", "quota_samples", ["workspace_id", "connection_id", "name", "at"]
    )
    op.create_table(
        "processed_events",
        sa.Column("pk", BIG_ID, nullable=False, autoincrement=True),
        sa.Column("workspace_id", sa.String(), nullable=False),
        sa.Column("key", sa.String(), nullable=False),
        _when("seen_at"),
        sa.PrimaryKeyConstraint("pk"),
        sa.UniqueConstraint("workspace_id", "key", name="uq_processed_events_key"),
    )
    op.create_index("ix_processed_events_seen", "processed_events", ["seen_at"])
    op.create_table(
        "idempotency_keys",
        sa.Column("pk", BIG_ID, nullable=False, autoincrement=True),
        sa.Column("workspace_id", sa.String(), nullable=False),
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("state", sa.String(), nullable=False),
        _when("created_at"),
        _when("updated_at"),
        sa.PrimaryKeyConstraint("pk"),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspaces.id"], ondelete="CASCADE", name="fk_idempotency_keys_workspace"
        ),
        sa.UniqueConstraint("workspace_id", "key", name="uq_idempotency_keys_key"),
        sa.CheckConstraint("state IN ('pending', 'sent')", name="ck_idempotency_keys_state"),
    )


def downgrade() -> None:
    for table in (
        "idempotency_keys",
        "processed_events",
        "quota_samples",
        "sync_events",
        "findings",
        "runs",
        "grants",
        "connections",
        "members",
        "workspaces",
    ):
        op.drop_table(table)
