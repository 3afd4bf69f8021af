"""The order watch under the time-skipping server: 72 hours pass in milliseconds."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import Engine
from sqlmodel import Session, select
from structlog.testing import capture_logs
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from config.settings import Settings
from domain import ids
from domain.orders import (
    DeadlineShift,
    LogisticsEvent,
    OrderStatus,
    OrderView,
    OrderWatchInput,
    Shipment,
    WindowExtension,
    opening_view,
)
from readmodel.tables import OrderWatch, SentNotification
from tests.factories import place_order
from tests.peers.server import Peer
from tests.waiting import until
from tests.workflows.cases import idle, paid_order, started
from tests.workflows.conftest import Peers, remember
from workers.main import build_worker
from workflows import search_attributes as sa
from workflows.order import OrderWorkflow

HOUR = timedelta(hours=1)


async def start_order(
    env: WorkflowEnvironment, client: Client, settings: Settings, merchant_id: str, **policy: Any
) -> WorkflowHandle[OrderWorkflow, OrderView]:
    """An order paid now, watched with the settings' policy changed by ``policy``."""
    return await paid_order(client, settings, merchant_id, await env.get_current_time(), **policy)


def about(peer: Peer, order_id: str) -> list[dict[str, Any]]:
    """The messages a robot received about one order."""
    return [message for message in peer.messages if order_id in json.dumps(message, ensure_ascii=False)]


async def test_a_short_ship_clocks_reminder_reads_in_minutes_never_0h(
    ts_env: WorkflowEnvironment, client: Client, settings: Settings, merchant_id: str, peers: Peers
) -> None:
    handle = await start_order(
        ts_env,
        client,
        settings,
        merchant_id,
        ship_deadline=timedelta(minutes=3),
        ship_reminders=(timedelta(seconds=150),),
    )
    order_id = (await handle.query(OrderWorkflow.state)).order_id

    await ts_env.sleep(timedelta(seconds=40))
    await until(lambda: len(about(peers.merchant_dingtalk, order_id)) == 1)
    text = about(peers.merchant_dingtalk, order_id)[0]["markdown"]["text"]
    assert "剩余 2min" in text  # 2 minutes left, said in minutes
    assert "(2min left)" in text
    assert "0h" not in text


async def test_merchant_is_reminded_24h_and_4h_before_the_ship_deadline(
    ts_env: WorkflowEnvironment, client: Client, settings: Settings, merchant_id: str, peers: Peers
) -> None:
    handle = await start_order(ts_env, client, settings, merchant_id)
    order_id = (await handle.query(OrderWorkflow.state)).order_id

    await ts_env.sleep(47 * HOUR)
    assert about(peers.merchant_dingtalk, order_id) == []

    await ts_env.sleep(2 * HOUR)
    await until(lambda: len(about(peers.merchant_dingtalk, order_id)) == 1)
    reminder = about(peers.merchant_dingtalk, order_id)[0]
    assert reminder["at"]["atMobiles"] == ["13900000011", "13900000012"]
    assert "24h" in reminder["markdown"]["text"]

    await ts_env.sleep(20 * HOUR)  # 69 h after payment: past the 4 h reminder
    await until(lambda: len(about(peers.merchant_dingtalk, order_id)) == 2)
    assert "4h" in about(peers.merchant_dingtalk, order_id)[1]["markdown"]["text"]
    assert len(about(peers.merchant_wecom, order_id)) == 2
    state = await handle.query(OrderWorkflow.state)
    assert not state.overdue
    assert [e.event for e in state.history].count("reminder_sent") == 2


async def test_a_new_watch_shows_its_opening_view_even_when_paid_a_little_ahead_of_our_clock(
    ts_env: WorkflowEnvironment, client: Client, settings: Settings, merchant_id: str
) -> None:
    # The API answers a new order with opening_view, without asking the workflow: the two must agree,
    # also for a mall clock a few minutes ahead (the ship clock counts from paid_at, not from our now).
    paid_at = await ts_env.get_current_time() + timedelta(minutes=5)
    watch = OrderWatchInput(order=place_order(paid_at=paid_at, merchant_id=merchant_id), policy=settings.policy())
    handle = await client.start_workflow(
        OrderWorkflow.run,
        watch,
        id=ids.order(watch.order.order_id),
        task_queue=settings.task_queue,
        search_attributes=sa.initial_order_attributes(watch.order),
    )
    remember(settings.task_queue, handle.id)

    started_view = await handle.query(OrderWorkflow.state)
    assert started_view == opening_view(watch)
    assert started_view.ship_deadline_at == paid_at + timedelta(hours=72)
    assert [(e.event, e.at) for e in started_view.history] == [("order_paid", paid_at)]


async def test_order_becomes_overdue_exactly_at_the_ship_deadline(
    ts_env: WorkflowEnvironment, client: Client, settings: Settings, merchant_id: str, peers: Peers, engine: Engine
) -> None:
    handle = await start_order(ts_env, client, settings, merchant_id)
    state = await handle.query(OrderWorkflow.state)

    await ts_env.sleep(72 * HOUR - timedelta(seconds=5))
    assert not (await handle.query(OrderWorkflow.state)).overdue

    await ts_env.sleep(timedelta(seconds=10))
    await until(lambda: len(about(peers.platform_dingtalk, state.order_id)) == 1)
    state = await handle.query(OrderWorkflow.state)
    assert state.overdue
    assert state.status is OrderStatus.AWAITING_SHIPMENT
    overdue = next(e for e in state.history if e.event == "ship_overdue")
    # The entry says when the deadline was due and when the workflow acted on it (its own clock then).
    assert overdue.due_at == state.ship_deadline_at
    assert overdue.due_at <= overdue.at < overdue.due_at + timedelta(seconds=10)
    supervisor_alert = about(peers.merchant_dingtalk, state.order_id)[-1]
    assert supervisor_alert["at"]["atMobiles"] == ["13900000002"]
    with Session(engine) as session:
        row = session.get(OrderWatch, handle.id)
        assert row is not None
        assert row.overdue


async def test_a_timer_firing_during_an_outage_sends_the_overdue_alert_without_the_stale_reminder(
    dev_env: WorkflowEnvironment, settings: Settings, merchant_id: str, peers: Peers, engine: Engine
) -> None:
    """No worker runs while the 2 s reminder's timer fires and the deadline passes; when a worker comes
    back only the overdue alert goes out, not a "2 s left" after it.

    On the dev server with a deadline seconds away: the time-skipping server does not move its clock while
    a workflow task waits for a worker, so an outage cannot be told there.
    """
    async with build_worker(dev_env.client, settings, engine=engine) as worker, worker:
        # Taken once the worker is up: a slow start on a loaded machine must not eat the reminder's lead.
        deadline_at = datetime.now(UTC) + timedelta(seconds=5)
        handle = await paid_order(
            dev_env.client, settings, merchant_id, deadline_at - 72 * HOUR, ship_reminders=(timedelta(seconds=2),)
        )
        await started(handle)

    async def every_timer_fired_and_deadline_passed() -> bool:
        kinds = [e.event_type async for e in handle.fetch_history_events()]
        armed = kinds.count(EventType.EVENT_TYPE_TIMER_STARTED)
        fired = kinds.count(EventType.EVENT_TYPE_TIMER_FIRED)
        return fired == armed and datetime.now(UTC) > deadline_at

    await until(every_timer_fired_and_deadline_passed)
    async with build_worker(dev_env.client, settings, engine=engine) as worker, worker:

        async def overdue() -> bool:
            return (await handle.query(OrderWorkflow.state)).overdue

        await until(overdue)
        order_id = (await handle.query(OrderWorkflow.state)).order_id
        await until(lambda: len(about(peers.platform_dingtalk, order_id)) == 1)
        await idle(handle)
        state = await handle.query(OrderWorkflow.state)
        await handle.terminate("test over")
    [alert] = about(peers.merchant_dingtalk, state.order_id)
    assert alert["at"]["atMobiles"] == ["13900000002"]  # the supervisor's alert, not an agents' reminder
    assert "reminder_sent" not in [e.event for e in state.history]
    assert [e.event for e in state.history][-1] == "ship_overdue"


async def test_shipment_before_the_deadline_stops_the_clock_without_a_breach(
    ts_env: WorkflowEnvironment, client: Client, settings: Settings, merchant_id: str, peers: Peers
) -> None:
    handle = await start_order(ts_env, client, settings, merchant_id)
    await ts_env.sleep(30 * HOUR)
    shipped = await handle.execute_update(OrderWorkflow.ship, Shipment(carrier="SF", tracking_no="SF1001"))
    assert shipped.status is OrderStatus.SHIPPED

    await ts_env.sleep(60 * HOUR)
    state = await handle.query(OrderWorkflow.state)
    assert not state.overdue
    assert about(peers.merchant_dingtalk, state.order_id) == []
    assert about(peers.platform_dingtalk, state.order_id) == []


async def test_a_stalled_parcel_raises_one_anomaly_until_the_next_update_clears_it(
    ts_env: WorkflowEnvironment, client: Client, settings: Settings, merchant_id: str, peers: Peers
) -> None:
    handle = await start_order(ts_env, client, settings, merchant_id)
    await handle.execute_update(OrderWorkflow.ship, Shipment(carrier="SF", tracking_no="SF7"))

    await ts_env.sleep(3 * 24 * HOUR + HOUR)
    state = await handle.query(OrderWorkflow.state)
    assert state.logistics_anomaly == "stalled"
    await ts_env.sleep(5 * 24 * HOUR)  # still stalled: no second alert in the same episode
    await until(lambda: len(about(peers.merchant_dingtalk, state.order_id)) >= 1)
    assert len(about(peers.merchant_dingtalk, state.order_id)) == 1

    now = await ts_env.get_current_time()
    moving = await handle.execute_update(
        OrderWorkflow.record_logistics, LogisticsEvent(status="in_transit", at=now, description="到达上海转运中心")
    )
    assert moving.logistics_anomaly is None


async def test_a_carrier_exception_is_an_anomaly_at_once(
    ts_env: WorkflowEnvironment, client: Client, settings: Settings, merchant_id: str
) -> None:
    handle = await start_order(ts_env, client, settings, merchant_id)
    await handle.execute_update(OrderWorkflow.ship, Shipment(carrier="SF", tracking_no="SF8"))
    now = await ts_env.get_current_time()
    state = await handle.execute_update(
        OrderWorkflow.record_logistics, LogisticsEvent(status="exception", at=now, description="包裹破损")
    )
    assert state.logistics_anomaly == "exception"


async def test_no_delivery_by_the_carriers_promise_is_an_anomaly(
    ts_env: WorkflowEnvironment, client: Client, settings: Settings, merchant_id: str
) -> None:
    handle = await start_order(ts_env, client, settings, merchant_id)
    promised = await ts_env.get_current_time() + 24 * HOUR
    await handle.execute_update(
        OrderWorkflow.ship, Shipment(carrier="SF", tracking_no="SF9", promised_delivery_at=promised)
    )
    await ts_env.sleep(12 * HOUR)
    now = await ts_env.get_current_time()
    await handle.execute_update(OrderWorkflow.record_logistics, LogisticsEvent(status="in_transit", at=now))
    await ts_env.sleep(13 * HOUR)
    assert (await handle.query(OrderWorkflow.state)).logistics_anomaly == "late_delivery"


async def test_delivery_opens_a_seven_day_window_that_closes_by_itself(
    ts_env: WorkflowEnvironment, client: Client, settings: Settings, merchant_id: str
) -> None:
    handle = await start_order(ts_env, client, settings, merchant_id)
    await handle.execute_update(OrderWorkflow.ship, Shipment(carrier="SF", tracking_no="SF10"))
    delivered_at = await ts_env.get_current_time()
    state = await handle.execute_update(
        OrderWorkflow.record_logistics, LogisticsEvent(status="delivered", at=delivered_at)
    )
    assert state.status is OrderStatus.DELIVERED
    assert state.after_sales_window_ends_at == delivered_at + timedelta(days=7)
    assert state.deadline_at == state.after_sales_window_ends_at

    await ts_env.sleep(timedelta(days=7, hours=1))
    assert (await handle.query(OrderWorkflow.state)).status is OrderStatus.CLOSED


async def test_an_extension_moves_the_window_and_reopens_a_closed_one(
    ts_env: WorkflowEnvironment, client: Client, settings: Settings, merchant_id: str
) -> None:
    handle = await start_order(ts_env, client, settings, merchant_id)
    await handle.execute_update(OrderWorkflow.ship, Shipment(carrier="SF", tracking_no="SF11"))
    delivered_at = await ts_env.get_current_time()
    await handle.execute_update(OrderWorkflow.record_logistics, LogisticsEvent(status="delivered", at=delivered_at))

    extended = await handle.execute_update(OrderWorkflow.extend_window, WindowExtension(days=3))
    assert extended.after_sales_window_ends_at == delivered_at + timedelta(days=10)
    await ts_env.sleep(timedelta(days=8))
    assert (await handle.query(OrderWorkflow.state)).status is OrderStatus.DELIVERED

    await ts_env.sleep(timedelta(days=3))
    assert (await handle.query(OrderWorkflow.state)).status is OrderStatus.CLOSED
    reopened = await handle.execute_update(OrderWorkflow.extend_window, WindowExtension())
    assert reopened.status is OrderStatus.DELIVERED
    reopened_at = reopened.history[-1].at
    assert reopened.history[-1].event == "window_extended"
    assert reopened.after_sales_window_ends_at == reopened_at + timedelta(days=7)


async def test_the_watch_ends_when_the_grace_for_extensions_has_passed(
    ts_env: WorkflowEnvironment, client: Client, settings: Settings, merchant_id: str
) -> None:
    handle = await start_order(ts_env, client, settings, merchant_id)
    await handle.execute_update(OrderWorkflow.ship, Shipment(carrier="SF", tracking_no="SF12"))
    now = await ts_env.get_current_time()
    await handle.execute_update(OrderWorkflow.record_logistics, LogisticsEvent(status="delivered", at=now))
    final = await handle.result()  # the server skips the 7-day window and the 30-day grace
    assert final.status is OrderStatus.CLOSED


async def test_moving_the_ship_deadline_moves_the_running_timers(
    ts_env: WorkflowEnvironment, client: Client, settings: Settings, merchant_id: str
) -> None:
    handle = await start_order(ts_env, client, settings, merchant_id)
    moved = await handle.execute_update(OrderWorkflow.shift_deadlines, DeadlineShift(hours=48, reason="春节"))
    assert moved.ship_deadline_at == moved.paid_at + 120 * HOUR

    await ts_env.sleep(100 * HOUR)
    assert not (await handle.query(OrderWorkflow.state)).overdue
    await ts_env.sleep(21 * HOUR)
    state = await handle.query(OrderWorkflow.state)
    assert state.overdue
    assert state.deadline_at is None


async def test_per_merchant_policy_shortens_the_ship_deadline(
    ts_env: WorkflowEnvironment, client: Client, settings: Settings, merchant_id: str
) -> None:
    handle = await start_order(ts_env, client, settings, merchant_id, ship_deadline=timedelta(hours=24))
    await ts_env.sleep(25 * HOUR)
    assert (await handle.query(OrderWorkflow.state)).overdue


async def test_a_dingtalk_throttle_delays_only_dingtalk_and_by_the_throttle_wait(
    ts_env: WorkflowEnvironment, settings: Settings, merchant_id: str, peers: Peers, engine: Engine
) -> None:
    """DingTalk says "too fast" (130101) while WeCom fails for a moment: WeCom is retried seconds later,
    DingTalk after AFTERSALES_ROBOT_THROTTLE_WAIT; neither message is lost, neither goes twice."""
    patient = settings.model_copy(update={"robot_throttle_wait": timedelta(minutes=20)})
    async with build_worker(ts_env.client, patient, engine=engine) as worker, worker:
        handle = await start_order(ts_env, ts_env.client, patient, merchant_id)
        order_id = (await handle.query(OrderWorkflow.state)).order_id
        peers.merchant_dingtalk.fail_next(130101)  # "sending too fast"
        peers.merchant_wecom.fail_next(-1, status=502)

        with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
            await ts_env.sleep(48 * HOUR + timedelta(seconds=1))
            await ts_env.sleep(timedelta(minutes=1))
            await until(lambda: len(about(peers.merchant_wecom, order_id)) == 1)
            await ts_env.sleep(timedelta(minutes=18))
            assert about(peers.merchant_dingtalk, order_id) == []  # left alone for the throttle wait
            await ts_env.sleep(timedelta(minutes=2))
            await until(lambda: len(about(peers.merchant_dingtalk, order_id)) == 1)
            await idle(handle)

    assert len(about(peers.merchant_dingtalk, order_id)) == 1
    assert len(about(peers.merchant_wecom, order_id)) == 1
    sent = [entry for entry in logs if entry["event"] == "notification_sent" and order_id in entry["key"]]
    assert {(entry["channel"], entry["activity_type"], entry["attempt"]) for entry in sent} == {
        ("wecom:merchant", "deliver", 2),
        ("dingtalk:merchant", "deliver", 2),
    }
    assert {entry["workflow_id"] for entry in sent} == {handle.id}


async def test_a_late_shipment_keeps_the_missed_ship_deadline_and_the_breach_on_record(
    ts_env: WorkflowEnvironment, client: Client, settings: Settings, merchant_id: str
) -> None:
    handle = await start_order(ts_env, client, settings, merchant_id)
    await ts_env.sleep(73 * HOUR)
    shipped = await handle.execute_update(OrderWorkflow.ship, Shipment(carrier="SF", tracking_no="SF13"))
    assert shipped.status is OrderStatus.SHIPPED
    assert shipped.overdue
    assert shipped.ship_deadline_at == shipped.paid_at + 72 * HOUR
    assert shipped.deadline_at is None
    assert [entry.event for entry in shipped.history].count("ship_overdue") == 1


async def test_ship_steps_are_keyed_by_clock_generation_and_step(
    ts_env: WorkflowEnvironment, client: Client, settings: Settings, merchant_id: str, peers: Peers, engine: Engine
) -> None:
    handle = await start_order(ts_env, client, settings, merchant_id)
    order_id = (await handle.query(OrderWorkflow.state)).order_id
    await ts_env.sleep(72 * HOUR + timedelta(seconds=1))
    await until(lambda: len(about(peers.platform_dingtalk, order_id)) == 1)
    with Session(engine) as session:
        keys = {row.key for row in session.exec(select(SentNotification)) if row.key.startswith(f"{handle.id}:")}
    # One per channel: {workflow}:{clock}:{generation}:{step}:{channel}
    assert {tuple(key.removeprefix(f"{handle.id}:").split(":")[:3]) for key in keys} == {
        ("ship", "0", "remind_24h"),
        ("ship", "0", "remind_4h"),
        ("ship", "0", "breach"),
    }


async def test_a_promise_already_past_at_shipment_is_an_anomaly_at_once(
    ts_env: WorkflowEnvironment, client: Client, settings: Settings, merchant_id: str
) -> None:
    handle = await start_order(ts_env, client, settings, merchant_id)
    paid_at = (await handle.query(OrderWorkflow.state)).paid_at
    await ts_env.sleep(3 * HOUR)
    shipped = await handle.execute_update(
        OrderWorkflow.ship, Shipment(carrier="SF", tracking_no="SF14", promised_delivery_at=paid_at + HOUR)
    )
    assert shipped.logistics_anomaly == "late_delivery"


async def test_a_window_closed_again_after_a_reopening_has_a_fresh_grace(
    ts_env: WorkflowEnvironment, client: Client, settings: Settings, merchant_id: str
) -> None:
    handle = await start_order(ts_env, client, settings, merchant_id)
    await handle.execute_update(OrderWorkflow.ship, Shipment(carrier="SF", tracking_no="SF15"))
    now = await ts_env.get_current_time()
    await handle.execute_update(OrderWorkflow.record_logistics, LogisticsEvent(status="delivered", at=now))
    await ts_env.sleep(timedelta(days=36))  # closed 29 days ago: a day of its grace left
    reopened = await handle.execute_update(OrderWorkflow.extend_window, WindowExtension(days=2))
    assert reopened.status is OrderStatus.DELIVERED

    await ts_env.sleep(timedelta(days=3))
    assert (await handle.query(OrderWorkflow.state)).status is OrderStatus.CLOSED
    await ts_env.sleep(timedelta(days=28))  # past the first grace's end, within the second
    again = await handle.execute_update(OrderWorkflow.extend_window, WindowExtension(days=1))
    assert again.status is OrderStatus.DELIVERED
    final = await handle.result()
    assert final.status is OrderStatus.CLOSED
    assert [entry.event for entry in final.history].count("window_closed") == 3
