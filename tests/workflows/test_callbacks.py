"""Callbacks to the mall under the time-skipping server: in order, stable ids, outages, refusals."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import Any

import pytest
from pydantic import SecretStr
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from config.settings import Settings
from domain import ids
from domain.cases import CaseStatus
from domain.orders import LogisticsEvent, LogisticsStatus, OrderStatus, OrderView, OrderWatchInput, Shipment
from domain.pickups import CourierEvent, CourierStatus, PickupPayment, PickupRequest, PickupStatus
from domain.work_orders import Accept, Reply, Resolve
from tests.factories import place_order
from tests.peers.callbacks import CallbackReceiver
from tests.waiting import until
from tests.workflows.cases import Order, open_case, outcome, started
from tests.workflows.conftest import remember
from tests.workflows.test_replay import HISTORIES, RECORDING, saved
from tests.workflows.work_orders import open_work_order
from workflows import search_attributes as sa
from workflows.aftersale import AfterSaleWorkflow
from workflows.order import OrderWorkflow
from workflows.pickup import PickupWorkflow
from workflows.work_order import WorkOrderWorkflow

SECRET = "whsec_" + base64.b64encode(b"the-mall-callback-secret-32bytes").decode()
HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)


@pytest.fixture(scope="module")
def callback_secret() -> str:
    """The secret this module's mall receiver verifies signatures with."""
    return SECRET


@pytest.fixture
def settings(settings: Settings, receiver: CallbackReceiver) -> Settings:
    """The workflow tests' settings with the mall's receiver configured."""
    return settings.model_copy(update={"callback_url": receiver.url, "callback_secret": SecretStr(SECRET)})


async def paid_order(
    env: WorkflowEnvironment, client: Client, settings: Settings, merchant_id: str, *, max_history_events: int = 5000
) -> Order:
    """An order paid now, watched with callbacks on (as the API starts it with the URL set)."""
    order = place_order(paid_at=await env.get_current_time(), merchant_id=merchant_id)
    policy = settings.policy()
    watch = OrderWatchInput(order=order, policy=policy, callbacks=True, max_history_events=max_history_events)
    handle = await client.start_workflow(
        OrderWorkflow.run,
        watch,
        id=ids.order(order.order_id),
        task_queue=settings.task_queue,
        search_attributes=sa.initial_order_attributes(order),
    )
    remember(settings.task_queue, handle.id)
    return handle


async def delivered_order(env: WorkflowEnvironment, client: Client, settings: Settings, merchant_id: str) -> Order:
    order = await paid_order(env, client, settings, merchant_id)
    await order.execute_update(OrderWorkflow.ship, Shipment(carrier="SF", tracking_no="SF100"))
    now = await env.get_current_time()
    await order.execute_update(OrderWorkflow.record_logistics, LogisticsEvent(status=LogisticsStatus.DELIVERED, at=now))
    return order


def of(receiver: CallbackReceiver, key: str, value: str) -> list[dict[str, Any]]:
    """The events processed whose ``data[key]`` is ``value``, in arrival order."""
    return [event for event in receiver.messages if event["data"].get(key) == value]


async def test_an_orders_changes_reach_the_mall_in_order_with_ids_from_its_history(
    ts_env: WorkflowEnvironment, client: Client, settings: Settings, merchant_id: str, receiver: CallbackReceiver
) -> None:
    order = await paid_order(ts_env, client, settings, merchant_id)
    order_id = (await order.query(OrderWorkflow.state)).order_id
    await ts_env.sleep(73 * HOUR)  # past the ship deadline: the breach is an event too
    await order.execute_update(OrderWorkflow.ship, Shipment(carrier="SF", tracking_no="SF100"))
    now = await ts_env.get_current_time()
    await order.execute_update(OrderWorkflow.record_logistics, LogisticsEvent(status=LogisticsStatus.DELIVERED, at=now))

    await until(lambda: len(of(receiver, "order_id", order_id)) == 4)
    events = of(receiver, "order_id", order_id)
    assert [e["type"] for e in events] == ["order.paid", "order.overdue", "order.shipped", "order.delivered"]
    view: OrderView = await order.query(OrderWorkflow.state)
    numbered = {f"{order.id}:{n}": entry for n, entry in enumerate(view.history, start=1)}
    for event in events:  # each id names its history entry; occurred_at is that entry's workflow time
        entry = numbered[event["id"]]
        assert (entry.at.isoformat().replace("+00:00", "Z"), event["type"].split(".")[1]) == (
            event["occurred_at"],
            {"order_paid": "paid", "ship_overdue": "overdue"}.get(entry.event, entry.event),
        )
    assert events[1]["data"]["overdue"] is True
    assert events[2]["data"] | {"lines": None} == {
        "order_id": order_id,
        "merchant_id": merchant_id,
        "status": "shipped",
        "overdue": True,
        "deadline_at": None,
        "ship_deadline_at": view.ship_deadline_at.isoformat(),
        "carrier": "SF",
        "tracking_no": "SF100",
        "after_sales_window_ends_at": None,
        "logistics_anomaly": None,
        "open_cases": [],
        "lines": None,
    }
    assert "customer_id" not in events[0]["data"]
    assert len(receiver.deliveries) == 4  # each once: nothing was retried
    assert not any(entry.event == "callback_failed" for entry in view.history)


async def test_a_receiver_down_for_an_hour_receives_everything_afterwards_in_order(
    ts_env: WorkflowEnvironment, client: Client, settings: Settings, merchant_id: str, receiver: CallbackReceiver
) -> None:
    receiver.refuse_all(503)
    order = await paid_order(ts_env, client, settings, merchant_id)
    order_id = (await order.query(OrderWorkflow.state)).order_id
    await order.execute_update(OrderWorkflow.ship, Shipment(carrier="SF", tracking_no="SF100"))

    await ts_env.sleep(HOUR)
    tries = len(receiver.rejected)
    assert 8 <= tries <= 14  # 5 s, 10 s, 20 s … doubling, then every 10 min: 12 tries in the hour
    assert receiver.messages == []

    receiver.refuse_all(None)
    await ts_env.sleep(11 * MINUTE)  # the next try, at most 10 min later
    await until(lambda: len(of(receiver, "order_id", order_id)) == 2)
    assert [e["type"] for e in of(receiver, "order_id", order_id)] == ["order.paid", "order.shipped"]
    assert len(receiver.deliveries) == 2
    view = await order.query(OrderWorkflow.state)
    assert not any(entry.event == "callback_failed" for entry in view.history)


async def test_a_retried_delivery_sends_the_same_id_and_the_receiver_processes_it_once(
    ts_env: WorkflowEnvironment, client: Client, settings: Settings, merchant_id: str, receiver: CallbackReceiver
) -> None:
    receiver.process_then_fail(1)  # processed, but the 2xx is lost: the activity fails and is retried
    order = await paid_order(ts_env, client, settings, merchant_id)
    await until(lambda: len(receiver.deliveries) == 1)
    await ts_env.sleep(10 * timedelta(seconds=1))
    await order.execute_update(OrderWorkflow.ship, Shipment(carrier="SF", tracking_no="SF100"))

    await until(lambda: len(receiver.deliveries) == 3)
    assert [d["id"] for d in receiver.deliveries] == [f"{order.id}:1", f"{order.id}:1", f"{order.id}:2"]
    assert [e["type"] for e in receiver.messages] == ["order.paid", "order.shipped"]


async def test_a_refusal_is_recorded_as_callback_failed_and_never_retried(
    ts_env: WorkflowEnvironment, client: Client, settings: Settings, merchant_id: str, receiver: CallbackReceiver
) -> None:
    receiver.refuse_all(410)
    order = await paid_order(ts_env, client, settings, merchant_id)

    async def recorded(count: int) -> bool:
        view = await order.query(OrderWorkflow.state)
        return [entry.event for entry in view.history].count("callback_failed") == count

    await until(lambda: recorded(1))
    await ts_env.sleep(2 * HOUR)
    await order.execute_update(OrderWorkflow.ship, Shipment(carrier="SF", tracking_no="SF100"))
    await until(lambda: recorded(2))

    view = await order.query(OrderWorkflow.state)
    failures = [entry.detail for entry in view.history if entry.event == "callback_failed"]
    assert [detail.split(" ")[:2] for detail in failures] == [
        ["order.paid", f"{order.id}:1"],
        ["order.shipped", f"{order.id}:{len(view.history) - 1}"],
    ]
    assert "410" in failures[0]
    assert len(receiver.rejected) == 2  # one try each: a refusal is not retried
    assert receiver.messages == []


async def test_a_work_orders_event_ids_go_on_across_continue_as_new_and_its_breach_is_called_back(
    ts_env: WorkflowEnvironment, client: Client, settings: Settings, merchant_id: str, receiver: CallbackReceiver
) -> None:
    handle = await open_work_order(
        client, settings, merchant_id, assignee_id="a-1", max_history_events=40, callbacks=True
    )
    work_order_id = (await handle.query(WorkOrderWorkflow.state)).work_order_id
    await ts_env.sleep(16 * MINUTE)  # the first response is 15 min: breached
    await handle.execute_update(WorkOrderWorkflow.accept, Accept(assignee_id="a-1"))
    for n in range(8):
        await handle.execute_update(WorkOrderWorkflow.reply, Reply(by="customer", message=f"还在吗 {n}"))
        await ts_env.sleep(MINUTE)

    async def continued() -> bool:
        return await handle.query(WorkOrderWorkflow.runs) >= 1

    await until(continued)
    await handle.execute_update(WorkOrderWorkflow.resolve, Resolve(resolution="已处理"))

    await until(lambda: "work_order.resolved" in [e["type"] for e in of(receiver, "work_order_id", work_order_id)])
    events = of(receiver, "work_order_id", work_order_id)
    types = [e["type"] for e in events]
    assert types[:2] == ["work_order.opened", "work_order.assigned"]
    assert "work_order.breached" in types
    assert types.index("work_order.breached") < types.index("work_order.accepted") < types.index("work_order.resolved")
    numbers = [int(e["id"].rsplit(":", 1)[1]) for e in events]
    assert numbers == sorted(set(numbers))  # ever growing, none repeated by the new run
    breach = events[types.index("work_order.breached")]
    assert breach["data"]["escalation_level"] >= 1
    assert "title" not in breach["data"]


async def test_an_orders_event_ids_go_on_across_continue_as_new(
    ts_env: WorkflowEnvironment, client: Client, settings: Settings, merchant_id: str, receiver: CallbackReceiver
) -> None:
    order = await paid_order(ts_env, client, settings, merchant_id, max_history_events=40)
    order_id = (await order.query(OrderWorkflow.state)).order_id
    await order.execute_update(OrderWorkflow.ship, Shipment(carrier="SF", tracking_no="SF100"))
    for _ in range(6):
        await ts_env.sleep(HOUR)
        now = await ts_env.get_current_time()
        await order.execute_update(OrderWorkflow.record_logistics, LogisticsEvent(status="in_transit", at=now))

    async def continued() -> bool:
        return await order.query(OrderWorkflow.runs) >= 1

    await until(continued)
    now = await ts_env.get_current_time()
    await order.execute_update(OrderWorkflow.record_logistics, LogisticsEvent(status=LogisticsStatus.DELIVERED, at=now))

    await until(lambda: "order.delivered" in [e["type"] for e in of(receiver, "order_id", order_id)])
    view: OrderView = await order.query(OrderWorkflow.state)
    events = of(receiver, "order_id", order_id)
    # Every entry told once, in order, under the id of its place in the whole history (both runs').
    assert [e["id"] for e in events] == [f"{order.id}:{n}" for n in range(1, len(view.history) + 1)]
    assert [e["type"] for e in events] == ["order.paid", "order.shipped", *["order.in_transit"] * 6, "order.delivered"]


async def test_a_cooling_off_refund_is_called_back_for_the_case_and_its_order_before_they_complete(
    ts_env: WorkflowEnvironment, client: Client, settings: Settings, merchant_id: str, receiver: CallbackReceiver
) -> None:
    order = await paid_order(ts_env, client, settings, merchant_id)
    await ts_env.sleep(10 * MINUTE)
    case = await open_case(client, settings, order, "refund_only")

    done = await outcome(case)
    settled = await outcome(order)
    # Completed only once everything was delivered: no waiting for the receiver here.
    assert (done.status, settled.status) == (CaseStatus.COMPLETED, OrderStatus.REFUNDED)
    case_events = of(receiver, "case_id", done.case_id)
    assert [e["type"] for e in case_events] == ["case.opened", "case.auto_approved", "case.refunded"]
    assert case_events[-1]["data"]["refunded_cents"] == done.refunded_cents > 0
    assert all(e["id"].startswith(f"{case.id}:") for e in case_events)
    assert [e["type"] for e in of(receiver, "order_id", settled.order_id) if e["type"].startswith("order.")] == [
        "order.paid",
        "order.after_sale_requested",
        "order.after_sale_settled",
        "order.refunded",
    ]


async def test_a_pickups_steps_are_called_back_under_ids_of_its_run(
    ts_env: WorkflowEnvironment, client: Client, settings: Settings, merchant_id: str, receiver: CallbackReceiver
) -> None:
    order = await delivered_order(ts_env, client, settings, merchant_id)
    case = await open_case(client, settings, order, "return_refund", [{"line_id": "L2", "quantity": 2}])
    await case.execute_update(AfterSaleWorkflow.approve)
    now = await ts_env.get_current_time()
    address = {"name": "王小明", "phone": "13800138000", "address": "上海市浦东新区世纪大道 100 号"}
    request = PickupRequest.model_validate({"address": address, "slot_start": now + HOUR, "slot_end": now + 3 * HOUR})
    booked = await case.execute_update(AfterSaleWorkflow.book_pickup, request)
    pickup = client.get_workflow_handle_for(PickupWorkflow.run, ids.pickup(booked.case_id))
    await started(pickup)

    async def awaiting_payment() -> bool:
        return (await pickup.query(PickupWorkflow.state)).status is PickupStatus.AWAITING_PAYMENT

    await until(awaiting_payment)
    await pickup.execute_update(PickupWorkflow.pay, PickupPayment(paid_cents=1200))
    await ts_env.sleep(2 * HOUR)
    at = await ts_env.get_current_time()
    await pickup.execute_update(PickupWorkflow.record_courier, CourierEvent(status=CourierStatus.PICKED_UP, at=at))
    assert (await outcome(pickup)).status is PickupStatus.PICKED_UP

    steps = [e for e in of(receiver, "case_id", booked.case_id) if e["type"].startswith("pickup.")]
    assert [e["type"] for e in steps] == [
        "pickup.awaiting_payment",
        "pickup.paid",
        "pickup.scheduled",
        "pickup.picked_up",
    ]
    assert all(e["id"].startswith(f"{pickup.id}/1:") for e in steps)
    assert steps[-1]["data"]["waybill_no"]

    async def case_told() -> bool:
        types = [e["type"] for e in of(receiver, "case_id", booked.case_id)]
        return "case.return_shipped" in types

    await until(case_told)
    case_types = [e["type"] for e in of(receiver, "case_id", booked.case_id) if e["type"].startswith("case.")]
    assert case_types[:4] == ["case.opened", "case.approved", "case.pickup_requested", "case.pickup_scheduled"]
    sent = json.dumps(receiver.messages, ensure_ascii=False)
    assert "13800138000" not in sent  # the pickup address went to the courier, never into the mall's events
    assert "王小明" not in sent


@RECORDING
async def test_record_order_and_case_histories_with_callbacks(
    ts_env: WorkflowEnvironment, client: Client, settings: Settings, merchant_id: str, receiver: CallbackReceiver
) -> None:
    """Workflows that call the mall back: the outbox's activities in their histories, one event refused."""
    order = place_order(paid_at=await ts_env.get_current_time(), merchant_id=merchant_id, order_id="O-callbacks")
    receiver.refuse_all(410)  # order.paid is refused for good: callback_failed is in the history too
    handle = await client.start_workflow(
        OrderWorkflow.run,
        OrderWatchInput(order=order, policy=settings.policy(), callbacks=True),
        id=ids.order(order.order_id),
        task_queue=settings.task_queue,
        search_attributes=sa.initial_order_attributes(order),
    )
    await until(lambda: len(receiver.rejected) == 1)
    receiver.refuse_all(None)
    receiver.unavailable(2)  # order.after_sale_requested is retried twice
    await ts_env.sleep(10 * MINUTE)
    case = await open_case(client, settings, handle, "refund_only")
    await outcome(case)
    await outcome(handle)
    (HISTORIES / "OrderWorkflow-with-callbacks.json").write_text(await saved(handle))
    (HISTORIES / "AfterSaleWorkflow-with-callbacks.json").write_text(await saved(case))
