"""Devices: every device seen on the network, whose it is, renaming, merging duplicates,
removing, confirming a Wi-Fi address seen at a device known by IP, and whether the optional
proxy looks into it ("inspect").

Phones and tablets often use a private ("random") Wi-Fi address, so one phone can show up as
a new device when it changes: merging folds the new one into the old, keeping its owner.
The page is paged (`PER_PAGE`): it reads one page of devices, never the whole table.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import login_required
from werkzeug.wrappers import Response

from agent import devicenames
from agent.rules.household import Child, Device
from agent.store import household as store
from dashboard.box import box
from dashboard.forms import DeviceForm, MergeForm, options

bp = Blueprint("devices", __name__)
SAVED = "Saved. The DNS follows within a couple of seconds."
INSPECT = {"on": True, "off": False}
PER_PAGE = 50


def owner_choices(children: tuple[Child, ...]) -> list[tuple[str, str]]:
    return [
        ("unassigned", "Not assigned yet"),
        *((f"child:{c.id}", f"{c.name}'s") for c in children),
        ("shared", "Shared (the youngest child's rules)"),
        ("adult", "An adult's"),
    ]


def owner_value(device: Device) -> str:
    return f"child:{device.child_id}" if device.owner == "child" else device.owner


def _page(
    status: int = 200,
    failed: int | None = None,
    form: DeviceForm | None = None,
    merge: MergeForm | None = None,
) -> tuple[str, int]:
    engine = box().engine()
    number = max(request.args.get("page", 1, type=int) or 1, 1)
    devices, total = store.devices_page(engine, (number - 1) * PER_PAGE, PER_PAGE)
    pages = max((total + PER_PAGE - 1) // PER_PAGE, 1)
    children = store.list_children(engine)
    choices = owner_choices(children)
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
        labels = [(str(d.id), devicenames.recognisable(d)) for d in devices]
        merge.keep.choices = options(labels)
        merge.drop.choices = options(labels)
    return render_template(
        "devices/index.html",
        devices=devices,
        forms=forms,
        merge=merge,
        children={c.id: c for c in children},
        private_address=devicenames.is_private,
        maker=devicenames.maker,
        recognisable=devicenames.recognisable,
        dot_on=bool(box().cfg.dns.tls_listen),
        dhcp_on=box().cfg.dhcp.enabled,
        page=number,
        pages=pages,
        total=total,
    ), status


@bp.route("/devices")
@login_required
def index() -> tuple[str, int]:
    return _page()


def _device_or_404(device_id: int) -> Device:
    device = store.get_device(box().engine(), device_id)
    if device is None:
        abort(404)
    return device


@bp.route("/devices/<int:device_id>", methods=("POST",))
@login_required
def update(device_id: int) -> Response | tuple[str, int]:
    engine = box().engine()
    _device_or_404(device_id)
    form = DeviceForm(prefix=f"d{device_id}")
    form.owner.choices = options(owner_choices(store.list_children(engine)))
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
    _device_or_404(device_id)
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


@bp.route("/devices/<int:device_id>/keep-address", methods=("POST",))
@login_required
def keep_address(device_id: int) -> Response:
    """HouseRules' DHCP always hands this device its current address, or stops doing so."""
    engine = box().engine()
    device = _device_or_404(device_id)
    keep = request.form.get("keep", "")
    if keep not in ("yes", "no") or not box().cfg.dhcp.enabled:
        abort(400)
    try:
        changed = store.reserve_address(engine, device_id, device.ip if keep == "yes" else None)
    except store.HouseholdError as exc:
        flash(str(exc)[:1].upper() + str(exc)[1:] + ".", "error")
    else:
        name = devicenames.recognisable(changed)
        if changed.reserved_ip:
            flash(f"{name} now always gets {changed.reserved_ip} from the box.", "ok")
        else:
            flash(f"{name} now gets any free address from the box.", "ok")
    return redirect(url_for("devices.index") + f"#device-{device_id}")


@bp.route("/devices/merge", methods=("POST",))
@login_required
def merge() -> Response | tuple[str, int]:
    engine = box().engine()
    form = MergeForm()
    asked = (request.form.get("keep", ""), request.form.get("drop", ""))
    found = [d for v in asked if v.isdigit() and (d := store.get_device(engine, int(v)))]
    form.keep.choices = options((str(d.id), d.label) for d in found)
    form.drop.choices = options((str(d.id), d.label) for d in found)
    if form.validate_on_submit():
        try:
            kept = store.merge_devices(engine, int(form.keep.data), int(form.drop.data))
        except store.HouseholdError as exc:
            form.drop.errors.append(str(exc)[:1].upper() + str(exc)[1:])
        else:
            flash(f"Merged into {kept.label}. {SAVED}", "ok")
            return redirect(url_for("devices.index"))
    return _page(400, merge=form)


@bp.route("/devices/<int:device_id>/address", methods=("POST",))
@login_required
def address(device_id: int) -> Response:
    """The parent's word on a Wi-Fi address seen at a device known by IP only: it is this
    device's (bind it), or it is not (forget it)."""
    engine = box().engine()
    device = _device_or_404(device_id)
    answer = request.form.get("answer", "")
    if answer not in ("yes", "no") or device.pending_mac is None:
        abort(400)
    if answer == "no":
        store.forget_pending_mac(engine, device_id)
        flash(f"Forgotten. {device.label} stays known by its IP address for now.", "ok")
    else:
        try:
            store.confirm_mac(engine, device_id)
        except store.HouseholdError as exc:
            flash(str(exc)[:1].upper() + str(exc)[1:] + ".", "error")
        else:
            flash(f"{device.label} is now known by its Wi-Fi address, wherever it goes.", "ok")
    return redirect(url_for("devices.index") + f"#device-{device_id}")


@bp.route("/devices/<int:device_id>/remove", methods=("GET", "POST"))
@login_required
def remove(device_id: int) -> Response | str:
    """Asks first (GET), removes on the confirming form (POST)."""
    device = _device_or_404(device_id)
    if request.method == "GET":
        return render_template("devices/remove.html", device=device)
    store.remove_device(box().engine(), device_id)
    flash(
        f"Removed {device.label}. If it asks again, it comes back as a new device and follows "
        "the rules for unknown devices until you say whose it is.",
        "ok",
    )
    return redirect(url_for("devices.index"))
