"""Temporal's faults answered truthfully: what the caller may retry, what has ended, what may have happened.

Each story runs a real Temporal dev server; the faults are Temporal's own (a limit reached, a workflow that
ends under an Update, no worker to answer), provoked by leaving a workflow without a worker.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from starlette.requests import Request
from starlette.routing import Route
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from api.errors import refusal_of, rpc_problem, workflow_closed
from api.main import create_app
from config.settings import Settings
from domain import ids
from domain.orders import OrderWatchInput
from domain.policy import Policy
from tests.api.conftest import KEYS, ServedApp
from tests.api.test_orders import assert_problem, now_iso
from tests.conftest import DATA_CONVERTER, _binary
from tests.factories import order_body, place_order
from workers.main import build_worker
from workflows.order import OrderWorkflow


@pytest.fixture
async def one_update_at_a_time() -> AsyncIterator[WorkflowEnvironment]:
    """A dev server of the test's own that admits one Update in flight per workflow."""
    env = await WorkflowEnvironment.start_local(
        data_converter=DATA_CONVERTER,
        dev_server_existing_path=_binary("temporal"),
        dev_server_extra_args=["--dynamic-config-value", "history.maxInFlightUpdates=1"],
    )
    yield env
    await env.shutdown()


async def test_an_action_over_temporals_limit_is_503_to_retry_and_one_racing_the_orders_end_is_409(
    one_update_at_a_time: WorkflowEnvironment, sqlite_url: str
) -> None:
    client = one_update_at_a_time.client
    order = place_order(paid_at=datetime.now(UTC))
    # No worker polls this queue: an Update stays in flight until the workflow ends.
    watch = await client.start_workflow(
        OrderWorkflow.run,
        OrderWatchInput(order=order, policy=Policy()),
        id=ids.order(order.order_id),
        task_queue=f"no-worker-{uuid.uuid4()}",
    )
    # The API waits long for Temporal here: the Update in flight must outlast the SDK's retries of the other.
    settings = Settings(database_url=sqlite_url, api_keys=KEYS, api_temporal_timeout=timedelta(minutes=1))
    path = f"/v1/orders/{order.order_id}/after-sales-window/extensions"
    async with (
        ServedApp(create_app(settings, client=client)) as served,
        httpx.AsyncClient(base_url=served.url, timeout=120, headers={"Authorization": "Bearer k-admin"}) as http,
    ):
        extensions = [asyncio.create_task(http.post(path, json={"days": 1})) for _ in range(2)]
        done, [in_flight] = await asyncio.wait(extensions, return_when=asyncio.FIRST_COMPLETED)
        [turned_away] = [task.result() for task in done]
        problem = assert_problem(turned_away, 503, "unavailable")
        assert turned_away.headers["retry-after"] == "1"
        assert "nothing was accepted" in problem["detail"]

        await watch.terminate("the order's watch ended")  # while the other extension waits for a worker
        assert_problem(await in_flight, 409, "invalid_state")


async def test_an_order_whose_answer_timed_out_may_have_been_accepted_and_its_retry_answers_200(
    dev_env: WorkflowEnvironment, sqlite_url: str
) -> None:
    settings = Settings(database_url=sqlite_url, api_keys=KEYS, task_queue=f"workers-late-{uuid.uuid4()}")
    body = order_body(paid_at=now_iso())
    async with (
        ServedApp(create_app(settings, client=dev_env.client)) as served,
        httpx.AsyncClient(base_url=served.url, timeout=120, headers={"Authorization": "Bearer k-mall"}) as http,
    ):
        # Temporal starts the watch, but no worker is there to answer for its state.
        unanswered = await http.post("/v1/orders", json=body)
        problem = assert_problem(unanswered, 503, "outcome_unknown")
        assert unanswered.headers["retry-after"] == "1"
        assert "may have been accepted" in problem["detail"]
        assert "retrying the same request is safe" in problem["detail"]

        async with build_worker(dev_env.client, settings) as worker, worker:
            retried = await http.post("/v1/orders", json=body)
    assert retried.status_code == 200, retried.text  # it had been accepted: the same order again
    assert retried.json()["status"] == "awaiting_shipment"


def test_temporals_words_for_a_workflow_that_ended_under_an_action_mean_it_ended() -> None:
    # The server's answers, as a test cannot time them: an Update admitted when the workflow closed, one
    # sent after, and one the workflow had accepted but not finished.
    assert workflow_closed(RPCError("workflow update was aborted by closing workflow", RPCStatusCode.NOT_FOUND, b""))
    assert workflow_closed(RPCError("workflow execution already completed", RPCStatusCode.NOT_FOUND, b""))
    assert not workflow_closed(RPCError("workflow not found for ID: order-x", RPCStatusCode.NOT_FOUND, b""))
    accepted = ApplicationError(
        "Workflow Update failed because the Workflow completed before the Update completed.",
        type="AcceptedUpdateCompletedWorkflow",
    )
    assert refusal_of(WorkflowUpdateFailedError(accepted)).code == "invalid_state"


@pytest.mark.parametrize(
    ("method", "route", "status", "message", "code"),
    [
        ("GET", "/v1/orders/{order_id}", RPCStatusCode.CANCELLED, "Timeout expired", "unavailable"),
        ("POST", "/v1/orders", RPCStatusCode.CANCELLED, "Timeout expired", "outcome_unknown"),
        ("POST", "/v1/after-sales", RPCStatusCode.DEADLINE_EXCEEDED, "context deadline exceeded", "outcome_unknown"),
        ("POST", "/v1/after-sales/{case_id}/approve", RPCStatusCode.CANCELLED, "Timeout expired", "outcome_unknown"),
        (
            "GET",
            "/v1/orders/{order_id}",
            RPCStatusCode.RESOURCE_EXHAUSTED,
            "consistent query buffer is full, cannot accept new consistent queries",
            "unavailable",
        ),
        ("POST", "/v1/orders", RPCStatusCode.UNAVAILABLE, "connection refused", "unavailable"),
        ("GET", "/v1/orders/{order_id}", RPCStatusCode.NOT_FOUND, "workflow not found", "not_found"),
        ("POST", "/v1/orders/{order_id}/shipment", RPCStatusCode.PERMISSION_DENIED, "denied", "internal_error"),
    ],
)
def test_each_fault_of_temporal_has_its_code(
    method: str, route: str, status: RPCStatusCode, message: str, code: str
) -> None:
    # The server's other answers, as the client raises them: a timeout is provoked for real above, for one
    # create; the rest are Temporal's own statuses, each mapped by what it says about the call.
    request = Request({"type": "http", "method": method, "path": route, "headers": [], "route": Route(route, print)})
    problem = rpc_problem(request, RPCError(message, status, b""))
    assert problem.code == code
    if code == "outcome_unknown":
        creates = "{" not in route
        assert ("retrying the same request is safe" in problem.detail) is creates
        assert ("read the resource before repeating it" in problem.detail) is not creates


async def test_while_the_workers_are_down_every_call_ends_in_a_503_and_a_foreign_id_reads_as_a_missing_one(
    dev_env: WorkflowEnvironment, sqlite_url: str
) -> None:
    # No worker polls this queue: queries and Updates wait for one, up to AFTERSALES_API_TEMPORAL_TIMEOUT.
    settings = Settings(
        database_url=sqlite_url,
        api_keys=KEYS,
        task_queue=f"workers-down-{uuid.uuid4()}",
        api_temporal_timeout=timedelta(seconds=1),
    )
    body = order_body(paid_at=now_iso())
    order = f"/v1/orders/{body['order_id']}"
    async with (
        ServedApp(create_app(settings, client=dev_env.client)) as served,
        httpx.AsyncClient(base_url=served.url, timeout=30) as http,
    ):

        async def call(key: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
            return await http.request(method, path, headers={"Authorization": f"Bearer {key}"}, **kwargs)

        started = time.monotonic()
        assert_problem(await call("k-mall", "POST", "/v1/orders", json=body), 503, "outcome_unknown")
        # An Update on the order: without a bound it waits for a worker for ever.
        extended = await call("k-admin", "POST", f"{order}/after-sales-window/extensions", json={"days": 1})
        problem = assert_problem(extended, 503, "outcome_unknown")
        assert extended.headers["retry-after"] == "1"
        assert "read the resource before repeating it" in problem["detail"]
        shipped = await call("k-acme", "POST", f"{order}/shipment", json={"carrier": "SF", "tracking_no": "SF1"})
        assert_problem(shipped, 503, "outcome_unknown")
        read = await call("k-acme", "GET", order)
        assert_problem(read, 503, "unavailable")
        assert read.headers["retry-after"] == "1"
        assert time.monotonic() - started < 20  # five calls, each bounded to about a second

        # Another merchant's order and a missing one answer alike, workers or not.
        foreign = await call("k-other", "GET", order)
        missing = await call("k-other", "GET", "/v1/orders/o-missing")
        assert_problem(foreign, 404, "not_found")
        assert (foreign.status_code, _without_instance(foreign)) == (missing.status_code, _without_instance(missing))
        foreign_ship = await call("k-other", "POST", f"{order}/shipment", json={"carrier": "SF", "tracking_no": "SF1"})
        assert_problem(foreign_ship, 404, "not_found")


def _without_instance(response: httpx.Response) -> dict[str, Any]:
    body: dict[str, Any] = response.json()
    body.pop("instance", None)
    return body


def test_no_worker_polling_the_task_queue_is_503_nothing_accepted() -> None:
    # Temporal's answer once its workers have been gone a while (a test cannot wait that long).
    for method in ("GET", "POST"):
        route = "/v1/orders/{order_id}/shipment"
        request = Request(
            {"type": "http", "method": method, "path": route, "headers": [], "route": Route(route, print)}
        )
        error = RPCError("no poller seen for task queue recently", RPCStatusCode.FAILED_PRECONDITION, b"")
        problem = rpc_problem(request, error)
        assert (problem.code, "nothing was accepted" in problem.detail) == ("unavailable", True)
