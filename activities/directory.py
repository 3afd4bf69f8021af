"""The directory: where each recipient of a notification is reached — robot groups, @mentions, SMS numbers.

People are the merchant's (its agents with their mobiles, its supervisor, its head, from the merchant's
configuration); groups are the merchant's robots and the platform's (from the settings). The platform's
customer-service group has robots of its own (``AFTERSALES_PLATFORM_CS_*``); where they are unset, the
platform supervisors' group stands in for it, @-mentioning ``AFTERSALES_PLATFORM_CS_MOBILES`` there.
Platform operations are the platform supervisors' group, and their SMS go to ``AFTERSALES_PLATFORM_MOBILES``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import structlog

from config.settings import Settings
from domain.notifications import Recipient, RecipientKind
from readmodel.tables import Merchant

log = structlog.get_logger(__name__)


class ChannelKind(StrEnum):
    """How a message travels."""

    DINGTALK = "dingtalk"
    WECOM = "wecom"
    SMS = "sms"


@dataclass(frozen=True)
class Target:
    """One place a message goes.

    Attributes:
        channel: the channel's name in dedupe keys and results, e.g. ``dingtalk:merchant``, ``sms:person:a-1``.
        kind: DingTalk robot, WeCom robot, or SMS.
        address: the robot's webhook URL, or the mobile of an SMS.
        secret: the DingTalk robot's signing secret.
        mentions: mobiles to @ in a group.
    """

    channel: str
    kind: ChannelKind
    address: str
    secret: str | None = None
    mentions: tuple[str, ...] = ()


class Directory:
    """Resolves recipients into targets.

    Args:
        settings: the platform's groups and mobiles.
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def targets(self, recipient: Recipient, merchant: Merchant | None) -> list[Target]:
        """Where ``recipient`` is reached; nothing for a merchant's person when the merchant is unknown."""
        settings = self._settings
        kind = recipient.kind
        if kind is RecipientKind.PLATFORM:
            return self._platform_group("platform", settings.platform_mention_mobiles)
        if kind is RecipientKind.PLATFORM_CS:
            return self._platform_cs()
        if kind is RecipientKind.PLATFORM_OPS:
            targets = self._platform_group("platform_ops", settings.platform_mention_mobiles)
            if recipient.sms:
                targets += [_sms(f"platform_ops:{mobile}", mobile) for mobile in settings.platform_mention_mobiles]
            return targets
        if merchant is None:
            return []
        if kind is RecipientKind.SUPPLIER_HEAD:
            return [_sms(kind.value, merchant.head_mobile)]
        if kind is RecipientKind.MERCHANT_SUPERVISOR:
            return self._merchant_groups(kind.value, merchant, (merchant.supervisor_mobile,))
        if kind is RecipientKind.MERCHANT_GROUP:
            agents = tuple(str(agent["mobile"]) for agent in merchant.agents if agent.get("mobile"))
            return self._merchant_groups(kind.value, merchant, agents)
        mobile = self._agent_mobile(merchant, recipient.person_id)
        label = f"person:{recipient.person_id}"
        if mobile is None:
            # Someone the merchant has not configured: the group still hears of it, nobody is @-mentioned.
            log.warning("recipient_unknown", merchant_id=merchant.merchant_id, person_id=recipient.person_id)
            return self._merchant_groups(label, merchant, ())
        targets = self._merchant_groups(label, merchant, (mobile,))
        if recipient.sms:
            targets.append(_sms(label, mobile))
        return targets

    def _platform_group(self, label: str, mentions: tuple[str, ...]) -> list[Target]:
        settings = self._settings
        return _robots(
            label,
            dingtalk=settings.platform_dingtalk_webhook,
            secret=settings.platform_dingtalk_secret,
            wecom=settings.platform_wecom_webhook,
            mentions=mentions,
        )

    def _platform_cs(self) -> list[Target]:
        settings = self._settings
        mentions = settings.platform_cs_mention_mobiles
        if settings.platform_cs_dingtalk_webhook or settings.platform_cs_wecom_webhook:
            return _robots(
                "platform_cs",
                dingtalk=settings.platform_cs_dingtalk_webhook,
                secret=settings.platform_cs_dingtalk_secret,
                wecom=settings.platform_cs_wecom_webhook,
                mentions=mentions,
            )
        return self._platform_group("platform_cs", mentions or settings.platform_mention_mobiles)

    @staticmethod
    def _merchant_groups(label: str, merchant: Merchant, mentions: tuple[str, ...]) -> list[Target]:
        return _robots(
            label,
            dingtalk=(merchant.dingtalk or {}).get("webhook_url"),
            secret=(merchant.dingtalk or {}).get("secret"),
            wecom=(merchant.wecom or {}).get("webhook_url"),
            mentions=mentions,
        )

    @staticmethod
    def _agent_mobile(merchant: Merchant, person_id: str | None) -> str | None:
        for agent in merchant.agents:
            if agent.get("agent_id") == person_id and agent.get("mobile"):
                return str(agent["mobile"])
        return None


def _robots(
    label: str, *, dingtalk: str | None, secret: str | None, wecom: str | None, mentions: tuple[str, ...]
) -> list[Target]:
    targets = []
    if dingtalk:
        targets.append(Target(f"dingtalk:{label}", ChannelKind.DINGTALK, dingtalk, secret, mentions))
    if wecom:
        targets.append(Target(f"wecom:{label}", ChannelKind.WECOM, wecom, None, mentions))
    return targets


def _sms(label: str, mobile: str) -> Target:
    return Target(f"sms:{label}", ChannelKind.SMS, mobile)
