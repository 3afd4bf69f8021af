"""Work-order rules without Temporal: what each status allows, who hears of which step, how time reads."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from domain.calendar import ROUND_THE_CLOCK, BusinessCalendar, WeeklyHours
from domain.notifications import Recipient, RecipientKind
from domain.policy import Policy
from domain.sla import StepLevel
from domain.work_order_clocks import (
    ClockName,
    clock_view,
    escalation_level,
    initial_clocks,
    nearest_deadline,
    overdue,
    recipients,
    resolution_budget,
    spell,
    time_left,
)
from domain.work_order_rules import allowed
from domain.work_orders import OPEN, Priority, WorkOrderAction, WorkOrderStatus

T0 = datetime(2026, 11, 26, 1, 0, tzinfo=UTC)
S, A = WorkOrderStatus, WorkOrderAction


@pytest.mark.parametrize(
    ("left", "words"),
    [
        (timedelta(minutes=7, seconds=30), ("剩余 7 分钟", "7 min left")),
        (timedelta(seconds=30), ("剩余不到 1 分钟", "under 1 min left")),
        (timedelta(minutes=119), ("剩余 119 分钟", "119 min left")),
        (timedelta(hours=5, minutes=30), ("剩余 5 小时 30 分钟", "5 h 30 min left")),
        (timedelta(hours=24), ("剩余 24 小时", "24 h left")),
        (timedelta(hours=47, minutes=59), ("剩余 47 小时 59 分钟", "47 h 59 min left")),
        (timedelta(days=3, hours=2, minutes=40), ("剩余 3 天 2 小时", "3 d 2 h left")),
        (timedelta(hours=241842, minutes=56), ("剩余 10076 天 18 小时", "10076 d 18 h left")),
        (timedelta(0), ("已到期", "due now")),
        (-timedelta(seconds=0.2), ("已到期", "due now")),
        (-timedelta(seconds=59), ("已到期", "due now")),
        (-timedelta(minutes=3), ("超时 3 分钟", "3 min overdue")),
        (-timedelta(days=2, hours=1), ("超时 2 天 1 小时", "2 d 1 h overdue")),
    ],
)
def test_time_left_reads_in_minutes_for_short_clocks_and_days_for_far_deadlines(
    left: timedelta, words: tuple[str, str]
) -> None:
    assert time_left(left) == words
    assert "0h" not in " ".join(words)


def test_a_business_budget_reads_in_working_hours_not_days() -> None:
    assert spell(timedelta(hours=72), days=False) == ("72 小时", "72 h")
    assert spell(timedelta(hours=72)) == ("3 天", "3 d")


def test_a_far_deadline_on_a_sparse_business_calendar_reads_in_days() -> None:
    # One working minute a week: a 24 h budget is 1440 weeks away, which read "剩余 241842 小时 56 分钟".
    calendar = BusinessCalendar(hours=WeeklyHours.model_validate({"mon": [["09:00", "09:01"]]}))
    clock = initial_clocks(Policy(), Priority.NORMAL, calendar)[ClockName.RESOLUTION].start(T0)
    left = clock_view(clock, T0).left
    assert left is not None
    match = re.fullmatch(r"剩余 (\d+) 天( \d+ 小时)? / (\d+) d( \d+ h)? left", left)
    assert match is not None, left
    assert int(match.group(1)) >= 1439 * 7  # truthful: the deadline is that far away in wall-clock time


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
