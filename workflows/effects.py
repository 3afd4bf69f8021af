"""What every process workflow does the same way: its journal, its notifications, its refusals.

A :class:`Journal` keeps a workflow's history and revision, runs effects in the background so Updates
answer at once, keeps the read model in step through a :class:`Projector` and, when callbacks are on,
hands the events the mall is told of to an :class:`~workflows.callbacks.Outbox`. :func:`notify` sends one
notification on each of its channels (resolved by a local activity, in the workflow task that asked), one
notifier activity per channel, and never lets a failed message stop a clock.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.notify import Notifier
    from domain.notifications import Notification
    from domain.orders import Actor, HistoryEntry
    from workflows.callbacks import Outbox
    from workflows.projection import Projector

NOTIFICATION = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=5),
    non_retryable_error_types=["permanent"],
)
NOTIFICATION_WINDOW = timedelta(hours=3)
"""How long a message is retried on a channel (2 s, 4 s … 5 min apart, or a robot's throttle wait) before
the workflow records ``notification_failed``. README: Notifications."""
PER_CHANNEL = "notify-per-channel"  # deliveries became one activity per channel; older histories have one in all
LOCAL_RETRY_THRESHOLD = timedelta(seconds=5)  # a longer retry backoff waits on a timer, not in an open task


def refuse(code: str, detail: str) -> ApplicationError:
    """A business refusal raised by an Update validator; the API maps ``code`` to its HTTP status."""
    return ApplicationError(detail, type=code, non_retryable=True)


class Journal:
    """A workflow's history, change counter, background effects and read-model projection.

    Args:
        project: the projection activity for this workflow type.
        snapshot: the workflow's current view (what the projection writes).
        callbacks: ``(kind, stream, data)`` when the mall is called back (``AFTERSALES_CALLBACK_URL`` was
            set when the workflow started), else None: no callback activity is ever scheduled.
    """

    def __init__(
        self,
        project: Callable[..., Any] | None,
        snapshot: Callable[[], Any],
        *,
        callbacks: tuple[str, str, Callable[[], dict[str, Any]]] | None = None,
    ) -> None:
        self.history: list[HistoryEntry] = []
        self.revision = 0
        self._background: list[asyncio.Task[None]] = []
        self._projector = Projector(project, snapshot, lambda: self.revision) if project else None
        self._projecting: asyncio.Task[None] | None = None
        self._outbox = Outbox(*callbacks, failed=self._callback_failed) if callbacks else None
        self._delivering: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Starts projecting and calling back; call first thing in the workflow's run method."""
        if self._projector is not None:
            self._projecting = asyncio.create_task(self._projector.run())
        if self._outbox is not None:
            self._delivering = asyncio.create_task(self._outbox.run())

    def record(
        self,
        event: str,
        actor: Actor,
        *,
        at: datetime | None = None,
        detail: str = "",
        due_at: datetime | None = None,
    ) -> None:
        """Appends an event to the history; the read model and the mall's callback follow in the background.

        ``at`` is when it happened (now unless a reported event carries its own time); a deadline's step
        records now as ``at`` and the planned time as ``due_at``, so the entry shows how late it was acted on.
        The callback's id is the entry's place in the history, which a continued run carries on.
        """
        self.revision += 1
        at = at or workflow.now()
        self.history.append(HistoryEntry(at=at, event=event, actor=actor, detail=detail, due_at=due_at))
        if self._outbox is not None:
            self._outbox.add(event, len(self.history), at)

    def _callback_failed(self, detail: str) -> None:
        self.record("callback_failed", Actor.SYSTEM, detail=detail)

    def has(self, event: str) -> bool:
        """Whether ``event`` is in the history."""
        return any(entry.event == event for entry in self.history)

    def quiet(self) -> bool:
        """Nothing under way: no handler running, no message being sent, no callback waiting.

        The moment a long-lived workflow hands over to a new run (continue-as-new) without holding its clocks:
        it waits for this while its clocks run on, so a robot or a callback receiver that is down for hours
        delays the handover, never a deadline.
        """
        return (
            workflow.all_handlers_finished()
            and all(task.done() for task in self._background)
            and (self._outbox is None or self._outbox.idle())
        )

    def time_to_hand_over(self, max_history_events: int) -> bool:
        """Whether to continue as new now: the Temporal history is long (the server suggests a new run, or it
        reached ``max_history_events``) and the workflow is :meth:`quiet`."""
        info = workflow.info()
        long = info.is_continue_as_new_suggested() or info.get_current_history_length() >= max_history_events
        return long and self.quiet()

    def in_background(self, effect: Coroutine[Any, Any, None]) -> None:
        """Runs an effect without holding up the caller; :meth:`settle` waits for it."""
        self._background.append(asyncio.create_task(effect))

    async def settle(self, *, project: bool = True) -> None:
        """Before the workflow completes: handlers and background effects done, read model up to date.

        Args:
            project: bring the read model up to date too. A run continuing as new passes False: only the
                projection under way is waited for, the continuation projects the same state at once, and a
                busy workflow (a chat) does not wait for a pause between two messages that may never come.
        """
        while True:
            await workflow.wait_condition(workflow.all_handlers_finished)
            await workflow.wait_condition(self._effects_done)
            if self._outbox is not None:
                await self._outbox.drain()  # at-least-once: every event delivered or given up, then done
            revision = self.revision
            if self._projector is not None:
                # Halted, no activity is left running to outlive its run.
                await (self._projector.flush() if project else self._projector.halt())
            # An Update handled while the projection ran recorded events the mall must still be told of, or
            # started an effect: settled too, before the run completes or continues (nothing is lost).
            if self.revision == revision and workflow.all_handlers_finished() and self._effects_done():
                break
        if self._delivering is not None:
            self._delivering.cancel()
        if project and self._projecting is not None:
            self._projecting.cancel()

    def _effects_done(self) -> bool:
        return all(task.done() for task in self._background)

    def tell(self, notification: Notification, *, sent: str | None = None, detail: str = "") -> None:
        """Sends ``notification`` in the background; records ``sent`` once delivered, or the failure."""
        self.in_background(self._tell(notification, sent, detail))

    async def _tell(self, notification: Notification, sent: str | None, detail: str) -> None:
        if await notify(notification):
            if sent:
                self.record(sent, Actor.SYSTEM, detail=detail)
        else:
            self.record("notification_failed", Actor.SYSTEM, detail=notification.key)


def notification_key(clock: str, step: str) -> str:
    """The dedupe key of a message: this workflow, the clock, the ladder step."""
    return f"{workflow.info().workflow_id}:{clock}:{step}"


async def notify(notification: Notification) -> bool:
    """Sends ``notification`` on each of its channels; False if a channel could not be delivered to.

    Each channel is its own activity with its own retries, all at once: DingTalk's throttle or a WeCom
    outage delays only that channel's message. A message that cannot be delivered must not stop a clock:
    the caller records the failure instead.
    """
    try:
        if not workflow.patched(PER_CHANNEL):
            await workflow.execute_activity_method(
                Notifier.notify,
                notification,
                start_to_close_timeout=timedelta(minutes=2),
                schedule_to_close_timeout=NOTIFICATION_WINDOW,
                retry_policy=NOTIFICATION,
                summary=notification.template.value,
            )
            return True
        channels = await _channels(notification)
    except ActivityError as failure:
        workflow.logger.warning("notification failed: %s", failure)
        return False
    delivered = await asyncio.gather(*(_deliver(notification, channel) for channel in channels))
    return all(delivered)


async def _channels(notification: Notification) -> list[str]:
    """The notification's channels: a read of the merchant directory, in the workflow task that asked."""
    return await workflow.execute_local_activity_method(
        Notifier.channels,
        notification,
        start_to_close_timeout=timedelta(seconds=30),
        schedule_to_close_timeout=NOTIFICATION_WINDOW,
        retry_policy=NOTIFICATION,
        local_retry_threshold=LOCAL_RETRY_THRESHOLD,
        summary=notification.template.value,
    )


async def _deliver(notification: Notification, channel: str) -> bool:
    try:
        await workflow.execute_activity_method(
            Notifier.deliver,
            args=[notification, channel],
            start_to_close_timeout=timedelta(minutes=1),
            schedule_to_close_timeout=NOTIFICATION_WINDOW,
            retry_policy=NOTIFICATION,
            summary=f"{notification.template.value} {channel}",
        )
    except ActivityError as failure:
        workflow.logger.warning("notification on %s failed: %s", channel, failure)
        return False
    return True


def why(failure: ActivityError) -> str:
    """What an activity's failure says, short enough for a history entry."""
    return str(failure.cause or failure)[:200]


async def tell_workflow(workflow_id: str, signal: str | Callable[..., Any], arg: Any) -> None:
    """Signals another workflow of the process (by the signal method, or its name where an import cycle
    forbids the method); one that has ended already has nothing left to hear."""
    try:
        await workflow.get_external_workflow_handle(workflow_id).signal(signal, arg)
    except Exception as error:  # the signal is news, never a condition of going on
        workflow.logger.warning("could not signal %s %s: %s", workflow_id, signal, error)
