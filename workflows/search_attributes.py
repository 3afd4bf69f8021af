"""The custom search attributes supervisors filter on in the Temporal Web UI."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributeKey, SearchAttributePair, SearchAttributeUpdate, TypedSearchAttributes

from domain.cases import CaseStatus
from domain.orders import OrderStatus, PlaceOrder

MERCHANT_ID = SearchAttributeKey.for_keyword("MerchantId")
ORDER_ID = SearchAttributeKey.for_keyword("OrderId")
CASE_KIND = SearchAttributeKey.for_keyword("CaseKind")
CASE_STATUS = SearchAttributeKey.for_keyword("CaseStatus")
DEADLINE_AT = SearchAttributeKey.for_datetime("DeadlineAt")
OVERDUE = SearchAttributeKey.for_bool("Overdue")
PRIORITY = SearchAttributeKey.for_keyword("Priority")  # work orders: urgent | normal
ASSIGNEE_ID = SearchAttributeKey.for_keyword("AssigneeId")  # work orders: who holds it now

ALL = (MERCHANT_ID, ORDER_ID, CASE_KIND, CASE_STATUS, DEADLINE_AT, OVERDUE, PRIORITY, ASSIGNEE_ID)


def initial_order_attributes(order: PlaceOrder, *, ship_deadline_at: datetime | None = None) -> TypedSearchAttributes:
    """The search attributes an order watch starts with."""
    pairs: list[SearchAttributePair[Any]] = [
        SearchAttributePair(MERCHANT_ID, order.merchant_id),
        SearchAttributePair(ORDER_ID, order.order_id),
        SearchAttributePair(CASE_KIND, "order"),
        SearchAttributePair(CASE_STATUS, OrderStatus.AWAITING_SHIPMENT.value),
        SearchAttributePair(OVERDUE, False),
    ]
    if ship_deadline_at is not None:
        pairs.append(SearchAttributePair(DEADLINE_AT, ship_deadline_at))
    return TypedSearchAttributes(pairs)


def initial_case_attributes(
    *, merchant_id: str, order_id: str, kind: str, status: CaseStatus, deadline_at: datetime | None = None
) -> TypedSearchAttributes:
    """The search attributes a case workflow (after-sales, pickup) starts with; an after-sales case starts with the
    deadline of its opening view, so its first task has nothing to upsert."""
    pairs: list[SearchAttributePair[Any]] = [
        SearchAttributePair(MERCHANT_ID, merchant_id),
        SearchAttributePair(ORDER_ID, order_id),
        SearchAttributePair(CASE_KIND, kind),
        SearchAttributePair(CASE_STATUS, status.value),
        SearchAttributePair(OVERDUE, False),
    ]
    if deadline_at is not None:
        pairs.append(SearchAttributePair(DEADLINE_AT, deadline_at))
    return TypedSearchAttributes(pairs)


def initial_conversation_attributes(*, merchant_id: str, status: str) -> TypedSearchAttributes:
    """The search attributes a chat reply watch starts with."""
    return TypedSearchAttributes(
        [
            SearchAttributePair(MERCHANT_ID, merchant_id),
            SearchAttributePair(CASE_KIND, "conversation"),
            SearchAttributePair(CASE_STATUS, status),
            SearchAttributePair(OVERDUE, False),
        ]
    )


def current(status: str, overdue: bool, deadline_at: datetime | None) -> list[Any]:
    """The updates that make a workflow's status, overdue flag and deadline visible in the Web UI."""
    return [
        CASE_STATUS.value_set(status),
        OVERDUE.value_set(overdue),
        DEADLINE_AT.value_set(deadline_at) if deadline_at else DEADLINE_AT.value_unset(),
    ]


def upsert(updates: Sequence[SearchAttributeUpdate[Any]]) -> None:
    """Upserts, from within a workflow, those of ``updates`` that change what the workflow holds now.

    An unchanged value would still cost a command and a history event (a tracking update leaves status,
    overdue flag and deadline as they were), so it is left out; nothing changed, nothing is sent.
    """
    held = workflow.info().typed_search_attributes
    changed = [update for update in updates if held.get(update.key) != update.value]
    if changed:
        workflow.upsert_search_attributes(changed)


def initial_work_order_attributes(
    *, merchant_id: str, order_id: str | None, status: str, priority: str, assignee_id: str | None
) -> TypedSearchAttributes:
    """The search attributes a work order starts with (``CaseKind`` is ``work_order``)."""
    pairs: list[SearchAttributePair[Any]] = [
        SearchAttributePair(MERCHANT_ID, merchant_id),
        SearchAttributePair(CASE_KIND, "work_order"),
        SearchAttributePair(CASE_STATUS, status),
        SearchAttributePair(OVERDUE, False),
        SearchAttributePair(PRIORITY, priority),
    ]
    if order_id:
        pairs.append(SearchAttributePair(ORDER_ID, order_id))
    if assignee_id:
        pairs.append(SearchAttributePair(ASSIGNEE_ID, assignee_id))
    return TypedSearchAttributes(pairs)


def work_order_current(
    status: str, overdue: bool, deadline_at: datetime | None, *, priority: str, assignee_id: str | None
) -> list[Any]:
    """The updates that show a work order's status, deadline, overdue flag, priority and assignee."""
    return [
        *current(status, overdue, deadline_at),
        PRIORITY.value_set(priority),
        ASSIGNEE_ID.value_set(assignee_id) if assignee_id else ASSIGNEE_ID.value_unset(),
    ]
