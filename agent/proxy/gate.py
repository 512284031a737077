"""Who may use the proxy, and where it may take them.

The proxy is not a way out of the home for anyone who finds it: only clients on the home's
networks (`[dns] allow_networks`) may connect, only devices a parent marked "inspect" are
carried, and nobody is carried to the box itself (its dashboard must see a device's own
address, not the proxy's). Everyone else gets a short page saying why, or, where there is no
page to show (WireGuard, a client from outside), a closed connection.
"""

from __future__ import annotations

import ipaddress
from html import escape

from agent.config import Config

STATUS = 403
HEADERS = {"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store"}

NOT_INSPECTED = (
    "This device is not set up to use the house proxy. Switch the proxy off in this device's "
    "network settings and the internet works as usual, with the house rules still applied."
)
TO_THE_BOX = (
    "The house proxy does not open pages on the HouseRules box itself. Open the dashboard "
    "directly, without the proxy."
)

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Not through this proxy</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 34rem; margin: 12vh auto">
<h1>Not through this proxy</h1>
<p>{why}</p>
</body></html>
"""


def _address(text: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if not text:
        return None
    try:
        ip = ipaddress.ip_address(text.split("%")[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def admitted(cfg: Config, client: str | None) -> bool:
    """Whether a client at this address may use the proxy at all: the home's networks only."""
    ip = _address(client)
    return ip is not None and any(ip in net for net in cfg.dns.allow_networks)


def to_the_box(destination: str | None, box_address: str | None) -> bool:
    """Whether a connection would go to the box itself: a loopback, unspecified or link-local
    address, or the very address the device reached the proxy on."""
    ip = _address(destination)
    if ip is None:
        return False
    if ip.is_loopback or ip.is_unspecified or ip.is_link_local:
        return True
    box = _address(box_address)
    return box is not None and ip == box


def refusal_page(why: str) -> bytes:
    return _PAGE.format(why=escape(why)).encode("utf-8")
