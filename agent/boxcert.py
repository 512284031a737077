"""The box's own certificates: a small certificate authority made once, and a server
certificate it signs for the box's names and addresses, for the dashboard over HTTPS and DNS
over TLS.

No public authority can vouch for a box at 192.168.1.2, so the box vouches for itself. A parent
checks the server certificate's SHA-256 fingerprint on first visit (the setup page shows it);
an Apple profile can carry the authority so the phone trusts the box from then on. The server
certificate is made again when the box's names or addresses change or it nears its end; the
authority, and so a phone's trust in it, stays.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import os
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from agent.config import Config
from agent.dns import homenet

CA_DAYS = 3650
SERVER_DAYS = 397  # Apple devices refuse server certificates valid for longer than 825 days
RENEW_BEFORE = timedelta(days=30)
CA_CERT, CA_KEY = "ca.pem", "ca-key.pem"
SERVER_CERT, SERVER_KEY = "server.pem", "server-key.pem"


@dataclass(frozen=True)
class BoxCert:
    ca_file: Path
    cert_file: Path
    key_file: Path
    fingerprint: str  # SHA-256 of the server certificate, "AB:CD:..." as browsers show it
    names: tuple[str, ...]
    addresses: tuple[str, ...]

    def ca_der(self) -> bytes:
        return _load_cert(self.ca_file).public_bytes(serialization.Encoding.DER)


def fingerprint(cert: x509.Certificate) -> str:
    return ":".join(f"{b:02X}" for b in cert.fingerprint(hashes.SHA256()))


def box_names() -> tuple[str, ...]:
    """The names devices may use for the box: its host name and the mDNS name."""
    host = socket.gethostname().split(".")[0] or "houserules"
    return (host, f"{host}.local")


def box_addresses(extra: Iterable[str] = ()) -> tuple[str, ...]:
    """The box's addresses a device may type: the one towards the router, its IPv6 ones
    (not link-local), plus `extra` (a configured listen address), wildcards left out."""
    found: list[str] = []
    for host in extra:
        ip = ipaddress.ip_address(host)
        if not ip.is_unspecified:
            found.append(str(ip))
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect(("192.0.2.1", 9))  # no packet is sent: this only picks the outgoing address
        found.append(s.getsockname()[0])
    try:
        listing = homenet.IF_INET6.read_text()
    except OSError:
        listing = ""
    for _name, iface in homenet.parse_if_inet6(listing):
        if not (iface.ip.is_link_local or iface.ip.is_loopback):
            found.append(str(iface.ip))
    return tuple(dict.fromkeys(found))


def for_config(cfg: Config) -> BoxCert:
    """The box's certificate as the dashboard and DNS over TLS both use it: the same names and
    addresses whichever process asks first (the box's own, and every configured listen address)."""
    hosts = [cfg.dashboard.listen.host, *(hp.host for hp in (*cfg.dns.listen, *cfg.dns.tls_listen))]
    return ensure(cfg.resolve(cfg.dashboard.tls_dir), box_names(), box_addresses(hosts))


def ensure(
    folder: Path,
    names: Iterable[str],
    addresses: Iterable[str],
    now: datetime | None = None,
) -> BoxCert:
    """The box's certificates in `folder`, made or renewed as needed (keys mode 0600)."""
    now = now or datetime.now(UTC)
    names, addresses = tuple(dict.fromkeys(names)), tuple(dict.fromkeys(addresses))
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "a") as lock:  # the DNS and jobs processes may both start now
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _ensure(folder, names, addresses, now)


def _ensure(
    folder: Path, names: tuple[str, ...], addresses: tuple[str, ...], now: datetime
) -> BoxCert:
    ca_file, ca_key_file = folder / CA_CERT, folder / CA_KEY
    if not (ca_file.exists() and ca_key_file.exists()):
        _make_ca(ca_file, ca_key_file, now)
    ca, ca_key = _load_cert(ca_file), _load_key(ca_key_file)
    cert_file, key_file = folder / SERVER_CERT, folder / SERVER_KEY
    current = _load_cert(cert_file) if cert_file.exists() and key_file.exists() else None
    # A certificate from elsewhere (a publicly trusted one the owner put here for Android's
    # strict Private DNS) is kept while it is valid.
    supplied = current is not None and not _issued_by(current, ca)
    if supplied and current.not_valid_after_utc > now:  # type: ignore[union-attr]
        pass
    elif current is None or not _fits(current, ca, names, addresses, now):
        if current is not None and not supplied:  # still cover what it covered
            old_names, old_ips = _san(current)
            names = tuple(dict.fromkeys((*names, *sorted(old_names))))
            addresses = tuple(dict.fromkeys((*addresses, *sorted(old_ips))))
        current = _make_server(cert_file, key_file, ca, ca_key, names, addresses, now)
    assert current is not None
    have_names, have_ips = _san(current)
    names = tuple(n for n in names if n in have_names) + tuple(sorted(have_names - set(names)))
    addresses = tuple(a for a in addresses if a in have_ips) + tuple(
        sorted(have_ips - set(addresses))
    )
    return BoxCert(ca_file, cert_file, key_file, fingerprint(current), names, addresses)


def _fits(
    cert: x509.Certificate,
    ca: x509.Certificate,
    names: tuple[str, ...],
    addresses: tuple[str, ...],
    now: datetime,
) -> bool:
    if not _issued_by(cert, ca) or cert.not_valid_after_utc - RENEW_BEFORE < now:
        return False
    have_names, have_ips = _san(cert)
    return set(names) <= have_names and set(addresses) <= have_ips


def _issued_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _san(cert: x509.Certificate) -> tuple[set[str], set[str]]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set(), set()
    return set(san.get_values_for_type(x509.DNSName)), {
        str(ip) for ip in san.get_values_for_type(x509.IPAddress)
    }


def _make_ca(cert_file: Path, key_file: Path, now: datetime) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    host = socket.gethostname().split(".")[0] or "box"
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "HouseRules"),
            x509.NameAttribute(NameOID.COMMON_NAME, f"HouseRules on {host}"),
        ]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(key, hashes.SHA256())
    )
    _write(key_file, _key_pem(key), 0o600)
    _write(cert_file, cert.public_bytes(serialization.Encoding.PEM), 0o644)


def _make_server(
    cert_file: Path,
    key_file: Path,
    ca: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    names: tuple[str, ...],
    addresses: tuple[str, ...],
    now: datetime,
) -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    alt: list[x509.GeneralName] = [x509.DNSName(n) for n in names]
    alt += [x509.IPAddress(ipaddress.ip_address(a)) for a in addresses]
    first = names[0] if names else (addresses[0] if addresses else "houserules")
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, first)]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=SERVER_DAYS))
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    _write(key_file, _key_pem(key), 0o600)
    _write(cert_file, cert.public_bytes(serialization.Encoding.PEM), 0o644)
    return cert


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write(path: Path, data: bytes, mode: int) -> None:
    """Whole or not at all, with its mode from the start (a key is never readable by others)."""
    tmp = path.with_suffix(path.suffix + ".new")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def _load_cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _load_key(path: Path) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key
