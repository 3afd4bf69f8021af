"""Chat reply watch rules without Temporal: routing, transfer, status, first-reply time, facts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from domain.calendar import ROUND_THE_CLOCK, BusinessCalendar, WeeklyHours
from domain.conversations import (
    RECENT_MESSAGES,
    ChatMessage,
    ConversationState,
    ConversationStatus,
    first_agent,
    first_reply_detail,
    first_reply_seconds,
    remember_message,
    reply_clock,
    status_of,
    transfer_target,
)
from domain.facts import conversation_facts
from domain.orders import Actor, HistoryEntry
from domain.policy import Policy

T0 = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai, a Thursday


def test_a_new_conversation_goes_to_the_first_agent_who_is_not_the_backup() -> None:
    assert first_agent(("a-2", "a-1"), "a-2") == "a-1"
    assert first_agent(("a-2",), "a-2") == "a-2"
    assert first_agent((), None) is None


def test_the_backup_takes_over_once_and_a_conversation_with_the_backup_goes_to_the_supervisor() -> None:
    assert transfer_target("a-1", "a-2") == "a-2"
    assert transfer_target("a-2", "a-2") is None
    assert transfer_target("a-1", None) is None


def test_status_follows_the_wait_and_the_supervisor() -> None:
    state = ConversationState(opened_at=T0, last_message_at=T0)
    assert status_of(state) is ConversationStatus.OPEN
    state.waiting_since = T0
    assert status_of(state) is ConversationStatus.AWAITING_REPLY
    state.supervisor_told = True
    assert status_of(state) is ConversationStatus.UNANSWERED
    state.closed = True
    assert status_of(state) is ConversationStatus.CLOSED


def test_the_first_reply_time_counts_the_merchant_s_working_time_only() -> None:
    nine_to_six = BusinessCalendar(hours=WeeklyHours(thu=(("09:00", "18:00"),), fri=(("09:00", "18:00"),)))
    evening = datetime(2026, 11, 26, 9, 50, tzinfo=UTC)  # 17:50 Thursday in Shanghai
    next_morning = datetime(2026, 11, 27, 1, 5, tzinfo=UTC)  # 09:05 Friday
    assert first_reply_seconds(nine_to_six, evening, next_morning) == 15 * 60
    assert first_reply_seconds(ROUND_THE_CLOCK, evening, next_morning) == 15 * 3600 + 15 * 60


def test_the_reply_clock_has_only_its_breach() -> None:
    clock = reply_clock(Policy(chat_reply="2m"), ROUND_THE_CLOCK)  # type: ignore[arg-type]
    assert clock.budget == timedelta(minutes=2)
    assert [step.name for step in clock.steps] == ["breach"]


def test_an_agent_s_message_names_its_agent() -> None:
    with pytest.raises(ValidationError):
        ChatMessage.model_validate({"merchant_id": "m-1", "sender": "agent"})
    assert ChatMessage.model_validate({"merchant_id": "m-1", "sender": "customer"}).agent_id is None


def test_only_the_latest_message_ids_are_remembered() -> None:
    recent: list[str] = []
    for number in range(RECENT_MESSAGES + 5):
        recent = remember_message(recent, f"m-{number}")
    assert len(recent) == RECENT_MESSAGES
    assert recent[0] == "m-5"
    assert remember_message(recent, None) is recent


def entry(minutes: int, event: str, detail: str = "") -> HistoryEntry:
    return HistoryEntry(at=T0 + timedelta(minutes=minutes), event=event, actor=Actor.SYSTEM, detail=detail)


def test_facts_keep_their_keys_when_older_entries_were_let_go() -> None:
    history = [
        entry(0, "opened"),
        entry(0, "customer_waiting"),
        entry(3, "transferred", "a-1 → a-2"),
        entry(6, "supervisor_told"),
        entry(8, "replied", first_reply_detail("a-2", 480)),
        entry(9, "customer_waiting"),
        entry(10, "replied", "a-2"),
    ]
    whole = conversation_facts("chat-c1@x", "m-1", history)
    later = conversation_facts("chat-c1@x", "m-1", history[4:], offset=4)
    assert {fact.key for fact in later} <= {fact.key for fact in whole}
    first = [fact for fact in whole if fact.kind == "first_response"]
    assert [(fact.value, fact.at) for fact in first] == [(480.0, T0 + timedelta(minutes=8))]
    breaches = [(fact.clock, fact.at) for fact in whole if fact.kind == "clock_breached"]
    assert breaches == [("chat_reply", T0 + timedelta(minutes=3)), ("chat_backup_reply", T0 + timedelta(minutes=6))]
    assert sum(fact.kind == "clock_started" for fact in whole) == 3  # two waits and the backup's clock
