"""The box's own certificate authority and server certificate."""

from __future__ import annotations

import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509

from agent import boxcert

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def _san(path: Path) -> tuple[set[str], set[str]]:
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return set(san.get_values_for_type(x509.DNSName)), {
        str(i) for i in san.get_values_for_type(x509.IPAddress)
    }


def test_made_once_for_the_boxs_names_and_addresses(tmp_path: Path) -> None:
    made = boxcert.ensure(tmp_path, ["pi", "pi.local"], ["192.168.1.2", "fd00::2"], NOW)
    assert _san(made.cert_file) == ({"pi", "pi.local"}, {"192.168.1.2", "fd00::2"})
    for key in (made.key_file, tmp_path / boxcert.CA_KEY):
        assert key.stat().st_mode & 0o777 == 0o600
    assert len(made.fingerprint.split(":")) == 32
    again = boxcert.ensure(tmp_path, ["pi"], ["192.168.1.2"], NOW + timedelta(days=1))
    assert again.fingerprint == made.fingerprint  # covered already: nothing new to check
    # The server certificate verifies against the box's own authority, as a phone would.
    ctx = ssl.create_default_context(cafile=str(made.ca_file))
    assert ctx.get_ca_certs()[0]["subject"][0][0][1] == "HouseRules"


def test_a_new_address_or_the_end_near_makes_a_new_certificate_from_the_same_authority(
    tmp_path: Path,
) -> None:
    first = boxcert.ensure(tmp_path, ["pi"], ["192.168.1.2"], NOW)
    ca = first.ca_file.read_bytes()
    moved = boxcert.ensure(tmp_path, ["pi"], ["192.168.1.2", "2001:db8::2"], NOW)
    assert moved.fingerprint != first.fingerprint
    assert "2001:db8::2" in _san(moved.cert_file)[1]
    late = NOW + timedelta(days=boxcert.SERVER_DAYS) - boxcert.RENEW_BEFORE + timedelta(days=1)
    renewed = boxcert.ensure(tmp_path, ["pi"], ["192.168.1.2"], late)
    assert renewed.fingerprint != moved.fingerprint
    assert first.ca_file.read_bytes() == ca  # phones that trust the box keep trusting it


def test_box_addresses_leave_out_wildcards_and_keep_a_listen_address() -> None:
    found = boxcert.box_addresses(["0.0.0.0", "::", "198.51.100.7"])
    assert found[0] == "198.51.100.7"
    assert "0.0.0.0" not in found and "::" not in found


def test_a_certificate_the_owner_put_there_is_kept_while_valid(tmp_path: Path) -> None:
    """A publicly trusted certificate (here: one from another authority) for strict Android."""
    elsewhere = boxcert.ensure(tmp_path / "public", ["dns.family.example"], [], NOW)
    box = tmp_path / "box"
    boxcert.ensure(box, ["pi"], ["192.168.1.2"], NOW)
    (box / boxcert.SERVER_CERT).write_bytes(elsewhere.cert_file.read_bytes())
    (box / boxcert.SERVER_KEY).write_bytes(elsewhere.key_file.read_bytes())
    kept = boxcert.ensure(box, ["pi"], ["192.168.1.2"], NOW + timedelta(days=2))
    assert kept.fingerprint == elsewhere.fingerprint and kept.names == ("dns.family.example",)
    expired = NOW + timedelta(days=boxcert.SERVER_DAYS + 1)
    assert boxcert.ensure(box, ["pi"], ["192.168.1.2"], expired).names == ("pi",)
