"""A platform deadline shift inside one process: once per shift id, merchant clocks by default, kept across
continue-as-new."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from config.settings import Settings
from domain.deadline_shifts import DeadlineShiftInput, PlatformShift
from domain.work_orders import Reply
from tests.waiting import until
from tests.workflows.cases import delivered_order, open_case, paid_order, started
from tests.workflows.work_orders import open_work_order
from workers.main import build_worker
from workflows.aftersale import AfterSaleWorkflow
from workflows.deadline_shift import DeadlineShiftWorkflow, workflow_id
from workflows.fanout import BATCH
from workflows.order import OrderWorkflow
from workflows.work_order import WorkOrderWorkflow


def holiday(shift_id: str, hours: float = 48, clock: str | None = None) -> PlatformShift:
    return PlatformShift(shift_id=shift_id, hours=hours, reason="春节", clock=clock)


async def test_a_repeated_shift_id_moves_the_ship_deadline_once_and_answers_as_the_first_time(
    ts_env: WorkflowEnvironment, client: Client, settings: Settings, merchant_id: str
) -> None:
    order = await paid_order(client, settings, merchant_id, await ts_env.get_current_time())
    await started(order)
    before = (await order.query(OrderWorkflow.state)).ship_deadline_at
    assert before is not None
    first = await order.execute_update(OrderWorkflow.apply_deadline_shift, holiday("cny-2027"))
    again = await order.execute_update(OrderWorkflow.apply_deadline_shift, holiday("cny-2027"))
    assert (first.clocks, first.repeat, again.clocks, again.repeat) == (("ship",), False, ("ship",), True)
    other = await order.execute_update(OrderWorkflow.apply_deadline_shift, holiday("qingming", hours=1))
    state = await order.query(OrderWorkflow.state)
    assert state.ship_deadline_at == before + timedelta(hours=49)
    assert [e.event for e in state.history].count("deadline_moved") == 2
    assert other.clocks == ("ship",)

    await ts_env.sleep(timedelta(hours=80))  # past the old deadline (72 h), short of the new one (121 h)
    assert not (await order.query(OrderWorkflow.state)).overdue


async def test_a_holiday_moves_the_merchants_review_clock_but_not_the_customers_return_clock(
    ts_env: WorkflowEnvironment, client: Client, settings: Settings, merchant_id: str
) -> None:
    order = await delivered_order(client, settings, merchant_id, await ts_env.get_current_time())
    case = await open_case(client, settings, order, "return_refund", [{"line_id": "L2", "quantity": 2}])
    review = await case.execute_update(AfterSaleWorkflow.apply_deadline_shift, holiday("h-review"))
    assert review.clocks == ("review",)
    await case.execute_update(AfterSaleWorkflow.approve)
    waiting = await case.query(AfterSaleWorkflow.state)
    untouched = await case.execute_update(AfterSaleWorkflow.apply_deadline_shift, holiday("h-return"))
    named = await case.execute_update(AfterSaleWorkflow.apply_deadline_shift, holiday("h-named", clock="return"))
    state = await case.query(AfterSaleWorkflow.state)
    assert (untouched.clocks, named.clocks) == ((), ("return",))
    assert waiting.deadline_at is not None
    assert state.deadline_at == waiting.deadline_at + timedelta(hours=48)


async def test_a_work_order_remembers_its_shifts_across_continue_as_new(
    ts_env: WorkflowEnvironment, client: Client, settings: Settings, merchant_id: str
) -> None:
    handle = await open_work_order(client, settings, merchant_id, assignee_id="a-1", max_history_events=40)
    first = await handle.execute_update(WorkOrderWorkflow.apply_deadline_shift, holiday("wo-cny", hours=2))
    assert "resolution" in first.clocks
    for n in range(12):
        await handle.execute_update(WorkOrderWorkflow.reply, Reply(by="customer", message=f"还在吗 {n}"))

    async def continued() -> bool:
        return await handle.query(WorkOrderWorkflow.runs) >= 1

    await until(continued)
    again = await handle.execute_update(WorkOrderWorkflow.apply_deadline_shift, holiday("wo-cny", hours=2))
    assert (again.clocks, again.repeat) == (first.clocks, True)
    history = (await handle.query(WorkOrderWorkflow.state)).history
    assert [e.event for e in history].count("deadline_moved") == 1


async def test_a_shift_survives_a_worker_restart_midway_and_moves_each_deadline_once(
    dev_env: WorkflowEnvironment, settings: Settings, merchant_id: str, engine: Engine
) -> None:
    client = dev_env.client
    count = 3 * BATCH
    async with build_worker(client, settings, engine=engine) as first, first:
        orders = await asyncio.gather(
            *(paid_order(client, settings, merchant_id, datetime.now(UTC)) for _ in range(count))
        )
        before = {order.id: (await order.query(OrderWorkflow.state)).ship_deadline_at for order in orders}

        async def all_visible() -> bool:
            listed = [e async for e in client.list_workflows(f"MerchantId = '{merchant_id}'")]
            return len(listed) == count

        await until(all_visible)
        shift = PlatformShift(shift_id=f"restart-{merchant_id}", hours=24, reason="国庆")
        fanout = await client.start_workflow(
            DeadlineShiftWorkflow.run,
            DeadlineShiftInput(shift=shift, merchant_id=merchant_id, settle_seconds=1),
            id=workflow_id(shift.shift_id),
            task_queue=settings.task_queue,
        )

        async def first_batch_done() -> bool:
            return (await fanout.query(DeadlineShiftWorkflow.progress)).applied >= BATCH

        await until(first_batch_done)
        midway = await fanout.query(DeadlineShiftWorkflow.progress)
        assert (midway.done, midway.applied < count) == (False, True)
    # The first worker is gone mid-fan-out (a batch may have been cut short); a new one finishes the shift.
    async with build_worker(client, settings, engine=engine) as second, second:
        result = await fanout.result()
        assert (result.matched, result.applied, result.shifted, result.failed) == (count, count, count, 0)
        for order in orders:
            state = await order.query(OrderWorkflow.state)
            moved = [e for e in state.history if e.event == "deadline_moved"]
            assert len(moved) == 1, (order.id, moved)
            old = before[order.id]
            assert old is not None
            assert state.ship_deadline_at == old + timedelta(hours=24)
        for order in orders:
            await order.terminate("test over")
