"""API: devices (whose they are, their names, removing them) and pausing one device."""

from __future__ import annotations

from typing import Any, Literal

from flask import jsonify
from pydantic import BaseModel, ConfigDict, Field

from agent.rules.household import OWNERS
from agent.rules.overlays import pause_until
from agent.store import household as store
from dashboard.api import bp, shapes
from dashboard.api.children import PauseBody
from dashboard.api.errors import ApiError
from dashboard.api.spec import operation
from dashboard.box import box

TAG = "devices"
Owner = Literal[tuple(OWNERS)]  # type: ignore[valid-type]


class DeviceBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, description="a new name; an empty string clears it")
    owner: Owner | None = Field(None, description="child, adult, shared or unassigned")
    child_id: int | None = Field(None, description="whose, when the owner is a child")
    shared_with: list[int] = Field(default_factory=list, description="children, when shared")


def _device(device_id: int) -> Any:
    device = store.get_device(box().engine(), device_id)
    if device is None:
        raise ApiError(404, f"There is no device with id {device_id}.")
    return device


def _shape(device_id: int) -> dict[str, Any]:
    b = box()
    household = store.load_household(b.engine())
    device = next(d for d in household.devices if d.id == device_id)
    return shapes.device(device, b.tz, household.device_paused_until.get(device_id))


def _sentence(exc: Exception) -> str:
    text = str(exc)
    return text[:1].upper() + text[1:].rstrip(".") + "."


@operation(bp, "GET", "/devices", "Devices and whose they are", tag=TAG)
def list_devices() -> Any:
    b = box()
    household = store.load_household(b.engine())
    paused = household.device_paused_until
    found = [shapes.device(d, b.tz, paused.get(d.id)) for d in household.devices]
    return jsonify({"devices": found})


@operation(
    bp, "PATCH", "/devices/<int:device_id>", "Rename a device or say whose it is", tag=TAG,
    body=DeviceBody, write=True,
)  # fmt: skip
def update_device(device_id: int, body: DeviceBody) -> Any:
    """What the Devices page's form does: only the fields sent change."""
    _device(device_id)
    changes: dict[str, Any] = {}
    if "name" in body.model_fields_set:
        changes["name"] = (body.name or "").strip() or None
    if body.owner is not None:
        changes.update(owner=body.owner, child_id=body.child_id, shared_with=body.shared_with)
    try:
        store.update_device(box().engine(), device_id, **changes)
    except store.HouseholdError as exc:
        raise ApiError(400, _sentence(exc)) from None
    return jsonify({"message": "Saved.", "device": _shape(device_id)})


@operation(bp, "DELETE", "/devices/<int:device_id>", "Remove a device", tag=TAG, write=True)
def remove_device(device_id: int) -> Any:
    """If it asks again it comes back as a new device, under the rules for unknown devices."""
    device = _device(device_id)
    store.remove_device(box().engine(), device_id)
    return jsonify({"message": f"Removed {device.label}."})


@operation(
    bp, "POST", "/devices/<int:device_id>/pause", "Pause one device", tag=TAG, body=PauseBody,
    write=True,
)  # fmt: skip
def pause_device(device_id: int, body: PauseBody) -> Any:
    b = box()
    _device(device_id)
    until = pause_until(body.for_, b.now())
    store.pause(b.engine(), until, device_id=device_id)
    return jsonify({"message": f"Paused until {until:%H:%M}.", "device": _shape(device_id)})


@operation(
    bp, "POST", "/devices/<int:device_id>/resume", "End one device's pause", tag=TAG, write=True
)
def resume_device(device_id: int) -> Any:
    _device(device_id)
    resumed = store.resume(box().engine(), device_id=device_id)
    said = "The internet is back on." if resumed else "There was no pause."
    return jsonify({"message": said, "device": _shape(device_id)})
