"""The daily digest's day, keys and words, without Temporal."""

from __future__ import annotations

from datetime import UTC, datetime

from domain.digest import (
    SUMMARY_LINES,
    MerchantCounts,
    board_link,
    digest_day,
    merchant_digest,
    platform_summary,
)
from domain.notifications import Audience, render


def counts(merchant_id: str, shipments: int = 0, after_sales: int = 0, work_orders: int = 0) -> MerchantCounts:
    return MerchantCounts(
        merchant_id=merchant_id,
        merchant_name=f"{merchant_id} 旗舰店",
        overdue_shipments=shipments,
        overdue_after_sales=after_sales,
        breached_work_orders=work_orders,
    )


def test_the_digest_day_is_the_scheduled_date_in_shanghai_not_in_utc() -> None:
    assert digest_day(datetime(2026, 11, 25, 16, 30, tzinfo=UTC), "Asia/Shanghai") == "2026-11-26"
    assert digest_day(datetime(2026, 11, 26, 1, 0, tzinfo=UTC), "Asia/Shanghai") == "2026-11-26"
    assert digest_day(datetime(2026, 11, 26, 15, 59, tzinfo=UTC), "Asia/Shanghai") == "2026-11-26"


def test_one_merchant_digest_is_keyed_by_day_and_merchant_and_links_its_board() -> None:
    note = merchant_digest("2026-11-26", counts("m-acme", 2, 1, 3), "https://sla.mall.test/")
    assert note.key == "digest:2026-11-26:m-acme"
    assert note.audiences == (Audience.SUPPLIER_HEAD,)
    assert note.params["link"] == "https://sla.mall.test/board?merchant_id=m-acme"
    _, text = render(note, "Asia/Shanghai")
    assert "超时未发货 2 单" in text
    assert "超时或未处理售后 1 单" in text
    assert "超时工单 3 单" in text


def test_the_platform_summary_ranks_the_worst_merchants_first_and_counts_the_rest() -> None:
    merchants = [counts(f"m-{n:02d}", shipments=n) for n in range(1, SUMMARY_LINES + 4)]
    note = platform_summary("2026-11-26", merchants, "https://sla.mall.test")
    assert note.key == "digest:2026-11-26:platform"
    assert note.audiences == (Audience.PLATFORM,)
    _, text = render(note, "Asia/Shanghai")
    assert text.index("m-23") < text.index("m-22")
    assert "m-01" not in text  # beyond the first lines: in the totals only
    assert "另有 3 家" in text
    assert f"共超时未发货 {sum(range(1, SUMMARY_LINES + 4))} 单" in text
    assert "https://sla.mall.test/board" in text


def test_a_board_link_escapes_the_merchant_id() -> None:
    assert board_link("http://x", "m a&b") == "http://x/board?merchant_id=m+a%26b"
    assert board_link("http://x/") == "http://x/board"
