"""What the rules engine answers: an action and the reason for it, as data.

The DNS server and the proxy addon act on a `Decision`; the query log stores it as is, so the
dashboard and the digest can explain every block in a parent's words.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Action(StrEnum):
    ALLOW = "allow"
    BLOCK = "block"
    REWRITE = "rewrite"  # answer with a CNAME to `rewrite_to` (safe search)


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    reason: str = ""  # a sentence a parent can read
    rule: str = ""  # machine-readable: "list:bypass", "age:tiktok", "schedule:Bedtime", ...
    child: str | None = None
    app: str | None = None
    category: str | None = None
    rewrite_to: str | None = None  # the CNAME target when action is REWRITE
    nxdomain: bool = (
        False  # answer NXDOMAIN whatever the block mode (Firefox canary, Private Relay)
    )
    # the query log's columns from this decision (action to app), made once, not per query
    columns: tuple = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        columns = (self.action.value, self.rule, self.reason, self.category, self.app)
        object.__setattr__(self, "columns", columns)

    @property
    def blocked(self) -> bool:
        return self.action is Action.BLOCK


ALLOWED = Decision(Action.ALLOW)
