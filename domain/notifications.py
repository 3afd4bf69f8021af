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
    CASE_REMINDER = "case_reminder"
    CASE_OVERDUE = "case_overdue"
    CASE_DISPUTED = "case_disputed"
    REFUND_FAILED = "refund_failed"
    PICKUP_FAILED = "pickup_failed"
    CHAT_TRANSFERRED = "chat_transferred"
    CHAT_UNANSWERED = "chat_unanswered"


class Notification(BaseModel):
    """One message to send, once, to every channel of its audiences.

    ``key`` identifies the message across retries (workflow id + clock + ladder step); the notifier adds
    the channel to it, so a retry never sends twice on a channel that already has it. ``deadline_at`` is
    typed, not a param, so it survives the JSON round trip as a time and is shown in the people's zone.
    """

    model_config = ConfigDict(frozen=True)

    key: str
    merchant_id: str
    audiences: tuple[Audience, ...]
    template: Template
    params: dict[str, str | int | None]
    deadline_at: datetime | None = None
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
    Template.CASE_REMINDER: "售后待处理 After-sales reminder",
    Template.CASE_OVERDUE: "售后超时 After-sales overdue",
    Template.CASE_DISPUTED: "售后申诉 After-sales dispute",
    Template.REFUND_FAILED: "退款失败 Refund failed",
    Template.PICKUP_FAILED: "上门取件失败 Pickup failed",
    Template.CHAT_TRANSFERRED: "会话转接 Chat transferred",
    Template.CHAT_UNANSWERED: "会话无人回复 Chat unanswered",
}

# What a case's clock waits for, in the words of the message: (中文, English).
TASKS = {
    "review": ("审核", "review"),
    "receipt": ("确认收货", "receipt confirmation"),
    "reship": ("发出换货", "replacement shipment"),
    "offline_refund": ("线下退款", "offline refund"),
}

_BODIES = {
    Template.SHIP_REMINDER: "订单 {order_id} 须在 {deadline_at} 前发货，剩余 {left}。\n"
    "Order {order_id} must ship by {deadline_at} ({left} left).",
    Template.SHIP_OVERDUE: "订单 {order_id} 已超过发货时限 {deadline_at}，已记为超时。\n"
    "Order {order_id} missed its ship deadline {deadline_at} and is now overdue.",
    Template.LOGISTICS_ANOMALY: "订单 {order_id}（{carrier} {tracking_no}）物流异常：{reason}。\n"
    "Order {order_id} ({carrier} {tracking_no}) has a logistics anomaly: {reason}.",
    Template.CASE_REMINDER: "售后单 {case_id}（订单 {order_id}）待您{task}，截止 {deadline_at}，剩余 {left}。\n"
    "Case {case_id} (order {order_id}) awaits your {task_en} by {deadline_at} ({left} left).",
    Template.CASE_OVERDUE: "售后单 {case_id}（订单 {order_id}）已超过{task}时限 {deadline_at}，已升级平台处理。\n"
    "Case {case_id} (order {order_id}) missed its {task_en} deadline {deadline_at}; the platform is told.",
    Template.CASE_DISPUTED: "售后单 {case_id}（订单 {order_id}）有争议：{reason}，请平台客服介入。\n"
    "Case {case_id} (order {order_id}) is disputed: {reason}. Platform CS, please step in.",
    Template.REFUND_FAILED: "售后单 {case_id}（订单 {order_id}）线上退款被拒，"
    "请于 {deadline_at} 前线下退款 {amount}。\n"
    "The refund of case {case_id} (order {order_id}) was refused; refund {amount} offline by {deadline_at}.",
    Template.PICKUP_FAILED: "售后单 {case_id} 上门取件两次未成功（{waybill_no}），请客服跟进。\n"
    "The courier missed the pickup of case {case_id} twice ({waybill_no}); customer service, please follow up.",
    Template.CHAT_TRANSFERRED: "会话 {conversation_id} 的顾客等待 {agent_id} 回复已超过 {budget}，"
    "已转接给您（{backup_id}），请于 {deadline_at} 前回复。\n"
    "The customer in chat {conversation_id} waited for {agent_id} longer than {budget}; it is yours now "
    "({backup_id}): reply by {deadline_at}.",
    Template.CHAT_UNANSWERED: "会话 {conversation_id} 的顾客已等待 {waited} 无人回复（{agent_id}），请主管跟进。\n"
    "Nobody answered the customer in chat {conversation_id} for {waited} ({agent_id}); supervisor, "
    "please step in.",
}


def local_time(at: datetime, timezone: str) -> str:
    """``at`` as people read it: minutes, in their time zone."""
    return at.astimezone(ZoneInfo(timezone)).strftime("%Y-%m-%d %H:%M")


def render(notification: Notification, timezone: str) -> tuple[str, str]:
    """The title and markdown body of a notification, with times in the people's time zone."""
    params: dict[str, object] = dict(notification.params)
    if notification.deadline_at is not None:
        params["deadline_at"] = local_time(notification.deadline_at, timezone)
    body = _BODIES[notification.template].format_map(_Blank(params))
    if notification.link:
        body += f"\n\n[查看 / Open]({notification.link})"
    return _TITLES[notification.template], body


class _Blank(dict[str, object]):
    def __missing__(self, key: str) -> str:
        return "-"
