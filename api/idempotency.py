"""Idempotency at the API: creates by the caller's id, actions by what the workflow already applied.

- A create (:func:`start_once`) starts the workflow its caller's id names with ``REJECT_DUPLICATE``, so the
  id names one resource forever, also after its workflow has closed. The same id again with the same body
  (compared by :func:`~domain.ids.fingerprint`: the same instant with another offset is the same body)
  answers the resource (200); another body is a 409 ``duplicate``. Work orders will start the same way.
- An action (:func:`act`) is an Update. The workflow answers a retry of an action it applied itself (see
  :mod:`domain.retries`); a retry that arrives after the workflow has ended (a refund-only case completes
  a moment after its approval) asks the workflow's ``already_applied`` query and is answered with its
  final state instead of a 409.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from api.errors import Problem, workflow_closed
from domain import ids
from domain.retries import Attempt

FINGERPRINT = "request_sha256"  # the memo holding the fingerprint of the body a workflow was created with


async def start_once(
    client: Client,
    run: Any,
    arg: Any,
    *,
    id: str,
    body: BaseModel,
    task_queue: str,
    named: str,
    **options: Any,
) -> tuple[WorkflowHandle[Any, Any], bool]:
    """Starts the workflow ``id`` for ``body`` unless that id was ever used; answers (handle, created).

    ``named`` is the resource as its caller names it (``order o-1``): a refusal speaks of it, never of the
    workflow id, an internal name.

    Raises:
        Problem: ``duplicate`` if the id was used with another body.
    """
    fingerprint = ids.fingerprint(body)
    try:
        handle: WorkflowHandle[Any, Any] = await client.start_workflow(
            run,
            arg,
            id=id,
            task_queue=task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            memo={FINGERPRINT: fingerprint},
            **options,
        )
    except WorkflowAlreadyStartedError:
        handle = client.get_workflow_handle(id)
        memo = await (await handle.describe()).memo()
        if memo.get(FINGERPRINT) != fingerprint:
            raise Problem("duplicate", f"{named} was created with a different body") from None
        return handle, False
    return handle, True


async def act(
    handle: WorkflowHandle[Any, Any],
    update: Any,
    body: BaseModel | None = None,
    *,
    action: str,
    already_applied: Any,
    state: Any,
) -> Any:
    """Runs the action ``update`` (with ``body``); a retry of it after the workflow ended answers its state.

    Args:
        handle: the workflow.
        update: the Update method.
        body: its argument, None for an Update without one.
        action: the action's name in the workflow's record of applied actions.
        already_applied: the workflow's ``already_applied`` query method.
        state: the workflow's ``state`` query method.
    """
    try:
        if body is None:
            return await handle.execute_update(update)
        return await handle.execute_update(update, body)
    except RPCError as error:
        if not workflow_closed(error):
            raise
        if not await handle.query(already_applied, Attempt.of(action, body)):
            raise  # the workflow has ended without this action: nothing can change it (409)
        return await handle.query(state)
