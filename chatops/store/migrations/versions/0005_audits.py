"""Scheduled audits: subscriptions, digest and alert deliveries, alert states and snoozes.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _when(name: str, nullable: bool = False) -> sa.Column[datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    """The tables chatops/store/audits.py describes (delivery keys use idempotency_keys from 0001)."""
    op.create_table(
        "audit_subscriptions",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("workspace_id", sa.String(96), nullable=False),
        sa.Column("platform", sa.String(16), nullable=False),
        sa.Column("destination", sa.String(255), nullable=False),
        sa.Column("destination_name", sa.Text(), nullable=False),
        sa.Column("cadence", sa.String(8), nullable=False),
        sa.Column("weekday", sa.Integer(), nullable=False),
        sa.Column("hour", sa.Integer(), nullable=False),
        sa.Column("minute", sa.Integer(), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        _when("created_at"),
        _when("updated_at"),
        sa.UniqueConstraint("workspace_id", "destination", name="uq_audit_subscriptions_destination"),
    )
    op.create_table(
        "audit_digests",
        sa.Column("subscription_id", sa.String(32), primary_key=True),
        sa.Column("period", sa.String(32), primary_key=True),
        sa.Column("workspace_id", sa.String(96), nullable=False),
        _when("sent_at"),
        sa.Column("snapshot", sa.JSON(), nullable=False),
    )
    op.create_table(
        "audit_alerts",
        sa.Column("workspace_id", sa.String(96), primary_key=True),
        sa.Column("connection_id", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(160), primary_key=True),
        sa.Column("fingerprint", sa.Text(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("open", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("notified_version", sa.Integer(), nullable=False),
        sa.Column("resolved_notified", sa.Boolean(), nullable=False),
        _when("opened_at"),
        _when("updated_at"),
        _when("resolved_at", nullable=True),
    )
    op.create_table(
        "audit_snoozes",
        sa.Column("workspace_id", sa.String(96), primary_key=True),
        sa.Column("connection_id", sa.String(64), primary_key=True),
        _when("until"),
        sa.Column("snoozed_by", sa.String(128), nullable=False),
        _when("created_at"),
    )
    op.create_index("ix_audit_snoozes_until", "audit_snoozes", ["until"])


def downgrade() -> None:
    op.drop_index("ix_audit_snoozes_until", table_name="audit_snoozes")
    for table in ("audit_snoozes", "audit_alerts", "audit_digests", "audit_subscriptions"):
        op.drop_table(table)
