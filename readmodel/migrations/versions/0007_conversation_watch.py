"""conversation watch

Revision ID: 0007_conversation_watch
Revises: 0006_case_work_order
Create Date: 2026-11-26 06:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from readmodel.db import UTCDateTime

revision: str = "0007_conversation_watch"
down_revision: str | None = "0006_case_work_order"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "conversation_watch",
        sa.Column("watch_id", sa.String(length=120), nullable=False),
        sa.Column("workflow_id", sa.String(length=80), nullable=False),
        sa.Column("conversation_id", sa.String(length=64), nullable=False),
        sa.Column("merchant_id", sa.String(length=64), nullable=False),
        sa.Column("agent_id", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("transferred", sa.Boolean(), nullable=False),
        sa.Column("supervisor_told", sa.Boolean(), nullable=False),
        sa.Column("first_reply_seconds", sa.Integer(), nullable=True),
        sa.Column("waiting_since", UTCDateTime(timezone=True), nullable=True),
        sa.Column("deadline_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("opened_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("watch_id"),
    )
    indexed = ("workflow_id", "conversation_id", "merchant_id", "status", "transferred", "deadline_at", "opened_at")
    for column in indexed:
        op.create_index(f"ix_conversation_watch_{column}", "conversation_watch", [column])


def downgrade() -> None:
    op.drop_table("conversation_watch")
