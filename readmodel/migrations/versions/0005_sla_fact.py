"""sla facts

Revision ID: 0005_sla_fact
Revises: 0004 (after the work orders' table)
Create Date: 2026-11-26 05:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import readmodel.db

revision: str = "0005_sla_fact"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sla_fact",
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("workflow_id", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("process", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("merchant_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("clock", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("at", readmodel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("outcome", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("event", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    with op.batch_alter_table("sla_fact", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sla_fact_workflow_id"), ["workflow_id"], unique=False)
        batch_op.create_index("ix_sla_fact_merchant_at", ["merchant_id", "at"], unique=False)
        batch_op.create_index("ix_sla_fact_kind_at", ["kind", "at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("sla_fact", schema=None) as batch_op:
        batch_op.drop_index("ix_sla_fact_kind_at")
        batch_op.drop_index("ix_sla_fact_merchant_at")
        batch_op.drop_index(batch_op.f("ix_sla_fact_workflow_id"))
    op.drop_table("sla_fact")
