"""Who is told what: notifications as the workflows ask for them, and the words people read.

A notification names its **recipients** — people (an agent, the merchant's supervisor, the supplier's head)
and groups (the merchant's group, the platform's supervisors, customer service, operations) — and the
notifier's directory (:mod:`activities.directory`) turns each into channels and @mentions. The older
:class:`Audience` values are shorthands for recipients. Each message kind has one :class:`MessageSpec`.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field


class Audience(StrEnum):
    """Who a notification is for; the notifier turns each into channels and @mentions."""

    MERCHANT = "merchant"  # the merchant's robot groups, @ its agents
    MERCHANT_SUPERVISOR = "merchant_supervisor"  # the merchant's robot groups, @ its supervisor
    PLATFORM = "platform"  # the platform supervisors' robot groups
    SUPPLIER_HEAD = "supplier_head"  # an SMS to the supplier's head


class RecipientKind(StrEnum):
    """Who a recipient is; :mod:`activities.directory` knows where each is reached."""

    PERSON = "person"  # one of the merchant's agents, by id: @ on the merchant's groups, SMS to their mobile
    MERCHANT_GROUP = "merchant"  # the merchant's robot groups, @ its agents
    MERCHANT_SUPERVISOR = "merchant_supervisor"  # the merchant's robot groups, @ its supervisor
    SUPPLIER_HEAD = "supplier_head"  # an SMS to the supplier's head
    PLATFORM = "platform"  # the platform supervisors' robot groups
    PLATFORM_CS = "platform_cs"  # the platform customer-service group (falls back to the platform group)
    PLATFORM_OPS = "platform_ops"  # platform operations: the platform group, SMS to AFTERSALES_PLATFORM_MOBILES


class Recipient(BaseModel):
    """One person or group to tell; ``sms`` asks for an SMS besides the group message."""

    model_config = ConfigDict(frozen=True)

    kind: RecipientKind
    person_id: str | None = None
    sms: bool = False

    @classmethod
    def person(cls, person_id: str, *, sms: bool = False) -> Recipient:
        """One of the merchant's agents."""
        return cls(kind=RecipientKind.PERSON, person_id=person_id, sms=sms)


# The audiences of the order and case workflows, as recipients.
AUDIENCE_RECIPIENTS = {
    Audience.MERCHANT: Recipient(kind=RecipientKind.MERCHANT_GROUP),
    Audience.MERCHANT_SUPERVISOR: Recipient(kind=RecipientKind.MERCHANT_SUPERVISOR),
    Audience.PLATFORM: Recipient(kind=RecipientKind.PLATFORM),
    Audience.SUPPLIER_HEAD: Recipient(kind=RecipientKind.SUPPLIER_HEAD, sms=True),
}


class LinkAction(StrEnum):
    """What an action link lets its reader do (:mod:`domain.action_links`)."""

    APPROVE = "approve"  # an after-sales case in review
    REJECT = "reject"  # the same, with a reason
    ACCEPT = "accept"  # a work order, by its assignee
    REPLY = "reply"  # the work order's first response
    RESOLVE = "resolve"  # the work order's resolution
    OPEN = "open"  # read only: an order's status and ship deadline


class ActionLink(BaseModel):
    """One button of a notification, before the notifier signs it into a URL.

    Attributes:
        action: what the button does.
        workflow_id: the case, work order or order it acts on.
        person: who may act: an agent's id, or ``merchant:<id>`` for whoever reads the merchant's group.
        recipient: whose copies of the message carry the button (a prompt to an assigner and an assignee
            gives only the assignee's copy an "accept").
    """

    model_config = ConfigDict(frozen=True)

    action: LinkAction
    workflow_id: str
    person: str
    recipient: Recipient


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
    WORK_ORDER_REMINDER = "work_order_reminder"
    WORK_ORDER_ESCALATED = "work_order_escalated"
    WORK_ORDER_UNASSIGNED = "work_order_unassigned"
    WORK_ORDER_NOT_ACCEPTED = "work_order_not_accepted"
    WORK_ORDER_APPEALED = "work_order_appealed"
    DAILY_DIGEST = "daily_digest"
    DIGEST_SUMMARY = "digest_summary"


class Notification(BaseModel):
    """One message to send, once, to every channel of its audiences.

    ``key`` identifies the message across retries (workflow id + clock + ladder step); the notifier adds
    the channel to it, so a retry never sends twice on a channel that already has it. ``deadline_at`` is
    typed, not a param, so it survives the JSON round trip as a time and is shown in the people's zone.
    ``actions`` are the buttons its readers may press; the notifier signs them when it sends.
    """

    model_config = ConfigDict(frozen=True)

    key: str
    merchant_id: str
    audiences: tuple[Audience, ...] = ()
    recipients: tuple[Recipient, ...] = ()
    template: Template
    params: dict[str, str | int | None]
    deadline_at: datetime | None = None
    link: str | None = None
    actions: tuple[ActionLink, ...] = ()

    def all_recipients(self) -> tuple[Recipient, ...]:
        """The recipients, the audiences' included, each once, in order."""
        seen: dict[Recipient, None] = {}
        for recipient in (*(AUDIENCE_RECIPIENTS[a] for a in self.audiences), *self.recipients):
            seen.setdefault(recipient)
        return tuple(seen)


class NotifyResult(BaseModel):
    """What became of a notification on each channel (``dingtalk:merchant`` …)."""

    sent: list[str] = []
    skipped: list[str] = []
    failed: list[str] = []


# What a case's clock waits for, in the words of the message: (中文, English).
TASKS = {
    "review": ("审核", "review"),
    "receipt": ("确认收货", "receipt confirmation"),
    "reship": ("发出换货", "replacement shipment"),
    "offline_refund": ("线下退款", "offline refund"),
}


SMS_VARIABLE_MAX = 35
"""Characters Aliyun takes in one variable of a template (a longer value is refused, not cut)."""


class MessageSpec(BaseModel):
    """One kind of message: its title, its markdown body and its SMS text (``{placeholders}`` from params).

    The SMS text is also the kind's own SMS template: registered with Aliyun as :attr:`sms_template` (the
    same words, ``${variable}`` for each placeholder), its code set in ``AFTERSALES_SMS_TEMPLATES``, the SMS
    carries just :attr:`sms_variables`. Without a code of its own, the kind's text travels whole in the
    ``${content}`` of the one generic template ``AFTERSALES_SMS_TEMPLATE_CODE``.
    """

    model_config = ConfigDict(frozen=True)

    title: str
    body: str
    sms: str = Field(default="", description="the short text an SMS carries; empty: the title")

    @property
    def sms_variables(self) -> tuple[str, ...]:
        """The variables of the kind's SMS template, in the order they appear (each once)."""
        names = [name for _, name, _, _ in string.Formatter().parse(self.sms or self.title) if name]
        return tuple(dict.fromkeys(names))

    @property
    def sms_template(self) -> str:
        """The kind's SMS template as Aliyun registers it: ``工单${work_order_id}…``."""
        return "".join(
            literal + (f"${{{name}}}" if name else "")
            for literal, name, _, _ in string.Formatter().parse(self.sms or self.title)
        )


SPECS: dict[Template, MessageSpec] = {
    Template.SHIP_REMINDER: MessageSpec(
        title="发货提醒 Shipping reminder",
        body="订单 {order_id} 须在 {deadline_at} 前发货，剩余 {left}。\n"
        "Order {order_id} must ship by {deadline_at} ({left} left).",
        sms="订单 {order_id} 须在 {deadline_at} 前发货，剩余 {left}",
    ),
    Template.SHIP_OVERDUE: MessageSpec(
        title="发货超时 Shipment overdue",
        body="订单 {order_id} 已超过发货时限 {deadline_at}，已记为超时。\n"
        "Order {order_id} missed its ship deadline {deadline_at} and is now overdue.",
        sms="订单 {order_id} 已超过发货时限 {deadline_at}",
    ),
    Template.LOGISTICS_ANOMALY: MessageSpec(
        title="物流异常 Logistics anomaly",
        body="订单 {order_id}（{carrier} {tracking_no}）物流异常：{reason}。\n"
        "Order {order_id} ({carrier} {tracking_no}) has a logistics anomaly: {reason}.",
        sms="订单 {order_id} 物流异常：{reason}",
    ),
    Template.CASE_REMINDER: MessageSpec(
        title="售后待处理 After-sales reminder",
        body="售后单 {case_id}（订单 {order_id}）待您{task}，截止 {deadline_at}，剩余 {left}。\n"
        "Case {case_id} (order {order_id}) awaits your {task_en} by {deadline_at} ({left} left).",
        sms="售后单 {case_id} 待{task}，截止 {deadline_at}",
    ),
    Template.CASE_OVERDUE: MessageSpec(
        title="售后超时 After-sales overdue",
        body="售后单 {case_id}（订单 {order_id}）已超过{task}时限 {deadline_at}，已升级平台处理。\n"
        "Case {case_id} (order {order_id}) missed its {task_en} deadline {deadline_at}; the platform is told.",
        sms="售后单 {case_id} {task}已超时，已升级平台",
    ),
    Template.CASE_DISPUTED: MessageSpec(
        title="售后申诉 After-sales dispute",
        body="售后单 {case_id}（订单 {order_id}）有争议：{reason}，请平台客服介入。\n"
        "Case {case_id} (order {order_id}) is disputed: {reason}. Platform CS, please step in.",
        sms="售后单 {case_id} 有争议，请平台客服介入",
    ),
    Template.REFUND_FAILED: MessageSpec(
        title="退款失败 Refund failed",
        body="售后单 {case_id}（订单 {order_id}）线上退款被拒，请于 {deadline_at} 前线下退款 {amount}。\n"
        "The refund of case {case_id} (order {order_id}) was refused; refund {amount} offline by {deadline_at}.",
        sms="售后单 {case_id} 退款被拒，请于 {deadline_at} 前线下退款 {amount}",
    ),
    Template.PICKUP_FAILED: MessageSpec(
        title="上门取件失败 Pickup failed",
        body="售后单 {case_id} 上门取件两次未成功（{waybill_no}），请客服跟进。\n"
        "The courier missed the pickup of case {case_id} twice ({waybill_no}); customer service, please follow up.",
        sms="售后单 {case_id} 上门取件两次未成功，请跟进",
    ),
    Template.WORK_ORDER_REMINDER: MessageSpec(
        title="工单提醒 Work order reminder",
        body="工单 {work_order_id}「{title}」待您{task}，截止 {deadline_at}，{left}。\n"
        "Work order {work_order_id} ({title}) awaits your {task_en} by {deadline_at} ({left_en}).",
        sms="工单 {work_order_id} 待{task}，{left}",
    ),
    Template.WORK_ORDER_ESCALATED: MessageSpec(
        title="工单超时升级 Work order escalated",
        body="工单 {work_order_id}「{title}」{task}已超时（{left}），升级级别 {level}，处理人 {assignee}。\n"
        "Work order {work_order_id} ({title}) is past its {task_en} deadline {deadline_at} ({left_en}); "
        "escalation level {level}, assignee {assignee}.",
        sms="工单 {work_order_id} {task}超时，升级级别 {level}",
    ),
    Template.WORK_ORDER_UNASSIGNED: MessageSpec(
        title="工单未分配 Work order unassigned",
        body="工单 {work_order_id}「{title}」（商户 {merchant_id}）创建后 {budget} 仍未分配，请电话督促商户。\n"
        "Work order {work_order_id} ({title}) of merchant {merchant_id} is still unassigned after {budget_en}; "
        "please call the merchant.",
        sms="工单 {work_order_id}（商户 {merchant_id}）{budget} 未分配",
    ),
    Template.WORK_ORDER_NOT_ACCEPTED: MessageSpec(
        title="工单未接单 Work order not accepted",
        body="工单 {work_order_id}「{title}」分配给 {assignee} 后 {budget} 未接单，请跟进。\n"
        "Work order {work_order_id} ({title}) was not accepted by {assignee} within {budget_en}; please follow up.",
        sms="工单 {work_order_id} 已分配给您，请尽快接单",
    ),
    Template.WORK_ORDER_APPEALED: MessageSpec(
        title="工单申诉 Work order appealed",
        body="工单 {work_order_id}「{title}」客户申诉：{reason}，请平台客服于 {deadline_at} 前处理。\n"
        "The customer appealed work order {work_order_id} ({title}): {reason}. Platform CS, decide by {deadline_at}.",
        sms="工单 {work_order_id} 客户申诉，请于 {deadline_at} 前处理",
    ),
    Template.CHAT_TRANSFERRED: MessageSpec(
        title="会话转接 Chat transferred",
        body="会话 {conversation_id} 的顾客等待 {agent_id} 回复已超过 {budget}，已转接给您（{backup_id}），"
        "请于 {deadline_at} 前回复。\n"
        "The customer in chat {conversation_id} waited for {agent_id} longer than {budget}; it is yours now "
        "({backup_id}): reply by {deadline_at}.",
    ),
    Template.CHAT_UNANSWERED: MessageSpec(
        title="会话无人回复 Chat unanswered",
        body="会话 {conversation_id} 的顾客已等待 {waited} 无人回复（{agent_id}），请主管跟进。\n"
        "Nobody answered the customer in chat {conversation_id} for {waited} ({agent_id}); supervisor, "
        "please step in.",
    ),
    Template.DAILY_DIGEST: MessageSpec(
        title="每日时效日报 Daily digest",
        body="{merchant_name} {date}：超时未发货 {overdue_shipments} 单，超时或未处理售后 {overdue_after_sales} 单，"
        "超时工单 {breached_work_orders} 单。\n"
        "{merchant_name} on {date}: {overdue_shipments} shipments overdue, {overdue_after_sales} after-sales overdue "
        "or undecided, {breached_work_orders} work orders breached.",
        sms="{date} 超时未发货 {overdue_shipments} 单，超时或未处理售后 {overdue_after_sales} 单，"
        "超时工单 {breached_work_orders} 单，详见 {link}",
    ),
    Template.DIGEST_SUMMARY: MessageSpec(
        title="每日时效汇总 Daily digest summary",
        body="{date}：{merchants} 家商户有超时，共超时未发货 {overdue_shipments} 单，"
        "超时或未处理售后 {overdue_after_sales} 单，超时工单 {breached_work_orders} 单。\n{lines}\n"
        "{date}: {merchants} merchants with something overdue: {overdue_shipments} shipments, "
        "{overdue_after_sales} after-sales, {breached_work_orders} work orders.",
    ),
}


def local_time(at: datetime, timezone: str) -> str:
    """``at`` as people read it: minutes, in their time zone."""
    return at.astimezone(ZoneInfo(timezone)).strftime("%Y-%m-%d %H:%M")


def render(notification: Notification, timezone: str) -> tuple[str, str]:
    """The title and markdown body of a notification, with times in the people's time zone."""
    params: dict[str, object] = dict(notification.params)
    if notification.deadline_at is not None:
        params["deadline_at"] = local_time(notification.deadline_at, timezone)
    spec = SPECS[notification.template]
    body = spec.body.format_map(_Blank(params))
    if notification.link:
        body += f"\n\n[查看 / Open]({notification.link})"
    return spec.title, body


class Sms(BaseModel):
    """One SMS as the gateway takes it: an approved template's code and its variables' values."""

    model_config = ConfigDict(frozen=True)

    template_code: str
    params: dict[str, str]


def sms_of(notification: Notification, timezone: str, *, codes: Mapping[str, str], generic: str) -> Sms:
    """The SMS of a notification: the kind's own template (``codes[kind]``) with its variables, or else the
    generic template ``generic`` with the whole text in ``content`` (and every parameter besides)."""
    code = codes.get(notification.template.value)
    if code:
        params = _params(notification, timezone)
        values = {
            name: str(params.get(name) if params.get(name) is not None else "-")
            for name in SPECS[notification.template].sms_variables
        }
        return Sms(template_code=code, params={name: _fit(name, value) for name, value in values.items()})
    generic_params = {k: str(v) for k, v in notification.params.items() if v is not None}
    generic_params["content"] = sms_text(notification, timezone)
    return Sms(template_code=generic, params=generic_params)


def _fit(name: str, value: str) -> str:
    """A variable's value within Aliyun's limit: cut with an ellipsis rather than refused. A link is never
    cut (it would lead nowhere); it belongs in a link variable, which Aliyun measures otherwise."""
    if name == "link" or len(value) <= SMS_VARIABLE_MAX:
        return value
    return value[: SMS_VARIABLE_MAX - 1] + "…"


def _params(notification: Notification, timezone: str) -> dict[str, object]:
    params: dict[str, object] = dict(notification.params)
    if notification.deadline_at is not None:
        params["deadline_at"] = local_time(notification.deadline_at, timezone)
    return params


def sms_text(notification: Notification, timezone: str) -> str:
    """The short text of the notification's SMS (its title when the kind has none)."""
    params: dict[str, object] = dict(notification.params)
    if notification.deadline_at is not None:
        params["deadline_at"] = local_time(notification.deadline_at, timezone)
    spec = SPECS[notification.template]
    return spec.sms.format_map(_Blank(params)) if spec.sms else spec.title


class _Blank(dict[str, object]):
    def __missing__(self, key: str) -> str:
        return "-"
