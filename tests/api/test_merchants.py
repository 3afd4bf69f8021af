"""A merchant's business calendar through the API: stored, shown, validated, handed to running work orders."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from temporalio.testing import WorkflowEnvironment

from domain.calendar import WEEKDAYS
from domain.calendar_change import CalendarChangeResult
from tests.api.conftest import web_ui_query
from tests.api.test_orders import assert_problem
from tests.api.test_work_orders import opened
from tests.factories import merchant_body
from workflows.calendar_change import CalendarChangeWorkflow

OFFICE = [["09:00", "12:00"], ["13:00", "18:00"]]
CALENDAR = {
    "timezone": "Asia/Shanghai",
    "hours": {"mon": OFFICE, "tue": OFFICE, "wed": OFFICE, "thu": OFFICE, "fri": OFFICE, "sat": [["10:00", "16:00"]]},
    "holidays": "CN",
}


async def test_an_admin_sets_a_merchants_calendar_and_reads_it_back(api: Any) -> None:
    saved = await api("admin", "PUT", "/v1/merchants/m-calendar", json=merchant_body(calendar=CALENDAR))
    assert saved.status_code == 200, saved.text
    shown = {**CALENDAR, "hours": {**CALENDAR["hours"], "sun": []}}  # a day left out is a day off
    assert saved.json()["calendar"] == shown

    fetched = await api("admin", "GET", "/v1/merchants/m-calendar")
    assert fetched.json()["calendar"] == shown

    cleared = await api("admin", "PUT", "/v1/merchants/m-calendar", json=merchant_body())
    assert cleared.json()["calendar"] is None  # round the clock again
    assert (await api("admin", "GET", "/v1/merchants/m-calendar")).json()["calendar"] is None


async def test_the_time_zone_defaults_to_shanghai(api: Any) -> None:
    body = merchant_body(calendar={"hours": {"mon": OFFICE}, "holidays": None})
    saved = await api("admin", "PUT", "/v1/merchants/m-calendar-tz", json=body)
    assert saved.status_code == 200, saved.text
    assert saved.json()["calendar"]["timezone"] == "Asia/Shanghai"


@pytest.mark.parametrize(
    "calendar",
    [
        {"hours": {}},
        {"hours": {"mon": [["18:00", "09:00"]]}},
        {"hours": {"mon": OFFICE}, "timezone": "Beijing"},
        {"hours": {"mon": OFFICE}, "holidays": "JP"},
        {"hours": {"funday": OFFICE}},
        {"timezone": "Asia/Shanghai"},
        {"hours": {"mon": [[f"{hour:02d}:00", f"{hour:02d}:30"] for hour in range(13)]}},
        {"hours": {"mon": OFFICE}, "timezone": "x" * 10_000},
    ],
)
async def test_a_calendar_that_cannot_be_counted_on_is_refused_and_nothing_is_stored(
    api: Any, calendar: dict[str, Any]
) -> None:
    response = await api("admin", "PUT", "/v1/merchants/m-bad-calendar", json=merchant_body(calendar=calendar))
    problem = assert_problem(response, 422, "validation_error")
    assert problem["errors"]
    assert_problem(await api("admin", "GET", "/v1/merchants/m-bad-calendar"), 404, "not_found")


def due(work_order: dict[str, Any]) -> dict[str, str]:
    return {c["name"]: c["due_at"] for c in work_order["clocks"] if c["due_at"]}


async def test_changing_a_merchants_calendar_re_times_its_running_work_orders_once(
    api: Any, dev_env: WorkflowEnvironment
) -> None:
    shanghai = ZoneInfo("Asia/Shanghai")
    mine, other = f"m-retime-{uuid.uuid4().hex[:6]}", f"m-keep-{uuid.uuid4().hex[:6]}"
    for merchant in (mine, other):
        assert (await api("admin", "PUT", f"/v1/merchants/{merchant}", json=merchant_body())).status_code == 200
    wo = (await opened(api, mine, assignee_id="a-1"))["work_order_id"]
    untouched = await opened(api, other, assignee_id="a-1")
    before = due((await api("admin", "GET", f"/v1/work-orders/{wo}")).json())
    assert set(before) == {"first_response", "resolution", "accept"}
    await web_ui_query(dev_env.client, f"MerchantId = '{mine}' AND CaseKind = 'work_order'")

    # Working hours only on the day after tomorrow: every running clock now falls due on that day.
    day = (datetime.now(UTC).astimezone(shanghai) + timedelta(days=2)).weekday()
    calendar = {"timezone": "Asia/Shanghai", "hours": {WEEKDAYS[day]: [["09:00", "18:00"]]}, "holidays": None}
    body = merchant_body(calendar=calendar)
    assert (await api("admin", "PUT", f"/v1/merchants/{mine}", json=body)).status_code == 200

    fanouts = [e async for e in dev_env.client.list_workflows(f"WorkflowId STARTS_WITH 'calendar-{mine}-'")]
    for _ in range(100):
        if fanouts:
            break
        await asyncio.sleep(0.1)
        fanouts = [e async for e in dev_env.client.list_workflows(f"WorkflowId STARTS_WITH 'calendar-{mine}-'")]
    assert len(fanouts) == 1
    fanout = dev_env.client.get_workflow_handle_for(CalendarChangeWorkflow.run, fanouts[0].id)
    result: CalendarChangeResult = await asyncio.wait_for(fanout.result(), timeout=60)
    assert result.changed == (f"workorder-{wo}",)

    after_change = (await api("admin", "GET", f"/v1/work-orders/{wo}")).json()
    moved = due(after_change)
    assert set(moved) == set(before)
    for name, at in moved.items():
        local = datetime.fromisoformat(at).astimezone(shanghai)
        assert local.weekday() == day, (name, local)
        assert datetime.fromisoformat(at) > datetime.fromisoformat(before[name])
    assert [e["event"] for e in after_change["history"]].count("calendar_changed") == 1

    # Another merchant's work order keeps its clocks.
    kept = (await api("admin", "GET", f"/v1/work-orders/{untouched['work_order_id']}")).json()
    assert due(kept) == due(untouched)
    assert "calendar_changed" not in [e["event"] for e in kept["history"]]

    # The same PUT again (a retry) fans out nothing new: the fan-out of this calendar ran already.
    first_run = (await fanout.describe()).run_id
    assert (await api("admin", "PUT", f"/v1/merchants/{mine}", json=body)).status_code == 200
    assert (await fanout.describe()).run_id == first_run
    again = (await api("admin", "GET", f"/v1/work-orders/{wo}")).json()
    assert due(again) == moved
    assert [e["event"] for e in again["history"]].count("calendar_changed") == 1
