"""The digest's HTML part: tables and inline styles, the way mail clients like it.

No remote images, no SVG (many clients block or strip both), no stylesheet: charts are table
cells with a background colour and a width, which Gmail, Apple Mail and Outlook all draw. Every
piece of data is escaped. The page is at most 600 pixels wide and reads on a phone.
"""

from __future__ import annotations

from html import escape

from agent.digest.model import Bar, ChildSection, Digest, Item, Starter

FONT = "font-family:-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif"
INK, SOFT, LINE = "#1f2933", "#52606d", "#e4e7eb"
ACCENT, ACCENT_SOFT, WARN = "#2f6f5e", "#dfeee9", "#9a5b00"
BAR_COLOURS = ("#4c9a85", "#7fb8a8")


def render_html(digest: Digest) -> str:
    body = [
        _p(digest.intro, f"font-size:16px;line-height:1.45;color:{INK};margin:0 0 20px"),
        *(_section(s) for s in digest.sections),
        _button(digest.dashboard_url),
        _p(digest.footer, f"font-size:12px;line-height:1.4;color:{SOFT};margin:0"),
    ]
    return _page(digest.subject, "Your HouseRules week", digest.period.label, "".join(body))


def render_note(
    title: str,
    paragraphs: list[str],
    items: list[Item],
    url: str,
    footer: str,
    after: list[str] | None = None,
) -> str:
    """A short email (an alert, a test) in the digest's look: words, a list, more words."""
    style = f"font-size:15px;line-height:1.45;color:{INK};margin:0 0 12px"
    body = [_p(t, style) for t in paragraphs]
    if items:
        body.append(_items(tuple(items)))
    body += [_p(t, style) for t in after or () if t]
    body += [_button(url), _p(footer, f"font-size:12px;line-height:1.4;color:{SOFT};margin:0")]
    return _page(title, title, "", "".join(body))


def _button(url: str) -> str:
    if not url:
        return ""
    return (
        '<table role="presentation" cellpadding="0" cellspacing="0" style="margin:8px 0 24px">'
        f'<tr><td style="background:{ACCENT};border-radius:6px">'
        f'<a href="{escape(url, quote=True)}" style="display:inline-block;padding:10px 18px;'
        f'color:#ffffff;text-decoration:none;font-weight:600;{FONT}">Open the dashboard</a>'
        "</td></tr></table>"
    )


def _page(title: str, heading: str, subheading: str, body: str) -> str:
    sub = (
        f'<div style="color:{ACCENT_SOFT};font-size:14px;{FONT}">{escape(subheading)}</div>'
        if subheading
        else ""
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title></head>"
        f'<body style="margin:0;padding:0;background:#f5f7fa;{FONT}">'
        '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" '
        'style="background:#f5f7fa"><tr><td align="center" style="padding:16px 8px">'
        '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" '
        'style="max-width:600px;background:#ffffff;border-radius:8px">'
        f'<tr><td style="padding:20px 24px;background:{ACCENT};border-radius:8px 8px 0 0">'
        f'<div style="color:#ffffff;font-size:20px;font-weight:700;{FONT}">{escape(heading)}'
        f"</div>{sub}</td></tr>"
        f'<tr><td style="padding:20px 24px;{FONT}">{body}</td></tr>'
        "</table></td></tr></table></body></html>\n"
    )


def _section(s: ChildSection) -> str:
    title = escape(s.name) + (
        f" <span style='color:{SOFT};font-weight:400'>({s.age})</span>" if s.age is not None else ""
    )
    out = [
        f'<div style="border-top:3px solid {ACCENT};padding-top:12px;margin:0 0 24px">',
        f'<h2 style="font-size:19px;margin:0 0 8px;color:{INK};{FONT}">{title}</h2>',
    ]
    if s.quiet_line:
        out.append(_p(s.quiet_line, f"font-size:15px;color:{INK};margin:0 0 8px"))
        if any(d.minutes for d in s.days):
            out.append(_p(s.headline, f"font-size:14px;color:{SOFT};margin:0 0 12px"))
    else:
        out.append(_p(s.headline, f"font-size:15px;color:{INK};margin:0 0 10px"))
        out.append(_bars(s.days, BAR_COLOURS[0]))
        if s.apps:
            out.append(_heading("Most used"))
            out.append(_bars(s.apps, BAR_COLOURS[1]))
        if s.sites:
            out.append(_p(f"Websites: {s.sites}", f"font-size:13px;color:{SOFT};margin:4px 0 0"))
        for heading, items in s.lists:
            out.append(_heading(heading))
            out.append(_items(items))
    if s.starters:
        out.append(
            _heading("Things to talk about" if len(s.starters) > 1 else "Something to talk about")
        )
        out += [_starter(st) for st in s.starters]
    out.append("</div>")
    return "".join(out)


def _bars(bars: tuple[Bar, ...], colour: str) -> str:
    busiest = max((b.minutes for b in bars), default=0)
    if not busiest:
        return ""
    rows = []
    for b in bars:
        pct = max(1, round(100 * b.minutes / busiest)) if b.minutes else 0
        bar = (
            '<table role="presentation" width="100%" cellpadding="0" cellspacing="0"><tr>'
            + (
                f'<td width="{pct}%" style="background:{colour};height:14px;font-size:0;'
                'line-height:0;border-radius:3px">&nbsp;</td>'
                if pct
                else ""
            )
            + ('<td style="font-size:0;line-height:0">&nbsp;</td>' if pct < 100 else "")
            + "</tr></table>"
        )
        rows.append(
            f'<tr><td style="width:110px;padding:3px 8px 3px 0;font-size:13px;color:{INK};'
            f'white-space:nowrap;{FONT}">{escape(b.label)}</td>'
            f'<td style="padding:3px 0">{bar}</td>'
            f'<td style="width:84px;padding:3px 0 3px 8px;font-size:13px;color:{SOFT};'
            f'white-space:nowrap;text-align:right;{FONT}">{escape(b.value)}</td></tr>'
        )
    return (
        '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" '
        f'style="margin:0 0 6px">{"".join(rows)}</table>'
    )


def _items(items: tuple[Item, ...]) -> str:
    lis = []
    for item in items:
        colour = WARN if item.warn else INK
        note = (
            f'<br><span style="color:{SOFT};font-size:13px">{escape(item.note)}</span>'
            if item.note
            else ""
        )
        lis.append(
            f'<li style="margin:0 0 6px;color:{colour};font-size:14px;line-height:1.4">'
            f"{escape(item.text)}{note}</li>"
        )
    return f'<ul style="margin:0 0 4px;padding-left:20px">{"".join(lis)}</ul>'


def _starter(s: Starter) -> str:
    sources = "".join(
        f'<div style="font-size:12px;color:{SOFT};margin-top:4px">Source: {escape(c)}</div>'
        for c in s.sources
    )
    rows = [
        f'<div style="font-size:15px;color:{INK};font-weight:600;line-height:1.4;margin:0 0 6px">'
        f"&ldquo;{escape(s.opener)}&rdquo;</div>",
        _small("Why now", s.why),
        _small("Then ask", s.follow_up),
        _small("One step", s.step),
        sources,
    ]
    return (
        f'<div style="background:{ACCENT_SOFT};border-left:4px solid {ACCENT};border-radius:4px;'
        f'padding:10px 12px;margin:0 0 10px;{FONT}">{"".join(rows)}</div>'
    )


def _small(label: str, text: str) -> str:
    return (
        f'<div style="font-size:13px;color:{INK};line-height:1.4;margin:0 0 3px">'
        f"<b>{escape(label)}:</b> {escape(text)}</div>"
    )


def _heading(text: str) -> str:
    return (
        f'<h3 style="font-size:14px;text-transform:uppercase;letter-spacing:.04em;'
        f'color:{ACCENT};margin:16px 0 6px;{FONT}">{escape(text)}</h3>'
    )


def _p(text: str, style: str) -> str:
    return f'<p style="{style};{FONT}">{escape(text)}</p>'
