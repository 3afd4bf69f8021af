"""The daily digest: what each supplier's head reads by SMS, and the platform's summary.

One digest a day, named by the **schedule's** day in the people's time zone, not by when it ran: a retry,
a second trigger or a catch-up of the same day carries the same keys, so the notifier sends nothing twice.
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict

from domain.notifications import Audience, Notification, Template

# How many merchants the platform's summary names one by one (the rest are in the totals and on the board).
SUMMARY_LINES = 20


class DigestInput(BaseModel):
    """What a digest run is asked; ``day`` forces a day (``YYYY-MM-DD``) instead of the schedule's."""

    model_config = ConfigDict(frozen=True)

    day: str | None = None


class MerchantCounts(BaseModel):
    """What one supplier has overdue."""

    model_config = ConfigDict(frozen=True)

    merchant_id: str
    merchant_name: str
    overdue_shipments: int
    overdue_after_sales: int
    breached_work_orders: int


class DigestResult(BaseModel):
    """What a digest run did: its day, and the merchants it told (or found already told)."""

    day: str
    merchants: list[str] = []
    undelivered: list[str] = []


def digest_day(scheduled_at: datetime, timezone: str) -> str:
    """The day a digest is for: its scheduled time's date where people read it."""
    return scheduled_at.astimezone(ZoneInfo(timezone)).date().isoformat()


def digest_key(day: str, merchant_id: str) -> str:
    """The dedupe key of one merchant's digest: one SMS per merchant and day, whatever reruns."""
    return f"digest:{day}:{merchant_id}"


def board_link(public_url: str, merchant_id: str | None = None) -> str:
    """The SLA board, filtered to one merchant when given."""
    base = f"{public_url.rstrip('/')}/board"
    return f"{base}?{urlencode({'merchant_id': merchant_id})}" if merchant_id else base


def merchant_digest(day: str, counts: MerchantCounts, public_url: str) -> Notification:
    """The SMS to a supplier's head: its counts and the board's link."""
    link = board_link(public_url, counts.merchant_id)
    return Notification(
        key=digest_key(day, counts.merchant_id),
        merchant_id=counts.merchant_id,
        audiences=(Audience.SUPPLIER_HEAD,),
        template=Template.DAILY_DIGEST,
        params={
            "date": day,
            "merchant_name": counts.merchant_name,
            "overdue_shipments": counts.overdue_shipments,
            "overdue_after_sales": counts.overdue_after_sales,
            "breached_work_orders": counts.breached_work_orders,
            "link": link,
        },
        link=link,
    )


def platform_summary(day: str, merchants: list[MerchantCounts], public_url: str) -> Notification:
    """The platform group's summary: totals, and the merchants with the most overdue first."""
    ranked = sorted(
        merchants,
        key=lambda m: (-(m.overdue_shipments + m.overdue_after_sales + m.breached_work_orders), m.merchant_id),
    )
    lines = [
        f"- {m.merchant_name}（{m.merchant_id}）：发货 {m.overdue_shipments} · 售后 {m.overdue_after_sales}"
        f" · 工单 {m.breached_work_orders}"
        for m in ranked[:SUMMARY_LINES]
    ]
    if len(ranked) > SUMMARY_LINES:
        lines.append(f"- …… 另有 {len(ranked) - SUMMARY_LINES} 家 / {len(ranked) - SUMMARY_LINES} more")
    return Notification(
        key=digest_key(day, "platform"),
        merchant_id="",
        audiences=(Audience.PLATFORM,),
        template=Template.DIGEST_SUMMARY,
        params={
            "date": day,
            "merchants": len(merchants),
            "overdue_shipments": sum(m.overdue_shipments for m in merchants),
            "overdue_after_sales": sum(m.overdue_after_sales for m in merchants),
            "breached_work_orders": sum(m.breached_work_orders for m in merchants),
            "lines": "\n".join(lines),
        },
        link=board_link(public_url),
    )
