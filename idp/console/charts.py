"""Small bar charts of the last 24 hours as inline SVG, drawn on the server.

No script and no inline style (the console's CSP allows neither): presentation
attributes and the console stylesheet's classes only. Each chart is an image with a
text alternative (the total and the busiest hour) and a ``<title>`` per bar, so a screen
reader gets the figures too.
"""

from __future__ import annotations

from datetime import datetime

from markupsafe import Markup, escape

WIDTH, HEIGHT, GAP = 240, 64, 2


def bars(series: list[tuple[datetime, int]], label: str, summary: str) -> Markup:
    """``series`` (start of hour, count), oldest first, as bars scaled to the largest."""
    peak = max((count for _, count in series), default=0)
    slot = WIDTH / max(len(series), 1)
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT + 14}" role="img" '
        f'aria-label="{escape(label)}: {escape(summary)}">'
    ]
    parts.append(f'<line class="axis" x1="0" y1="{HEIGHT}" x2="{WIDTH}" y2="{HEIGHT}"/>')
    for i, (start, count) in enumerate(series):
        height = round(HEIGHT * count / peak, 1) if peak else 0
        x = round(i * slot + GAP / 2, 1)
        parts.append(
            f'<rect class="bar" x="{x}" y="{HEIGHT - height}" width="{round(slot - GAP, 1)}" '
            f'height="{height}"><title>{start:%H}:00 UTC: {count}</title></rect>'
        )
    if series:
        first, last = series[0][0], series[-1][0]
        parts.append(f'<text class="tick" x="0" y="{HEIGHT + 12}">{first:%H}:00</text>')
        end = f'x="{WIDTH}" y="{HEIGHT + 12}" text-anchor="end"'
        parts.append(f'<text class="tick" {end}>{last:%H}:00</text>')
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - numbers, and labels escaped above
