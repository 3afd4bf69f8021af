"""The fan-out activities on the dev server: a workflow that is gone by the time it is updated is skipped."""

from __future__ import annotations

import uuid

from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.fanout import Fanout, SetCalendars
from domain.calendar import ROUND_THE_CLOCK
from domain.calendar_change import CalendarChange, CalendarOutcome, CalendarUpdate
from domain.policy import Policy
from domain.work_orders import OpenWorkOrder, WorkOrderInput
from tests.waiting import wait_for
from workflows import search_attributes as sa
from workflows.work_order import WorkOrderWorkflow

UPDATE = CalendarUpdate.of(ROUND_THE_CLOCK, revision=1)


async def test_a_work_order_that_ended_or_never_was_is_skipped_as_ended(dev_env: WorkflowEnvironment) -> None:
    client, merchant_id = dev_env.client, f"m-gone-{uuid.uuid4().hex[:6]}"
    request = OpenWorkOrder.model_validate(
        {
            "work_order_id": f"WO-{uuid.uuid4().hex[:8]}",
            "merchant_id": merchant_id,
            "category": "quality",
            "priority": "normal",
            "title": "电水壶漏水",
            "description": "-",
            "customer_id": "c-1",
        }
    )
    # No worker polls this queue: the work order is listed as running, then ends before its Update.
    handle = await client.start_workflow(
        WorkOrderWorkflow.run,
        WorkOrderInput(request=request, policy=Policy()),
        id=f"workorder-{request.work_order_id}",
        task_queue=f"tq-nobody-{uuid.uuid4()}",
        search_attributes=sa.initial_work_order_attributes(
            merchant_id=merchant_id, order_id=None, status="unassigned", priority="normal", assignee_id=None
        ),
    )
    fanout = Fanout(client)
    change = CalendarChange(merchant_id=merchant_id, update=UPDATE)
    # visibility follows the start a moment later
    listed = await wait_for(
        lambda: ActivityEnvironment().run(fanout.list_running, change), what="the work order listed"
    )
    assert listed == [handle.id]

    await handle.terminate("ended meanwhile")
    batch = SetCalendars(workflow_ids=(handle.id, "workorder-WO-never-was"), update=UPDATE)
    answers = await ActivityEnvironment().run(fanout.set_calendars, batch)
    assert [answer.outcome for answer in answers] == [CalendarOutcome.ENDED, CalendarOutcome.ENDED]
