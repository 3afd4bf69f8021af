"""Chat reply watch: a customer waiting for a store agent, the agent's reply clock, the backup agent.

Each customer message that finds nobody waiting starts the **reply clock** of the conversation's agent
(``AFTERSALES_CHAT_REPLY``, 3 min, a merchant may override it; on the merchant's business calendar). An
agent's reply stops it; the first reply of the conversation records its **first-reply time** (the business
time the customer waited, as the SLA clock counts it). No reply in time → the conversation is
**transferred** to the merchant's backup agent, whose own clock runs (a new generation); the backup silent
too → the merchant's supervisor is told. A conversation with no message for ``AFTERSALES_CHAT_IDLE``
(1 day) ends.

The merchant's agents travel into the workflow as data resolved when it starts, like the policy and the
calendar: the workflow never reads the database.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, Field, model_validator

from domain.calendar import ROUND_THE_CLOCK, BusinessCalendar, business_time_between
from domain.model import Model
from domain.orders import HistoryEntry, Id
from domain.policy import Policy
from domain.sla import BREACH, SlaClock, StepLevel, StepSpec

REPLY = "reply"
RECENT_MESSAGES = 100  # message ids remembered to answer a retried message without acting twice
KEPT_HISTORY = 500  # history entries a long conversation carries into its next run (the read model has the rest)


class Sender(StrEnum):
    """Who wrote a message."""

    CUSTOMER = "customer"
    AGENT = "agent"


class ConversationStatus(StrEnum):
    """Where a conversation stands (``CaseStatus`` in the Web UI)."""

    OPEN = "open"  # nobody is waiting
    AWAITING_REPLY = "awaiting_reply"  # a customer waits for the agent, the clock runs
    UNANSWERED = "unanswered"  # the backup stayed silent too; the merchant's supervisor was told
    CLOSED = "closed"  # idle for a day, ended


class ChatMessage(Model):
    """``POST /v1/conversations/{conversation_id}/messages``: a message was written in the conversation.

    ``message_id`` (optional) makes a retry of the same message a no-op.
    """

    merchant_id: Id
    sender: Sender
    agent_id: Id | None = Field(default=None, description="the agent who wrote it (agent messages)")
    message_id: Id | None = Field(default=None, description="the chat system's id of the message, for retries")

    @model_validator(mode="after")
    def _agent_named(self) -> ChatMessage:
        if self.sender is Sender.AGENT and self.agent_id is None:
            raise ValueError("an agent's message names its agent_id")
        return self


class ConversationState(BaseModel):
    """Everything a conversation keeps, handed whole to continue-as-new."""

    opened_at: datetime
    last_message_at: datetime
    agent_id: str | None = None
    transferred: bool = False
    supervisor_told: bool = False
    first_reply_seconds: int | None = None
    first_waiting_since: datetime | None = None
    waiting_since: datetime | None = None
    clocks: dict[str, SlaClock] = Field(default_factory=dict)
    recent_message_ids: list[str] = Field(default_factory=list)
    history: list[HistoryEntry] = Field(default_factory=list)
    history_offset: int = Field(default=0, description="entries let go at continue-as-new, before ``history``")
    revision: int = 0
    runs: int = 1
    closed: bool = False


class ConversationInput(BaseModel):
    """What a conversation starts with: the merchant's agents, policy and calendar, resolved by the API."""

    conversation_id: str
    merchant_id: str
    agents: tuple[str, ...] = ()
    backup_agent_id: str | None = None
    policy: Policy = Policy()
    calendar: BusinessCalendar = ROUND_THE_CLOCK
    calendar_revision: int = Field(default=0, ge=0, description="the merchant's revision the calendar came with")
    board_url: str | None = None
    max_history_events: int = Field(default=5000, ge=20)
    state: ConversationState | None = None


class ConversationView(BaseModel):
    """``GET /v1/conversations/{conversation_id}``."""

    conversation_id: str
    merchant_id: str
    agent_id: str | None
    transferred: bool
    first_reply_seconds: int | None
    waiting_since: datetime | None
    status: ConversationStatus
    deadline_at: datetime | None = None
    supervisor_told: bool = False
    opened_at: datetime
    history: list[HistoryEntry] = Field(default_factory=list)
    revision: int = 0


class ConversationRecord(BaseModel):
    """What the read model keeps of one conversation (``conversation_watch``), for lists and KPIs."""

    conversation_id: str
    merchant_id: str
    agent_id: str | None
    status: ConversationStatus
    transferred: bool
    supervisor_told: bool
    first_reply_seconds: int | None
    waiting_since: datetime | None
    deadline_at: datetime | None
    opened_at: datetime
    revision: int
    history: list[HistoryEntry] = Field(default_factory=list)
    history_offset: int = 0


def reply_clock(policy: Policy, calendar: BusinessCalendar) -> SlaClock:
    """The agent's reply clock: the breach is all it has (a 3-minute clock has no time for reminders)."""
    return SlaClock(
        name=REPLY,
        budget=policy.chat_reply,
        steps=(StepSpec(name=BREACH, level=StepLevel.BREACH, fraction=1.0),),
        calendar=calendar,
    )


def first_agent(agents: tuple[str, ...], backup_agent_id: str | None) -> str | None:
    """The agent a new conversation is routed to: the first agent who is not the backup."""
    return next((agent for agent in agents if agent != backup_agent_id), backup_agent_id)


def transfer_target(current: str | None, backup_agent_id: str | None) -> str | None:
    """Whom an unanswered conversation moves to: the backup, unless it already sits with the backup."""
    if backup_agent_id is None or current == backup_agent_id:
        return None
    return backup_agent_id


def status_of(state: ConversationState) -> ConversationStatus:
    """The conversation's status from its state."""
    if state.closed:
        return ConversationStatus.CLOSED
    if state.waiting_since is None:
        return ConversationStatus.OPEN
    if state.supervisor_told:
        return ConversationStatus.UNANSWERED
    return ConversationStatus.AWAITING_REPLY


def first_reply_seconds(calendar: BusinessCalendar, waiting_since: datetime, replied_at: datetime) -> int:
    """How long the customer waited for the first reply, in the merchant's business time."""
    return int(business_time_between(calendar, waiting_since, replied_at) / timedelta(seconds=1))


def first_reply_detail(agent_id: str, seconds: int) -> str:
    """The ``replied`` entry of the first reply (the SLA facts read the seconds from it)."""
    return f"{agent_id}, first reply after {seconds}s"


def remember_message(recent: list[str], message_id: str | None) -> list[str]:
    """The ids of the last :data:`RECENT_MESSAGES` messages, ``message_id`` included."""
    if message_id is None:
        return recent
    return [*recent, message_id][-RECENT_MESSAGES:]
