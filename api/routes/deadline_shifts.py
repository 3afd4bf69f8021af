"""Platform-wide deadline shifts (a holiday): one admin request moves the deadlines of every running process.

``POST`` starts ``DeadlineShiftWorkflow`` and answers 202 at once; ``GET`` shows how far it has come. The
shift's id is the caller's ``shift_id`` (the same body again answers the same shift, another body is a 409
``duplicate``) or one the API makes up.
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, status
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from api.deps import ClientDep, Role, SettingsDep, allow
from api.errors import NOT_FOUND, Problem
from api.idempotency import start_once
from domain.deadline_shifts import (
    DeadlineShiftInput,
    DeadlineShiftProgress,
    DeadlineShiftRequest,
    PlatformShift,
    clock_problem,
)
from domain.orders import Id
from workflows.deadline_shift import DeadlineShiftWorkflow, workflow_id

router = APIRouter(prefix="/v1/deadline-shifts", tags=["deadline shifts"], dependencies=[allow(Role.ADMIN)])


@router.post("", response_model=DeadlineShiftProgress, status_code=status.HTTP_202_ACCEPTED)
async def start(body: DeadlineShiftRequest, client: ClientDep, settings: SettingsDep) -> DeadlineShiftProgress:
    """Starts the shift; answers its id and progress so far (202). ``clock`` must name a clock the kind runs."""
    if problem := clock_problem(body.kind, body.clock):
        raise Problem("validation_error", problem)
    shift_id = body.shift_id or uuid.uuid4().hex
    shift = PlatformShift(shift_id=shift_id, hours=body.hours, reason=body.reason, clock=body.clock)
    _, created = await start_once(
        client,
        DeadlineShiftWorkflow.run,
        DeadlineShiftInput(shift=shift, kind=body.kind, merchant_id=body.merchant_id),
        id=workflow_id(shift_id),
        body=body,
        task_queue=settings.task_queue,
        named=f"deadline shift {shift_id}",
        static_summary=f"Deadline shift {body.hours:+g}h: {body.reason}",
    )
    if not created:
        return await _progress(client, shift_id)
    return DeadlineShiftProgress(shift_id=shift_id)


@router.get("/{shift_id}", response_model=DeadlineShiftProgress)
async def get(shift_id: Id, client: ClientDep) -> DeadlineShiftProgress:
    """How far the shift has come: matched, applied (of them ``shifted``: something moved), failed, done."""
    return await _progress(client, shift_id)


async def _progress(client: ClientDep, shift_id: str) -> DeadlineShiftProgress:
    handle = client.get_workflow_handle_for(DeadlineShiftWorkflow.run, workflow_id(shift_id))
    try:
        described = await handle.describe()
        if described.status is WorkflowExecutionStatus.COMPLETED:
            return await handle.result()
        return await handle.query(DeadlineShiftWorkflow.progress)
    except RPCError as error:
        if error.status is RPCStatusCode.NOT_FOUND:
            raise Problem("not_found", NOT_FOUND) from None
        raise
