"""Conversations: the mall's chat tells us who wrote; the reply watch runs the agent's clock.

Each message is one call: an Update of the conversation's workflow **with start** (Temporal's
update-with-start), so the first message starts the watch and every later one reaches it, in a single
round trip and without a race between two first messages.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, status
from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy

from api.deps import CallerDep, ClientDep, EngineDep, Role, SettingsDep, allow, owned_state
from api.errors import Problem
from config.settings import Settings
from domain import ids
from domain.calendar_change import revision
from domain.conversations import ChatMessage, ConversationInput, ConversationStatus, ConversationView, Sender
from readmodel.merchants import calendar_of, get_merchant, policy_of
from readmodel.tables import Merchant
from workflows import search_attributes as sa
from workflows.conversation import ConversationWorkflow

router = APIRouter(prefix="/v1/conversations", tags=["conversations"])

ConversationId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[\w.:-]+$")]


def conversation_input(
    conversation_id: str, merchant_id: str, merchant: Merchant | None, settings: Settings
) -> ConversationInput:
    """What a new conversation of ``merchant`` starts with: its agents, backup, policy and calendar, as data."""
    return ConversationInput(
        conversation_id=conversation_id,
        merchant_id=merchant_id,
        agents=tuple(str(agent["agent_id"]) for agent in merchant.agents) if merchant else (),
        backup_agent_id=merchant.backup_agent_id if merchant else None,
        policy=policy_of(merchant, settings.policy()),
        calendar=calendar_of(merchant, today=datetime.now(UTC).date()),
        calendar_revision=revision(merchant.updated_at) if merchant else 0,
        board_url=settings.public_url,
        max_history_events=settings.chat_max_history_events,
    )


@router.post(
    "/{conversation_id}/messages",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ConversationView,
    dependencies=[allow(Role.MALL)],
)
async def post_message(
    conversation_id: ConversationId, message: ChatMessage, client: ClientDep, engine: EngineDep, settings: SettingsDep
) -> ConversationView:
    """A message was written: a customer's starts the agent's reply clock, an agent's reply stops it.

    The first message starts the conversation's watch. Refusals: unknown merchant or an agent who is not
    the merchant's 422 ``validation_error``; a conversation of another merchant 409 ``invalid_state``. The
    same ``message_id`` again (a retry) changes nothing.
    """
    merchant = await asyncio.to_thread(get_merchant, engine, merchant_id=message.merchant_id)
    if merchant is None:
        raise Problem("validation_error", f"no merchant {message.merchant_id}: configure it first")
    if message.sender is Sender.AGENT and message.agent_id not in {a["agent_id"] for a in merchant.agents}:
        raise Problem("validation_error", f"{message.agent_id} is not an agent of {message.merchant_id}")
    input = conversation_input(conversation_id, message.merchant_id, merchant, settings)
    return await _post(client, settings, input, message)


async def _post(client: Client, settings: Settings, input: ConversationInput, message: ChatMessage) -> ConversationView:
    start = WithStartWorkflowOperation(
        ConversationWorkflow.run,
        input,
        id=ids.conversation(input.conversation_id),
        task_queue=settings.task_queue,
        # A conversation that ended (a day of silence) starts afresh when written to again.
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        search_attributes=sa.initial_conversation_attributes(
            merchant_id=input.merchant_id, status=ConversationStatus.OPEN.value
        ),
        static_summary=f"Chat {input.conversation_id} of {input.merchant_id}",
    )
    view: ConversationView = await client.execute_update_with_start_workflow(
        ConversationWorkflow.post, message, start_workflow_operation=start
    )
    return view


@router.get(
    "/{conversation_id}",
    response_model=ConversationView,
    dependencies=[allow(Role.MALL, Role.MERCHANT, Role.ADMIN)],
)
async def get_conversation(conversation_id: ConversationId, client: ClientDep, caller: CallerDep) -> ConversationView:
    """The conversation as it stands: its agent, whether it was transferred, the first-reply time."""
    handle = client.get_workflow_handle_for(ConversationWorkflow.run, ids.conversation(conversation_id))
    return await owned_state(handle, ConversationWorkflow.state, caller)
