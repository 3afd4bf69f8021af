"""Chat reply watch: ``ConversationWorkflow`` (id ``chat-{conversation_id}``).

Started (or reached) by the API with **update-with-start**: each message is the Update :meth:`post`, which
starts the workflow if no conversation of that id runs. A customer message starts the agent's reply clock
(:mod:`domain.sla`, timed by :class:`~workflows.sla.SlaTimers` on the merchant's calendar); an agent's reply
stops it. At the breach the conversation moves to the merchant's backup agent (a new generation of the
clock, the backup @-mentioned in the merchant's groups); the backup's breach tells the merchant's supervisor.

Everything lives in one :class:`~domain.conversations.ConversationState`; a long conversation continues as
new with it. With no message for ``policy.chat_idle`` the conversation ends.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.records import Records
    from domain.calendar_change import (
        SET_CALENDAR,
        CalendarApplied,
        CalendarOutcome,
        CalendarUpdate,
        fingerprint,
        outcome,
    )
    from domain.conversations import (
        KEPT_HISTORY,
        REPLY,
        ChatMessage,
        ConversationInput,
        ConversationRecord,
        ConversationState,
        ConversationStatus,
        ConversationView,
        Sender,
        first_agent,
        first_reply_detail,
        first_reply_seconds,
        remember_message,
        reply_clock,
        status_of,
        transfer_target,
    )
    from domain.durations import format_duration
    from domain.notifications import Notification, Recipient, RecipientKind, Template
    from domain.orders import Actor
    from domain.sla import PlannedStep
    from workflows import search_attributes as sa
    from workflows.effects import Journal, refuse
    from workflows.sla import SlaTimers, wait_until


@workflow.defn
class ConversationWorkflow:
    """One chat conversation, from its first message until it has been idle for a day."""

    @workflow.init
    def __init__(self, input: ConversationInput) -> None:
        self._input = input
        now = workflow.now()
        self._s = input.state or ConversationState(
            opened_at=now, last_message_at=now, agent_id=first_agent(input.agents, input.backup_agent_id)
        )
        self._timers = SlaTimers(self._s.clocks, self._on_step, quiet=input.policy.quiet_hours)
        self._journal = Journal(Records.project_conversation, self.record)
        # The journal appends to the state's own history, so the state is all a continued run needs.
        self._journal.history = self._s.history
        self._journal.revision = self._s.revision
        self._messages = 0  # messages handled by this run: a change the main loop wakes up for
        self._leaving = False
        if input.state is None:
            # Here, not in run(): with update-with-start the first message is handled before run() begins.
            self._journal.record("opened", Actor.CUSTOMER, detail=f"agent {self._s.agent_id or '-'}")

    @workflow.run
    async def run(self, input: ConversationInput) -> ConversationView:
        """Runs the reply clock until the conversation has been idle long enough; continues as new on the way."""
        self._journal.start()
        if input.state is not None:
            self._s.runs += 1
        timers = asyncio.create_task(self._timers.run(until=lambda: self._s.closed or self._leaving))
        while not self._s.closed:
            if self._journal.time_to_hand_over(self._input.max_history_events):
                await self._continue_as_new()
            await self._wait_for_a_message()
            if timers.done() and not self._s.closed:
                # Reopened by a message that came while the ending settled: the clock runs again.
                timers = asyncio.create_task(self._timers.run(until=lambda: self._s.closed or self._leaving))
        await timers
        await self._journal.settle()
        return self.state()

    async def _wait_for_a_message(self) -> None:
        """Waits for the next message; none for ``chat_idle`` ends the conversation.

        A message that arrives while the ending is being settled keeps the conversation open.
        """
        messages = self._messages
        idle = self._s.last_message_at + self._input.policy.chat_idle - workflow.now()
        woke = await wait_until(
            lambda: self._messages != messages or self._journal.time_to_hand_over(self._input.max_history_events),
            max(idle, timedelta()),
            summary="idle",
        )
        if woke:
            return
        self._s.closed = True
        self._changed("closed", Actor.SYSTEM, detail=f"idle for {format_duration(self._input.policy.chat_idle)}")
        await self._journal.settle()
        if self._messages != messages:  # a message came in while the ending settled: it goes on
            self._s.closed = False
            self._journal.start()  # settling stopped the projection
            self._changed("reopened", Actor.CUSTOMER)

    async def _continue_as_new(self) -> None:
        """Hands the whole state to a new run once every handler, message and projection is done."""
        self._leaving = True
        await self._journal.settle(project=False)
        self._s.revision = self._journal.revision
        # The projection is at most a few entries behind, so what is let go is in the read model already.
        dropped = max(len(self._s.history) - KEPT_HISTORY, 0)
        self._s.history = self._s.history[dropped:]
        self._s.history_offset += dropped
        workflow.logger.info("continuing as new after %s events", workflow.info().get_current_history_length())
        workflow.continue_as_new(self._input.model_copy(update={"state": self._s}))

    # --- messages ------------------------------------------------------------------------------------------

    @workflow.update
    def post(self, message: ChatMessage) -> ConversationView:
        """A message in the conversation: a customer's starts the reply clock, an agent's stops it.

        The same ``message_id`` again (a retry) answers the conversation and changes nothing.
        """
        s = self._s
        if message.message_id is not None and message.message_id in s.recent_message_ids:
            return self.state()
        s.recent_message_ids = remember_message(s.recent_message_ids, message.message_id)
        s.last_message_at = workflow.now()
        self._messages += 1
        if message.sender is Sender.CUSTOMER:
            self._customer_wrote()
        else:
            assert message.agent_id is not None  # the message's own validation
            self._agent_wrote(message.agent_id)
        return self.state()

    @post.validator
    def _validate_post(self, message: ChatMessage) -> None:
        if message.merchant_id != self._input.merchant_id:
            raise refuse("invalid_state", "the conversation belongs to another merchant")
        if message.sender is Sender.AGENT and self._input.agents and message.agent_id not in self._input.agents:
            raise refuse("validation_error", f"{message.agent_id} is not an agent of {self._input.merchant_id}")

    def _customer_wrote(self) -> None:
        s = self._s
        if s.waiting_since is not None:
            return  # the customer was already waiting: the clock runs from their first unanswered message
        now = workflow.now()
        s.waiting_since = now
        s.supervisor_told = False
        if s.first_waiting_since is None:
            s.first_waiting_since = now
        if REPLY in self._timers:
            self._timers.restart(REPLY)
        else:
            self._timers.start(reply_clock(self._input.policy, self._input.calendar))
        self._changed("customer_waiting", Actor.CUSTOMER, detail=f"agent {s.agent_id or '-'}")

    def _agent_wrote(self, agent_id: str) -> None:
        s = self._s
        now = workflow.now()
        took_over = agent_id != s.agent_id
        s.agent_id = agent_id  # whoever answers holds the conversation from now on
        if s.waiting_since is None:
            if took_over:
                self._changed("agent_joined", Actor.MERCHANT, detail=agent_id)
            return
        detail = agent_id
        if s.first_reply_seconds is None and s.first_waiting_since is not None:
            s.first_reply_seconds = first_reply_seconds(self._input.calendar, s.first_waiting_since, now)
            detail = first_reply_detail(agent_id, s.first_reply_seconds)
        s.waiting_since = None
        self._timers.stop(REPLY)
        self._changed("replied", Actor.MERCHANT, detail=detail)

    @workflow.update(name=SET_CALENDAR)
    def set_calendar(self, update: CalendarUpdate) -> CalendarApplied:
        """The merchant's calendar changed: the reply clock counts on it from now, keeping what it consumed.

        Idempotent: the calendar it runs on already answers ``unchanged``, an older change ``stale``.
        """
        current = fingerprint(self._input.calendar)
        result = outcome(update, current=current, current_revision=self._input.calendar_revision)
        if result is CalendarOutcome.STALE:
            return CalendarApplied(outcome=result, fingerprint=current)
        # Kept in the input, which continue-as-new carries.
        self._input = self._input.model_copy(update={"calendar": update.calendar, "calendar_revision": update.revision})
        if result is CalendarOutcome.CHANGED:
            self._timers.set_calendar(update.calendar)
            self._changed("calendar_changed", Actor.PLATFORM, detail=update.fingerprint)
        return CalendarApplied(outcome=result, fingerprint=update.fingerprint)

    @set_calendar.validator
    def _validate_set_calendar(self, update: CalendarUpdate) -> None:
        if self._s.closed:
            raise refuse("invalid_state", "the conversation is over; its clock has stopped")
        if fingerprint(update.calendar) != update.fingerprint:
            raise refuse("validation_error", "the calendar does not match its fingerprint")

    # --- the reply clock -----------------------------------------------------------------------------------

    async def _on_step(self, planned: PlannedStep) -> None:
        """The reply clock ran out: transfer to the backup, or tell the supervisor if that was the backup."""
        s = self._s
        silent = s.agent_id
        backup = transfer_target(silent, self._input.backup_agent_id)
        if backup is not None:
            s.agent_id = backup
            s.transferred = True
            self._timers.restart(REPLY)
            self._changed("transferred", Actor.SYSTEM, detail=f"{silent or '-'} → {backup}")
            # the backup, @-mentioned on the merchant's groups (the other agents are not)
            self._tell(planned, Template.CHAT_TRANSFERRED, Recipient.person(backup), silent=silent, backup=backup)
            return
        s.supervisor_told = True
        self._changed("supervisor_told", Actor.SYSTEM, detail=f"unanswered by {silent or '-'}")
        supervisor = Recipient(kind=RecipientKind.MERCHANT_SUPERVISOR)
        self._tell(planned, Template.CHAT_UNANSWERED, supervisor, silent=silent, backup=None)

    def _tell(
        self, planned: PlannedStep, template: Template, recipient: Recipient, *, silent: str | None, backup: str | None
    ) -> None:
        s, input = self._s, self._input
        waited = workflow.now() - (s.waiting_since or workflow.now())
        self._journal.tell(
            Notification(
                key=f"{workflow.info().workflow_id}:{s.opened_at:%Y%m%dT%H%M%S}:{planned.key}",
                merchant_id=input.merchant_id,
                recipients=(recipient,),
                template=template,
                params={
                    "conversation_id": input.conversation_id,
                    "agent_id": silent,
                    "backup_id": backup,
                    "budget": format_duration(input.policy.chat_reply),
                    "waited": format_duration(waited),
                },
                deadline_at=self._timers[REPLY].deadline_at() if backup else None,
                link=f"{input.board_url}/v1/conversations/{input.conversation_id}" if input.board_url else None,
            )
        )

    # --- what it shows -------------------------------------------------------------------------------------

    def _changed(self, event: str, actor: Actor, *, detail: str = "") -> None:
        """Records an event, refreshes the search attributes; the projection follows in the background."""
        self._journal.record(event, actor, detail=detail)
        self._s.revision = self._journal.revision
        status = status_of(self._s)
        sa.upsert(sa.current(status.value, status is ConversationStatus.UNANSWERED, self._deadline_at()))

    def _deadline_at(self) -> datetime | None:
        if self._s.waiting_since is None or REPLY not in self._timers:
            return None
        return self._timers[REPLY].deadline_at()

    @workflow.query
    def state(self) -> ConversationView:
        """The conversation as it stands."""
        s = self._s
        return ConversationView(
            conversation_id=self._input.conversation_id,
            merchant_id=self._input.merchant_id,
            agent_id=s.agent_id,
            transferred=s.transferred,
            first_reply_seconds=s.first_reply_seconds,
            waiting_since=s.waiting_since,
            status=status_of(s),
            deadline_at=self._deadline_at(),
            supervisor_told=s.supervisor_told,
            opened_at=s.opened_at,
            history=list(s.history),
            revision=self._journal.revision,
        )

    def record(self) -> ConversationRecord:
        """What the read model keeps of the conversation (no history: the KPIs need the figures)."""
        s = self._s
        return ConversationRecord(
            conversation_id=self._input.conversation_id,
            merchant_id=self._input.merchant_id,
            agent_id=s.agent_id,
            status=status_of(s),
            transferred=s.transferred,
            supervisor_told=s.supervisor_told,
            first_reply_seconds=s.first_reply_seconds,
            waiting_since=s.waiting_since,
            deadline_at=self._deadline_at(),
            opened_at=s.opened_at,
            revision=self._journal.revision,
            history=list(s.history),
            history_offset=s.history_offset,
        )
