"""work order watch

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 05:25:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import readmodel.db

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "work_order_watch",
        sa.Column("workflow_id", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("work_order_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("merchant_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("category", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("priority", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("assignee_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("escalation_level", sa.Integer(), nullable=False),
        sa.Column("overdue", sa.Boolean(), nullable=False),
        sa.Column("breached_clocks", sa.JSON(), nullable=False),
        sa.Column("deadline_at", readmodel.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("overdue_since", readmodel.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("opened_at", readmodel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("first_response_at", readmodel.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("resolved_at", readmodel.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("satisfaction", sa.Integer(), nullable=True),
        sa.Column("case_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("updated_at", readmodel.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("workflow_id"),
    )
    with op.batch_alter_table("work_order_watch", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_work_order_watch_assignee_id"), ["assignee_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_work_order_watch_deadline_at"), ["deadline_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_work_order_watch_merchant_id"), ["merchant_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_work_order_watch_overdue"), ["overdue"], unique=False)
        batch_op.create_index(batch_op.f("ix_work_order_watch_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_work_order_watch_work_order_id"), ["work_order_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("work_order_watch", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_work_order_watch_work_order_id"))
        batch_op.drop_index(batch_op.f("ix_work_order_watch_status"))
        batch_op.drop_index(batch_op.f("ix_work_order_watch_overdue"))
        batch_op.drop_index(batch_op.f("ix_work_order_watch_merchant_id"))
        batch_op.drop_index(batch_op.f("ix_work_order_watch_deadline_at"))
        batch_op.drop_index(batch_op.f("ix_work_order_watch_assignee_id"))
    op.drop_table("work_order_watch")
