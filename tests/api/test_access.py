"""What a merchant key cannot tell: another merchant's order, case, pickup or configuration answers byte for
byte as a missing one. Each story asks for the same id before it exists and after another merchant has it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from temporalio.testing import WorkflowEnvironment

from config.settings import Settings
from domain import ids
from domain.orders import OrderWatchInput
from domain.policy import Policy
from tests.api.test_cases import ADDRESS, case_body, delivered
from tests.api.test_orders import assert_problem, now_iso
from tests.factories import merchant_body, order_body, place_order
from workflows.order import OrderWorkflow

Call = tuple[str, str, dict[str, Any] | None]


async def answers(api: Any, calls: list[Call]) -> list[httpx.Response]:
    """What ``merchant:m-other`` gets for ``calls``."""
    return [await api("merchant:m-other", method, path, json=body) for method, path, body in calls]


def assert_indistinguishable(missing: list[httpx.Response], foreign: list[httpx.Response], resource_id: str) -> None:
    for before, after in zip(missing, foreign, strict=True):
        problem = assert_problem(before, 404, "not_found")
        assert resource_id not in problem["detail"]
        assert (after.status_code, after.headers["content-type"], after.content) == (
            before.status_code,
            before.headers["content-type"],
            before.content,
        )


async def test_another_merchants_order_answers_exactly_as_a_missing_one(api: Any) -> None:
    body = order_body(paid_at=now_iso())  # m-acme's
    order_id = body["order_id"]
    calls: list[Call] = [
        ("GET", f"/v1/orders/{order_id}", None),
        ("POST", f"/v1/orders/{order_id}/shipment", {"carrier": "SF", "tracking_no": "SF1"}),
    ]
    missing = await answers(api, calls)
    assert (await api("mall", "POST", "/v1/orders", json=body)).status_code == 201
    assert_indistinguishable(missing, await answers(api, calls), order_id)
    assert (await api("mall", "GET", f"/v1/orders/{order_id}")).json()["status"] == "awaiting_shipment"


async def test_an_order_started_without_its_merchant_attribute_is_told_by_its_state_before_an_action(
    api: Any, dev_env: WorkflowEnvironment, api_settings: Settings
) -> None:
    # Ownership before an action is read from the server's MerchantId alone; a watch started without it
    # (before the attribute existed) is asked its state instead, and answers the same way.
    order = place_order(paid_at=datetime.now(UTC))  # m-acme's
    path, shipment = f"/v1/orders/{order.order_id}/shipment", {"carrier": "SF", "tracking_no": "SF1"}
    missing = await answers(api, [("POST", path, shipment)])
    await dev_env.client.start_workflow(
        OrderWorkflow.run,
        OrderWatchInput(order=order, policy=Policy()),
        id=ids.order(order.order_id),
        task_queue=api_settings.task_queue,
    )
    assert_indistinguishable(missing, await answers(api, [("POST", path, shipment)]), order.order_id)
    shipped = await api("merchant:m-acme", "POST", path, json=shipment)
    assert shipped.status_code == 200, shipped.text
    assert shipped.json()["status"] == "shipped"


async def test_another_merchants_case_and_pickup_answer_exactly_as_missing_ones(api: Any) -> None:
    order_id = await delivered(api)  # m-acme's
    case = case_body(order_id, "leak")
    case_id = case["case_id"]
    case_calls: list[Call] = [
        ("GET", f"/v1/after-sales/{case_id}", None),
        ("POST", f"/v1/after-sales/{case_id}/approve", {}),
        ("POST", f"/v1/after-sales/{case_id}/reject", {"reason": "已拆封"}),
    ]
    pickup_calls: list[Call] = [("GET", f"/v1/pickups/{case_id}", None)]
    missing_case, missing_pickup = await answers(api, case_calls), await answers(api, pickup_calls)

    assert (await api("mall", "POST", "/v1/after-sales", json=case)).status_code == 201
    assert_indistinguishable(missing_case, await answers(api, case_calls), case_id)
    assert (await api("merchant:m-acme", "POST", f"/v1/after-sales/{case_id}/approve", json={})).status_code == 200
    start = datetime.now(UTC) + timedelta(hours=2)
    slot = {"address": ADDRESS, "slot_start": start.isoformat(), "slot_end": (start + timedelta(hours=2)).isoformat()}
    assert (await api("mall", "POST", f"/v1/after-sales/{case_id}/pickup", json=slot)).status_code == 201
    assert_indistinguishable(missing_pickup, await answers(api, pickup_calls), case_id)
    assert (await api("merchant:m-acme", "GET", f"/v1/pickups/{case_id}")).status_code == 200


async def test_another_merchants_configuration_answers_exactly_as_a_missing_one(api: Any) -> None:
    calls: list[Call] = [("GET", "/v1/merchants/m-hidden", None)]
    missing = await answers(api, calls)
    assert (await api("admin", "PUT", "/v1/merchants/m-hidden", json=merchant_body())).status_code == 200
    assert_indistinguishable(missing, await answers(api, calls), "m-hidden")
