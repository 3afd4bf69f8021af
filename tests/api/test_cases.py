"""After-sales and pickups end to end: real HTTP, a real worker, the dev server, the simulators."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select
from temporalio.testing import WorkflowEnvironment

from config.settings import Settings
from readmodel.tables import PartnerCall
from tests.api.conftest import read_model, web_ui_query
from tests.api.test_orders import assert_problem, now_iso
from tests.factories import merchant_body, order_body
from tests.waiting import wait_for
from workers.demo import run_demo
from workflows import search_attributes as sa

ADDRESS = {"name": "王小明", "phone": "13800138000", "address": "上海市浦东新区世纪大道 100 号"}


async def delivered(api: Any, merchant_id: str = "m-acme") -> str:
    """An order reported, shipped and delivered through the API; answers its id."""
    body = order_body(paid_at=now_iso(hours_ago=30), merchant_id=merchant_id)
    order_id = body["order_id"]
    assert (await api("mall", "POST", "/v1/orders", json=body)).status_code == 201
    await api("mall", "POST", f"/v1/orders/{order_id}/shipment", json={"carrier": "SF", "tracking_no": "SF1"})
    event = {"status": "delivered", "at": now_iso()}
    assert (await api("mall", "POST", f"/v1/orders/{order_id}/logistics-events", json=event)).status_code == 200
    return order_id


def case_body(order_id: str, suffix: str, kind: str = "return_refund", **fields: Any) -> dict[str, Any]:
    return {
        "case_id": f"{order_id}-{suffix}",
        "order_id": order_id,
        "kind": kind,
        "lines": [{"line_id": "L2", "quantity": 1}],
        "reason": "尺寸不合适",
        **fields,
    }


async def until_status(api: Any, path: str, status: str) -> dict[str, Any]:
    async def read() -> dict[str, Any]:
        return dict((await api("admin", "GET", path)).json())

    return await wait_for(read, lambda body: body.get("status") == status, what=f"{path} {status}")


async def test_a_whole_order_refund_in_cooling_off_is_refunded_and_the_order_reflects_it(
    api: Any, dev_env: WorkflowEnvironment
) -> None:
    body = order_body(paid_at=now_iso(hours_ago=0.1))
    order_id = body["order_id"]
    await api("mall", "POST", "/v1/orders", json=body)
    lines = [{"line_id": "L1", "quantity": 1}, {"line_id": "L2", "quantity": 2}]
    created = await api("mall", "POST", "/v1/after-sales", json=case_body(order_id, "all", "refund_only", lines=lines))
    assert created.status_code == 201, created.text
    case = created.json()
    assert case["refund_cents"] == 19900 + 2 * 3500
    assert case["auto_decided"] is True

    done = await until_status(api, f"/v1/after-sales/{case['case_id']}", "completed")
    assert [(e["event"], e["actor"]) for e in done["history"]][:2] == [
        ("case_opened", "customer"),
        ("auto_refunded_cooling_off", "system"),
    ]
    order = await until_status(api, f"/v1/orders/{order_id}", "refunded")
    assert [(line["refunded"], line["in_after_sales"]) for line in order["lines"]] == [(1, 0), (2, 0)]

    await dev_env.client.get_workflow_handle(f"order-{order_id}").result()  # nothing left to watch
    late = case_body(order_id, "late", "refund_only", lines=[{"line_id": "L1", "quantity": 1}])
    assert_problem(await api("mall", "POST", "/v1/after-sales", json=late), 409, "window_closed")
    shipment = {"carrier": "SF", "tracking_no": "SF2"}
    assert_problem(await api("mall", "POST", f"/v1/orders/{order_id}/shipment", json=shipment), 409, "invalid_state")


async def test_requests_are_idempotent_and_refusals_carry_precise_codes(api: Any) -> None:
    order_id = await delivered(api)
    body = case_body(order_id, "a")
    first = await api("mall", "POST", "/v1/after-sales", json=body)
    assert first.status_code == 201, first.text
    assert first.json()["status"] == "pending_review"
    again = await api("mall", "POST", "/v1/after-sales", json=body)
    assert again.status_code == 200
    assert again.json()["case_id"] == body["case_id"]
    assert_problem(await api("mall", "POST", "/v1/after-sales", json={**body, "reason": "别的"}), 409, "duplicate")

    order = (await api("mall", "GET", f"/v1/orders/{order_id}")).json()
    assert [line["in_after_sales"] for line in order["lines"]] == [0, 1]
    assert order["open_cases"] == [body["case_id"]]

    too_many = case_body(order_id, "b", lines=[{"line_id": "L2", "quantity": 2}])
    assert_problem(await api("mall", "POST", "/v1/after-sales", json=too_many), 409, "quantity_exceeds")
    unknown_line = case_body(order_id, "c", lines=[{"line_id": "L9", "quantity": 1}])
    assert_problem(await api("mall", "POST", "/v1/after-sales", json=unknown_line), 422, "validation_error")
    assert_problem(
        await api("mall", "POST", "/v1/after-sales", json=case_body(order_id, "d", kind="swap")),
        422,
        "validation_error",
    )
    unknown_order = case_body("O-nowhere", "e")
    assert_problem(await api("mall", "POST", "/v1/after-sales", json=unknown_order), 404, "not_found")
    for refused in ("b", "c", "d"):
        assert_problem(await api("admin", "GET", f"/v1/after-sales/{order_id}-{refused}"), 404, "not_found")
    assert_problem(
        await api("merchant:m-acme", "POST", "/v1/after-sales", json=case_body(order_id, "f")), 403, "forbidden"
    )


async def test_a_case_id_names_one_case_forever_and_is_refused_on_another_order(
    api: Any, dev_env: WorkflowEnvironment, engine: Engine
) -> None:
    first_order = await delivered(api)
    body = case_body(first_order, "once", "refund_only", lines=[{"line_id": "L1", "quantity": 1}])
    case_id = body["case_id"]
    assert (await api("mall", "POST", "/v1/after-sales", json=body)).status_code == 201
    other_order = await delivered(api)
    reused = {**body, "order_id": other_order}
    assert_problem(await api("mall", "POST", "/v1/after-sales", json=reused), 409, "duplicate")  # open

    await api("merchant:m-acme", "POST", f"/v1/after-sales/{case_id}/approve", json={})
    done = await until_status(api, f"/v1/after-sales/{case_id}", "completed")
    await dev_env.client.get_workflow_handle(f"aftersale-{case_id}").result()  # closed for good
    assert_problem(await api("mall", "POST", "/v1/after-sales", json=reused), 409, "duplicate")  # closed

    other = (await api("mall", "GET", f"/v1/orders/{other_order}")).json()
    assert other["open_cases"] == []
    assert [line["in_after_sales"] for line in other["lines"]] == [0, 0]
    assert not [e for e in other["history"] if e["event"].startswith("after_sale")]  # refused: no trace
    again = await api("mall", "POST", "/v1/after-sales", json=body)  # the first request stays idempotent
    assert again.status_code == 200, again.text
    assert (again.json()["order_id"], again.json()["refunded_cents"]) == (first_order, done["refunded_cents"])
    with Session(engine) as session:
        refunds = session.exec(select(PartnerCall).where(PartnerCall.partner == "payments")).all()
    assert [call.request["order_id"] for call in refunds if call.request["case_id"] == case_id] == [first_order]


async def test_retried_actions_answer_the_case_as_it_stands(api: Any, dev_env: WorkflowEnvironment) -> None:
    order_id = await delivered(api)
    case_id = (await api("mall", "POST", "/v1/after-sales", json=case_body(order_id, "retry"))).json()["case_id"]
    path = f"/v1/after-sales/{case_id}"
    approved = await api("merchant:m-acme", "POST", f"{path}/approve", json={})
    again = await api("merchant:m-acme", "POST", f"{path}/approve", json={})
    assert (again.status_code, again.json()["status"]) == (200, "awaiting_return"), again.text
    assert again.json()["history"] == approved.json()["history"]

    parcel = {"carrier": "SF", "tracking_no": "SF777"}
    sent = await api("mall", "POST", f"{path}/return-shipment", json=parcel)
    resent = await api("mall", "POST", f"{path}/return-shipment", json=parcel)
    assert (resent.status_code, resent.json()["status"]) == (200, "return_in_transit"), resent.text
    assert resent.json()["history"] == sent.json()["history"]
    another = {"carrier": "SF", "tracking_no": "SF778"}
    assert_problem(await api("mall", "POST", f"{path}/return-shipment", json=another), 409, "invalid_state")

    # A refund-only case ends a moment after its approval; the approval retried later still answers.
    quick = case_body(order_id, "quick", "refund_only", lines=[{"line_id": "L1", "quantity": 1}])
    await api("mall", "POST", "/v1/after-sales", json=quick)
    await api("merchant:m-acme", "POST", f"/v1/after-sales/{quick['case_id']}/approve", json={})
    await dev_env.client.get_workflow_handle(f"aftersale-{quick['case_id']}").result()
    late = await api("merchant:m-acme", "POST", f"/v1/after-sales/{quick['case_id']}/approve", json={})
    assert (late.status_code, late.json()["status"]) == (200, "completed"), late.text
    rejected = await api("merchant:m-acme", "POST", f"/v1/after-sales/{quick['case_id']}/reject", json={"reason": "x"})
    assert_problem(rejected, 409, "invalid_state")


async def test_the_merchant_decides_on_its_own_cases_only(api: Any) -> None:
    order_id = await delivered(api)
    case_id = (await api("mall", "POST", "/v1/after-sales", json=case_body(order_id, "m"))).json()["case_id"]

    assert_problem(await api("merchant:m-other", "GET", f"/v1/after-sales/{case_id}"), 404, "not_found")
    assert_problem(
        await api("merchant:m-other", "POST", f"/v1/after-sales/{case_id}/approve", json={}), 404, "not_found"
    )
    assert_problem(await api("mall", "POST", f"/v1/after-sales/{case_id}/approve", json={}), 403, "forbidden")
    assert_problem(
        await api("merchant:m-acme", "POST", f"/v1/after-sales/{case_id}/reject", json={}), 422, "validation_error"
    )

    rejected = await api("merchant:m-acme", "POST", f"/v1/after-sales/{case_id}/reject", json={"reason": "已拆封"})
    assert rejected.status_code == 200
    assert rejected.json()["status"] == "rejected"
    assert rejected.json()["deadline_at"] is not None  # the appeal window
    assert_problem(await api("mall", "POST", f"/v1/after-sales/{case_id}/cancel", json={}), 409, "invalid_state")
    disputed = await api("mall", "POST", f"/v1/after-sales/{case_id}/appeal", json={"reason": "未拆封，有照片"})
    assert disputed.json()["status"] == "disputed"
    upheld = await api(
        "admin", "POST", f"/v1/after-sales/{case_id}/dispute-decision", json={"approve": True, "reason": "照片为证"}
    )
    assert upheld.json()["status"] == "awaiting_return"
    assert [e["actor"] for e in upheld.json()["history"] if e["actor"] != "system"][-3:] == [
        "merchant",
        "customer",
        "platform",
    ]


async def test_an_appeal_opens_a_platform_work_order_whose_decision_settles_the_case(
    api: Any, dev_env: WorkflowEnvironment, engine: Engine
) -> None:
    order_id = await delivered(api)
    case_id = (await api("mall", "POST", "/v1/after-sales", json=case_body(order_id, "wo", "refund_only"))).json()[
        "case_id"
    ]
    await api("merchant:m-acme", "POST", f"/v1/after-sales/{case_id}/reject", json={"reason": "已拆封"})
    disputed = await api("mall", "POST", f"/v1/after-sales/{case_id}/appeal", json={"reason": "未拆封，有照片"})
    assert disputed.status_code == 200, disputed.text
    work_order_id = disputed.json()["work_order_id"]
    assert work_order_id == f"{case_id}-wo1"
    assert (await api("mall", "GET", f"/v1/after-sales/{case_id}")).json()["work_order_id"] == work_order_id

    work_order = await api("admin", "GET", f"/v1/work-orders/{work_order_id}")
    assert work_order.status_code == 200, work_order.text
    assert (work_order.json()["case_id"], work_order.json()["status"], work_order.json()["merchant_id"]) == (
        case_id,
        "unassigned",
        "m-acme",
    )
    assert (await api("merchant:m-acme", "GET", f"/v1/work-orders/{work_order_id}")).status_code == 200
    assert_problem(await api("merchant:m-other", "GET", f"/v1/work-orders/{work_order_id}"), 404, "not_found")

    # Only a decision settles the case: a resolution of its work order is refused and changes nothing.
    resolve = {"resolution": "已处理"}
    assert_problem(
        await api("admin", "POST", f"/v1/work-orders/{work_order_id}/resolve", json=resolve), 409, "invalid_state"
    )
    decision = {"approve": True, "reason": "未拆封，照片为证"}
    decided = await api("admin", "POST", f"/v1/work-orders/{work_order_id}/decide", json=decision)
    assert decided.status_code == 200, decided.text
    assert (decided.json()["status"], decided.json()["decision"]) == ("closed", True)

    done = await until_status(api, f"/v1/after-sales/{case_id}", "completed")
    assert ("dispute_upheld", "platform") in [(e["event"], e["actor"]) for e in done["history"]]
    assert done["refunded_cents"] == 3500

    with Session(engine) as session:
        refunds = session.exec(select(PartnerCall).where(PartnerCall.partner == "payments")).all()
    assert [call.request["amount_cents"] for call in refunds if call.request["case_id"] == case_id] == [3500]
    # Decided by the work order: the case's own decision comes too late, the same one is a retry.
    late = {"approve": False, "reason": "商家不同意"}
    assert_problem(
        await api("admin", "POST", f"/v1/after-sales/{case_id}/dispute-decision", json=late), 409, "invalid_state"
    )
    again = await api("admin", "POST", f"/v1/work-orders/{work_order_id}/decide", json=late)
    assert_problem(again, 409, "invalid_state")  # the work order is closed for good


async def test_a_cases_pickup_id_is_the_id_the_pickups_endpoint_takes(api: Any) -> None:
    order_id = await delivered(api)
    case_id = (await api("mall", "POST", "/v1/after-sales", json=case_body(order_id, "pid"))).json()["case_id"]
    await api("merchant:m-acme", "POST", f"/v1/after-sales/{case_id}/approve", json={})
    assert (await api("mall", "GET", f"/v1/after-sales/{case_id}")).json()["pickup_id"] is None
    start = datetime.now(UTC) + timedelta(hours=2)
    slot = {"address": ADDRESS, "slot_start": start.isoformat(), "slot_end": (start + timedelta(hours=2)).isoformat()}
    booked = await api("mall", "POST", f"/v1/after-sales/{case_id}/pickup", json=slot)
    assert booked.status_code == 201, booked.text
    pickup_id = (await api("mall", "GET", f"/v1/after-sales/{case_id}")).json()["pickup_id"]
    pickup = await api("mall", "GET", f"/v1/pickups/{pickup_id}")
    assert pickup.status_code == 200, pickup.text
    assert pickup.json()["case_id"] == case_id


async def test_a_return_collected_door_to_door_is_received_and_refunded(api: Any, dev_env: WorkflowEnvironment) -> None:
    order_id = await delivered(api)
    case_id = (await api("mall", "POST", "/v1/after-sales", json=case_body(order_id, "p"))).json()["case_id"]
    await api("merchant:m-acme", "POST", f"/v1/after-sales/{case_id}/approve", json={})

    start = datetime.now(UTC) + timedelta(hours=2)
    slot = {"address": ADDRESS, "slot_start": start.isoformat(), "slot_end": (start + timedelta(hours=2)).isoformat()}
    backwards = {**slot, "slot_end": (start - timedelta(hours=1)).isoformat()}
    assert_problem(
        await api("mall", "POST", f"/v1/after-sales/{case_id}/pickup", json=backwards), 422, "validation_error"
    )
    booked = await api("mall", "POST", f"/v1/after-sales/{case_id}/pickup", json=slot)
    assert booked.status_code == 201, booked.text
    rebooked = await api("mall", "POST", f"/v1/after-sales/{case_id}/pickup", json=slot)  # the mall's retry
    assert rebooked.status_code == 200, rebooked.text
    later = {**slot, "slot_start": (start + timedelta(hours=1)).isoformat()}
    assert_problem(await api("mall", "POST", f"/v1/after-sales/{case_id}/pickup", json=later), 409, "invalid_state")

    pickup = await until_status(api, f"/v1/pickups/{case_id}", "awaiting_payment")
    assert pickup["fee_cents"] == 1200  # the built-in logistics simulator's postage
    assert pickup["waybill_no"].startswith("SF")
    wrong = await api("mall", "POST", f"/v1/pickups/{case_id}/payment", json={"paid_cents": 100})
    assert_problem(wrong, 422, "validation_error")
    paid = await api("mall", "POST", f"/v1/pickups/{case_id}/payment", json={"paid_cents": 1200})
    assert (paid.json()["paid"], paid.json()["status"]) == (True, "scheduled")  # the state after paying
    repaid = await api("mall", "POST", f"/v1/pickups/{case_id}/payment", json={"paid_cents": 1200})
    assert repaid.status_code == 200, repaid.text  # the mall's retry
    assert repaid.json()["history"] == paid.json()["history"]
    courier = {"status": "picked_up", "at": now_iso()}
    picked = await api("mall", "POST", f"/v1/pickups/{case_id}/courier-events", json=courier)
    assert picked.status_code == 200, picked.text
    assert picked.json()["status"] == "picked_up"
    await dev_env.client.get_workflow_handle(f"pickup-{case_id}").result()  # the pickup is over
    again = await api("mall", "POST", f"/v1/pickups/{case_id}/courier-events", json=courier)
    assert (again.status_code, again.json()["status"]) == (200, "picked_up")

    case = await until_status(api, f"/v1/after-sales/{case_id}", "return_in_transit")
    assert case["return_tracking_no"] == pickup["waybill_no"]
    arrived = await api(
        "mall", "POST", f"/v1/after-sales/{case_id}/logistics-events", json={"status": "delivered", "at": now_iso()}
    )
    assert arrived.json()["status"] == "awaiting_receipt"
    received = await api("merchant:m-acme", "POST", f"/v1/after-sales/{case_id}/receipt", json={"accepted": True})
    assert received.status_code == 200
    done = await until_status(api, f"/v1/after-sales/{case_id}", "completed")
    assert {"refund_issued", "insurance_claimed"} <= {e["event"] for e in done["history"]}
    assert done["refunded_cents"] == 3500


async def test_a_merchant_past_its_review_deadline_is_listed_as_overdue(api: Any) -> None:
    merchant = merchant_body(policy={"review_deadline": "1s", "review_timeout_action": "escalate"})
    assert (await api("admin", "PUT", "/v1/merchants/m-slow", json=merchant)).status_code == 200
    order_id = await delivered(api, merchant_id="m-slow")
    case_id = (await api("mall", "POST", "/v1/after-sales", json=case_body(order_id, "o"))).json()["case_id"]

    listed = await read_model(
        api, "/v1/monitoring/overdue-after-sales?merchant_id=m-slow", lambda body: body["count"] >= 1
    )
    assert case_id in [item["case_id"] for item in listed["items"]]
    assert (await api("admin", "GET", f"/v1/after-sales/{case_id}")).json()["overdue"] is True
    metrics = (await api("prometheus", "GET", "/metrics")).text
    assert 'aftersales_overdue_after_sales{merchant_id="m-slow"}' in metrics
    await api("merchant:m-slow", "POST", f"/v1/after-sales/{case_id}/approve", json={})
    await read_model(
        api,
        "/v1/monitoring/overdue-after-sales?merchant_id=m-slow",
        lambda body: case_id not in [item["case_id"] for item in body["items"]],
    )


async def test_make_demo_drives_orders_and_cases_through_the_api(
    api_url: str, api_settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await run_demo(api_settings, base_url=api_url) == 0
    printed = capsys.readouterr().out
    assert "refund_only" in printed
    assert "return_refund" in printed
    assert "overdue=True" in printed
    [cooling_off] = [line for line in printed.splitlines() if line.startswith("cooling-off refund:")]
    assert "completed, 426.00 CNY refunded" in cooling_off  # 368.00 + 2 × 29.00: the whole order
    assert "auto_refunded_cooling_off" in cooling_off
    assert f"http://localhost:{api_settings.ui_port}/namespaces/" in printed


async def test_a_supervisor_finds_cases_in_the_web_ui_by_kind_status_and_deadline(
    api: Any, dev_env: WorkflowEnvironment
) -> None:
    order_id = await delivered(api)
    case = (await api("mall", "POST", "/v1/after-sales", json=case_body(order_id, "ui"))).json()
    query = f'OrderId = "{order_id}" AND CaseKind = "return_refund" AND CaseStatus = "pending_review"'
    found = await web_ui_query(dev_env.client, query)
    assert found == [f"aftersale-{case['case_id']}"]
    description = await dev_env.client.get_workflow_handle(found[0]).describe()
    attributes = description.typed_search_attributes
    assert attributes.get(sa.MERCHANT_ID) == "m-acme"
    assert attributes.get(sa.OVERDUE) is False
    deadline = attributes.get(sa.DEADLINE_AT)
    assert deadline is not None
    assert deadline == datetime.fromisoformat(case["deadline_at"])

    approved = (await api("merchant:m-acme", "POST", f"/v1/after-sales/{case['case_id']}/approve", json={})).json()
    description = await wait_for(
        dev_env.client.get_workflow_handle(found[0]).describe,
        lambda description: description.typed_search_attributes.get(sa.CASE_STATUS) == "awaiting_return",
    )
    assert description.typed_search_attributes.get(sa.DEADLINE_AT) == datetime.fromisoformat(approved["deadline_at"])
