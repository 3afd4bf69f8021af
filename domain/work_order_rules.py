"""Work order rules: which action is allowed in which status, and which retry of an action is answered.

A work order's statuses, actions and bodies are :mod:`domain.work_orders`; its clocks
:mod:`domain.work_order_clocks`. The workflow asks these rules before every human step.
"""

from __future__ import annotations

from pydantic import BaseModel

from domain.ids import fingerprint
from domain.model import Model
from domain.retries import Attempt
from domain.work_orders import (
    Accept,
    Assign,
    ChangePriority,
    Confirm,
    Decision,
    Reopen,
    Resolve,
    Transfer,
    WorkOrderAction,
    WorkOrderAppeal,
    WorkOrderStatus,
)

_S, _A = WorkOrderStatus, WorkOrderAction
_WORKING = frozenset({_A.REPLY, _A.PRIORITY})
_ALLOWED: dict[WorkOrderStatus, frozenset[WorkOrderAction]] = {
    _S.UNASSIGNED: frozenset({_A.ASSIGN, *_WORKING}),
    _S.ASSIGNED: frozenset({_A.ACCEPT, _A.TRANSFER, *_WORKING}),
    _S.IN_PROGRESS: frozenset({_A.TRANSFER, _A.WAIT_CUSTOMER, _A.RESOLVE, *_WORKING}),
    # Transferring a paused work order would leave its clocks paused with nobody to resume them.
    _S.WAITING_CUSTOMER: frozenset({_A.CUSTOMER_REPLIED, _A.RESOLVE, *_WORKING}),
    _S.RESOLVED: frozenset({_A.CONFIRM, _A.REOPEN, _A.APPEAL}),
    _S.CLOSED: frozenset({_A.REOPEN, _A.APPEAL}),
    _S.APPEALED: frozenset({_A.DECIDE}),
}


def allowed(status: WorkOrderStatus, action: WorkOrderAction) -> bool:
    """Whether ``action`` is allowed in ``status`` (time windows and who acts are checked apart)."""
    return action in _ALLOWED.get(status, frozenset())


# --- retries ---------------------------------------------------------------------------------------------------

BODIES: dict[WorkOrderAction, type[Model] | None] = {
    WorkOrderAction.ASSIGN: Assign,
    WorkOrderAction.ACCEPT: Accept,
    WorkOrderAction.TRANSFER: Transfer,
    WorkOrderAction.WAIT_CUSTOMER: None,
    WorkOrderAction.CUSTOMER_REPLIED: None,
    WorkOrderAction.PRIORITY: ChangePriority,
    WorkOrderAction.RESOLVE: Resolve,
    WorkOrderAction.CONFIRM: Confirm,
    WorkOrderAction.REOPEN: Reopen,
    WorkOrderAction.APPEAL: WorkOrderAppeal,
    WorkOrderAction.DECIDE: Decision,
}
"""The actions a retry of which is answered rather than refused, with their body types. ``reply`` is not one:
every reply is a new message."""


def body_print(body: BaseModel | None) -> str:
    """What :attr:`~domain.work_orders.WorkOrderState.applied` keeps of a body: its fingerprint ("" for an
    action without one).

    Who acted is not part of it: the same step retried through another key is the same step.
    """
    return fingerprint(body.model_dump(mode="json", exclude={"actor"})) if body is not None else ""


def repeats_attempt(applied: dict[str, str], attempt: Attempt) -> bool:
    """Whether the API's ``attempt`` is the action last applied with that body (asked also once it ended)."""
    try:
        action = WorkOrderAction(attempt.action)
        kind = BODIES[action]
        body = kind.model_validate(attempt.body) if kind is not None and attempt.body is not None else None
    except (ValueError, KeyError):  # pydantic's ValidationError is a ValueError
        return False
    if (kind is None) != (body is None):
        return False
    return applied.get(action.value) == body_print(body)
