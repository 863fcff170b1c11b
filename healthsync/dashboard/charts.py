"""Charts drawn on the server as inline SVG: no JavaScript library, no CDN, nothing to vendor.

Why SVG from Python: the pages must work offline (tests and CI reach no CDN), render identically in a test
client and a browser, and stay readable with JavaScript off. A chart is a few dozen shapes; each bar and point
carries a ``<title>``, so hovering shows the exact value. The SVG scales with its container (``viewBox``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape

from django.utils.safestring import SafeString, mark_safe

PALETTE = ("#2f6fde", "#e0702d", "#2a9d63", "#9b4fd1", "#d6407a", "#6b7a8f", "#c9a227", "#1b9aaa")

W, H = 600, 230
LEFT, RIGHT, TOP, BOTTOM = 46, 10, 30, 30


@dataclass
class Series:
    name: str
    values: Sequence[float | None]
    color: str = ""
    kind: str = "bar"  # bar | line
    unit: str = ""
    stack: str = ""  # bars with the same non-empty stack are stacked
    extra: dict = field(default_factory=dict)


def nice_step(value: float) -> float:
    """The smallest 1/2/5 × 10^n at or above ``value``: a grid step people read at a glance."""
    if value <= 0:
        return 1.0
    exp = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if step * exp >= value * 0.999999:
            return step * exp
    return 10 * exp


def fmt(value: float, unit: str = "") -> str:
    if value is None:
        return "–"
    if abs(value) >= 10000:
        text = f"{value / 1000:.0f}k"
    elif abs(value) >= 1000:
        text = f"{value / 1000:.1f}".rstrip("0").rstrip(".") + "k"
    elif abs(value) >= 100 or float(value).is_integer():
        text = f"{value:.0f}"
    else:
        text = f"{value:.1f}"
    return f"{text} {unit}".strip()


def empty(message: str, height: int = 120) -> SafeString:
    return mark_safe(
        f'<svg class="hs-chart hs-chart-empty" viewBox="0 0 {W} {height}" role="img" aria-label="{escape(message)}">'
        f'<rect x="0" y="0" width="{W}" height="{height}" rx="8" fill="#f5f7fa"/>'
        f'<text x="{W / 2}" y="{height / 2 + 5}" text-anchor="middle" fill="#6b7a8f" font-size="15">'
        f"{escape(message)}</text></svg>"
    )


def chart(
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    title: str = "",
    y_min: float | None = None,
    empty_message: str = "No data in this range yet",
    chart_id: str = "",
) -> SafeString:
    """Bars and/or lines over shared x labels. ``y_min`` None starts bars at 0 and fits lines to their data."""
    values = [v for s in series for v in s.values if v is not None]
    if not labels or not values:
        return empty(empty_message)
    for index, s in enumerate(series):
        s.color = s.color or PALETTE[index % len(PALETTE)]

    stacks: dict[str, list[float]] = {}
    for s in series:
        if s.kind == "bar" and s.stack:
            totals = stacks.setdefault(s.stack, [0.0] * len(labels))
            for i, v in enumerate(s.values):
                totals[i] += v or 0.0
    top_values = values + [v for totals in stacks.values() for v in totals]
    has_bars = any(s.kind == "bar" for s in series)
    low = y_min if y_min is not None else (0.0 if has_bars else min(values))
    high = max(top_values)
    if not has_bars and y_min is None:  # a line of weights: zoom on the data, with some air around it
        pad = max((high - low) * 0.15, abs(high) * 0.01, 0.5)
        low, high = math.floor(low - pad), high + pad
    step = nice_step((high - low) / 5) if high > low else 1.0
    if step < 1 and all(float(v).is_integer() for v in top_values):
        step = 1.0  # counts: no half connections on the axis
    low = math.floor(low / step) * step
    high = low + max(math.ceil((high - low) / step - 1e-9), 1) * step

    plot_w, plot_h = W - LEFT - RIGHT, H - TOP - BOTTOM
    n = len(labels)
    slot = plot_w / n

    def y(value: float) -> float:
        return TOP + plot_h - (value - low) / (high - low) * plot_h

    def x_center(i: int) -> float:
        return LEFT + slot * (i + 0.5)

    parts = [
        f'<svg class="hs-chart" {f"id={chr(34)}{escape(chart_id)}{chr(34)} " if chart_id else ""}'
        f'viewBox="0 0 {W} {H}" role="img" aria-label="{escape(title or "chart")}" '
        f'data-points="{sum(1 for v in values if v)}" font-family="system-ui, sans-serif">'
    ]
    # grid and y axis
    ticks = round((high - low) / step)
    for k in range(ticks + 1):
        value = low + step * k
        gy = y(value)
        parts.append(f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{gy:.1f}" y2="{gy:.1f}" stroke="#e6e9ef"/>')
        parts.append(
            f'<text x="{LEFT - 6}" y="{gy + 4:.1f}" text-anchor="end" font-size="12" fill="#6b7a8f">'
            f"{escape(fmt(value))}</text>"
        )
    # x labels, thinned to fit
    every = max(1, math.ceil(n / 12))
    for i, label in enumerate(labels):
        if i % every == 0 or i == n - 1 and n <= 12:
            parts.append(
                f'<text x="{x_center(i):.1f}" y="{H - BOTTOM + 16}" text-anchor="middle" font-size="12" '
                f'fill="#6b7a8f">{escape(label)}</text>'
            )
    # bars: grouped by stack (unstacked bars each get their own group)
    groups: list[list[Series]] = []
    seen: dict[str, list[Series]] = {}
    for s in series:
        if s.kind != "bar":
            continue
        if s.stack:
            if s.stack not in seen:
                seen[s.stack] = []
                groups.append(seen[s.stack])
            seen[s.stack].append(s)
        else:
            groups.append([s])
    if groups:
        inner = slot * 0.78
        bar_w = inner / len(groups)
        for g, group in enumerate(groups):
            base = [0.0] * n
            for s in group:
                for i, v in enumerate(s.values):
                    if v is None or v == 0:
                        continue
                    x0 = LEFT + slot * i + (slot - inner) / 2 + g * bar_w
                    y_top, y_bottom = y(base[i] + v), y(max(base[i], low))
                    base[i] += v
                    parts.append(
                        f'<rect class="hs-bar" x="{x0:.1f}" y="{y_top:.1f}" width="{max(bar_w - 1, 1):.1f}" '
                        f'height="{max(y_bottom - y_top, 0.5):.1f}" fill="{s.color}" rx="1.5">'
                        f"<title>{escape(labels[i])} · {escape(s.name)}: {escape(fmt(v, s.unit))}</title></rect>"
                    )
    # lines
    for s in series:
        if s.kind != "line":
            continue
        points = [(x_center(i), y(v), v, i) for i, v in enumerate(s.values) if v is not None]
        if len(points) > 1:
            path = " ".join(f"{'M' if k == 0 else 'L'}{px:.1f},{py:.1f}" for k, (px, py, _, _) in enumerate(points))
            parts.append(f'<path d="{path}" fill="none" stroke="{s.color}" stroke-width="2.5" '
                         f'stroke-linejoin="round" stroke-linecap="round"/>')
        for px, py, v, i in points:
            if v == 0 and len(points) > 20:  # a long run of empty buckets reads better as a bare line
                continue
            parts.append(
                f'<circle class="hs-point" cx="{px:.1f}" cy="{py:.1f}" r="3.5" fill="#fff" stroke="{s.color}" '
                f'stroke-width="2"><title>{escape(labels[i])} · {escape(s.name)}: {escape(fmt(v, s.unit))}'
                f"</title></circle>"
            )
    # legend
    lx = LEFT
    for s in series:
        parts.append(f'<rect x="{lx}" y="8" width="12" height="12" rx="2" fill="{s.color}"/>')
        parts.append(f'<text x="{lx + 17}" y="18" font-size="13" fill="#33404d">{escape(s.name)}</text>')
        lx += 30 + 7.5 * len(s.name)
    parts.append("</svg>")
    return mark_safe("".join(parts))


def hbars(items: Sequence[tuple[str, float]], *, unit: str = "", color: str = PALETTE[0],
          limit: float | None = None) -> SafeString:
    """Horizontal bars for a few categories (connections by status, budget use against a limit)."""
    items = [(label, value) for label, value in items]
    if not items:
        return empty("Nothing to show yet", 80)
    row, label_w = 26, 170
    height = row * len(items) + 10
    top = max(limit or 0, max(v for _, v in items), 1)
    width = W - label_w - (110 if limit else 70)
    parts = [f'<svg class="hs-chart hs-hbars" viewBox="0 0 {W} {height}" role="img" '
             f'font-family="system-ui, sans-serif" data-points="{len(items)}">']
    for i, (label, value) in enumerate(items):
        y0 = 5 + i * row
        bar = width * value / top
        fill = color
        if limit:
            fill = "#2a9d63" if value < 0.6 * limit else "#e0a02d" if value < 0.9 * limit else "#d64545"
            parts.append(f'<rect x="{label_w}" y="{y0 + 3}" width="{width}" height="{row - 10}" '
                         f'fill="#eef1f5" rx="3"/>')
        parts.append(f'<text x="{label_w - 8}" y="{y0 + row / 2 + 3}" text-anchor="end" font-size="12" '
                     f'fill="#33404d">{escape(label)}</text>')
        parts.append(f'<rect class="hs-bar" x="{label_w}" y="{y0 + 3}" width="{max(bar, 1):.1f}" height="{row - 10}" '
                     f'fill="{fill}" rx="3"><title>{escape(label)}: {escape(fmt(value, unit))}</title></rect>')
        text = fmt(value, unit) + (f" / {fmt(limit)}" if limit else "")
        parts.append(f'<text x="{label_w + max(bar, 1) + 6 if not limit else label_w + width + 6:.1f}" '
                     f'y="{y0 + row / 2 + 3}" font-size="12" fill="#33404d">{escape(text)}</text>')
    parts.append("</svg>")
    return mark_safe("".join(parts))
