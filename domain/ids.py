"""Ids: the one place that knows how a business id becomes a workflow id or a partner's idempotency key.

A business id the mall chooses (order, case, work order) names one thing forever: its workflow is started
with Temporal's ``REJECT_DUPLICATE`` reuse policy, which refuses the id once used, even after the first
workflow has closed (``api/idempotency.py`` for what the API starts, the order watch for its cases). A
partner's idempotency key is built by :func:`partner_key`, so that two different requests can never share
one even if an id were reused.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel


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


MAX_ID = 64  # the longest business id the API accepts (domain.orders.Id)


def case_work_order(case_id: str, number: int) -> str:
    """The id of the ``number``-th platform work order an after-sales case opens (1, 2 …): ``{case_id}-wo{n}``.

    Deterministic, so a replay or a retry names the same work order; a case id too long to carry the
    suffix within :data:`MAX_ID` is replaced by a digest of it.
    """
    suffix = f"-wo{number}"
    if len(case_id) + len(suffix) <= MAX_ID:
        return f"{case_id}{suffix}"
    return f"case-{fingerprint(case_id)[:40]}{suffix}"


def conversation(conversation_id: str) -> str:
    """Workflow id of the chat reply watch of ``conversation_id``."""
    return f"chat-{conversation_id}"


def partner_key(purpose: str, owner: str, *bound_to: Any) -> str:
    """The ``Idempotency-Key`` of one request to a partner (refund, booking, claim).

    The key reads as what it is for and whose it is (``refund-C1-…``), and ends with a digest of what the
    request asks (order, lines, amount …): a retry or a replay asks the very same thing and gets the very
    same key, while two different requests never share one — not even if an owner id were ever used twice,
    where a bare ``refund-{case_id}`` would have the payment side answer the second refund with the first.

    Args:
        purpose: what the call does: ``refund``, ``pickup``, ``insurance``.
        owner: the business id it belongs to (a case id, a booking's case and number).
        bound_to: what the request asks, in a fixed order (models, numbers, strings, lists of them).
    """
    return f"{purpose}-{owner}-{fingerprint(*bound_to)[:16]}"


def _plain(value: Any) -> Any:
    """``value`` as plain JSON, each instant in UTC (the same instant is the same request, whatever its offset)."""
    if isinstance(value, BaseModel):
        return _plain(value.model_dump())
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat() if value.tzinfo else value.isoformat()
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)  # enums and the like: their value


def fingerprint(*values: Any) -> str:
    """A digest of ``values`` (models, dicts, lists …) that is the same for the same request.

    Instants are compared in UTC, so ``2026-11-26T10:00:00+08:00`` and ``2026-11-26T02:00:00Z`` are one.
    """
    canonical = json.dumps([_plain(value) for value in values], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()
