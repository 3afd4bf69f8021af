"""Tables of the read model and of the platform's configuration.

The read model (``order_watch``) is written only by projection activities, keyed by workflow id, and read
by the monitoring endpoints. Workflows never read it to make decisions.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index
from sqlmodel import Field, SQLModel

from readmodel.db import UTCDateTime


def _utc(*, nullable: bool = True, index: bool = False) -> Any:
    return Field(default=None, sa_column=Column(UTCDateTime(), nullable=nullable, index=index))


class OrderWatch(SQLModel, table=True):
    """One order watch as the projection last saw it."""

    __tablename__ = "order_watch"

    workflow_id: str = Field(primary_key=True, max_length=80)
    order_id: str = Field(index=True, max_length=64)
    merchant_id: str = Field(index=True, max_length=64)
    customer_id: str = Field(max_length=64)
    status: str = Field(index=True, max_length=32)
    overdue: bool = Field(default=False, index=True)
    paid_at: datetime = _utc(nullable=False)
    ship_deadline_at: datetime = _utc(nullable=False, index=True)
    deadline_at: datetime | None = _utc()
    shipped_at: datetime | None = _utc()
    delivered_at: datetime | None = _utc()
    window_ends_at: datetime | None = _utc()
    carrier: str | None = Field(default=None, max_length=64)
    tracking_no: str | None = Field(default=None, max_length=64)
    logistics_anomaly: str | None = Field(default=None, index=True, max_length=32)
    anomaly_since: datetime | None = _utc()
    revision: int = 0
    updated_at: datetime = _utc(nullable=False)


class Merchant(SQLModel, table=True):
    """A merchant (supplier): who to tell, where, and its overrides of the platform's clocks."""

    __tablename__ = "merchant"

    merchant_id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=200)
    head_mobile: str = Field(max_length=20)
    supervisor_mobile: str = Field(max_length=20)
    dingtalk: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    wecom: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    agents: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    backup_agent_id: str | None = Field(default=None, max_length=64)
    policy: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    calendar: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    updated_at: datetime = _utc(nullable=False)


class SentNotification(SQLModel, table=True):
    """A message delivered (or given up on) on one channel; its key makes a retry a no-op."""

    __tablename__ = "sent_notification"

    key: str = Field(primary_key=True, max_length=300)
    merchant_id: str = Field(index=True, max_length=64)
    channel: str = Field(max_length=64)
    outcome: str = Field(max_length=16)
    detail: str = Field(default="", max_length=500)
    at: datetime = _utc(nullable=False)


class CaseWatch(SQLModel, table=True):
    """One after-sales case as the projection last saw it."""

    __tablename__ = "case_watch"

    workflow_id: str = Field(primary_key=True, max_length=80)
    case_id: str = Field(index=True, max_length=64)
    order_id: str = Field(index=True, max_length=64)
    merchant_id: str = Field(index=True, max_length=64)
    kind: str = Field(max_length=32)
    status: str = Field(index=True, max_length=32)
    overdue: bool = Field(default=False, index=True)
    auto_decided: bool = False
    refund_cents: int = 0
    refunded_cents: int = 0
    deadline_at: datetime | None = _utc(index=True)
    overdue_since: datetime | None = _utc()
    opened_at: datetime = _utc(nullable=False)
    work_order_id: str | None = Field(default=None, max_length=64)  # the platform work order it opened last
    revision: int = 0
    updated_at: datetime = _utc(nullable=False)


class PartnerCall(SQLModel, table=True):
    """What a built-in partner simulator (payments, logistics, insurance) was asked, once per key."""

    __tablename__ = "partner_call"

    key: str = Field(primary_key=True, max_length=300)
    partner: str = Field(index=True, max_length=32)
    path: str = Field(max_length=200)
    request: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    response: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    at: datetime = _utc(nullable=False)


class ConversationWatch(SQLModel, table=True):
    """One conversation (a run of messages until a day of silence) as the projection last saw it.

    Keyed by ``watch_id`` (``chat-{conversation_id}@{opened_at}``): a conversation id written to again after it
    ended opens a new row, so each has its own first-reply time for the KPIs.
    """

    __tablename__ = "conversation_watch"

    watch_id: str = Field(primary_key=True, max_length=120)
    workflow_id: str = Field(index=True, max_length=80)
    conversation_id: str = Field(index=True, max_length=64)
    merchant_id: str = Field(index=True, max_length=64)
    agent_id: str | None = Field(default=None, max_length=64)
    status: str = Field(index=True, max_length=32)
    transferred: bool = Field(default=False, index=True)
    supervisor_told: bool = False
    first_reply_seconds: int | None = None
    waiting_since: datetime | None = _utc()
    deadline_at: datetime | None = _utc(index=True)
    opened_at: datetime = _utc(nullable=False, index=True)
    revision: int = 0
    updated_at: datetime = _utc(nullable=False)


class WorkOrderWatch(SQLModel, table=True):
    """One work order as the projection last saw it (a slim snapshot: no history)."""

    __tablename__ = "work_order_watch"

    workflow_id: str = Field(primary_key=True, max_length=80)
    work_order_id: str = Field(index=True, max_length=64)
    merchant_id: str = Field(index=True, max_length=64)
    category: str = Field(max_length=32)
    status: str = Field(index=True, max_length=32)
    priority: str = Field(max_length=16)
    assignee_id: str | None = Field(default=None, index=True, max_length=64)
    escalation_level: int = 0
    overdue: bool = Field(default=False, index=True)
    breached_clocks: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    deadline_at: datetime | None = _utc(index=True)
    overdue_since: datetime | None = _utc()
    opened_at: datetime = _utc(nullable=False)
    first_response_at: datetime | None = _utc()
    resolved_at: datetime | None = _utc()
    satisfaction: int | None = None
    case_id: str | None = Field(default=None, max_length=64)
    revision: int = 0
    updated_at: datetime = _utc(nullable=False)


class SlaFact(SQLModel, table=True):
    """One SLA fact (:class:`domain.facts.Fact`): append-only, keyed so a replayed write adds nothing."""

    __tablename__ = "sla_fact"
    # The KPIs of one merchant over a period read by (merchant_id, at); all merchants' by (kind, at).
    __table_args__ = (Index("ix_sla_fact_merchant_at", "merchant_id", "at"), Index("ix_sla_fact_kind_at", "kind", "at"))

    key: str = Field(primary_key=True, max_length=300)
    workflow_id: str = Field(index=True, max_length=80)
    seq: int
    process: str = Field(max_length=32)
    merchant_id: str = Field(max_length=64)
    kind: str = Field(max_length=32)
    clock: str | None = Field(default=None, max_length=40)
    at: datetime = _utc(nullable=False)
    value: float | None = None
    outcome: str | None = Field(default=None, max_length=40)
    event: str = Field(max_length=64)
