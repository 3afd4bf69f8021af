"""The board's chart, drawn on the server as inline SVG: no script, no library, nothing fetched."""

from __future__ import annotations

from html import escape

from readmodel.board import DailyBreaches

# Stacked from the bottom, each kind in its own class (colours live in board.css).
KINDS = (
    ("ship", "发货 shipping"),
    ("after_sales", "售后 after-sales"),
    ("work_order", "工单 work orders"),
    ("chat", "会话 chat replies"),
)
WIDTH, HEIGHT = 760, 220
LEFT, RIGHT, TOP, BOTTOM = 36, 8, 24, 36


def breaches_chart(breaches: DailyBreaches) -> str:
    """A stacked bar per day of the breaches of each kind, with a y scale and the days under the bars."""
    days = breaches.days
    peak = max((breaches.total(day) for day in days), default=0)
    scale_max = _nice(peak)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(len(days), 1)
    bar = max(min(slot * 0.7, 40), 1)
    label_every = max(1, round(len(days) / 12))
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby="chart-title" '
        'xmlns="http://www.w3.org/2000/svg">',
        '<title id="chart-title">Breaches per day</title>',
    ]
    for step in range(5):
        value = scale_max * step / 4
        y = TOP + plot_h - plot_h * step / 4
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>')
        parts.append(f'<text class="axis" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{value:g}</text>')
    for index, day in enumerate(days):
        x = LEFT + slot * index + (slot - bar) / 2
        y = TOP + plot_h
        counts = breaches.counts.get(day)
        for kind, label in KINDS:
            count = counts[kind] if counts else 0
            if not count:
                continue
            h = plot_h * count / scale_max
            y -= h
            parts.append(
                f'<rect class="bar {kind}" x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}">'
                f"<title>{day.isoformat()} {escape(label)}: {count}</title></rect>"
            )
        total = breaches.total(day)
        if total:
            parts.append(
                f'<text class="total" x="{x + bar / 2:.1f}" y="{y - 4:.1f}" text-anchor="middle">{total}</text>'
            )
        if index % label_every == 0:
            parts.append(
                f'<text class="axis" x="{x + bar / 2:.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle">'
                f"{day.strftime('%m-%d')}</text>"
            )
    legend_x = LEFT
    for kind, label in KINDS:
        parts.append(f'<rect class="bar {kind}" x="{legend_x}" y="4" width="10" height="10"/>')
        parts.append(f'<text class="legend" x="{legend_x + 14}" y="13">{escape(label)}</text>')
        legend_x += 140
    parts.append("</svg>")
    return "".join(parts)


def _nice(peak: int) -> int:
    """The top of the y scale: the smallest of 4, 8, 12, 20, 40, 80, … at or above ``peak``."""
    for top in (4, 8, 12, 20):
        if peak <= top:
            return top
    top = 40
    while top < peak:
        top *= 2
    return top
