"""Apple configuration profiles: one per device, from the Devices page, that keeps an iPhone,
iPad or Mac on the box with encrypted DNS (DNS over TLS), wherever the router points it.

The profile carries the box's own certificate authority, so the device trusts the box's
certificate without any public authority (Android's strict "Private DNS" cannot do that: it
needs a publicly trusted certificate, see docs/raspberry-pi.md).
"""

from __future__ import annotations

import ipaddress
import plistlib
import re
import uuid

from flask import Blueprint, Response, abort
from flask_login import login_required

from agent import devicenames, dotnames
from agent.config import Config
from agent.store import household as store
from dashboard.box import box

bp = Blueprint("profiles", __name__)
MIME = "application/x-apple-aspen-config"


def dot_on(cfg: Config) -> bool:
    return bool(cfg.dns.tls_listen)


def profile(cfg: Config, device_id: int, device_name: str, dot_id: str | None = None) -> bytes:
    """The .mobileconfig: the box's authority, and DNS over TLS to the box under the device's
    own name (`dot_id`), so the box knows the device by that name whatever its address."""
    from agent import boxcert  # cryptography: loaded when a profile is asked for

    cert = boxcert.for_config(cfg)
    box_name = boxcert.device_box_name()
    server_name = dotnames.device_name(dot_id, box_name) if dot_id else box_name
    addresses = [
        a
        for a in cert.addresses
        if not (ipaddress.ip_address(a).is_loopback or ipaddress.ip_address(a).is_link_local)
    ]
    ident = f"houserules.{re.sub(r'[^a-z0-9-]', '-', box_name.lower())}"
    seed = uuid.uuid5(uuid.NAMESPACE_URL, f"{cert.fingerprint}/{device_id}")

    def uid(part: str) -> str:
        return str(uuid.uuid5(seed, part)).upper()

    trust = {
        "PayloadType": "com.apple.security.root",
        "PayloadVersion": 1,
        "PayloadIdentifier": f"{ident}.ca",
        "PayloadUUID": uid("ca"),
        "PayloadDisplayName": "HouseRules box certificate",
        "PayloadContent": cert.ca_der(),
    }
    dns_settings: dict[str, object] = {"DNSProtocol": "TLS", "ServerName": server_name}
    if addresses:
        dns_settings["ServerAddresses"] = addresses
    dns = {
        "PayloadType": "com.apple.dnsSettings.managed",
        "PayloadVersion": 1,
        "PayloadIdentifier": f"{ident}.dns.{device_id}",
        "PayloadUUID": uid("dns"),
        "PayloadDisplayName": "HouseRules DNS",
        "DNSSettings": dns_settings,
    }
    top = {
        "PayloadType": "Configuration",
        "PayloadVersion": 1,
        "PayloadIdentifier": f"{ident}.device.{device_id}",
        "PayloadUUID": uid("profile"),
        "PayloadDisplayName": f"HouseRules for {device_name}",
        "PayloadDescription": (
            "Sends this device's DNS to the HouseRules box at home, encrypted, so the house "
            "rules apply on the home network."
        ),
        "PayloadContent": [trust, dns],
    }
    return plistlib.dumps(top, fmt=plistlib.FMT_XML)


@bp.route("/devices/<int:device_id>/apple-profile.mobileconfig")
@login_required
def apple_profile(device_id: int) -> Response:
    b = box()
    if not dot_on(b.cfg):
        abort(404)
    device = store.get_device(b.engine(), device_id)
    if device is None:
        abort(404)
    name = devicenames.recognisable(device)
    filename = re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-") or f"device-{device_id}"
    return Response(
        profile(b.cfg, device_id, name, device.dot_id or store.dot_id_for(b.engine(), device_id)),
        mimetype=MIME,
        headers={
            "Content-Disposition": f'attachment; filename="HouseRules-{filename}.mobileconfig"'
        },
    )
