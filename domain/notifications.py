"""Who is told what: notifications as the workflows ask for them, and the words people read."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict


class Audience(StrEnum):
    """Who a notification is for; the notifier turns each into channels and @mentions."""

    MERCHANT = "merchant"  # the merchant's robot groups, @ its agents
    MERCHANT_SUPERVISOR = "merchant_supervisor"  # the merchant's robot groups, @ its supervisor
    PLATFORM = "platform"  # the platform supervisors' robot groups
    SUPPLIER_HEAD = "supplier_head"  # an SMS to the supplier's head


class Template(StrEnum):
    """The messages the product sends."""

    SHIP_REMINDER = "ship_reminder"
    SHIP_OVERDUE = "ship_overdue"
    LOGISTICS_ANOMALY = "logistics_anomaly"


class Notification(BaseModel):
    """One message to send, once, to every channel of its audiences.

    ``key`` identifies the message across retries (workflow id + clock + ladder step); the notifier adds
    the channel to it, so a retry never sends twice on a channel that already has it.
    """

    model_config = ConfigDict(frozen=True)

    key: str
    merchant_id: str
    audiences: tuple[Audience, ...]
    template: Template
    params: dict[str, str | int | datetime | None]
    link: str | None = None


class NotifyResult(BaseModel):
    """What became of a notification on each channel (``dingtalk:merchant`` …)."""

    sent: list[str] = []
    skipped: list[str] = []
    failed: list[str] = []


_TITLES = {
    Template.SHIP_REMINDER: "发货提醒 Shipping reminder",
    Template.SHIP_OVERDUE: "发货超时 Shipment overdue",
    Template.LOGISTICS_ANOMALY: "物流异常 Logistics anomaly",
}

_BODIES = {
    Template.SHIP_REMINDER: "订单 {order_id} 须在 {deadline_at} 前发货，剩余 {left}。\n"
    "Order {order_id} must ship by {deadline_at} ({left} left).",
    Template.SHIP_OVERDUE: "订单 {order_id} 已超过发货时限 {deadline_at}，已记为超时。\n"
    "Order {order_id} missed its ship deadline {deadline_at} and is now overdue.",
    Template.LOGISTICS_ANOMALY: "订单 {order_id}（{carrier} {tracking_no}）物流异常：{reason}。\n"
    "Order {order_id} ({carrier} {tracking_no}) has a logistics anomaly: {reason}.",
}


def render(notification: Notification, timezone: str) -> tuple[str, str]:
    """The title and markdown body of a notification, with times in the people's time zone."""
    zone = ZoneInfo(timezone)
    params = {
        name: value.astimezone(zone).strftime("%Y-%m-%d %H:%M") if isinstance(value, datetime) else value
        for name, value in notification.params.items()
    }
    body = _BODIES[notification.template].format_map(_Blank(params))
    if notification.link:
        body += f"\n\n[查看 / Open]({notification.link})"
    return _TITLES[notification.template], body


class _Blank(dict[str, object]):
    def __missing__(self, key: str) -> str:
        return "-"
