"""Projection activities: the only writers of the read model.

Each writes its row and the SLA facts its history brings in one transaction: a projection that fails
leaves neither, and its retry writes both.
"""

from __future__ import annotations

from sqlalchemy import Engine
from temporalio import activity

from domain.cases import CaseView
from domain.conversations import ConversationRecord
from domain.facts import case_facts, conversation_facts, order_facts, work_order_facts
from domain.orders import OrderView
from domain.work_orders import WorkOrderRecord
from readmodel.projection import (
    conversation_watch_id,
    upsert_case,
    upsert_conversation,
    upsert_order,
    upsert_work_order,
)


class Records:
    """Writes what workflows report into the read model.

    Args:
        engine: the read model's database.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @activity.defn
    def project_order(self, view: OrderView) -> bool:
        """Upserts an order watch and adds its new SLA facts; an older or repeated revision is ignored."""
        workflow_id = activity.info().workflow_id
        assert workflow_id is not None, "projections run inside workflows"
        return upsert_order(self._engine, workflow_id=workflow_id, view=view, facts=order_facts(workflow_id, view))

    @activity.defn
    def project_case(self, view: CaseView) -> bool:
        """Upserts an after-sales case and adds its new SLA facts; an older or repeated revision is ignored."""
        workflow_id = activity.info().workflow_id
        assert workflow_id is not None, "projections run inside workflows"
        return upsert_case(self._engine, workflow_id=workflow_id, view=view, facts=case_facts(workflow_id, view))

    @activity.defn
    def project_conversation(self, record: ConversationRecord) -> bool:
        """Upserts a conversation; an older or repeated revision is ignored (safe to retry)."""
        workflow_id = activity.info().workflow_id
        assert workflow_id is not None, "projections run inside workflows"
        watch_id = conversation_watch_id(workflow_id, record.opened_at)
        facts = conversation_facts(watch_id, record.merchant_id, record.history, record.history_offset)
        return upsert_conversation(self._engine, workflow_id=workflow_id, record=record, facts=facts)

    @activity.defn
    def project_work_order(self, record: WorkOrderRecord) -> bool:
        """Upserts a work order's slim snapshot and adds the SLA facts of its history's tail."""
        workflow_id = activity.info().workflow_id
        assert workflow_id is not None, "projections run inside workflows"
        facts = work_order_facts(
            workflow_id,
            record.merchant_id,
            record.history_tail,
            first_index=record.history_from,
            opened_at=record.opened_at,
            first_response_at=record.first_response_at,
        )
        return upsert_work_order(self._engine, workflow_id=workflow_id, record=record, facts=facts)
