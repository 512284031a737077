"""What the dashboard needs to set a device up for the proxy: the PAC file, the box's
certificate, and the WireGuard settings behind the QR code.

mitmproxy keeps its certificate authority and WireGuard keys in its confdir (`[proxy] confdir`,
`data/mitmproxy` by default); `houserules proxy` creates them on its first start. Only the
public certificate files are ever offered for download (`CERTIFICATE_FILES`); the private key
beside them (mitmproxy-ca.pem, mitmproxy-ca.p12) must never leave the box.
"""

from __future__ import annotations

import json
from pathlib import Path

from agent.config import HostPort

# device type -> (file in the confdir, the MIME type that makes the device offer to install it)
CERTIFICATE_FILES: dict[str, tuple[str, str]] = {
    "iphone-ipad": ("mitmproxy-ca-cert.pem", "application/x-x509-ca-cert"),
    "mac": ("mitmproxy-ca-cert.pem", "application/x-x509-ca-cert"),
    "android": ("mitmproxy-ca-cert.cer", "application/x-x509-ca-cert"),
    "windows": ("mitmproxy-ca-cert.p12", "application/x-pkcs12"),
    "chromebook": ("mitmproxy-ca-cert.pem", "application/x-x509-ca-cert"),
    "firefox": ("mitmproxy-ca-cert.pem", "application/x-x509-ca-cert"),
}
WIREGUARD_KEYS = "wireguard.conf"  # mitmproxy's own JSON file of the server and client keys
WIREGUARD_ADDRESS = "10.0.0.1"  # the address mitmproxy gives the phone inside the tunnel
# Addresses that never go through the proxy: the home network itself.
_LOCAL = ("10.0.0.0", "255.0.0.0"), ("172.16.0.0", "255.240.0.0"), ("192.168.0.0", "255.255.0.0")


def pac_file(proxy: HostPort, direct_hosts: tuple[str, ...] = ()) -> str:
    """A proxy auto-config file for the regular mode: everything through the box's proxy,
    except names on the home network and `direct_hosts` (pinned hosts). If the proxy is
    down, devices go direct (the DNS filter still applies), so the internet never stops."""
    lines = [
        "function FindProxyForURL(url, host) {",
        '  if (isPlainHostName(host) || dnsDomainIs(host, ".local")) return "DIRECT";',
    ]
    for net, mask in _LOCAL:
        lines.append(f'  if (isInNet(host, "{net}", "{mask}")) return "DIRECT";')
    for name in direct_hosts:
        lines.append(f'  if (host == "{name}" || dnsDomainIs(host, ".{name}")) return "DIRECT";')
    lines += [f'  return "PROXY {proxy.host}:{proxy.port}; DIRECT";', "}", ""]
    return "\n".join(lines)


def certificate(confdir: Path, device: str) -> tuple[Path, str] | None:
    """The public certificate file for a kind of device, and its MIME type; None until the
    proxy has started once (or for an unknown kind of device)."""
    entry = CERTIFICATE_FILES.get(device)
    if entry is None:
        return None
    path = Path(confdir) / entry[0]
    return (path, entry[1]) if path.is_file() else None


def wireguard_client_conf(confdir: Path, endpoint: HostPort) -> str | None:
    """The phone's WireGuard settings (the text behind the QR code), as mitmproxy prints them
    when it starts in WireGuard mode; None until it has created its keys, or without mitmproxy.
    `endpoint` is the box's address as the phone reaches it, and the WireGuard port."""
    try:
        keys = json.loads((Path(confdir) / WIREGUARD_KEYS).read_text())
        from mitmproxy_rs import wireguard  # installed with mitmproxy (houserules[proxy])

        server_public = wireguard.pubkey(keys["server_key"])
        client_private = keys["client_key"]
    except (OSError, ValueError, KeyError, TypeError, ImportError):
        return None
    return "\n".join(
        [
            "[Interface]",
            f"PrivateKey = {client_private}",
            f"Address = {WIREGUARD_ADDRESS}/32",
            "DNS = 10.0.0.53",
            "",
            "[Peer]",
            f"PublicKey = {server_public}",
            "AllowedIPs = 0.0.0.0/0",
            f"Endpoint = {endpoint}",
        ]
    )
