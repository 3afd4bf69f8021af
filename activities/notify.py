"""The notifier activity: one notification, every channel of its recipients, each at most once."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from functools import partial

import httpx
import structlog
from sqlalchemy import Engine
from sqlmodel import Session
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.channels import (
    Button,
    DingTalkRobot,
    Message,
    PermanentFailure,
    RateLimited,
    RobotRateLimiter,
    SmsSender,
    TransientFailure,
    WeComRobot,
)
from activities.directory import ChannelKind, Directory, Target
from config.settings import Settings
from domain.action_links import SPECS as LINK_SPECS
from domain.notifications import Notification, NotifyResult, Recipient, render, sms_of
from readmodel.db import session_scope
from readmodel.merchants import get_merchant
from readmodel.tables import Merchant, SentNotification

log = structlog.get_logger(__name__)

Send = Callable[[], Awaitable[None]]


class Notifier:
    """Sends notifications to DingTalk and WeCom robots and by SMS, deduplicated by key and channel.

    Args:
        http: the shared HTTP client.
        engine: the database holding merchants and the record of sent messages.
        settings: platform robots, time zone, robot rate limit.
        sms: the SMS backend (log or Aliyun-shaped).
        limiter: the per-robot rate limiter shared by every call in this worker.
    """

    def __init__(
        self,
        *,
        http: httpx.AsyncClient,
        engine: Engine,
        settings: Settings,
        sms: SmsSender,
        limiter: RobotRateLimiter,
    ) -> None:
        self._http = http
        self._engine = engine
        self._settings = settings
        self._sms = sms
        self._limiter = limiter
        self._directory = Directory(settings)
        self._links = settings.link_signer()

    @activity.defn
    async def channels(self, notification: Notification) -> list[str]:
        """The channels ``notification`` goes to (``dingtalk:merchant``, ``sms:supplier_head`` …), in order.

        The workflow then delivers on each with :meth:`deliver`, each channel its own activity with its own
        retries, so one robot's throttle or outage never holds back another.
        """
        merchant = await asyncio.to_thread(get_merchant, self._engine, merchant_id=notification.merchant_id)
        channels = [channel for channel, _ in self._deliveries(notification, merchant, "", "")]
        if not channels:
            log.warning("notification_has_no_channel", key=notification.key, merchant_id=notification.merchant_id)
        return channels

    @activity.defn
    async def deliver(self, notification: Notification, channel: str) -> str:
        """Delivers ``notification`` on one channel unless it has it already: ``sent``, ``skipped``, ``failed``.

        A channel no longer configured (the merchant changed robots meanwhile) is ``skipped``. A permanent
        refusal (bad token, bad signature) is recorded and answered ``failed``, not retried.

        Raises:
            ApplicationError: ``rate_limited``, retried after the partner's wait.
            TransientFailure: retried with backoff.
        """
        merchant = await asyncio.to_thread(get_merchant, self._engine, merchant_id=notification.merchant_id)
        title, text = render(notification, self._settings.timezone)
        sends = dict(self._deliveries(notification, merchant, title, text))
        send = sends.get(channel)
        if send is None:
            log.warning("notification_channel_gone", channel=channel, key=notification.key)
            return "skipped"
        try:
            return await self._deliver_once(notification, channel, send)
        except RateLimited as limited:
            raise ApplicationError(
                f"{channel} is rate limited",
                type="rate_limited",
                next_retry_delay=timedelta(seconds=limited.retry_after),
            ) from limited

    @activity.defn
    async def notify(self, notification: Notification) -> NotifyResult:
        """Delivers ``notification`` on every channel that has not had it yet, in one activity.

        Only workflows that started before deliveries went one channel per activity still call this (see
        ``workflows/effects.py``). A failed attempt is retried after the longest wait any channel asked for;
        the channels that already have the message are skipped on the retry.
        """
        merchant = await asyncio.to_thread(get_merchant, self._engine, merchant_id=notification.merchant_id)
        title, text = render(notification, self._settings.timezone)
        result = NotifyResult()
        retry_after: float | None = None
        transient: TransientFailure | None = None
        for channel, send in self._deliveries(notification, merchant, title, text):
            try:
                outcome = await self._deliver_once(notification, channel, send)
            except RateLimited as limited:
                retry_after = max(retry_after or 0.0, limited.retry_after)
                continue
            except TransientFailure as failure:
                transient = failure
                continue
            getattr(result, outcome).append(channel)
        if retry_after is not None:
            raise ApplicationError(
                "a channel is rate limited", type="rate_limited", next_retry_delay=timedelta(seconds=retry_after)
            )
        if transient is not None:
            raise transient
        return result

    async def _deliver_once(self, notification: Notification, channel: str, send: Send) -> str:
        """One try on one channel, at most once per key and channel: ``sent``, ``skipped`` or ``failed``.

        Raises:
            RateLimited: the partner said "too many".
            TransientFailure: the partner could not be reached or failed.
        """
        key = f"{notification.key}:{channel}"
        if await asyncio.to_thread(self._already_handled, key):
            return "skipped"
        try:
            await send()
        except RateLimited as limited:
            log.info("notification_rate_limited", channel=channel, key=key, retry_after=limited.retry_after)
            raise
        except TransientFailure as failure:
            log.warning("notification_failed_transiently", channel=channel, key=key, error=str(failure))
            raise
        except PermanentFailure as refused:
            log.warning("notification_refused", channel=channel, key=key, error=str(refused))
            await asyncio.to_thread(self._record, key, notification.merchant_id, channel, "failed", str(refused))
            return "failed"
        await asyncio.to_thread(self._record, key, notification.merchant_id, channel, "sent", "")
        log.info("notification_sent", channel=channel, key=key, template=notification.template.value)
        return "sent"

    def _deliveries(
        self, notification: Notification, merchant: Merchant | None, title: str, text: str
    ) -> list[tuple[str, Send]]:
        """Every channel of every recipient, as the directory resolves them."""
        deliveries: list[tuple[str, Send]] = []
        for recipient in notification.all_recipients():
            for target in self._directory.targets(recipient, merchant):
                deliveries.append((target.channel, self._sender(target, recipient, notification, title, text)))
        return deliveries

    def _sender(self, target: Target, recipient: Recipient, notification: Notification, title: str, text: str) -> Send:
        if target.kind is ChannelKind.SMS:
            settings = self._settings
            sms = sms_of(
                notification, settings.timezone, codes=settings.sms_templates, generic=settings.sms_template_code
            )
            return partial(
                self._sms.send,
                mobile=target.address,
                params=sms.params,
                out_id=notification.key,
                template_code=sms.template_code,
            )
        message = Message(title, text, target.mentions, self._buttons(notification, recipient))
        wait = self._settings.robot_throttle_wait.total_seconds()
        if target.kind is ChannelKind.DINGTALK:
            robot = DingTalkRobot(self._http, target.address, target.secret, self._limiter, throttle_wait=wait)
            return partial(robot.send, message)
        wecom_robot = WeComRobot(self._http, target.address, self._limiter, throttle_wait=wait)
        return partial(wecom_robot.send, message)

    def _buttons(self, notification: Notification, recipient: Recipient) -> tuple[Button, ...]:
        """The recipient's action links, signed now: their TTL runs from when the message goes out.

        Without ``AFTERSALES_LINK_SECRET`` there are none; the message says the same without buttons.
        """
        if self._links is None:
            return ()
        return tuple(
            Button(
                LINK_SPECS[action.action].label,
                self._links.url(workflow_id=action.workflow_id, action=action.action, person=action.person),
            )
            for action in notification.actions
            if action.recipient == recipient
        )

    def _already_handled(self, key: str) -> bool:
        with Session(self._engine) as session:
            return session.get(SentNotification, key) is not None

    def _record(self, key: str, merchant_id: str, channel: str, outcome: str, detail: str) -> None:
        with session_scope(self._engine) as session:
            if session.get(SentNotification, key) is None:
                session.add(
                    SentNotification(
                        key=key,
                        merchant_id=merchant_id,
                        channel=channel,
                        outcome=outcome,
                        detail=detail[:500],
                        at=datetime.now(UTC),
                    )
                )
