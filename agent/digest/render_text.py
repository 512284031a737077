"""The digest's plain-text part: reads well on its own, in any mail client or a terminal."""

from __future__ import annotations

import textwrap

from agent.digest.model import Bar, ChildSection, Digest, Starter

WIDTH = 72
BAR_WIDTH = 24


def render_text(digest: Digest) -> str:
    out = [*wrap(digest.intro), ""]
    for section in digest.sections:
        out += _section(section)
    if digest.dashboard_url:
        out += wrap(f"More detail, and alerts to look at, on the dashboard: {digest.dashboard_url}")
        out.append("")
    out += ["-- ", *wrap(digest.footer)]
    return "\n".join(out) + "\n"


def _section(s: ChildSection) -> list[str]:
    title = s.name + (f" ({s.age})" if s.age is not None else "")
    out = [title.upper(), "=" * len(title)]
    if s.quiet_line:
        out += wrap(s.quiet_line)
        out += wrap(s.headline) if s.days and any(d.minutes for d in s.days) else []
    else:
        out += wrap(s.headline)
        out += _bars(s.days)
        if s.apps:
            out += wrap("Most used: " + ", ".join(f"{b.label} {b.value}" for b in s.apps))
        if s.sites:
            out += wrap("Websites: " + s.sites)
        for heading, items in s.lists:
            out += ["", f"{heading}:"]
            for item in items:
                text = item.text
                if item.note:
                    text += f"{'' if text.endswith(('.', '!', '?')) else '.'} {item.note}"
                out += wrap(text, "  - ", "    ")
    if s.starters:
        out += ["", "Things to talk about:" if len(s.starters) > 1 else "Something to talk about:"]
        for n, starter in enumerate(s.starters, 1):
            out += _starter(n, starter)
    return out + [""]


def _bars(days: tuple[Bar, ...]) -> list[str]:
    busiest = max((d.minutes for d in days), default=0)
    if not busiest:
        return []
    lines = []
    for d in days:
        size = round(BAR_WIDTH * d.minutes / busiest)
        bar = "#" * max(size, 1 if d.minutes else 0)
        lines.append(f"  {d.label:<4} {bar:<{BAR_WIDTH}} {d.value}")
    return lines


def _starter(n: int, s: Starter) -> list[str]:
    out = wrap(f'"{s.opener}"', f"  {n}. ", "     ")
    out += wrap(f"Why now: {s.why}", "     ", "     ")
    out += wrap(f"Then ask: {s.follow_up}", "     ", "     ")
    out += wrap(f"One step: {s.step}", "     ", "     ")
    for cite in s.sources:
        out += wrap(f"Source: {cite}", "     ", "       ")
    return out


def wrap(text: str, first: str = "", rest: str = "") -> list[str]:
    """Lines of at most WIDTH characters; none for no text. Long web addresses stay whole."""
    return textwrap.wrap(
        text,
        WIDTH,
        initial_indent=first,
        subsequent_indent=rest,
        break_on_hyphens=False,
        break_long_words=False,
    )
