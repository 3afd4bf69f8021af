"""Work-order rules without Temporal: what each status allows, who hears of which step, how time reads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.calendar import ROUND_THE_CLOCK
from domain.notifications import Recipient, RecipientKind
from domain.policy import Policy
from domain.sla import StepLevel
from domain.work_orders import (
    OPEN,
    ClockName,
    Priority,
    WorkOrderAction,
    WorkOrderStatus,
    allowed,
    escalation_level,
    initial_clocks,
    nearest_deadline,
    overdue,
    recipients,
    resolution_budget,
    time_left,
)

T0 = datetime(2026, 11, 26, 1, 0, tzinfo=UTC)
S, A = WorkOrderStatus, WorkOrderAction


@pytest.mark.parametrize(
    ("left", "words"),
    [
        (timedelta(minutes=7, seconds=30), ("剩余 7 分钟", "7 min left")),
        (timedelta(seconds=30), ("剩余 1 分钟", "1 min left")),
        (timedelta(minutes=119), ("剩余 119 分钟", "119 min left")),
        (timedelta(hours=5, minutes=30), ("剩余 5 小时 30 分钟", "5 h 30 min left")),
        (timedelta(hours=24), ("剩余 24 小时", "24 h left")),
        (-timedelta(minutes=3), ("超时 3 分钟", "3 min overdue")),
    ],
)
def test_time_left_reads_in_minutes_for_short_clocks_and_never_as_0h(left: timedelta, words: tuple[str, str]) -> None:
    assert time_left(left) == words
    assert "0h" not in " ".join(words)


def test_each_status_allows_only_its_actions() -> None:
    assert allowed(S.UNASSIGNED, A.ASSIGN)
    assert not allowed(S.UNASSIGNED, A.ACCEPT)
    assert not allowed(S.UNASSIGNED, A.RESOLVE)
    assert allowed(S.ASSIGNED, A.ACCEPT)
    assert allowed(S.ASSIGNED, A.TRANSFER)
    assert allowed(S.IN_PROGRESS, A.WAIT_CUSTOMER)
    assert not allowed(S.WAITING_CUSTOMER, A.TRANSFER)  # its paused clocks would have nobody to resume them
    assert allowed(S.WAITING_CUSTOMER, A.CUSTOMER_REPLIED)
    assert {action for action in A if allowed(S.RESOLVED, action)} == {A.CONFIRM, A.REOPEN, A.APPEAL}
    assert {action for action in A if allowed(S.CLOSED, action)} == {A.REOPEN, A.APPEAL}
    assert {action for action in A if allowed(S.APPEALED, action)} == {A.DECIDE}
    assert S.RESOLVED not in OPEN
    assert S.CLOSED not in OPEN


def test_the_ladder_reminds_the_assignee_then_the_supervisor_then_platform_operations_by_sms() -> None:
    people = {"assignee_id": "a-1", "assigned_by": "a-2"}
    assert recipients(ClockName.FIRST_RESPONSE, StepLevel.REMIND, **people) == (Recipient.person("a-1"),)
    assert recipients(ClockName.RESOLUTION, StepLevel.BREACH, **people) == (
        Recipient(kind=RecipientKind.MERCHANT_SUPERVISOR),
    )
    assert recipients(ClockName.RESOLUTION, StepLevel.ESCALATE, **people) == (
        Recipient(kind=RecipientKind.PLATFORM_OPS, sms=True),
    )
    nobody = recipients(ClockName.FIRST_RESPONSE, StepLevel.REMIND, assignee_id=None, assigned_by=None)
    assert nobody == (Recipient(kind=RecipientKind.MERCHANT_GROUP),)


def test_unassigned_prompts_platform_cs_and_not_accepted_prompts_the_assigner_and_texts_the_assignee() -> None:
    assert recipients(ClockName.ASSIGNMENT, StepLevel.BREACH, assignee_id=None, assigned_by=None) == (
        Recipient(kind=RecipientKind.PLATFORM_CS),
    )
    assert recipients(ClockName.ACCEPT, StepLevel.BREACH, assignee_id="a-1", assigned_by="a-2") == (
        Recipient.person("a-2"),
        Recipient.person("a-1", sms=True),
    )
    assert recipients(ClockName.ACCEPT, StepLevel.BREACH, assignee_id="a-1", assigned_by=None)[0] == Recipient(
        kind=RecipientKind.MERCHANT_SUPERVISOR
    )


def test_clocks_of_a_new_work_order_take_their_budgets_from_the_policy() -> None:
    policy = Policy(wo_first_response=timedelta(minutes=10))
    clocks = initial_clocks(policy, Priority.URGENT, ROUND_THE_CLOCK)
    assert {name: clock.budget for name, clock in clocks.items()} == {
        "assignment": timedelta(minutes=30),
        "accept": timedelta(minutes=30),
        "first_response": timedelta(minutes=10),
        "resolution": timedelta(hours=1),
        "appeal": timedelta(hours=24),
        "auto_close": timedelta(days=3),
        "reopen_window": timedelta(days=7),
    }
    assert [step.name for step in clocks["accept"].steps] == ["breach"]
    assert [step.name for step in clocks["auto_close"].steps] == ["breach"]
    assert [step.name for step in clocks["reopen_window"].steps] == ["breach"]
    assert [step.name for step in clocks["resolution"].ordered_steps()] == [
        "remind_50",
        "remind_80",
        "breach",
        "escalate_200",
    ]
    assert resolution_budget(policy, Priority.NORMAL) == timedelta(hours=24)


def test_overdue_level_and_deadline_follow_the_running_clocks() -> None:
    clocks = initial_clocks(Policy(), Priority.NORMAL, ROUND_THE_CLOCK)
    clocks["first_response"] = clocks["first_response"].start(T0)
    clocks["resolution"] = clocks["resolution"].start(T0)
    assert nearest_deadline(clocks) == T0 + timedelta(minutes=15)
    assert not overdue(clocks)

    now = T0 + timedelta(minutes=16)
    planned = clocks["first_response"].next_step(now)
    assert planned is not None
    clocks["first_response"] = clocks["first_response"].fire(planned)
    assert overdue(clocks)
    assert escalation_level(clocks) == 1
    clocks["first_response"] = clocks["first_response"].stop(now)  # answered late: no longer overdue, level kept
    assert not overdue(clocks)
    assert escalation_level(clocks) == 1
    assert nearest_deadline(clocks) == T0 + timedelta(hours=24)


def test_the_auto_close_and_reopen_window_ending_neither_escalate_nor_make_a_work_order_overdue() -> None:
    clocks = initial_clocks(Policy(), Priority.NORMAL, ROUND_THE_CLOCK)
    for name in ("auto_close", "reopen_window"):
        clocks[name] = clocks[name].start(T0)
    assert nearest_deadline(clocks) is None  # they are not deadlines anyone answers for
    now = T0 + timedelta(days=8)
    for name in ("auto_close", "reopen_window"):
        planned = clocks[name].next_step(now)
        assert planned is not None
        assert planned.at == T0 + (timedelta(days=3) if name == "auto_close" else timedelta(days=7))
        clocks[name] = clocks[name].fire(planned)
    assert clocks["reopen_window"].breached
    assert not overdue(clocks)
    assert escalation_level(clocks) == 0
