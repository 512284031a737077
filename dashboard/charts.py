"""Bar charts as SVG, drawn on the server: no script, no CDN, readable by screen readers.

Each chart is an `<svg role="img">` with a title and a one-line summary (`<desc>`), and each
bar carries its own `<title>` (a tooltip on a computer). Colours come from the stylesheet's
classes, so the charts follow the light and dark themes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import count

from markupsafe import Markup, escape

WIDTH, HEIGHT = 300, 150
TOP, BOTTOM, LEFT = 20, 126, 2  # plot area; labels sit under BOTTOM
MAX_LABELS = 7
_ids = count(1)


def duration(minutes: int) -> str:
    if minutes < 60:
        return f"{minutes} min"
    hours, rest = divmod(minutes, 60)
    return f"{hours} h {rest} min" if rest else f"{hours} h"


def bars(
    values: Sequence[int],
    labels: Sequence[str],
    title: str,
    *,
    names: Sequence[str] | None = None,
    highlight: int | None = None,
) -> Markup:
    """Minutes per slot (a day, an hour). `labels` go under the bars (every few when there
    are many); `names` are the full names in tooltips; `highlight` marks one bar (today)."""
    n = max(1, len(values))
    names = names or labels
    top = max(values, default=0)
    slot = (WIDTH - 2 * LEFT) / n
    every = max(1, math.ceil(n / MAX_LABELS))
    chart_id = f"chart{next(_ids)}"
    total = sum(values)
    peak = max(range(len(values)), key=lambda i: values[i]) if total else None
    summary = f"{duration(total)} in all" + (
        f"; most at {names[peak]} ({duration(values[peak])})" if peak is not None else ""
    )
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="{chart_id}-t {chart_id}-d">',
        f'<title id="{chart_id}-t">{escape(title)}</title>',
        f'<desc id="{chart_id}-d">{escape(summary)}</desc>',
        f'<line class="axis" x1="{LEFT}" y1="{BOTTOM}" x2="{WIDTH - LEFT}" y2="{BOTTOM}"/>',
        f'<text class="scale" x="{LEFT}" y="12">{escape("highest " + duration(top))}</text>'
        if top
        else f'<text class="scale" x="{LEFT}" y="12">no activity</text>',
    ]
    for i, value in enumerate(values):
        height = (BOTTOM - TOP) * value / top if top else 0
        x = LEFT + i * slot + slot * 0.15
        cls = "bar today" if i == highlight else "bar"
        parts.append(
            f'<rect class="{cls}" x="{x:.1f}" y="{BOTTOM - height:.1f}" '
            f'width="{slot * 0.7:.1f}" height="{max(height, 0):.1f}">'
            f"<title>{escape(names[i])}: {escape(duration(value))}</title></rect>"
        )
        if i % every == 0:
            mid = LEFT + i * slot + slot / 2
            parts.append(
                f'<text class="label" x="{mid:.1f}" y="{BOTTOM + 14}" text-anchor="middle">'
                f"{escape(labels[i])}</text>"
            )
    parts.append("</svg>")
    return Markup("".join(parts))
