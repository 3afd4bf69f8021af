"""After-sales refusals: Update validators say no synchronously, and a refused request leaves nothing behind.

Told on the dev server: the time-skipping server stops its clock after it has rejected an Update.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from config.settings import Settings
from domain.cases import AfterSaleRequest, CaseStatus, ParcelShipment, Rejection
from domain.orders import WindowExtension
from tests.waiting import until, wait_for
from tests.workflows.cases import ALL_LINES, Order, delivered_order, events, open_case, outcome, paid_order
from tests.workflows.test_order_refusals import accepted_updates
from workflows.aftersale import AfterSaleWorkflow
from workflows.order import OrderWorkflow


async def refusal(handle: Any, update: Any, *args: Any) -> str:
    """Sends an Update that must be refused; answers the refusal's code."""
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(update, *args)
    assert isinstance(refused.value.cause, ApplicationError)
    return str(refused.value.cause.type)


def request(order_id: str, case_id: str, kind: str = "refund_only", lines: Any = None) -> AfterSaleRequest:
    return AfterSaleRequest.model_validate(
        {"case_id": case_id, "order_id": order_id, "kind": kind, "lines": lines or ALL_LINES, "reason": "质量问题"}
    )


async def test_quantities_are_bounded_by_what_is_left_and_freed_by_cancelled_cases(
    dev_client: Client, settings: Settings, merchant_id: str
) -> None:
    order = await delivered_order(dev_client, settings, merchant_id, datetime.now(UTC))
    order_id = (await order.query(OrderWorkflow.state)).order_id
    first = await open_case(dev_client, settings, order, "return_refund", [{"line_id": "L2", "quantity": 2}])

    one_more = request(order_id, f"{order_id}-x", "return_refund", [{"line_id": "L2", "quantity": 1}])
    assert await refusal(order, OrderWorkflow.request_after_sale, one_more) == "quantity_exceeds"
    unknown = request(order_id, f"{order_id}-y", "refund_only", [{"line_id": "L9", "quantity": 1}])
    assert await refusal(order, OrderWorkflow.request_after_sale, unknown) == "validation_error"
    again = request(order_id, first.id.removeprefix("aftersale-"), "refund_only", [{"line_id": "L1", "quantity": 1}])
    assert await refusal(order, OrderWorkflow.request_after_sale, again) == "duplicate"
    assert await accepted_updates(order) == 3  # ship, delivery, the first request: refusals left no trace
    with pytest.raises(RPCError):
        await dev_client.get_workflow_handle(f"aftersale-{order_id}-x").describe()

    cancelled = await first.execute_update(AfterSaleWorkflow.cancel)
    assert cancelled.status is CaseStatus.CANCELLED

    async def freed() -> bool:
        lines = (await order.query(OrderWorkflow.state)).lines
        return [line.in_after_sales for line in lines] == [0, 0]

    await until(freed, what="the cancelled case's lines freed")
    await order.execute_update(OrderWorkflow.request_after_sale, one_more)


async def test_a_closed_window_refuses_requests_until_an_admin_extends_it(
    dev_client: Client, settings: Settings, merchant_id: str
) -> None:
    order = await delivered_order(dev_client, settings, merchant_id, datetime.now(UTC), window=timedelta(seconds=1))
    order_id = (await order.query(OrderWorkflow.state)).order_id
    await _until_status(order, "closed")

    late = request(order_id, f"{order_id}-late", "return_refund", [{"line_id": "L1", "quantity": 1}])
    assert await refusal(order, OrderWorkflow.request_after_sale, late) == "window_closed"
    reopened = await order.execute_update(OrderWorkflow.extend_window, WindowExtension(days=3))
    assert reopened.status == "delivered"
    assert (await order.execute_update(OrderWorkflow.request_after_sale, late)).case_id == late.case_id


async def test_returns_and_exchanges_need_a_shipment_first(
    dev_client: Client, settings: Settings, merchant_id: str
) -> None:
    order = await paid_order(dev_client, settings, merchant_id, datetime.now(UTC))
    order_id = (await order.query(OrderWorkflow.state)).order_id
    for kind in ("return_refund", "exchange"):
        ask = request(order_id, f"{order_id}-{kind}", kind, [{"line_id": "L1", "quantity": 1}])
        assert await refusal(order, OrderWorkflow.request_after_sale, ask) == "invalid_state"


async def test_refund_only_can_be_cancelled_until_the_merchant_decides(
    dev_client: Client, settings: Settings, merchant_id: str
) -> None:
    order = await delivered_order(dev_client, settings, merchant_id, datetime.now(UTC))
    case = await open_case(dev_client, settings, order, "refund_only", [{"line_id": "L1", "quantity": 1}])
    rejected = await case.execute_update(AfterSaleWorkflow.reject, Rejection(reason="已超过无理由期限"))

    assert await refusal(case, AfterSaleWorkflow.cancel) == "invalid_state"
    assert await refusal(case, AfterSaleWorkflow.approve) == "invalid_state"
    assert await refusal(case, AfterSaleWorkflow.confirm) == "invalid_state"
    assert await case.query(AfterSaleWorkflow.state) == rejected


async def test_a_return_can_be_cancelled_until_the_goods_are_sent_back(
    dev_client: Client, settings: Settings, merchant_id: str
) -> None:
    order = await delivered_order(dev_client, settings, merchant_id, datetime.now(UTC))
    case = await open_case(dev_client, settings, order, "return_refund", [{"line_id": "L1", "quantity": 1}])
    assert await refusal(case, AfterSaleWorkflow.ship_return, ParcelShipment(carrier="SF", tracking_no="1")) == (
        "invalid_state"  # not approved yet
    )
    await case.execute_update(AfterSaleWorkflow.approve)
    sent = await case.execute_update(AfterSaleWorkflow.ship_return, ParcelShipment(carrier="SF", tracking_no="SF9"))

    assert await refusal(case, AfterSaleWorkflow.cancel) == "invalid_state"
    assert await refusal(case, AfterSaleWorkflow.reject, Rejection(reason="太晚了")) == "invalid_state"
    assert await case.query(AfterSaleWorkflow.state) == sent

    other = await open_case(dev_client, settings, order, "exchange", [{"line_id": "L2", "quantity": 1}])
    await other.execute_update(AfterSaleWorkflow.approve)
    cancelled = await other.execute_update(AfterSaleWorkflow.cancel)  # approved, nothing sent: still allowed
    assert cancelled.status is CaseStatus.CANCELLED


async def _until_status(order: Order, status: str) -> None:
    async def status_now() -> Any:
        return (await order.query(OrderWorkflow.state)).status

    await wait_for(status_now, lambda now: now == status, what=f"the order {status}")


async def test_a_case_id_names_one_case_forever_whatever_the_order(
    dev_client: Client, settings: Settings, merchant_id: str
) -> None:
    first = await delivered_order(dev_client, settings, merchant_id, datetime.now(UTC))
    closed = await open_case(dev_client, settings, first, "refund_only", [{"line_id": "L1", "quantity": 1}])
    await closed.execute_update(AfterSaleWorkflow.approve)
    assert (await outcome(closed)).status is CaseStatus.COMPLETED
    still_open = await open_case(dev_client, settings, first, "return_refund", [{"line_id": "L2", "quantity": 1}])
    other = await delivered_order(dev_client, settings, merchant_id, datetime.now(UTC))
    other_id = (await other.query(OrderWorkflow.state)).order_id

    # The API refuses a known id before asking the order (tests/api/test_cases.py). Asked anyway (two orders
    # racing for a new id), the order accepts at once, then finds the id taken as it starts the case: it gives
    # the lines back and says so in its history; asked again, its validator refuses at once.
    for case in (closed, still_open):
        case_id = case.id.removeprefix("aftersale-")
        reused = request(other_id, case_id, "refund_only", [{"line_id": "L1", "quantity": 1}])
        assert (await other.execute_update(OrderWorkflow.request_after_sale, reused)).case_id == case_id

        async def given_back(case_id: str = case_id) -> bool:
            last = (await other.query(OrderWorkflow.state)).history[-1]
            return last.event == "after_sale_refused" and last.detail == f"case {case_id} exists already"

        await until(given_back, what=f"the order giving {case_id} back")
        assert await refusal(other, OrderWorkflow.request_after_sale, reused) == "duplicate"  # asked again

    state = await other.query(OrderWorkflow.state)
    assert events(state)[3:] == ["after_sale_requested", "after_sale_refused"] * 2
    assert all(entry.actor == "system" for entry in state.history if entry.event == "after_sale_refused")
    assert state.open_cases == []
    assert [line.in_after_sales for line in state.lines] == [0, 0]
    assert (await closed.query(AfterSaleWorkflow.state)).order_id == (await first.query(OrderWorkflow.state)).order_id
    assert (await still_open.query(AfterSaleWorkflow.state)).status is CaseStatus.PENDING_REVIEW  # untouched
