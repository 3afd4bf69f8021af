"""Workflow ids: the one place that knows how a business id becomes a workflow id."""

from __future__ import annotations


def order(order_id: str) -> str:
    """Workflow id of the order watch of ``order_id``."""
    return f"order-{order_id}"


def after_sale(case_id: str) -> str:
    """Workflow id of the after-sales case ``case_id``."""
    return f"aftersale-{case_id}"


def pickup(case_id: str) -> str:
    """Workflow id of the door-to-door pickup of case ``case_id``."""
    return f"pickup-{case_id}"


def work_order(work_order_id: str) -> str:
    """Workflow id of work order ``work_order_id``."""
    return f"workorder-{work_order_id}"


def conversation(conversation_id: str) -> str:
    """Workflow id of the chat reply watch of ``conversation_id``."""
    return f"chat-{conversation_id}"
