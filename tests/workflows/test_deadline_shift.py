"""A platform deadline shift inside one process: once per shift id, merchant clocks by default, kept across
continue-as-new."""

from __future__ import annotations

from datetime import timedelta

from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from config.settings import Settings
from domain.deadline_shifts import PlatformShift
from domain.work_orders import Reply
from tests.workflows.cases import delivered_order, open_case, paid_order, started, until
from tests.workflows.work_orders import open_work_order
from workflows.aftersale import AfterSaleWorkflow
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
