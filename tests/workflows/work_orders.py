"""Helpers of the work-order stories: open one, read what the robots and the SMS side received."""

from __future__ import annotations

import json
import uuid
from typing import Any

from temporalio.client import Client, WorkflowHandle

from config.settings import Settings
from domain import ids
from domain.calendar import ROUND_THE_CLOCK, BusinessCalendar
from domain.work_orders import OpenWorkOrder, WorkOrderInput, WorkOrderView
from tests.peers.server import Peer
from tests.workflows.conftest import remember
from workflows import search_attributes as sa
from workflows.work_order import WorkOrderWorkflow

WorkOrder = WorkflowHandle[WorkOrderWorkflow, WorkOrderView]


async def open_work_order(
    client: Client,
    settings: Settings,
    merchant_id: str,
    *,
    calendar: BusinessCalendar = ROUND_THE_CLOCK,
    max_history_events: int = 5000,
    callbacks: bool = False,
    **fields: Any,
) -> WorkOrder:
    """Opens a normal-priority quality work order of ``merchant_id`` (``fields`` change the request)."""
    request = OpenWorkOrder.model_validate(
        {
            "work_order_id": f"WO-{uuid.uuid4().hex[:8]}",
            "merchant_id": merchant_id,
            "category": "quality",
            "priority": "normal",
            "title": "电水壶漏水",
            "description": "收到第二天就漏水了",
            "customer_id": "c-1001",
            **fields,
        }
    )
    handle = await client.start_workflow(
        WorkOrderWorkflow.run,
        WorkOrderInput(
            request=request,
            policy=settings.policy(),
            calendar=calendar,
            board_url="http://board.test",
            max_history_events=max_history_events,
            callbacks=callbacks,
        ),
        id=ids.work_order(request.work_order_id),
        task_queue=settings.task_queue,
        search_attributes=sa.initial_work_order_attributes(
            merchant_id=merchant_id,
            order_id=request.order_id,
            status="assigned" if request.assignee_id else "unassigned",
            priority=request.priority.value,
            assignee_id=request.assignee_id,
        ),
    )
    remember(settings.task_queue, handle.id)
    return handle


def about(peer: Peer, work_order_id: str) -> list[dict[str, Any]]:
    """The messages a peer received about one work order."""
    return [message for message in peer.messages if work_order_id in json.dumps(message, ensure_ascii=False)]


def text(message: dict[str, Any]) -> str:
    """The body of a robot's message, DingTalk markdown or WeCom text/markdown."""
    for kind in ("markdown", "text"):
        if kind in message:
            return str(message[kind].get("text") or message[kind].get("content"))
    return json.dumps(message, ensure_ascii=False)


def events(view: WorkOrderView) -> list[str]:
    """The history's events with their details: ``escalated first_response breach (generation 0, level 1)``."""
    return [f"{entry.event} {entry.detail}".strip() for entry in view.history]
