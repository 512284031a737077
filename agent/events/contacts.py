"""A contact the proxy saw a child in touch with: shared by the proxy (which reads them), the
store (which keeps them) and the dashboard (which shows them), so none imports another."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ContactKind(StrEnum):
    FRIEND = "friend"
    FRIEND_REQUEST = "friend_request"
    DM = "dm"  # a direct-message conversation
    GROUP = "group"  # a group conversation


@dataclass(frozen=True, slots=True)
class Contact:
    service: str  # the app catalogue's id: "roblox", "discord"
    account: str  # the service's own lasting id for the person (or "group:<id>")
    kind: ContactKind
    handle: str | None = None  # the username a parent can look up in the app
    display_name: str | None = None

    @property
    def label(self) -> str:
        """How a parent would recognise them: "Display (@handle)", or what there is."""
        if self.display_name and self.handle and self.display_name != self.handle:
            return f"{self.display_name} (@{self.handle})"
        return self.display_name or self.handle or self.account
