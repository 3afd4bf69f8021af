"""A long order watch continues as new under the time-skipping server and carries its whole state over."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

from sqlalchemy import Engine
from sqlmodel import Session
from temporalio.api.common.v1 import Payload, WorkflowExecution
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from api.idempotency import start_once
from config.settings import Settings
from domain import ids
from domain.cases import CaseStatus
from domain.orders import LogisticsEvent, LogisticsStatus, OrderStatus, OrderWatchInput, Shipment
from domain.retries import Attempt
from readmodel.tables import OrderWatch
from tests.factories import place_order
from tests.workflows.cases import Order, events, open_case, outcome, until
from tests.workflows.conftest import Peers, remember
from workflows import search_attributes as sa
from workflows.aftersale import AfterSaleWorkflow
from workflows.order import LOGISTICS, OrderWorkflow

HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)
DAY = timedelta(days=1)
UPDATES = 12  # tracking updates, an hour apart: several times what 80 history events hold


async def described(client: Client, workflow_id: str) -> tuple[Mapping[str, Payload], Mapping[str, Payload]]:
    """The run's memo and search attributes as the server keeps them.

    Read raw: the time-skipping server keeps an unset ``DeadlineAt`` as null, which ``describe()`` cannot decode.
    """
    execution = WorkflowExecution(workflow_id=workflow_id)
    raw = await client.workflow_service.describe_workflow_execution(
        DescribeWorkflowExecutionRequest(namespace=client.namespace, execution=execution)
    )
    info = raw.workflow_execution_info
    return dict(info.memo.fields), dict(info.search_attributes.indexed_fields)


async def test_a_long_watch_continues_as_new_with_its_clocks_history_retries_and_open_case(
    ts_env: WorkflowEnvironment, client: Client, settings: Settings, merchant_id: str, peers: Peers, engine: Engine
) -> None:
    order = place_order(paid_at=await ts_env.get_current_time(), merchant_id=merchant_id)
    # The merchant reviews the case within 10 days: it is still open when the parcel stalls at 3 days.
    policy = settings.policy().model_copy(update={"review_deadline": 10 * DAY})
    watch = OrderWatchInput(order=order, policy=policy, max_history_events=80)
    started, created = await start_once(  # as the API starts it: the body's fingerprint in the memo
        client,
        OrderWorkflow.run,
        watch,
        id=ids.order(order.order_id),
        body=order,
        task_queue=settings.task_queue,
        named=f"order {order.order_id}",
        search_attributes=sa.initial_order_attributes(order),
    )
    assert created
    remember(settings.task_queue, started.id)
    handle: Order = client.get_workflow_handle_for(OrderWorkflow.run, started.id)
    shipped = await handle.execute_update(OrderWorkflow.ship, Shipment(carrier="SF", tracking_no="SF100"))
    case = await open_case(client, settings, handle, "refund_only", [{"line_id": "L1", "quantity": 1}])
    first = await handle.query(OrderWorkflow.state)
    first_memo, _ = await described(client, handle.id)

    last = None
    for n in range(UPDATES):
        await ts_env.sleep(HOUR)
        last = LogisticsEvent(status=LogisticsStatus.IN_TRANSIT, at=await ts_env.get_current_time(), description=f"{n}")
        await handle.execute_update(OrderWorkflow.record_logistics, last)
    assert last is not None

    async def continued() -> bool:
        return await handle.query(OrderWorkflow.runs) >= 1

    await until(continued)
    state = await handle.query(OrderWorkflow.state)
    # The first run's history and revision carried over, the clocks too: the ship deadline did not move.
    assert events(state)[:4] == ["order_paid", "shipped", "after_sale_requested", "in_transit"]
    assert events(state).count("in_transit") == UPDATES
    assert state.revision == len(state.history) > first.revision
    assert (state.status, state.ship_deadline_at, state.shipped_at) == (
        OrderStatus.SHIPPED,
        shipped.ship_deadline_at,
        shipped.shipped_at,
    )
    assert state.open_cases == first.open_cases == [case.id.removeprefix("aftersale-")]
    # What was applied carried over: a retry in the new run is answered with no new event.
    assert (await handle.execute_update(OrderWorkflow.record_logistics, last)).history == state.history
    assert (await handle.execute_update(OrderWorkflow.ship, Shipment(carrier="SF", tracking_no="SF100"))) == state
    assert await handle.query(OrderWorkflow.already_applied, Attempt.of(LOGISTICS, last))
    # The server kept the memo (the API knows the same order reported again by it) and the search attributes.
    memo, attributes = await described(client, handle.id)
    assert memo == first_memo
    assert (attributes["MerchantId"].data, attributes["CaseStatus"].data) == (f'"{merchant_id}"'.encode(), b'"shipped"')

    # The stall clock carried over too: three days after the last movement, one anomaly, not before.
    quiet = last.at + settings.policy().logistics_stall - await ts_env.get_current_time()
    await ts_env.sleep(quiet - MINUTE)
    assert "logistics_anomaly" not in events(await handle.query(OrderWorkflow.state))
    await ts_env.sleep(2 * MINUTE)

    async def stalled() -> bool:
        return "logistics_anomaly" in events(await handle.query(OrderWorkflow.state))

    await until(stalled)
    anomalies = [e for e in (await handle.query(OrderWorkflow.state)).history if e.event == "logistics_anomaly"]
    assert [e.detail for e in anomalies] == ["stalled"]

    # The case opened in the first run settles into the continued one (it signals the workflow id). Told
    # last: the time-skipping server stops its clock once this case, a child of the first run, completes.
    await case.execute_update(AfterSaleWorkflow.approve)
    assert (await outcome(case)).status is CaseStatus.COMPLETED

    async def settled() -> bool:
        return not (await handle.query(OrderWorkflow.state)).open_cases

    await until(settled)
    view = await handle.query(OrderWorkflow.state)
    assert [(line.line_id, line.refunded, line.in_after_sales) for line in view.lines] == [("L1", 1, 0), ("L2", 0, 0)]
    assert events(view)[-1] == "after_sale_settled"
    assert view.revision > state.revision

    def projected() -> bool:
        with Session(engine) as session:
            row = session.get(OrderWatch, handle.id)
            return row is not None and row.revision == view.revision

    await until(projected)  # the read model follows the new run, its revision still growing
