"""Action links: the buttons a reminder carries for what its reader may do from the chat.

A workflow attaches :class:`ActionLink` descriptors to a notification (which action, on which workflow, for
whom, on whose messages); it never sees the secret. The notifier signs each into a short-lived URL when it
sends the message (:mod:`config.links`), and the API's confirmation page (``/a/{token}``) performs the very
Update of the API route. Which reminder carries which action, and whether an action is still to be done,
are the rules of this module.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from domain.notifications import AUDIENCE_RECIPIENTS, ActionLink, Audience, LinkAction, Recipient

__all__ = [
    "SPECS",
    "ActionLink",
    "LinkAction",
    "LinkSpec",
    "case_pending",
    "case_review_links",
    "merchant_person",
    "ship_links",
    "work_order_links",
    "work_order_pending",
]


class LinkSpec(BaseModel):
    """How an action reads on a button and on its page."""

    model_config = ConfigDict(frozen=True)

    label: str  # the button, 中文 + English
    verb: str  # the page's confirm button
    text_field: str = ""  # the body field the page's text box fills; empty: no text asked
    text_label: str = ""


SPECS: dict[LinkAction, LinkSpec] = {
    LinkAction.APPROVE: LinkSpec(label="同意 Approve", verb="确认同意 Approve"),
    LinkAction.REJECT: LinkSpec(
        label="拒绝 Reject", verb="确认拒绝 Reject", text_field="reason", text_label="拒绝理由 Reason"
    ),
    LinkAction.ACCEPT: LinkSpec(label="接单 Accept", verb="确认接单 Accept"),
    LinkAction.REPLY: LinkSpec(label="回复 Reply", verb="发送回复 Send", text_field="message", text_label="回复 Reply"),
    LinkAction.RESOLVE: LinkSpec(
        label="解决 Resolve", verb="确认解决 Resolve", text_field="resolution", text_label="解决方案 Resolution"
    ),
    LinkAction.OPEN: LinkSpec(label="查看订单 Open order", verb=""),
}


def merchant_person(merchant_id: str) -> str:
    """The ``person`` of a link for a merchant's group (any of its agents may use it)."""
    return f"merchant:{merchant_id}"


def case_review_links(workflow_id: str, merchant_id: str) -> tuple[ActionLink, ...]:
    """A review reminder's buttons: approve, reject; for whoever reads the merchant's group."""
    group, person = AUDIENCE_RECIPIENTS[Audience.MERCHANT], merchant_person(merchant_id)
    return tuple(
        ActionLink(action=action, workflow_id=workflow_id, person=person, recipient=group)
        for action in (LinkAction.APPROVE, LinkAction.REJECT)
    )


def ship_links(workflow_id: str, merchant_id: str) -> tuple[ActionLink, ...]:
    """A ship reminder's button: the order's status and deadline, read only."""
    group = AUDIENCE_RECIPIENTS[Audience.MERCHANT]
    return (
        ActionLink(
            action=LinkAction.OPEN, workflow_id=workflow_id, person=merchant_person(merchant_id), recipient=group
        ),
    )


# Which work-order clock's reminder asks for what of its assignee.
WORK_ORDER_CLOCK_ACTIONS = {
    "accept": LinkAction.ACCEPT,
    "first_response": LinkAction.REPLY,
    "resolution": LinkAction.RESOLVE,
}


def work_order_links(
    clock: str, *, reminds: bool, workflow_id: str, assignee_id: str | None, recipients: tuple[Recipient, ...]
) -> tuple[ActionLink, ...]:
    """A work-order step's button, on the assignee's copy only: accept (the accept clock's prompt), reply
    (first response) or resolve (resolution), at the reminding steps; none for the breach and escalation,
    whose readers (a supervisor, operations) are not the ones to act, nor without an assignee."""
    action = WORK_ORDER_CLOCK_ACTIONS.get(clock)
    if action is None or assignee_id is None or not (reminds or action is LinkAction.ACCEPT):
        return ()
    return tuple(
        ActionLink(action=action, workflow_id=workflow_id, person=assignee_id, recipient=recipient)
        for recipient in recipients
        if recipient.person_id == assignee_id
    )


def case_pending(action: LinkAction, status: str) -> bool:
    """Whether a case link's action is still to be done: approve and reject only while it is in review."""
    return action in (LinkAction.APPROVE, LinkAction.REJECT) and status == "pending_review"


def work_order_pending(
    action: LinkAction, *, status: str, assignee_id: str | None, person: str, first_response: bool
) -> bool:
    """Whether a work order link's action is still to be done by ``person``.

    The link is the reminder's: accept while assigned to this person, reply until the first response,
    resolve while in progress or waiting. A work order handed to someone else meanwhile is no longer this
    person's to act on, whatever its status.
    """
    if assignee_id != person:
        return False
    if action is LinkAction.ACCEPT:
        return status == "assigned"
    if action is LinkAction.REPLY:
        return not first_response and status in ("assigned", "in_progress", "waiting_customer")
    if action is LinkAction.RESOLVE:
        return status in ("in_progress", "waiting_customer")
    return False
