"""Which action a link still stands for: a case in review, a work order still this person's to act on."""

from __future__ import annotations

from domain.action_links import case_pending, case_review_links, ship_links, work_order_links, work_order_pending
from domain.notifications import LinkAction, Recipient, RecipientKind


def test_case_links_stand_only_while_the_case_is_in_review() -> None:
    assert case_pending(LinkAction.APPROVE, "pending_review")
    assert case_pending(LinkAction.REJECT, "pending_review")
    assert not case_pending(LinkAction.APPROVE, "refunding")
    assert not case_pending(LinkAction.REJECT, "rejected")


def test_a_work_order_link_stands_for_its_assignee_until_the_step_is_done() -> None:
    def pending(action: LinkAction, status: str, *, assignee: str = "a-1", first: bool = False) -> bool:
        return work_order_pending(action, status=status, assignee_id=assignee, person="a-1", first_response=first)

    assert pending(LinkAction.ACCEPT, "assigned")
    assert not pending(LinkAction.ACCEPT, "in_progress")
    assert not pending(LinkAction.ACCEPT, "assigned", assignee="a-2")  # transferred meanwhile
    assert pending(LinkAction.REPLY, "in_progress")
    assert not pending(LinkAction.REPLY, "in_progress", first=True)  # the first response is given
    assert pending(LinkAction.RESOLVE, "waiting_customer")
    assert not pending(LinkAction.RESOLVE, "resolved")


def test_review_and_ship_reminders_carry_their_buttons_for_the_merchants_group() -> None:
    group = Recipient(kind=RecipientKind.MERCHANT_GROUP)
    review = case_review_links("aftersale-AS-1", "m-acme")
    assert [(link.action, link.person, link.recipient) for link in review] == [
        (LinkAction.APPROVE, "merchant:m-acme", group),
        (LinkAction.REJECT, "merchant:m-acme", group),
    ]
    assert [link.action for link in ship_links("order-O1", "m-acme")] == [LinkAction.OPEN]


def test_work_order_buttons_go_to_the_assignees_copy_of_reminders_and_the_accept_prompt_only() -> None:
    assignee, assigner = Recipient.person("a-1", sms=True), Recipient.person("a-2")
    prompt = work_order_links(
        "accept", reminds=False, workflow_id="workorder-W", assignee_id="a-1", recipients=(assigner, assignee)
    )
    assert [(link.action, link.recipient) for link in prompt] == [(LinkAction.ACCEPT, assignee)]
    breach = work_order_links(
        "first_response", reminds=False, workflow_id="workorder-W", assignee_id="a-1", recipients=(assignee,)
    )
    assert breach == ()
    unassigned = work_order_links(
        "resolution", reminds=True, workflow_id="workorder-W", assignee_id=None, recipients=(assignee,)
    )
    assert unassigned == ()
