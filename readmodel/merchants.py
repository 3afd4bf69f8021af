"""Merchants: the platform's configuration of who to tell, where, and their clock overrides."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any

import structlog
from sqlalchemy import Engine
from sqlmodel import Session

from domain.calendar import BusinessCalendar, CalendarConfig
from domain.holidays import resolve_calendar, years_from
from domain.policy import Policy, with_overrides
from readmodel.db import session_scope
from readmodel.tables import Merchant

log = structlog.get_logger(__name__)


def get_merchant(engine: Engine, *, merchant_id: str) -> Merchant | None:
    """The merchant ``merchant_id``, or None."""
    with Session(engine, expire_on_commit=False) as session:
        return session.get(Merchant, merchant_id)


def put_merchant(engine: Engine, *, merchant_id: str, values: dict[str, Any]) -> Merchant:
    """Creates or replaces the merchant ``merchant_id`` with ``values``."""
    with session_scope(engine) as session:
        merchant = session.get(Merchant, merchant_id)
        if merchant is None:
            merchant = Merchant(merchant_id=merchant_id, updated_at=datetime.now(UTC), **values)
        else:
            for name, value in values.items():
                setattr(merchant, name, value)
            merchant.updated_at = datetime.now(UTC)
        session.add(merchant)
        session.flush()
        session.refresh(merchant)
        return merchant


def calendar_of(merchant: Merchant | None, *, today: date, also: Iterable[int] = ()) -> BusinessCalendar:
    """The business calendar a process started ``today`` for ``merchant`` runs its clocks on.

    Holidays are resolved here, outside any workflow, for this year and the next, and travel into the
    workflow as data. A year the holiday package does not know yet counts without holidays, and says so in
    the log (and in the calendar's ``holiday_years``): upgrade ``chinesecalendar`` once the State Council
    publishes it. ``also`` adds years a running process's clocks reach beyond those.
    """
    config = CalendarConfig.model_validate(merchant.calendar) if merchant and merchant.calendar else None
    years = tuple(sorted({*years_from(today), *also}))
    calendar = resolve_calendar(config, years=years)
    if config is not None and config.holidays is not None:
        missing = sorted(set(years) - set(calendar.holiday_years))
        if missing:
            log.warning(
                "holiday_schedule_unknown",
                merchant_id=merchant.merchant_id if merchant else None,
                years=missing,
                source=calendar.holidays_source,
            )
    return calendar


def policy_of(merchant: Merchant | None, base: Policy) -> Policy:
    """The policy a process of ``merchant`` runs under: the platform's ``base`` with the merchant's overrides.

    The merchant's quiet hours are read in its calendar's time zone, or in the platform's without a calendar.
    """
    timezone = CalendarConfig.model_validate(merchant.calendar).timezone if merchant and merchant.calendar else None
    return with_overrides(base, merchant.policy if merchant else {}, timezone=timezone)
