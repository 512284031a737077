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
from typing import Any, NamedTuple

from sqlalchemy import case, delete, func, update
from sqlalchemy import inspect as sa_inspect
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


class AddressTaken(HouseholdError):
    """The address asked for already belongs to another device a parent has given an owner."""

    def __init__(self, address: str, device: Device) -> None:
        super().__init__(f"{address} already belongs to {device.label} (device {device.id})")
        self.address, self.device = address, device


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
    move: bool = False,
) -> Device:
    """Add a device, or claim the one the box has already seen at that MAC (or IP).

    A device that already has an owner is never handed to someone else silently: if the
    address belongs to one, `AddressTaken` says which, unless `move` says to move it."""
    if not mac and not ip:
        raise HouseholdError("a device needs a MAC address or an IP address")
    mac = normalise_mac(mac) if mac else None
    ip = normalise_ip(ip) if ip else None
    name = check_name(name, "A device's name") if name else None
    with changing(engine) as session:
        row = _same_device(session, mac, ip) or DeviceRow()
        if not move:
            _refuse_taken(session, row, mac, ip, owner, child_id)
        row.mac = row.mac or mac
        if row.mac is not None:
            row.pending_mac = None
        if ip is not None:
            _move_ip(session, row, ip)
        row.name = name or row.name
        _set_owner(session, row, owner, child_id, shared_with)
        row.inspect = inspect
        session.add(row)
        session.flush()
        return to_device(row)


def _refuse_taken(
    session: Session,
    row: DeviceRow,
    mac: str | None,
    ip: str | None,
    owner: str,
    child_id: int | None,
) -> None:
    """Raise AddressTaken if adding would take a device (or its IP) from its owner."""
    if row.id is not None and row.owner != "unassigned":
        same = row.owner == owner and (owner != "child" or row.child_id == child_id)
        if not same:
            raise AddressTaken(mac or ip or "", to_device(row))
    if ip is None:
        return
    for other in session.exec(select(DeviceRow).where(DeviceRow.ip == ip)):
        if other is not row and other.owner != "unassigned":
            raise AddressTaken(ip, to_device(other))


def list_devices(engine: Engine) -> tuple[Device, ...]:
    with Session(engine) as session:
        return tuple(to_device(r) for r in session.exec(select(DeviceRow).order_by(DeviceRow.id)))


def devices_page(
    engine: Engine, offset: int = 0, limit: int = 50
) -> tuple[tuple[Device, ...], int]:
    """One page of devices for the dashboard, and how many there are in all: the ones waiting
    for an owner first, then the rest, most recently seen first. Stays quick with a hundred
    thousand rows (a forged-address flood before intake was bounded)."""
    with Session(engine) as session:
        total = session.exec(select(func.count()).select_from(DeviceRow)).one()
        unassigned = case((DeviceRow.owner == "unassigned", 0), else_=1)
        query = (
            select(DeviceRow)
            .order_by(unassigned, DeviceRow.last_seen.desc(), DeviceRow.id)  # type: ignore[union-attr]
            .offset(max(offset, 0))
            .limit(max(limit, 1))
        )
        return tuple(to_device(r) for r in session.exec(query)), int(total)


def device_labels(engine: Engine, keys: Iterable[str]) -> dict[str, str]:
    """Device key (MAC or IP, as events name devices) -> the device's label, for those keys
    only: the alerts page names a page of devices without reading the whole table."""
    wanted = sorted({k for k in keys if k})
    out: dict[str, str] = {}
    with Session(engine) as session:
        for i in range(0, len(wanted), 500):
            chunk = wanted[i : i + 500]
            query = select(DeviceRow).where(
                DeviceRow.mac.in_(chunk) | DeviceRow.ip.in_(chunk)  # type: ignore[union-attr]
            )
            for row in session.exec(query):
                label = _label(row)
                for key in (row.mac, row.ip):
                    if key in chunk:
                        out[key] = label
    return out


def get_device(engine: Engine, device_id: int) -> Device | None:
    with Session(engine) as session:
        row = session.get(DeviceRow, device_id)
        return to_device(row) if row is not None else None


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
        keep.hostname = keep.hostname or drop.hostname
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


class Seen(NamedTuple):
    """What one `record_seen` call found."""

    added: tuple[Device, ...]  # devices recorded for the first time
    skipped: int  # new addresses past `max_new`: they keep the unknown-device rules, unrecorded
    clashes: tuple[Clash, ...]  # something answering at a registered device's address


class Clash(NamedTuple):
    """A newcomer seen at the address of a device a parent registered by IP only (or that
    device's waiting MAC seen at another IP): the newcomer may be borrowing its identity."""

    device: Device  # the registered device whose address is in question
    ip: str  # where the newcomer was seen
    mac: str | None  # the newcomer's MAC
    ts: float


def record_seen(
    engine: Engine, seen: Mapping[str, tuple[str | None, float]], *, max_new: int | None = None
) -> Seen:
    """Note the devices the box has seen: client IP -> (MAC or None, unix time last seen).

    Unknown devices are added as "unassigned" (so a parent can be asked whose they are), at
    most `max_new` of them (None: all); known ones get their last_seen and current IP. A MAC
    seen at a device a parent registered by IP only is never bound to it silently: it waits
    in `pending_mac` for the parent (`confirm_mac`), and a different MAC at that IP, or the
    waiting MAC at another IP, is a `Clash`. One transaction. The household version moves
    only when a device is added or something the rules use changes, not for last_seen alone."""
    with Session(engine, expire_on_commit=False) as session:
        rows = list(session.exec(select(DeviceRow)))
        book = _Book(rows)
        room = max_new if max_new is not None else len(seen)
        skipped, changed = 0, False
        for raw_ip, (raw_mac, ts) in seen.items():
            ip, mac = _address(raw_ip), _mac_or_none(raw_mac)
            if ip is None:
                continue
            when = datetime.fromtimestamp(ts, UTC)
            row = book.find(ip, mac, ts)
            if row is None:
                if room <= 0:
                    skipped += 1
                    continue
                room -= 1
                row = book.add(DeviceRow(first_seen=when, last_seen=when))
            changed |= book.note_address(row, mac, ip)
            row.first_seen = row.first_seen or when
            row.last_seen = max(row.last_seen or when, when)
            session.add(row)
        if changed or book.changed or book.added:
            bump(session)
        session.commit()
        clashes = tuple(Clash(to_device(r), ip, mac, ts) for r, ip, mac, ts in book.clashes)
        return Seen(tuple(to_device(r) for r in book.added), skipped, clashes)


def reserve_address(engine: Engine, device_id: int, ip: str | None) -> Device:
    """Keep `ip` for the device in HouseRules' DHCP (None: stop keeping one). By MAC only:
    an address is handed to a network card, so a device known by IP alone cannot have one."""
    with changing(engine) as session:
        row = device_row(session, device_id)
        if ip is not None:
            if row.mac is None:
                raise HouseholdError(
                    "a device needs its Wi-Fi (MAC) address seen to keep an address"
                )
            ip = normalise_ip(ip)
            if ipaddress.ip_address(ip).version != 4:
                raise HouseholdError(f"{ip} is not an IPv4 address")
            for other in session.exec(select(DeviceRow).where(DeviceRow.reserved_ip == ip)):
                if other is not row:
                    raise AddressTaken(ip, to_device(other))
        row.reserved_ip = ip
        session.add(row)
        return to_device(row)


def note_hostnames(engine: Engine, names: Mapping[str, str]) -> int:
    """Record what devices call themselves: MAC -> name (cleaned by the caller). Only devices
    already known by that MAC; the name is a hint for the parent, used by no rule, so the
    household version does not move. Returns how many changed."""
    changed = 0
    with Session(engine) as session:
        for raw_mac, name in names.items():
            mac = _mac_or_none(raw_mac)
            if mac is None:
                continue
            row = session.exec(select(DeviceRow).where(DeviceRow.mac == mac)).first()
            if row is not None and row.hostname != name:
                row.hostname = name
                session.add(row)
                changed += 1
        session.commit()
    return changed


class _Book:
    """The devices table as `record_seen` walks one batch: by MAC, by IP, and by waiting MAC."""

    def __init__(self, rows: list[DeviceRow]) -> None:
        self.by_mac = {r.mac: r for r in rows if r.mac}
        self.by_ip = {r.ip: r for r in rows if r.ip}
        self.waiting = {r.pending_mac: r for r in rows if r.pending_mac and r.mac is None}
        self.added: list[DeviceRow] = []
        self.changed = False  # a waiting MAC was noted: the rules read it
        self.clashes: list[tuple[DeviceRow, str, str | None, float]] = []

    def find(self, ip: str, mac: str | None, ts: float) -> DeviceRow | None:
        """The device behind (ip, mac), noting clashes; None for a newcomer."""
        holder = self.by_ip.get(ip)
        held = holder is not None and _registered_by_ip(holder)
        row = self.by_mac.get(mac) if mac else None
        if row is None and mac in self.waiting:
            row = self.waiting[mac]  # the MAC waiting for a parent's word at `row`'s IP
            if row.ip != ip and _same_family(row.ip, ip):
                self.clashes.append((row, ip, mac, ts))
            return row
        if row is not None:
            if held and holder is not row:
                self.clashes.append((holder, ip, mac, ts))
            return row
        if holder is None or mac is None or holder.mac is None and not held:
            return holder  # known by IP (and an unassigned one learns its MAC)
        if held and holder.pending_mac is None:
            holder.pending_mac = mac  # a parent confirms it before it counts
            self.waiting[mac], self.changed = holder, True
            return holder
        if held:
            self.clashes.append((holder, ip, mac, ts))
        return None

    def add(self, row: DeviceRow) -> DeviceRow:
        self.added.append(row)
        return row

    def note_address(self, row: DeviceRow, mac: str | None, ip: str) -> bool:
        """Give `row` this MAC and IP; True if anything the rules use changed. A registered
        device known by IP only keeps its IP: a newcomer there gets none."""
        if mac is not None and row.pending_mac == mac and row.ip != ip:
            return False  # the waiting MAC elsewhere: the registered address stays
        changed = False
        if mac and row.mac is None and not _registered_by_ip(row) and mac not in self.by_mac:
            row.mac, changed = mac, True
            self.by_mac[mac] = row
        holder = self.by_ip.get(ip)
        if holder is not None and holder is not row:
            if _registered_by_ip(holder):
                return changed
            holder.ip, changed = None, True  # the address moved to another device
        # A device has one IPv4 and many IPv6 addresses: keep the IPv4 one rather than flip.
        if row.ip != ip and not (row.ip and ":" not in row.ip and ":" in ip):
            if row.ip is not None and self.by_ip.get(row.ip) is row:
                del self.by_ip[row.ip]
            row.ip, changed = ip, True
        self.by_ip[ip] = row
        return changed


def _registered_by_ip(row: DeviceRow) -> bool:
    """A device a parent gave an owner while it is known by its IP address alone."""
    return row.mac is None and row.owner != "unassigned" and row.ip is not None


def _same_family(a: str | None, b: str) -> bool:
    return a is not None and (":" in a) == (":" in b)


def confirm_mac(engine: Engine, device_id: int, mac: str | None = None) -> Device:
    """A parent says the MAC waiting at a device (or `mac`) is that device's: it is bound,
    and from then on the device is known by it wherever it goes."""
    with changing(engine) as session:
        row = device_row(session, device_id)
        chosen = normalise_mac(mac) if mac else row.pending_mac
        if chosen is None:
            raise HouseholdError(f"no Wi-Fi address is waiting for {_label(row)}")
        other = session.exec(select(DeviceRow).where(DeviceRow.mac == chosen)).first()
        if other is not None and other is not row:
            if other.owner != "unassigned":
                raise HouseholdError(f"{chosen} already belongs to {_label(other)}")
            _move_history(session, row, other)  # the newcomer row was this device all along
            session.delete(other)
            session.flush()
        row.mac, row.pending_mac = chosen, None
        session.add(row)
        session.flush()
        return to_device(row)


def forget_pending_mac(engine: Engine, device_id: int) -> Device:
    """A parent says the waiting MAC is not this device's: forget it (the next one seen at
    the device's IP waits in its place)."""
    with changing(engine) as session:
        row = device_row(session, device_id)
        row.pending_mac = None
        session.add(row)
        return to_device(row)


def remove_device(engine: Engine, device_id: int) -> Device:
    """Forget a device: its pauses go with it; it comes back as a new, unassigned device if
    it asks again."""
    with changing(engine) as session:
        row = device_row(session, device_id)
        gone = to_device(row)
        session.execute(delete(PauseRow).where(PauseRow.device_id == row.id))
        session.delete(row)
        return gone


def _label(row: DeviceRow) -> str:
    return row.name or row.mac or row.ip or f"device {row.id}"


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
