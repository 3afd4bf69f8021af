"""Calendar activities: a running process's merchant calendar, resolved again outside the workflow.

A work order that lives into a year its calendar has no holidays for asks here; the answer travels back as
data (the activity's recorded result), so a replay never depends on the installed holiday package.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine
from temporalio import activity

from domain.calendar_change import CalendarUpdate, HolidayRequest, revision
from readmodel.merchants import calendar_of, get_merchant


class Calendars:
    """Resolves merchants' calendars from the read model.

    Args:
        engine: the database holding the merchants.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @activity.defn
    def merchant_calendar(self, request: HolidayRequest) -> CalendarUpdate:
        """The merchant's calendar as stored now, with this year's, next year's and ``years``' holidays.

        It carries the merchant's revision, so it never overrides a newer calendar the process was given.
        """
        merchant = get_merchant(self._engine, merchant_id=request.merchant_id)
        calendar = calendar_of(merchant, today=datetime.now(UTC).date(), also=request.years)
        return CalendarUpdate.of(calendar, revision(merchant.updated_at) if merchant else 0)
