"""case work order

Revision ID: 0006_case_work_order
Revises: 0005_sla_fact
Create Date: 2026-11-26 06:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_case_work_order"
down_revision: str | None = "0005_sla_fact"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("case_watch", schema=None) as batch_op:
        batch_op.add_column(sa.Column("work_order_id", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("case_watch", schema=None) as batch_op:
        batch_op.drop_column("work_order_id")
