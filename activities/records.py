"""Projection activities: the only writers of the read model."""

from __future__ import annotations

from sqlalchemy import Engine
from temporalio import activity

from domain.cases import CaseView
from domain.conversations import ConversationRecord
from domain.orders import OrderView
from domain.work_orders import WorkOrderRecord
from readmodel.projection import upsert_case, upsert_conversation, upsert_order, upsert_work_order


class Records:
    """Writes what workflows report into the read model.

    Args:
        engine: the read model's database.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @activity.defn
    def project_order(self, view: OrderView) -> bool:
        """Upserts an order watch; an older or repeated revision is ignored (safe to retry)."""
        workflow_id = activity.info().workflow_id
        assert workflow_id is not None, "projections run inside workflows"
        return upsert_order(self._engine, workflow_id=workflow_id, view=view)

    @activity.defn
    def project_case(self, view: CaseView) -> bool:
        """Upserts an after-sales case; an older or repeated revision is ignored (safe to retry)."""
        workflow_id = activity.info().workflow_id
        assert workflow_id is not None, "projections run inside workflows"
        return upsert_case(self._engine, workflow_id=workflow_id, view=view)

    @activity.defn
    def project_conversation(self, record: ConversationRecord) -> bool:
        """Upserts a conversation; an older or repeated revision is ignored (safe to retry)."""
        workflow_id = activity.info().workflow_id
        assert workflow_id is not None, "projections run inside workflows"
        return upsert_conversation(self._engine, workflow_id=workflow_id, record=record)

    @activity.defn
    def project_work_order(self, record: WorkOrderRecord) -> bool:
        """Upserts a work order's slim snapshot; an older or repeated revision is ignored (safe to retry)."""
        workflow_id = activity.info().workflow_id
        assert workflow_id is not None, "projections run inside workflows"
        return upsert_work_order(self._engine, workflow_id=workflow_id, record=record)
