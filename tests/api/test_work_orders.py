"""Work orders end to end: real HTTP, a real worker, the dev server, the read model."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.testing import WorkflowEnvironment

from config.settings import Settings
from domain.calendar import BusinessCalendar, WeeklyHours, add_business_time
from tests.api.conftest import read_model, web_ui_query
from tests.api.test_cases import case_body, delivered
from tests.api.test_orders import assert_problem
from tests.factories import merchant_body
from workers.demo import run_demo

PATH = "/v1/work-orders"


def work_order_body(merchant_id: str = "m-acme", **fields: Any) -> dict[str, Any]:
    return {
        "work_order_id": f"WO-{uuid.uuid4().hex[:10]}",
        "merchant_id": merchant_id,
        "category": "logistics",
        "priority": "normal",
        "title": "快递三天没动",
        "description": "物流停在中转站",
        **fields,
    }


async def opened(api: Any, merchant_id: str = "m-acme", **fields: Any) -> dict[str, Any]:
    response = await api("mall", "POST", PATH, json=work_order_body(merchant_id, **fields))
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def act(api: Any, role: str, work_order_id: str, action: str, body: dict[str, Any] | None = None) -> Any:
    return await api(role, "POST", f"{PATH}/{work_order_id}/{action}", json=body or {})


@pytest.fixture(autouse=True)
async def acme(api: Any) -> None:
    """m-acme, configured with its agents a-1 and a-2: work orders are opened for configured merchants only."""
    assert (await api("admin", "PUT", "/v1/merchants/m-acme", json=merchant_body())).status_code == 200


def clock(work_order: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in work_order["clocks"] if c["name"] == name)


async def test_opening_a_work_order_is_idempotent_and_another_body_is_a_duplicate(api: Any) -> None:
    body = work_order_body()
    created = await api("mall", "POST", PATH, json=body)
    assert created.status_code == 201, created.text
    work_order = created.json()
    assert work_order["status"] == "unassigned"
    assert {c["name"] for c in work_order["clocks"]} == {
        "assignment",
        "accept",
        "first_response",
        "resolution",
        "appeal",
        "auto_close",
        "reopen_window",
    }
    assert clock(work_order, "first_response")["due_at"] is not None
    assert clock(work_order, "accept")["due_at"] is None

    again = await api("mall", "POST", PATH, json=body)
    assert again.status_code == 200
    assert again.json()["work_order_id"] == body["work_order_id"]
    other = await api("mall", "POST", PATH, json={**body, "title": "另一个问题"})
    assert_problem(other, 409, "duplicate")
    assert (await api("admin", "GET", f"{PATH}/{body['work_order_id']}")).json()["title"] == body["title"]


async def test_every_action_takes_a_work_order_from_assignment_to_the_customers_rating(api: Any) -> None:
    wo = (await opened(api))["work_order_id"]
    merchant = "merchant:m-acme"

    assigned = (await act(api, merchant, wo, "assign", {"assignee_id": "a-1"})).json()
    assert assigned["status"] == "assigned"
    assert assigned["assignee_id"] == "a-1"
    assert clock(assigned, "accept")["due_at"] is not None
    accepted = (await act(api, merchant, wo, "accept", {"assignee_id": "a-1"})).json()
    assert accepted["status"] == "in_progress"
    replied = (await act(api, merchant, wo, "reply", {"by": "assignee", "message": "您好，正在核实"})).json()
    assert replied["first_response_at"] is not None
    assert clock(replied, "first_response")["due_at"] is None
    waiting = (await act(api, merchant, wo, "wait-customer")).json()
    assert waiting["status"] == "waiting_customer"
    assert clock(waiting, "resolution")["paused"] is True
    back = (await act(api, "mall", wo, "customer-replied")).json()
    assert back["status"] == "in_progress"
    assert clock(back, "resolution")["paused"] is False
    urgent = (await act(api, merchant, wo, "priority", {"priority": "urgent"})).json()
    assert urgent["priority"] == "urgent"
    moved = (await act(api, merchant, wo, "transfer", {"assignee_id": "a-2", "reason": "物流专员"})).json()
    assert (moved["status"], moved["assignee_id"], clock(moved, "accept")["generation"]) == ("assigned", "a-2", 1)
    await act(api, merchant, wo, "accept", {"assignee_id": "a-2"})
    resolved = (await act(api, merchant, wo, "resolve", {"resolution": "已联系快递加急派送"})).json()
    assert resolved["status"] == "resolved"
    assert resolved["resolved_at"] is not None
    confirmed = (await act(api, "mall", wo, "confirm", {"satisfaction": 4})).json()
    assert (confirmed["status"], confirmed["satisfaction"]) == ("closed", 4)

    history = [(e["event"], e["actor"]) for e in confirmed["history"]]
    assert history == [
        ("opened", "customer"),
        ("assigned", "merchant"),
        ("accepted", "merchant"),
        ("replied", "merchant"),
        ("waiting_customer", "merchant"),
        ("customer_replied", "customer"),
        ("priority_changed", "merchant"),
        ("transferred", "merchant"),
        ("accepted", "merchant"),
        ("resolved", "merchant"),
        ("confirmed", "customer"),
    ]
    assert all(datetime.fromisoformat(e["at"]).tzinfo is not None for e in confirmed["history"])

    reopened = (await act(api, "mall", wo, "reopen", {"reason": "还是没收到"})).json()
    assert reopened["status"] == "in_progress"
    assert clock(reopened, "resolution")["generation"] == 1


async def test_an_appeal_goes_to_platform_customer_service_and_only_an_admin_decides(api: Any) -> None:
    wo = (await opened(api, assignee_id="a-1"))["work_order_id"]
    await act(api, "merchant:m-acme", wo, "accept", {"assignee_id": "a-1"})
    await act(api, "merchant:m-acme", wo, "resolve", {"resolution": "不属于质量问题"})
    appealed = (await act(api, "mall", wo, "appeal", {"reason": "明显是质量问题"})).json()
    assert appealed["status"] == "appealed"
    assert clock(appealed, "appeal")["due_at"] is not None

    assert_problem(await act(api, "mall", wo, "decide", {"approve": True, "reason": "x"}), 403, "forbidden")
    assert_problem(await act(api, "merchant:m-acme", wo, "decide", {"approve": True, "reason": "x"}), 403, "forbidden")
    decided = (await act(api, "admin", wo, "decide", {"approve": True, "reason": "支持客户"})).json()
    assert decided["status"] == "closed"
    assert decided["history"][-1]["event"] == "appeal_upheld"
    assert decided["history"][-1]["actor"] == "platform"


async def test_an_illegal_action_is_refused_with_invalid_state_and_changes_nothing(
    api: Any, dev_env: WorkflowEnvironment
) -> None:
    wo = (await opened(api))["work_order_id"]
    before = (await api("admin", "GET", f"{PATH}/{wo}")).json()

    for action, body in [
        ("resolve", {"resolution": "x"}),
        ("accept", {"assignee_id": "a-1"}),
        ("confirm", {"satisfaction": 5}),
        ("customer-replied", {}),
        ("decide", {"approve": False, "reason": "x"}),
    ]:
        role = "admin" if action == "decide" else "mall"
        assert_problem(await act(api, role, wo, action, body), 409, "invalid_state")
    assert_problem(await act(api, "admin", wo, "reply", {"by": "assignee", "message": "hi"}), 409, "invalid_state")
    assert_problem(await act(api, "mall", wo, "priority", {"priority": "normal"}), 409, "invalid_state")
    assert_problem(await act(api, "mall", wo, "confirm", {"satisfaction": 6}), 422, "validation_error")
    assert_problem(await act(api, "mall", wo, "reopen", {"reason": "x"}), 409, "invalid_state")

    after = (await api("admin", "GET", f"{PATH}/{wo}")).json()
    assert (after["revision"], after["history"], after["status"]) == (
        before["revision"],
        before["history"],
        before["status"],
    )
    history = dev_env.client.get_workflow_handle(f"workorder-{wo}").fetch_history_events()
    accepted = [e async for e in history if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED]
    assert accepted == []  # a refused Update leaves no trace in the workflow's history


async def test_a_merchant_key_sees_and_acts_on_its_own_work_orders_only(api: Any) -> None:
    wo = (await opened(api, assignee_id="a-1"))["work_order_id"]
    assert (await api("merchant:m-acme", "GET", f"{PATH}/{wo}")).status_code == 200

    foreign = assert_problem(await api("merchant:m-other", "GET", f"{PATH}/{wo}"), 404, "not_found")
    missing = assert_problem(await api("merchant:m-other", "GET", f"{PATH}/WO-nowhere"), 404, "not_found")
    assert foreign["detail"] == missing["detail"] == "no such resource"  # never names the id
    refused = await act(api, "merchant:m-other", wo, "accept", {"assignee_id": "a-1"})
    assert_problem(refused, 404, "not_found")
    assert (await api("admin", "GET", f"{PATH}/{wo}")).json()["status"] == "assigned"
    assert_problem(await api("merchant:m-acme", "POST", PATH, json=work_order_body()), 403, "forbidden")


async def test_the_merchants_business_calendar_runs_the_work_order_clocks(api: Any, api_settings: Settings) -> None:
    hours = {day: [["09:00", "12:00"], ["13:00", "18:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}
    calendar = {"timezone": "Asia/Shanghai", "hours": hours, "holidays": None}
    merchant = f"m-cal-{uuid.uuid4().hex[:6]}"
    put = await api("admin", "PUT", f"/v1/merchants/{merchant}", json=merchant_body(calendar=calendar))
    assert put.status_code == 200, put.text

    work_order = await opened(api, merchant)
    working = BusinessCalendar(timezone="Asia/Shanghai", hours=WeeklyHours.model_validate(hours))
    opened_at = datetime.fromisoformat(work_order["opened_at"])
    expected = add_business_time(working, opened_at, api_settings.wo_first_response)
    assert datetime.fromisoformat(clock(work_order, "first_response")["due_at"]) == expected


async def test_breached_work_orders_are_listed_and_filterable_in_the_web_ui(
    api: Any, dev_env: WorkflowEnvironment
) -> None:
    merchant = f"m-fast-{uuid.uuid4().hex[:6]}"
    body = merchant_body(policy={"wo_first_response": "1s"})
    assert (await api("admin", "PUT", f"/v1/merchants/{merchant}", json=body)).status_code == 200
    wo = (await opened(api, merchant, assignee_id="a-1", priority="urgent"))["work_order_id"]

    listed = await read_model(
        api,
        f"/v1/monitoring/overdue-work-orders?merchant_id={merchant}",
        lambda body: any(item["work_order_id"] == wo for item in body["items"]),
    )
    item = next(item for item in listed["items"] if item["work_order_id"] == wo)
    assert "first_response" in item["breached_clocks"]
    assert item["escalation_level"] >= 1
    assert item["priority"] == "urgent"
    mine = await api("merchant:m-acme", "GET", f"/v1/monitoring/overdue-work-orders?merchant_id={merchant}")
    assert_problem(mine, 404, "not_found")

    query = f'CaseKind = "work_order" AND MerchantId = "{merchant}" AND Overdue = true AND AssigneeId = "a-1"'
    found = await web_ui_query(dev_env.client, query)
    assert found == [f"workorder-{wo}"]
    assert await web_ui_query(dev_env.client, f'Priority = "urgent" AND MerchantId = "{merchant}"') == [
        f"workorder-{wo}"
    ]


async def test_make_demo_opens_work_orders_in_different_states(
    api_url: str, api_settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await run_demo(api_settings, base_url=api_url) == 0
    printed = [line.split() for line in capsys.readouterr().out.splitlines() if " work_order " in line]
    assert sorted(line[2] for line in printed) == ["in_progress", "unassigned", "waiting_customer"]


async def appealed(api: Any) -> str:
    """A work order of m-acme taken by a-1, resolved and appealed by the customer; answers its id."""
    wo = (await opened(api, assignee_id="a-1"))["work_order_id"]
    assert (await act(api, "merchant:m-acme", wo, "accept", {"assignee_id": "a-1"})).status_code == 200
    assert (await act(api, "merchant:m-acme", wo, "resolve", {"resolution": "已补发"})).status_code == 200
    assert (await act(api, "mall", wo, "appeal", {"reason": "没有收到补发"})).status_code == 200
    return wo


async def test_lax_types_and_control_characters_are_refused_and_change_nothing(api: Any) -> None:
    wo = await appealed(api)
    before = (await api("admin", "GET", f"{PATH}/{wo}")).json()
    for approve in (0, 1, "true", "false", None):
        refused = await act(api, "admin", wo, "decide", {"approve": approve, "reason": "x"})
        assert_problem(refused, 422, "validation_error")
    for reason in ("a\u0000b", "退款\u202e已批准", "\u001b[2J", " "):
        assert_problem(
            await act(api, "admin", wo, "decide", {"approve": True, "reason": reason}), 422, "validation_error"
        )
    after = (await api("admin", "GET", f"{PATH}/{wo}")).json()
    assert (after["status"], after["history"], after["revision"]) == ("appealed", before["history"], before["revision"])

    resolved = (await opened(api, assignee_id="a-1"))["work_order_id"]
    await act(api, "merchant:m-acme", resolved, "accept", {"assignee_id": "a-1"})
    await act(api, "merchant:m-acme", resolved, "resolve", {"resolution": "已补发"})
    for satisfaction in ("5", 5.0, True, 0, 6, None):
        refused = await act(api, "mall", resolved, "confirm", {"satisfaction": satisfaction})
        assert_problem(refused, 422, "validation_error")
    assert (await api("admin", "GET", f"{PATH}/{resolved}")).json()["status"] == "resolved"
    confirmed = await act(api, "mall", resolved, "confirm", {"satisfaction": 5})
    assert confirmed.json()["satisfaction"] == 5

    for field, value in [
        ("title", "快递\u0000没动"),
        ("title", "\u202e快递没动"),
        ("description", "物流\u0007停了"),
        ("description", "x" * 4001),
        ("priority", 1),
        ("title", "x" * 501),
    ]:
        body = work_order_body(**{field: value})
        assert_problem(await api("mall", "POST", PATH, json=body), 422, "validation_error")
        assert_problem(await api("admin", "GET", f"{PATH}/{body['work_order_id']}"), 404, "not_found")
    lines = await api("mall", "POST", PATH, json=work_order_body(description="第一行\n第二行\t完"))
    assert lines.status_code == 201, lines.text  # line breaks and tabs are text


async def test_a_work_order_links_only_to_its_merchants_orders_cases_and_agents(api: Any) -> None:
    ours = await delivered(api)
    theirs = await delivered(api, "m-other")
    our_case = (await api("mall", "POST", "/v1/after-sales", json=case_body(ours, "c1"))).json()["case_id"]
    their_case = (await api("mall", "POST", "/v1/after-sales", json=case_body(theirs, "c1"))).json()["case_id"]

    def same_words(refused: Any, id_: str) -> str:
        return str(assert_problem(refused, 422, "validation_error")["detail"]).replace(id_, "<id>")

    foreign = await api("mall", "POST", PATH, json=work_order_body(order_id=theirs))
    missing = await api("mall", "POST", PATH, json=work_order_body(order_id="O-nowhere"))
    assert same_words(foreign, theirs) == same_words(missing, "O-nowhere")  # a foreign order reads as a missing one
    foreign = await api("mall", "POST", PATH, json=work_order_body(case_id=their_case))
    missing = await api("mall", "POST", PATH, json=work_order_body(case_id="C-nowhere"))
    assert same_words(foreign, their_case) == same_words(missing, "C-nowhere")
    unknown = await api("mall", "POST", PATH, json=work_order_body(f"m-unknown-{uuid.uuid4().hex[:6]}"))
    assert_problem(unknown, 422, "validation_error")
    assert_problem(await api("mall", "POST", PATH, json=work_order_body(assignee_id="a-9")), 422, "validation_error")

    wo = (await opened(api, order_id=ours, case_id=our_case))["work_order_id"]
    assert_problem(await act(api, "mall", wo, "assign", {"assignee_id": "a-9"}), 422, "validation_error")
    assert (await act(api, "mall", wo, "assign", {"assignee_id": "a-1"})).json()["assignee_id"] == "a-1"
    await act(api, "merchant:m-acme", wo, "accept", {"assignee_id": "a-1"})
    moved = await act(api, "merchant:m-acme", wo, "transfer", {"assignee_id": "a-9", "reason": "x"})
    assert_problem(moved, 422, "validation_error")
    after = (await api("admin", "GET", f"{PATH}/{wo}")).json()
    assert (after["status"], after["assignee_id"], after["order_id"], after["case_id"]) == (
        "in_progress",
        "a-1",
        ours,
        our_case,
    )


async def test_an_identical_retry_answers_200_with_the_work_order_and_no_new_event(
    api: Any, dev_env: WorkflowEnvironment
) -> None:
    wo = (await opened(api))["work_order_id"]
    merchant = "merchant:m-acme"
    steps: list[tuple[str, str, dict[str, Any]]] = [
        (merchant, "assign", {"assignee_id": "a-1"}),
        (merchant, "accept", {"assignee_id": "a-1"}),
        (merchant, "priority", {"priority": "urgent"}),
        (merchant, "transfer", {"assignee_id": "a-2", "reason": "物流专员"}),
        (merchant, "accept", {"assignee_id": "a-2"}),
        (merchant, "wait-customer", {}),
        ("mall", "customer-replied", {}),
        (merchant, "resolve", {"resolution": "已补发"}),
        ("mall", "appeal", {"reason": "没有收到补发"}),
    ]
    for role, action, body in steps:
        first = await act(api, role, wo, action, body)
        assert first.status_code == 200, (action, first.text)
        again = await act(api, role, wo, action, body)
        assert again.status_code == 200, (action, again.text)
        assert again.json()["history"] == first.json()["history"], action
        assert again.json()["revision"] == first.json()["revision"], action
    # Another body in a state that does not allow it is still refused.
    assert_problem(await act(api, merchant, wo, "assign", {"assignee_id": "a-2"}), 409, "invalid_state")
    assert_problem(await act(api, "mall", wo, "appeal", {"reason": "另一个理由"}), 409, "invalid_state")
    decided = await act(api, "admin", wo, "decide", {"approve": True, "reason": "支持客户"})
    assert decided.status_code == 200, decided.text
    await dev_env.client.get_workflow_handle(f"workorder-{wo}").result()  # a decided work order is over
    again = await act(api, "admin", wo, "decide", {"approve": True, "reason": "支持客户"})
    assert again.status_code == 200, again.text
    assert again.json()["history"] == decided.json()["history"]
    assert_problem(await act(api, "admin", wo, "decide", {"approve": False, "reason": "x"}), 409, "invalid_state")

    confirmed = (await opened(api, assignee_id="a-1"))["work_order_id"]
    await act(api, merchant, confirmed, "accept", {"assignee_id": "a-1"})
    await act(api, merchant, confirmed, "resolve", {"resolution": "已补发"})
    first = await act(api, "mall", confirmed, "confirm", {"satisfaction": 4})
    again = await act(api, "mall", confirmed, "confirm", {"satisfaction": 4})
    assert (again.status_code, again.json()["history"]) == (200, first.json()["history"])
    assert_problem(await act(api, "mall", confirmed, "confirm", {"satisfaction": 2}), 409, "invalid_state")


async def test_the_history_names_the_caller_and_only_the_merchant_answers_as_the_assignee(api: Any) -> None:
    wo = (await opened(api))["work_order_id"]
    posing = await act(api, "mall", wo, "assign", {"assignee_id": "a-1", "actor": "platform"})
    assert_problem(posing, 422, "validation_error")  # who acts is the key's, not the client's to say
    assert (await act(api, "mall", wo, "assign", {"assignee_id": "a-1"})).status_code == 200
    assert (await act(api, "mall", wo, "priority", {"priority": "urgent"})).status_code == 200
    assert (await act(api, "merchant:m-acme", wo, "accept", {"assignee_id": "a-1"})).status_code == 200

    refused = await act(api, "mall", wo, "reply", {"by": "assignee", "message": "已处理"})
    assert_problem(refused, 403, "forbidden")
    view = (await api("admin", "GET", f"{PATH}/{wo}")).json()
    assert view["first_response_at"] is None
    assert clock(view, "first_response")["due_at"] is not None  # the merchant's clock still runs
    assert (await act(api, "mall", wo, "reply", {"by": "customer", "message": "还没到"})).status_code == 200
    assert (await act(api, "admin", wo, "reply", {"by": "assignee", "message": "平台客服已介入"})).status_code == 200
    resolved = (await act(api, "mall", wo, "resolve", {"resolution": "已补发"})).json()

    assert [(e["event"], e["actor"]) for e in resolved["history"]] == [
        ("opened", "customer"),
        ("assigned", "mall"),
        ("priority_changed", "mall"),
        ("accepted", "merchant"),
        ("customer_message", "customer"),
        ("replied", "platform"),
        ("resolved", "mall"),
    ]
    only_admin = await act(api, "mall", wo, "decide", {"approve": True, "reason": "x"})
    assert assert_problem(only_admin, 403, "forbidden")["detail"] == "this needs an admin key"
