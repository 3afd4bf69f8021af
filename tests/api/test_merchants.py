"""A merchant's business calendar through the API: stored, shown, validated."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.test_orders import assert_problem
from tests.factories import merchant_body

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
