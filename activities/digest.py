"""The digest's read of the read model: who has something overdue, and the day a run is for."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Engine
from sqlmodel import Session, col, select
from temporalio import activity

from config.settings import Settings
from domain.digest import MerchantCounts, digest_day
from readmodel.board import attention_by_merchant
from readmodel.tables import Merchant


class AttentionQuery(BaseModel):
    """A digest run's question: its scheduled time (which names the day) or a day it was given."""

    model_config = ConfigDict(frozen=True)

    scheduled_at: datetime
    day: str | None = None


class AttentionReport(BaseModel):
    """The answer: the day, the board's base URL, and every merchant with something overdue now."""

    day: str
    public_url: str
    merchants: list[MerchantCounts]


class Digests:
    """Reads what the daily digest reports.

    Args:
        engine: the read model.
        settings: the people's time zone, the board's URL, when an undecided case counts.
    """

    def __init__(self, engine: Engine, settings: Settings) -> None:
        self._engine = engine
        self._settings = settings

    @activity.defn
    def overdue_by_merchant(self, query: AttentionQuery) -> AttentionReport:
        """Counts per merchant with anything overdue right now, with the merchants' names."""
        found = attention_by_merchant(
            self._engine, now=datetime.now(UTC), unprocessed_after=self._settings.digest_unprocessed_after
        )
        ids = [item.merchant_id for item in found]
        with Session(self._engine) as session:
            named = select(Merchant.merchant_id, Merchant.name).where(col(Merchant.merchant_id).in_(ids))
            names = dict(session.exec(named).all())
        return AttentionReport(
            day=query.day or digest_day(query.scheduled_at, self._settings.timezone),
            public_url=self._settings.public_url,
            merchants=[
                MerchantCounts(
                    merchant_id=item.merchant_id,
                    merchant_name=names.get(item.merchant_id, item.merchant_id),
                    overdue_shipments=item.overdue_shipments,
                    overdue_after_sales=item.overdue_after_sales,
                    breached_work_orders=item.breached_work_orders,
                )
                for item in found
            ],
        )
