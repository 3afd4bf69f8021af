"""Which facts a history makes: merchant clocks started, stepped, breached and stopped; decisions; ends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from domain.cases import CaseKind, CaseLine, CaseStatus, CaseView
from domain.facts import case_facts
from domain.orders import Actor, HistoryEntry

OPENED = datetime(2026, 5, 1, 9, tzinfo=UTC)


def case(kind: CaseKind, *events: str | tuple[str, str]) -> CaseView:
    history = []
    for hour, item in enumerate(events):
        event, detail = item if isinstance(item, tuple) else (item, "")
        history.append(HistoryEntry(at=OPENED + timedelta(hours=hour), event=event, actor=Actor.SYSTEM, detail=detail))
    return CaseView(
        case_id="C1",
        order_id="O1",
        merchant_id="m-1",
        customer_id="c-1",
        kind=kind,
        status=CaseStatus.COMPLETED,
        reason="r",
        lines=[CaseLine(line_id="L1", quantity=1)],
        refund_cents=100,
        deadline_at=None,
        history=history,
        revision=len(history),
        opened_at=OPENED,
    )


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
