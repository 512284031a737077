"""The activity tables the insights job maintains incrementally from the query log.

Internal to `agent.store.rollups` (summaries, for readers) and `agent.store.rollup_writes` (the
job's updates). Days are the box's local dates ("YYYY-MM-DD") and hours local hours (0-23);
minutes are unix minutes (`int(ts // 60)`), the same everywhere in the box.

Two kinds of table, with two lifetimes:
- minute-level detail, as fine as the raw query log and kept as long (`retention_days`):
  `activity_marks` (queries per device, child, app or site and minute), `counted_minutes`
  (minutes counted as active per child and app or site) and `active_minutes` (per child);
- rollups, kept for `history_days`: `usage_hourly` and `usage_daily` (per child and app or
  site), `child_hourly` and `child_daily` (per child) and `blocked_daily` (per child and rule).

`kind` is "app" (a catalogue app id in `name`) or "site" (a registrable domain in `name`).
"""

from __future__ import annotations

from sqlalchemy import Index
from sqlmodel import Field, SQLModel


class ActivityMark(SQLModel, table=True):
    __tablename__ = "activity_marks"
    device: str = Field(primary_key=True)  # MAC, else IP address
    child: str = Field(primary_key=True)
    kind: str = Field(primary_key=True)
    name: str = Field(primary_key=True)
    minute: int = Field(primary_key=True)
    queries: int = 0  # answered (allowed or rewritten)
    blocked: int = 0


class CountedMinute(SQLModel, table=True):
    __tablename__ = "counted_minutes"
    child: str = Field(primary_key=True)
    kind: str = Field(primary_key=True)
    name: str = Field(primary_key=True)
    minute: int = Field(primary_key=True)


class ActiveMinute(SQLModel, table=True):
    __tablename__ = "active_minutes"
    child: str = Field(primary_key=True)
    minute: int = Field(primary_key=True)


class UsageHourly(SQLModel, table=True):
    __tablename__ = "usage_hourly"
    child: str = Field(primary_key=True)
    day: str = Field(primary_key=True)
    hour: int = Field(primary_key=True)
    kind: str = Field(primary_key=True)
    name: str = Field(primary_key=True)
    minutes: int = 0
    queries: int = 0
    blocked: int = 0


class UsageDaily(SQLModel, table=True):
    __tablename__ = "usage_daily"
    child: str = Field(primary_key=True)
    day: str = Field(primary_key=True)
    kind: str = Field(primary_key=True)
    name: str = Field(primary_key=True)
    minutes: int = 0
    queries: int = 0
    blocked: int = 0


class ChildHourly(SQLModel, table=True):
    __tablename__ = "child_hourly"
    child: str = Field(primary_key=True)
    day: str = Field(primary_key=True)
    hour: int = Field(primary_key=True)
    minutes: int = 0
    queries: int = 0
    blocked: int = 0


class ChildDaily(SQLModel, table=True):
    __tablename__ = "child_daily"
    child: str = Field(primary_key=True)
    day: str = Field(primary_key=True)
    minutes: int = 0
    queries: int = 0
    blocked: int = 0
    first_minute: int | None = None  # the first and last minute counted as active
    last_minute: int | None = None


class BlockedDaily(SQLModel, table=True):
    __tablename__ = "blocked_daily"
    child: str = Field(primary_key=True)
    day: str = Field(primary_key=True)
    rule: str = Field(primary_key=True)  # as the query log has it: "age:tiktok", ...
    count: int = 0


# Pruning by minute or day without a full scan.
Index("ix_activity_marks_minute", ActivityMark.__table__.c.minute)
Index("ix_counted_minutes_minute", CountedMinute.__table__.c.minute)
Index("ix_active_minutes_minute", ActiveMinute.__table__.c.minute)
Index("ix_usage_hourly_day", UsageHourly.__table__.c.day)
Index("ix_usage_daily_day", UsageDaily.__table__.c.day)
Index("ix_child_hourly_day", ChildHourly.__table__.c.day)
Index("ix_child_daily_day", ChildDaily.__table__.c.day)
Index("ix_blocked_daily_day", BlockedDaily.__table__.c.day)

ROLLUP_TABLES = ("usage_hourly", "usage_daily", "child_hourly", "child_daily", "blocked_daily")
DETAIL_TABLES = ("activity_marks", "counted_minutes", "active_minutes")
