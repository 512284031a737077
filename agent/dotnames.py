"""Each device's own name for DNS over TLS, as AdGuard Home's ClientIDs: `<dot id>.<box name>`.

A device set up with its Apple profile asks for that name when it opens its encrypted
connection (TLS's server name indication), so the box knows which device is asking whatever
address it comes from: behind another router, on a guest network, or a phone that changes its
address. The dot id is a short random label kept with the device; it says nothing about the
device and cannot be guessed from its number.

The DNS process turns the name into a client key, `KEY_MARK + dot id`, that stands in for the
address wherever the house rules look a device up (`Household.device_for`); an id no device
has finds no device and gets the unknown-device rules.
"""

from __future__ import annotations

import secrets

ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"  # no l, o, 0 or 1: a parent may read it out
LENGTH = 10  # 50 bits
KEY_MARK = "#"  # never part of an address, so a key is never mistaken for one


def new_dot_id() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def device_name(dot_id: str, box_name: str) -> str:
    return f"{dot_id}.{box_name}"


def wildcard(box_name: str) -> str:
    """The certificate name that covers every device's name under `box_name`."""
    return f"*.{box_name}"


def client_key(server_name: str | None, box_names: tuple[str, ...]) -> str | None:
    """The client key for a TLS connection that asked for `server_name`: None when it asked
    for the box itself (or for nothing), so its address decides as on port 53."""
    if not server_name:
        return None
    label, _, rest = server_name.lower().rstrip(".").partition(".")
    if not rest or rest not in box_names:
        return None
    return KEY_MARK + label
