"""Merchants as the platform configures them: contacts, robots, agents and clock overrides."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field, HttpUrl, StringConstraints, field_validator, model_validator

from domain.calendar import CalendarConfig
from domain.model import Model
from domain.orders import Id, Mobile, Text
from domain.policy import Policy, PolicyError, with_overrides

Written = Annotated[str, StringConstraints(max_length=200)]  # ``72h`` or a ladder of at most 10 offsets


def _no_fragment(url: HttpUrl) -> HttpUrl:
    # A fragment never reaches the robot's server, so one in a webhook is a pasted mistake at best and a
    # token that GET would have to hide at worst: refused.
    if url.fragment is not None:
        raise ValueError("a webhook URL has no #fragment (it is never sent to the robot)")
    return url


WebhookUrl = Annotated[HttpUrl, AfterValidator(_no_fragment)]


class DingTalkRobotConfig(Model):
    """A DingTalk custom robot: its webhook (with access_token) and its signing secret."""

    webhook_url: WebhookUrl
    secret: str | None = Field(default=None, max_length=200)


class WeComRobotConfig(Model):
    """A WeCom group robot: its webhook (with key)."""

    webhook_url: WebhookUrl


class Agent(Model):
    """A merchant's customer-service agent."""

    agent_id: Id
    name: Text
    mobile: Mobile


class MerchantConfig(Model):
    """``PUT /v1/merchants/{merchant_id}``: who to tell, where, and the merchant's clock overrides."""

    name: Text
    head_mobile: Mobile
    supervisor_mobile: Mobile
    dingtalk: DingTalkRobotConfig | None = None
    wecom: WeComRobotConfig | None = None
    agents: list[Agent] = Field(default_factory=list, max_length=200)
    backup_agent_id: Id | None = None
    policy: dict[Annotated[str, StringConstraints(max_length=64)], Written] = Field(
        default_factory=dict,
        description="Overrides of the platform's durations by field name, e.g. {'ship_deadline': '48h'}",
    )

    calendar: CalendarConfig | None = Field(
        default=None,
        description="Working hours for work-order and chat clocks; without, they run round the clock",
    )

    @field_validator("policy")
    @classmethod
    def _known_durations(cls, policy: dict[str, Written]) -> dict[str, Written]:
        try:
            with_overrides(Policy(), policy)
        except PolicyError as error:
            raise ValueError(str(error)) from error
        return policy

    @field_validator("agents")
    @classmethod
    def _unique_agents(cls, agents: list[Agent]) -> list[Agent]:
        ids = [agent.agent_id for agent in agents]
        if duplicates := sorted({agent_id for agent_id in ids if ids.count(agent_id) > 1}):
            raise ValueError(f"agent_id values must be unique: {', '.join(duplicates)} appear more than once")
        return agents

    @model_validator(mode="after")
    def _backup_is_an_agent(self) -> MerchantConfig:
        if self.backup_agent_id and self.backup_agent_id not in {agent.agent_id for agent in self.agents}:
            raise ValueError("backup_agent_id must be one of the agents")
        return self


class MerchantView(MerchantConfig):
    """A merchant as the API shows it; robot secrets are never shown."""

    merchant_id: str
