"""Which facts a history makes: merchant clocks started, stepped, breached and stopped; decisions; ends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from domain.cases import CaseKind, CaseView
from domain.facts import case_facts, work_order_facts
from domain.orders import Actor, HistoryEntry
from tests.factories import completed_case

OPENED = datetime(2026, 5, 1, 9, tzinfo=UTC)


def case(kind: CaseKind, *events: str | tuple[str, str]) -> CaseView:
    history = []
    for hour, item in enumerate(events):
        event, detail = item if isinstance(item, tuple) else (item, "")
        history.append(HistoryEntry(at=OPENED + timedelta(hours=hour), event=event, actor=Actor.SYSTEM, detail=detail))
    return completed_case(kind, history, opened_at=OPENED)


def summary(view: CaseView) -> list[tuple[int, str, str | None, float | None, str | None]]:
    return [(f.seq, f.kind.value, f.clock, f.value, f.outcome) for f in case_facts("aftersale-C1", view)]


def test_a_cooling_off_refund_runs_no_review_clock() -> None:
    view = case(CaseKind.REFUND_ONLY, "case_opened", "auto_refunded_cooling_off", "refund_issued")
    assert summary(view) == [(2, "closed", None, 7200.0, "resolved")]


def test_an_escalated_review_stays_running_until_the_merchant_decides() -> None:
    view = case(
        CaseKind.REFUND_ONLY,
        "case_opened",
        ("escalated", "review deadline passed"),
        ("reminder_sent", "review:1:remind_4h"),
        "approved",
        "refund_issued",
    )
    assert summary(view) == [
        (0, "clock_started", "review", None, None),
        (1, "clock_breached", "review", None, None),
        (2, "clock_step", "review", None, "remind_4h"),
        (3, "decision", "review", 0.0, "approved"),
        (3, "clock_stopped", "review", None, None),
        (4, "closed", None, 4 * 3600.0, "resolved"),
    ]


def test_an_exchange_received_starts_the_reshipment_clock() -> None:
    view = case(
        CaseKind.EXCHANGE,
        "case_opened",
        "approved",
        "return_shipped",
        "return_delivered",
        "auto_received",
        ("escalated", "reship deadline passed"),
        "replacement_shipped",
        "confirmed",
    )
    clock_facts = [(seq, kind, clock) for seq, kind, clock, _, _ in summary(view) if kind.startswith("clock")]
    assert clock_facts == [
        (0, "clock_started", "review"),
        (1, "clock_stopped", "review"),
        (3, "clock_started", "receipt"),
        (4, "clock_breached", "receipt"),
        (4, "clock_stopped", "receipt"),
        (4, "clock_started", "reship"),
        (5, "clock_breached", "reship"),
        (6, "clock_stopped", "reship"),
    ]
    assert (4, "decision", "receipt", 1.0, "approved") in summary(view)


def test_a_refused_refund_puts_the_merchant_on_the_offline_refund_clock() -> None:
    view = case(CaseKind.REFUND_ONLY, "case_opened", "approved", "refund_failed", "refund_issued")
    assert summary(view)[-3:] == [
        (2, "clock_started", "offline_refund", None, None),
        (3, "clock_stopped", "offline_refund", None, None),
        (3, "closed", None, 3 * 3600.0, "resolved"),
    ]


def test_the_customers_clocks_make_no_breach_of_the_merchant() -> None:
    view = case(CaseKind.RETURN_REFUND, "case_opened", "approved", ("escalated", "return deadline"), "auto_cancelled")
    kinds = [(kind, clock, outcome) for _, kind, clock, _, outcome in summary(view)]
    assert ("clock_breached", "return", None) not in kinds
    assert kinds[-1] == ("closed", None, "withdrawn")


def work_order_history() -> list[HistoryEntry]:
    events = [
        ("opened", "complaint: 漏水"),
        ("assigned", "a-1"),
        ("reminder", "first_response remind_50 (generation 1, level 0)"),
        ("escalated", "first_response breach (generation 1, level 1)"),
        ("accepted", "a-1"),
        ("replied", "a-1"),
        ("waiting_customer", ""),
        ("customer_replied", ""),
        ("transferred", "a-1 → a-2: 夜班"),
        ("escalated", "appeal breach (generation 1, level 1)"),
        ("resolved", "换新"),
        ("confirmed", "satisfaction 4"),
    ]
    return [
        HistoryEntry(at=OPENED + timedelta(minutes=minute), event=event, actor=Actor.SYSTEM, detail=detail)
        for minute, (event, detail) in enumerate(events)
    ]


def test_a_work_order_history_makes_its_clocks_first_response_transfer_close_and_score() -> None:
    history = work_order_history()
    facts = work_order_facts(
        "work-order-W1", "m-1", history, opened_at=OPENED, first_response_at=OPENED + timedelta(minutes=5)
    )
    summary = [(f.seq, f.kind.value, f.clock, f.value, f.outcome) for f in facts]
    assert summary == [
        (0, "clock_started", "first_response", None, None),
        (0, "clock_started", "resolution", None, None),
        (1, "clock_started", "accept", None, None),
        (2, "clock_step", "first_response", None, "remind_50"),
        (3, "clock_breached", "first_response", None, None),
        (4, "clock_stopped", "accept", None, None),
        (5, "first_response", None, 300.0, None),
        (5, "clock_stopped", "first_response", None, None),
        (6, "clock_paused", "resolution", None, None),
        (7, "clock_resumed", "resolution", None, None),
        (8, "transfer", None, None, None),
        (8, "clock_started", "accept", None, None),
        (10, "clock_stopped", "resolution", None, None),
        (11, "closed", None, 660.0, "resolved"),
        (11, "satisfaction", None, 4.0, None),
    ]


def test_the_tail_of_a_work_order_history_makes_the_same_facts_under_the_same_keys() -> None:
    history = work_order_history()
    first_response_at = OPENED + timedelta(minutes=5)
    whole = work_order_facts("wo", "m-1", history, opened_at=OPENED, first_response_at=first_response_at)
    tail = work_order_facts(
        "wo", "m-1", history[4:], first_index=4, opened_at=OPENED, first_response_at=first_response_at
    )
    assert tail == [fact for fact in whole if fact.seq >= 4]
