"""Devices in the household store: the ones the box has seen, claimed and merged by a parent.

Re-exported by `agent.store.household`; import from there. A device is known by its MAC address
when the box can see one (same network segment), else by its IP address. Phones that use a
private ("random") MAC show up as a new unassigned device when the address changes; a parent
merges it into the old one with `merge_devices`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import inspect as sa_inspect
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel, select

from agent.rules.household import OWNERS, Device
from agent.store.household_tables import (
    DeviceRow,
    HouseholdError,
    PauseRow,
    bump,
    changing,
    check_name,
    child_row,
    device_row,
    joined,
    normalise_ip,
    normalise_mac,
    to_device,
)

KEEP: Any = object()  # "leave as it is", where None is a real value


def add_device(
    engine: Engine,
    *,
    mac: str | None = None,
    ip: str | None = None,
    name: str | None = None,
    owner: str = "unassigned",
    child_id: int | None = None,
    shared_with: Iterable[int] = (),
    inspect: bool = False,
) -> Device:
    """Add a device, or claim the one the box has already seen at that MAC (or IP)."""
    if not mac and not ip:
        raise HouseholdError("a device needs a MAC address or an IP address")
    mac = normalise_mac(mac) if mac else None
    ip = normalise_ip(ip) if ip else None
    name = check_name(name, "A device's name") if name else None
    with changing(engine) as session:
        row = _same_device(session, mac, ip) or DeviceRow()
        row.mac = row.mac or mac
        if ip is not None:
            _move_ip(session, row, ip)
        row.name = name or row.name
        _set_owner(session, row, owner, child_id, shared_with)
        row.inspect = inspect
        session.add(row)
        session.flush()
        return to_device(row)


def list_devices(engine: Engine) -> tuple[Device, ...]:
    with Session(engine) as session:
        return tuple(to_device(r) for r in session.exec(select(DeviceRow).order_by(DeviceRow.id)))


def update_device(
    engine: Engine,
    device_id: int,
    *,
    name: str | None = KEEP,
    owner: str | None = None,
    child_id: int | None = None,
    shared_with: Iterable[int] = (),
    inspect: bool | None = None,
) -> Device:
    """Rename a device (None clears the name) and/or give it an owner."""
    with changing(engine) as session:
        row = device_row(session, device_id)
        if name is not KEEP:
            row.name = check_name(name, "A device's name") if name else None
        if owner is not None:
            _set_owner(session, row, owner, child_id, shared_with)
        if inspect is not None:
            row.inspect = inspect
        session.add(row)
        return to_device(row)


def merge_devices(engine: Engine, keep_id: int, drop_id: int) -> Device:
    """Fold device `drop_id` into `keep_id` (one phone seen under two MACs).

    Keeps the older first_seen and the newer last_seen; the MAC and IP seen last win; the kept
    device's name and owner stay unless it had none. Pauses and history move to the kept
    device; the other is deleted."""
    if keep_id == drop_id:
        raise HouseholdError("pick two different devices to merge")
    with changing(engine) as session:
        keep, drop = device_row(session, keep_id), device_row(session, drop_id)
        newer = drop.last_seen is not None and (
            keep.last_seen is None or drop.last_seen > keep.last_seen
        )
        mac, ip = (drop.mac or keep.mac, drop.ip or keep.ip) if newer else (keep.mac, keep.ip)
        _move_history(session, keep, drop)
        seen = [t for t in (keep.first_seen, drop.first_seen) if t is not None]
        keep.first_seen = min(seen, default=None)
        keep.last_seen = max((t for t in (keep.last_seen, drop.last_seen) if t), default=None)
        keep.name = keep.name or drop.name
        if keep.owner == "unassigned":
            keep.owner, keep.child_id, keep.shared_with = (
                drop.owner,
                drop.child_id,
                drop.shared_with,
            )
        session.delete(drop)
        session.flush()  # the dropped MAC is free before the kept device takes it
        keep.mac, keep.ip = mac, ip
        session.add(keep)
        session.flush()
        return to_device(keep)


def record_seen(engine: Engine, seen: Mapping[str, tuple[str | None, float]]) -> tuple[Device, ...]:
    """Note the devices the box has seen: client IP -> (MAC or None, unix time last seen).

    Unknown devices are added as "unassigned" (so a parent can be asked whose they are); known
    ones get their last_seen and current IP. One transaction. The household version moves only
    when a device is added or its address changes, not for last_seen alone. Returns the new
    devices."""
    with Session(engine, expire_on_commit=False) as session:
        rows = list(session.exec(select(DeviceRow)))
        by_mac = {r.mac: r for r in rows if r.mac}
        by_ip = {r.ip: r for r in rows if r.ip}
        added: list[DeviceRow] = []
        changed = False
        for raw_ip, (raw_mac, ts) in seen.items():
            ip, mac = _address(raw_ip), _mac_or_none(raw_mac)
            if ip is None:
                continue
            when = datetime.fromtimestamp(ts, UTC)
            row = by_mac.get(mac) if mac else None
            holder = by_ip.get(ip)
            if row is None and holder is not None and (holder.mac is None or mac is None):
                row = holder  # known by IP only: the same device (and now we learn its MAC)
            if row is None:
                row = DeviceRow(mac=mac, ip=ip, first_seen=when, last_seen=when)
                added.append(row)
            changed |= _note_address(row, mac, ip, holder)
            by_ip[ip] = row
            if mac:
                by_mac[mac] = row
            row.first_seen = row.first_seen or when
            row.last_seen = max(row.last_seen or when, when)
            session.add(row)
        if changed or added:
            bump(session)
        session.commit()
        return tuple(to_device(r) for r in added)


def _note_address(row: DeviceRow, mac: str | None, ip: str, holder: DeviceRow | None) -> bool:
    """Give `row` this MAC and IP; True if anything the rules use changed."""
    changed = False
    if mac and row.mac is None:
        row.mac, changed = mac, True
    if holder is not None and holder is not row:
        holder.ip, changed = None, True  # the address moved to another device
    # A device has one IPv4 and many IPv6 addresses: keep the IPv4 one rather than flip.
    if row.ip != ip and not (row.ip and ":" not in row.ip and ":" in ip):
        row.ip, changed = ip, True
    return changed


def _address(text: str) -> str | None:
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    # The box's own lookups (127.0.0.1, ::1) are not a device in the home. Other loopback
    # addresses are kept: tests stand in for devices with them.
    own = ip.is_unspecified or str(ip) in ("127.0.0.1", "::1")
    return None if own else str(ip)


def _mac_or_none(text: str | None) -> str | None:
    try:
        return normalise_mac(text) if text else None
    except HouseholdError:
        return None


def _same_device(session: Session, mac: str | None, ip: str | None) -> DeviceRow | None:
    if mac is not None:
        row = session.exec(select(DeviceRow).where(DeviceRow.mac == mac)).first()
        if row is not None:
            return row
    if ip is not None:
        row = session.exec(select(DeviceRow).where(DeviceRow.ip == ip)).first()
        if row is not None and (mac is None or row.mac is None):
            return row
    return None


def _move_ip(session: Session, row: DeviceRow, ip: str) -> None:
    for other in session.exec(select(DeviceRow).where(DeviceRow.ip == ip)):
        if other is not row:
            other.ip = None
            session.add(other)
    row.ip = ip


def _set_owner(
    session: Session, row: DeviceRow, owner: str, child_id: int | None, shared_with: Iterable[int]
) -> None:
    if owner not in OWNERS:
        raise HouseholdError(
            f"a device belongs to a child, an adult, is shared or unassigned, not {owner!r}"
        )
    row.owner, row.child_id, row.shared_with = owner, None, ""
    if owner == "child":
        if child_id is None:
            raise HouseholdError("say which child the device belongs to")
        row.child_id = child_row(session, child_id).id
    elif owner == "shared":
        row.shared_with = joined(child_row(session, i).id for i in shared_with)


def _move_history(session: Session, keep: DeviceRow, drop: DeviceRow) -> None:
    """Point every reference to `drop` at `keep`: pauses, and any table with a `device_id`
    column or a `device` column holding a device id or MAC (the query log)."""
    session.execute(update(PauseRow).where(PauseRow.device_id == drop.id).values(device_id=keep.id))
    present = set(sa_inspect(session.connection()).get_table_names())
    old = [str(drop.id), *(m for m in (drop.mac, keep.mac) if m)]
    for table in SQLModel.metadata.sorted_tables:
        if table.name in ("devices", "pauses") or table.name not in present:
            continue
        if "device_id" in table.c:
            col = table.c.device_id
            session.execute(update(table).where(col == drop.id).values(device_id=keep.id))
        if "device" in table.c:
            col = table.c.device
            session.execute(update(table).where(col.in_(old)).values(device=str(keep.id)))
