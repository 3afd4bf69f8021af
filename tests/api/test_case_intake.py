"""The after-sales intake's edges: a case answered before its workflow exists, and an id taken before any order.

``POST /v1/after-sales`` answers 201 with the case's opening view while the order starts the case in the
background; calls on the case right after wait for it. A case id a workflow holds already is refused by a
describe before the order reserves anything.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio.testing import WorkflowEnvironment

from api.starting import START_WAIT, starting
from domain import ids
from domain.cases import AfterSaleRequest, CaseInput, CaseView
from domain.policy import Policy
from tests.api.test_cases import case_body, delivered
from tests.api.test_orders import assert_problem
from tests.factories import place_order
from workflows.aftersale import REQUEST_MEMO, AfterSaleWorkflow, request_digest
from workflows.order import OrderWorkflow


async def test_a_case_read_and_acted_on_right_after_its_201_waits_for_its_workflow_to_start(
    api: Any, dev_env: WorkflowEnvironment
) -> None:
    order_id = await delivered(api)
    body = case_body(order_id, "soon")
    case = dev_env.client.get_workflow_handle(ids.after_sale(body["case_id"]))
    # What the API notes as it answers a 201 (the case is starting); here the order starts it 0.3 s later.
    starting(case).accepted(case.id)

    async def accepted_late() -> CaseView:
        await asyncio.sleep(0.3)
        order = dev_env.client.get_workflow_handle_for(OrderWorkflow.run, ids.order(order_id))
        return await order.execute_update(OrderWorkflow.request_after_sale, AfterSaleRequest.model_validate(body))

    path = f"/v1/after-sales/{body['case_id']}"
    read, approved, opened = await asyncio.gather(
        api("mall", "GET", path), api("merchant:m-acme", "POST", f"{path}/approve", json={}), accepted_late()
    )
    assert read.status_code == 200, read.text
    assert (read.json()["case_id"], read.json()["order_id"]) == (opened.case_id, order_id)
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "awaiting_return"

    # A case this API did not just accept is a 404 at once; one it did that never starts, after the wait.
    began = time.monotonic()
    assert_problem(await api("mall", "GET", f"/v1/after-sales/{order_id}-never"), 404, "not_found")
    assert time.monotonic() - began < START_WAIT
    lost = dev_env.client.get_workflow_handle(ids.after_sale(f"{order_id}-lost"))
    starting(lost).accepted(lost.id)
    began = time.monotonic()
    assert_problem(
        await api("merchant:m-acme", "POST", f"/v1/after-sales/{order_id}-lost/approve", json={}), 404, "not_found"
    )
    assert START_WAIT <= time.monotonic() - began < START_WAIT + 2


async def test_a_case_id_a_workflow_holds_is_refused_before_the_order_reserves_anything(
    api: Any, dev_env: WorkflowEnvironment
) -> None:
    # Another order's case, started where no worker runs: the read model never hears of it, the server knows.
    elsewhere = place_order(paid_at=datetime.now(UTC) - timedelta(hours=30))
    order_id = await delivered(api)
    body = case_body(order_id, "taken")
    theirs = AfterSaleRequest.model_validate({**body, "order_id": elsewhere.order_id})
    held = await dev_env.client.start_workflow(
        AfterSaleWorkflow.run,
        CaseInput(
            request=theirs,
            merchant_id=elsewhere.merchant_id,
            customer_id=elsewhere.customer_id,
            order_lines=elsewhere.lines,
            shipping_address=elsewhere.shipping_address,
            policy=Policy(),
        ),
        id=ids.after_sale(theirs.case_id),
        task_queue=f"no-worker-{uuid.uuid4()}",
        memo={REQUEST_MEMO: request_digest(theirs)},
    )
    try:
        assert_problem(await api("mall", "POST", "/v1/after-sales", json=body), 409, "duplicate")
        order = (await api("mall", "GET", f"/v1/orders/{order_id}")).json()
        assert not [entry for entry in order["history"] if entry["event"].startswith("after_sale")]
        assert (order["open_cases"], [line["in_after_sales"] for line in order["lines"]]) == ([], [0, 0])
    finally:
        await held.terminate("test over")
