"""Devices: every device seen on the network, whose it is, renaming, merging duplicates, and
whether the optional proxy looks into it ("inspect").

Phones and tablets often use a private ("random") Wi-Fi address, so one phone can show up as
a new device when it changes: merging folds the new one into the old, keeping its owner.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import login_required
from werkzeug.wrappers import Response

from agent.rules.household import Device, Household
from agent.store import household as store
from dashboard.box import box
from dashboard.forms import DeviceForm, MergeForm, options

bp = Blueprint("devices", __name__)
SAVED = "Saved. The DNS follows within a couple of seconds."
INSPECT = {"on": True, "off": False}


def owner_choices(household: Household) -> list[tuple[str, str]]:
    return [
        ("unassigned", "Not assigned yet"),
        *((f"child:{c.id}", f"{c.name}'s") for c in household.children),
        ("shared", "Shared (the youngest child's rules)"),
        ("adult", "An adult's"),
    ]


def owner_value(device: Device) -> str:
    return f"child:{device.child_id}" if device.owner == "child" else device.owner


def private_address(mac: str | None) -> bool:
    """A locally administered MAC: a phone's private Wi-Fi address, which may change."""
    return mac is not None and int(mac[:2], 16) & 0x02 == 0x02


def _ordered(devices: tuple[Device, ...]) -> list[Device]:
    def key(d: Device) -> tuple[bool, float]:
        seen = d.last_seen.timestamp() if d.last_seen else 0.0
        return (d.owner != "unassigned", -seen)

    return sorted(devices, key=key)


def _page(
    status: int = 200,
    failed: int | None = None,
    form: DeviceForm | None = None,
    merge: MergeForm | None = None,
) -> tuple[str, int]:
    household = store.load_household(box().engine())
    devices = _ordered(household.devices)
    choices = owner_choices(household)
    forms = {}
    for d in devices:
        if d.id == failed and form is not None:
            forms[d.id] = form
            continue
        f = DeviceForm(prefix=f"d{d.id}", data={"name": d.name or "", "owner": owner_value(d)})
        f.owner.choices = options(choices)
        forms[d.id] = f
    if merge is None:
        merge = MergeForm()
        merge.keep.choices = options((str(d.id), d.label) for d in devices)
        merge.drop.choices = options((str(d.id), d.label) for d in devices)
    return render_template(
        "devices/index.html",
        devices=devices,
        forms=forms,
        merge=merge,
        children=household.child_by_id,
        private_address=private_address,
    ), status


@bp.route("/devices")
@login_required
def index() -> tuple[str, int]:
    return _page()


@bp.route("/devices/<int:device_id>", methods=("POST",))
@login_required
def update(device_id: int) -> Response | tuple[str, int]:
    engine = box().engine()
    household = store.load_household(engine)
    if device_id not in household.device_by_id:
        abort(404)
    form = DeviceForm(prefix=f"d{device_id}")
    form.owner.choices = options(owner_choices(household))
    if form.validate_on_submit():
        owner, _, child = (form.owner.data or "").partition(":")
        try:
            store.update_device(
                engine,
                device_id,
                name=(form.name.data or "").strip() or None,
                owner=owner,
                child_id=int(child) if child else None,
            )
        except store.HouseholdError as exc:
            form.name.errors.append(str(exc)[:1].upper() + str(exc)[1:])
        else:
            flash(SAVED, "ok")
            return redirect(url_for("devices.index") + f"#device-{device_id}")
    return _page(400, device_id, form)


@bp.route("/devices/<int:device_id>/inspect", methods=("POST",))
@login_required
def inspect(device_id: int) -> Response:
    """Switch the proxy's inspection on or off for one device (a one-button form)."""
    engine = box().engine()
    wanted = INSPECT.get(request.form.get("inspect", ""))
    if wanted is None:
        abort(400)
    if device_id not in store.load_household(engine).device_by_id:
        abort(404)
    device = store.update_device(engine, device_id, inspect=wanted)
    if wanted:
        said = (
            f"The proxy now looks into {device.label}, once it trusts the box's certificate"
            " and uses the proxy (see Proxy setup)."
        )
    else:
        said = f"The proxy no longer looks into {device.label}: it passes through untouched."
    flash(said, "ok")
    return redirect(url_for("devices.index") + f"#device-{device_id}")


@bp.route("/devices/merge", methods=("POST",))
@login_required
def merge() -> Response | tuple[str, int]:
    engine = box().engine()
    household = store.load_household(engine)
    form = MergeForm()
    form.keep.choices = options((str(d.id), d.label) for d in household.devices)
    form.drop.choices = options((str(d.id), d.label) for d in household.devices)
    if form.validate_on_submit():
        try:
            kept = store.merge_devices(engine, int(form.keep.data), int(form.drop.data))
        except store.HouseholdError as exc:
            form.drop.errors.append(str(exc)[:1].upper() + str(exc)[1:])
        else:
            flash(f"Merged into {kept.label}. {SAVED}", "ok")
            return redirect(url_for("devices.index"))
    return _page(400, merge=form)
