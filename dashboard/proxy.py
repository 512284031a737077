"""Proxy setup: what the optional proxy adds, and how to connect each kind of device to it.

Two routes here need no login, because a device fetches them with no session: the PAC file
(`/proxy.pac`, the proxy's address and the hosts that go direct) and the box's public
certificate (`/proxy/certificate/<device>`, as mitmproxy's own mitm.it offers it). Only the
files `agent.proxy.onboarding.CERTIFICATE_FILES` names are ever served from the confdir, never
the private key beside them. The setup page itself needs a login: in WireGuard mode it shows the
phone's private key (in the QR code and as text).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import Blueprint, Response, render_template, request, send_file, url_for
from flask_login import login_required
from markupsafe import Markup

from agent.config import HostPort
from agent.proxy import onboarding
from agent.proxy.contacts import EXTRACTORS
from agent.store import household as store
from dashboard.box import Box, box
from dashboard.settings import config_file

bp = Blueprint("proxy", __name__)

# The kinds of device the setup page explains, in the order a parent meets them.
DEVICES: tuple[tuple[str, str], ...] = (
    ("iphone-ipad", "iPhone and iPad"),
    ("android", "Android phone or tablet"),
    ("windows", "Windows computer"),
    ("mac", "Mac"),
    ("chromebook", "Chromebook"),
    ("firefox", "Firefox (on a computer)"),
)
PAC_TYPE = "application/x-ns-proxy-autoconfig"
_HOST_CHARS = re.compile(r"[A-Za-z0-9.:-]{1,253}")
QR_TITLE = "The phone's WireGuard settings as a QR code"


@dataclass(frozen=True)
class WireGuard:
    """What the page shows in WireGuard mode."""

    endpoint: HostPort
    guessed: bool  # the host came from this page's address, not from the config
    conf: str | None  # None until mitmproxy has made its keys
    qr: Markup | None


def contact_services(b: Box) -> str:
    """The services whose new contacts the proxy reads, in words: "Roblox and Discord"."""
    names = [b.app_name(e.SERVICE) or e.SERVICE for e in EXTRACTORS]
    return " and ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)


def _unspecified(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return host == ""


def loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def page_host() -> str:
    """The box's address as this request reached it (no port, no brackets); "" when the Host
    header holds anything but a name or an address (it ends up inside the PAC's JavaScript)."""
    host = urlsplit(f"//{request.host}").hostname or ""
    return host if _HOST_CHARS.fullmatch(host) else ""


def proxy_address(listen: HostPort) -> HostPort:
    """Where devices reach the proxy: `[proxy] listen`, with the address the device used for
    the dashboard when it listens on every address (0.0.0.0)."""
    return HostPort(page_host(), listen.port) if _unspecified(listen.host) else listen


def wireguard_endpoint(listen: HostPort) -> tuple[HostPort, bool]:
    """The box's address as the phone reaches it, and the WireGuard port. `wireguard_listen` is
    usually 0.0.0.0 (every address): then the address this page was opened at is used."""
    if _unspecified(listen.host) or loopback(listen.host):
        return HostPort(page_host(), listen.port), True
    return listen, False


def qr_svg(text: str) -> Markup:
    """`text` as a QR code, an inline SVG drawn on the box (black on white, so it scans in dark
    mode too)."""
    import segno  # loaded with the first QR code drawn

    code = segno.make_qr(text, error="m")
    svg = code.svg_inline(
        scale=1, border=4, dark="#000", light="#fff", title=QR_TITLE, svgclass="qr", omitsize=True
    )
    return Markup(svg)  # segno's own markup: the text is in the modules, never in the SVG


def _wireguard() -> WireGuard:
    cfg = box().cfg
    endpoint, guessed = wireguard_endpoint(cfg.proxy.wireguard_listen)
    conf = onboarding.wireguard_client_conf(cfg.resolve(cfg.proxy.confdir), endpoint)
    return WireGuard(endpoint, guessed, conf, qr_svg(conf) if conf else None)


@bp.route("/proxy")
@login_required
def index() -> Response:
    b = box()
    cfg = b.cfg
    confdir = cfg.resolve(cfg.proxy.confdir)
    wireguard = cfg.proxy.mode == "wireguard"
    html = render_template(
        "proxy/index.html",
        cfg=cfg,
        config_file=config_file(b),
        confdir=confdir,
        devices=DEVICES,
        ready={key: onboarding.certificate(confdir, key) is not None for key, _ in DEVICES},
        files={key: onboarding.CERTIFICATE_FILES[key][0] for key, _ in DEVICES},
        wireguard=_wireguard() if wireguard else None,
        pac_url=url_for("proxy.pac", _external=True),
        proxy=proxy_address(cfg.proxy.listen),
        listen_loopback=loopback(cfg.proxy.listen.host),
        page_loopback=loopback(page_host()),
        inspected=[d for d in store.load_household(b.engine()).devices if d.inspect],
        contact_services=contact_services(b),
    )
    response = Response(html, mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"  # the phone's private key, in wireguard mode
    return response


@bp.route("/proxy.pac")
def pac() -> Response:
    """The proxy auto-config file. No login: a device fetches it with no session. It holds the
    proxy's address and the hosts that go direct, nothing else."""
    cfg = box().cfg
    body = onboarding.pac_file(proxy_address(cfg.proxy.listen), cfg.proxy.pinned_hosts)
    response = Response(body, mimetype=PAC_TYPE)
    response.headers["Cache-Control"] = "no-cache"  # a changed address reaches devices
    return response


@bp.route("/proxy/certificate/<device>")
def certificate(device: str) -> Response | tuple[str, int]:
    """The box's public certificate for one kind of device. No login: it is installed from the
    child's device, and is public by nature (it lets a device check, not read)."""
    confdir = box().cfg.resolve(box().cfg.proxy.confdir)
    found = onboarding.certificate(confdir, device)
    if found is None:
        known = device in onboarding.CERTIFICATE_FILES
        return render_template("proxy/no_certificate.html", known=known), 404
    path, mime = found
    return send_file(path, mimetype=mime, as_attachment=True, download_name=path.name, etag=False)
