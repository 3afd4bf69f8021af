"""Money exactly once, a worker lost mid-case, door-to-door pickups: under the time-skipping server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from config.settings import Settings
from domain import ids
from domain.cases import CaseStatus, OfflineRefund, ParcelShipment, Receipt
from domain.orders import DeadlineShift, LogisticsEvent, LogisticsStatus
from domain.pickups import CourierEvent, CourierStatus, PickupPayment, PickupRequest, PickupStatus
from tests.peers.partners import PartnersPeer
from tests.waiting import until
from tests.workflows.cases import delivered_order, events, idle, open_case, outcome, paid_order, started
from tests.workflows.conftest import Peers
from tests.workflows.test_order import about
from workers.main import build_worker
from workflows.aftersale import AfterSaleWorkflow
from workflows.pickup import PickupWorkflow

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
ADDRESS = {"name": "王小明", "phone": "13800138000", "address": "上海市浦东新区世纪大道 100 号"}


async def test_a_refund_processed_but_not_heard_of_is_retried_and_paid_only_once(
    dev_client: Client, settings: Settings, merchant_id: str, partners: PartnersPeer
) -> None:
    # On the dev server: the time-skipping server stops its clock after an activity fails.
    client = dev_client
    partners.act_then_fail(1)  # the provider refunds, then the answer is lost: the activity fails
    order = await paid_order(client, settings, merchant_id, datetime.now(UTC))
    case = await open_case(client, settings, order, "refund_only")

    done = await outcome(case)
    assert done.status is CaseStatus.COMPLETED
    assert events(done).count("refund_issued") == 1
    refunds = [r for r in partners.acted("/refunds") if r["case_id"] == done.case_id]
    assert len(refunds) == 1, "the retry must not refund twice"
    assert refunds[0]["amount_cents"] == done.refunded_cents == 26900
    attempts = [m for m in partners.messages if m.get("case_id") == done.case_id]
    assert len(attempts) == 1  # the provider acted once, whatever the retries asked


async def test_a_refund_refused_for_good_goes_to_the_merchant_to_refund_offline(
    dev_client: Client, settings: Settings, merchant_id: str, partners: PartnersPeer, peers: Peers
) -> None:
    # On the dev server: the time-skipping server stops its clock after a non-retryable activity failure.
    client = dev_client
    order = await delivered_order(client, settings, merchant_id, datetime.now(UTC))
    case = await open_case(client, settings, order, "refund_only", [{"line_id": "L1", "quantity": 1}])
    partners.refuse_next("account_closed")
    approved = await case.execute_update(AfterSaleWorkflow.approve)
    case_id = approved.case_id

    async def offline() -> bool:
        return (await case.query(AfterSaleWorkflow.state)).status is CaseStatus.AWAITING_OFFLINE_REFUND

    await until(offline)
    state = await case.query(AfterSaleWorkflow.state)
    assert "refund_failed" in events(state)
    assert state.deadline_at == state.history[-1].at + timedelta(hours=48)
    await until(lambda: len(about(peers.merchant_dingtalk, case_id)) == 1)  # told to refund offline
    assert "¥199.00" in about(peers.merchant_dingtalk, case_id)[0]["markdown"]["text"]

    done = await case.execute_update(AfterSaleWorkflow.record_offline_refund, OfflineRefund(reference="BANK-77"))
    assert done.status is CaseStatus.COMPLETED
    assert done.refunded_cents == 19900
    assert [r for r in partners.acted("/refunds") if r["case_id"] == case_id] == []


async def test_a_case_survives_its_worker_and_finishes_on_a_new_one(
    dev_env: WorkflowEnvironment, settings: Settings, merchant_id: str, partners: PartnersPeer, engine: Engine
) -> None:
    # On the dev server, which hands a stopped worker's sticky tasks to the next worker as production does.
    client = dev_env.client
    async with build_worker(client, settings, engine=engine) as first, first:
        order = await delivered_order(client, settings, merchant_id, datetime.now(UTC))
        case = await open_case(client, settings, order, "return_refund", [{"line_id": "L1", "quantity": 1}])
        await case.execute_update(AfterSaleWorkflow.approve)
        await case.execute_update(AfterSaleWorkflow.ship_return, ParcelShipment(carrier="SF", tracking_no="SF-K1"))
        await idle(order, case)
    # The worker is gone mid-case, and its cache of running workflows with it; a new one rebuilds them
    # from their histories.
    async with build_worker(client, settings, engine=engine) as fresh, fresh:
        now = datetime.now(UTC)
        arrived = await case.execute_update(
            AfterSaleWorkflow.record_return_logistics, LogisticsEvent(status=LogisticsStatus.DELIVERED, at=now)
        )
        assert arrived.status is CaseStatus.AWAITING_RECEIPT
        assert [e.event for e in arrived.history][:4] == [
            "case_opened",
            "approved",
            "return_shipped",
            "return_delivered",
        ]
        await case.execute_update(AfterSaleWorkflow.confirm_receipt, Receipt(accepted=True))
        done = await outcome(case)
        assert done.status is CaseStatus.COMPLETED
        assert [r["amount_cents"] for r in partners.acted("/refunds") if r["case_id"] == done.case_id] == [19900]
        await order.terminate("test over")


async def test_a_paid_pickup_uploads_its_waybill_to_the_case(
    ts_env: WorkflowEnvironment, client: Client, settings: Settings, merchant_id: str, partners: PartnersPeer
) -> None:
    order = await delivered_order(client, settings, merchant_id, await ts_env.get_current_time())
    case = await open_case(client, settings, order, "return_refund", [{"line_id": "L2", "quantity": 2}])
    await case.execute_update(AfterSaleWorkflow.approve)
    now = await ts_env.get_current_time()
    request = PickupRequest.model_validate(
        {"address": ADDRESS, "slot_start": now + 2 * HOUR, "slot_end": now + 4 * HOUR}
    )
    booked = await case.execute_update(AfterSaleWorkflow.book_pickup, request)
    assert booked.pickup_id == booked.case_id  # the id /v1/pickups/{pickup_id} takes
    pickup = client.get_workflow_handle_for(PickupWorkflow.run, ids.pickup(booked.pickup_id))
    await started(pickup)

    async def status_is(status: PickupStatus) -> bool:
        return (await pickup.query(PickupWorkflow.state)).status is status

    await until(lambda: status_is(PickupStatus.AWAITING_PAYMENT))
    view = await pickup.query(PickupWorkflow.state)
    assert view.fee_cents == 1200
    assert view.deadline_at == view.history[-1].at + timedelta(minutes=30)
    paid = await pickup.execute_update(PickupWorkflow.pay, PickupPayment(paid_cents=1200))
    assert (paid.paid, paid.status) == (True, PickupStatus.SCHEDULED)  # the answer is the state after paying
    assert paid.deadline_at == request.slot_end
    again = await pickup.execute_update(PickupWorkflow.pay, PickupPayment(paid_cents=1200))  # the mall retries
    assert again == await pickup.query(PickupWorkflow.state)
    assert events(again).count("paid") == 1

    async def waybill_on_case() -> bool:
        return "pickup_scheduled" in events(await case.query(AfterSaleWorkflow.state))

    await until(waybill_on_case)
    await ts_env.sleep(3 * HOUR)
    picked = await pickup.execute_update(
        PickupWorkflow.record_courier,
        CourierEvent(status=CourierStatus.PICKED_UP, at=await ts_env.get_current_time()),
    )
    assert picked.waybill_no
    assert picked.status is PickupStatus.PICKED_UP

    async def in_transit() -> bool:
        return (await case.query(AfterSaleWorkflow.state)).status is CaseStatus.RETURN_IN_TRANSIT

    await until(in_transit)
    state = await case.query(AfterSaleWorkflow.state)
    assert (state.return_carrier, state.return_tracking_no) == ("SF", picked.waybill_no)
    shipped = next(entry for entry in state.history if entry.event == "return_shipped")
    assert shipped.actor == "system"
    assert (await outcome(pickup)).status is PickupStatus.PICKED_UP


async def test_an_unpaid_pickup_is_dropped_and_the_return_clock_runs_on(
    ts_env: WorkflowEnvironment, client: Client, settings: Settings, merchant_id: str, partners: PartnersPeer
) -> None:
    order = await delivered_order(client, settings, merchant_id, await ts_env.get_current_time())
    case = await open_case(client, settings, order, "return_refund", [{"line_id": "L1", "quantity": 1}])
    approved = await case.execute_update(AfterSaleWorkflow.approve)
    now = await ts_env.get_current_time()
    request = PickupRequest.model_validate({"address": ADDRESS, "slot_start": now + DAY, "slot_end": now + DAY + HOUR})
    booked = await case.execute_update(AfterSaleWorkflow.book_pickup, request)
    assert booked.pickup_id is not None
    pickup = client.get_workflow_handle_for(PickupWorkflow.run, ids.pickup(booked.pickup_id))
    await started(pickup)
    await ts_env.sleep(HOUR)

    dropped = await outcome(pickup)
    assert dropped.status is PickupStatus.CANCELLED
    assert "booking_dropped" in events(dropped)
    first_booking = next(b["booking_id"] for b in partners.acted("/pickups") if b["case_id"] == booked.case_id)
    assert first_booking.startswith(f"pickup-{booked.case_id}-1-1-")  # the case's first pickup, first attempt
    assert first_booking in partners.cancelled

    async def dropped_on_case() -> bool:
        return "pickup_cancelled" in events(await case.query(AfterSaleWorkflow.state))

    await until(dropped_on_case)
    state = await case.query(AfterSaleWorkflow.state)
    assert state.status is CaseStatus.AWAITING_RETURN
    assert state.deadline_at == approved.deadline_at  # the same 7 days, not a fresh start

    # A second pickup of the same case is a new booking, under a key of its own: never answered with the
    # dropped first one.
    await case.execute_update(AfterSaleWorkflow.book_pickup, request)
    await started(pickup)

    async def awaiting_payment() -> bool:
        return (await pickup.query(PickupWorkflow.state)).status is PickupStatus.AWAITING_PAYMENT

    await until(awaiting_payment)
    bookings = [b["booking_id"] for b in partners.acted("/pickups") if b["case_id"] == booked.case_id]
    assert len(bookings) == len(set(bookings)) == 2
    assert bookings[1].startswith(f"pickup-{booked.case_id}-2-1-")


async def test_a_courier_who_misses_twice_is_rebooked_once_then_cs_is_told(
    ts_env: WorkflowEnvironment,
    client: Client,
    settings: Settings,
    merchant_id: str,
    partners: PartnersPeer,
    peers: Peers,
) -> None:
    order = await delivered_order(client, settings, merchant_id, await ts_env.get_current_time())
    case = await open_case(client, settings, order, "exchange", [{"line_id": "L1", "quantity": 1}])
    await case.execute_update(AfterSaleWorkflow.approve)
    now = await ts_env.get_current_time()
    request = PickupRequest.model_validate({"address": ADDRESS, "slot_start": now + HOUR, "slot_end": now + 3 * HOUR})
    booked = await case.execute_update(AfterSaleWorkflow.book_pickup, request)
    assert booked.pickup_id is not None
    pickup = client.get_workflow_handle_for(PickupWorkflow.run, ids.pickup(booked.pickup_id))
    await started(pickup)

    async def status_is(status: PickupStatus) -> bool:
        return (await pickup.query(PickupWorkflow.state)).status is status

    await until(lambda: status_is(PickupStatus.AWAITING_PAYMENT))
    await pickup.execute_update(PickupWorkflow.pay, PickupPayment(paid_cents=1200))
    await until(lambda: status_is(PickupStatus.SCHEDULED))
    await ts_env.sleep(4 * HOUR)  # the slot passes with nobody at the door

    async def rebooked() -> bool:
        view = await pickup.query(PickupWorkflow.state)
        return view.attempts == 2 and view.status is PickupStatus.SCHEDULED

    await until(rebooked)
    second = await pickup.query(PickupWorkflow.state)
    assert second.slot_start == request.slot_start + DAY
    assert second.paid  # the postage is not asked twice
    missed = await pickup.execute_update(
        PickupWorkflow.record_courier,
        CourierEvent(status=CourierStatus.MISSED, at=await ts_env.get_current_time()),
    )
    assert missed.status is PickupStatus.FAILED  # the answer is the state after the report: missed twice

    failed = await outcome(pickup)
    assert failed.status is PickupStatus.FAILED
    assert events(failed).count("courier_missed") == 2
    await until(lambda: len(about(peers.platform_dingtalk, booked.case_id)) == 1)

    async def back_to_the_customer() -> bool:
        return "pickup_failed" in events(await case.query(AfterSaleWorkflow.state))

    await until(back_to_the_customer)
    assert (await case.query(AfterSaleWorkflow.state)).status is CaseStatus.AWAITING_RETURN


async def test_a_return_deadline_passed_while_a_pickup_was_booked_cancels_the_case_once_the_pickup_is_dropped(
    ts_env: WorkflowEnvironment, client: Client, settings: Settings, merchant_id: str
) -> None:
    order = await delivered_order(client, settings, merchant_id, await ts_env.get_current_time())
    case = await open_case(client, settings, order, "return_refund", [{"line_id": "L1", "quantity": 1}])
    approved = await case.execute_update(AfterSaleWorkflow.approve)
    assert approved.deadline_at is not None
    now = await ts_env.get_current_time()
    request = PickupRequest.model_validate({"address": ADDRESS, "slot_start": now + DAY, "slot_end": now + DAY + HOUR})
    booked = await case.execute_update(AfterSaleWorkflow.book_pickup, request)
    assert booked.deadline_at == approved.deadline_at  # paused, the return deadline stays on show
    # The platform pulls the paused deadline in to a quarter of an hour from now: a shift moves it too.
    pulled = await case.execute_update(
        AfterSaleWorkflow.shift_deadlines, DeadlineShift(hours=-(7 * 24 - 0.25), reason="test")
    )
    deadline = approved.deadline_at - timedelta(hours=7 * 24 - 0.25)
    assert pulled.deadline_at == deadline
    assert booked.pickup_id is not None
    pickup = client.get_workflow_handle_for(PickupWorkflow.run, ids.pickup(booked.pickup_id))
    await started(pickup)
    await ts_env.sleep(HOUR)  # the deadline passes while the pickup is booked; its postage is never paid

    assert (await outcome(pickup)).status is PickupStatus.CANCELLED
    cancelled = await outcome(case)
    assert cancelled.status is CaseStatus.CANCELLED
    auto = next(entry for entry in cancelled.history if entry.event == "auto_cancelled")
    # The breach as it fell, acted on once the pickup no longer counted as sent: the entry says both.
    assert auto.due_at == deadline
    assert auto.at > deadline
    assert events(cancelled).index("pickup_cancelled") < events(cancelled).index("auto_cancelled")
