"""What a parent gives a child for a while: more time, or an app or website allowed.

One place for both, used when a parent approves a child's request (`agent.household.requests`) and
when they give it unasked (the JSON API): the same overlays, the same words for what was done.

- more time (N minutes): a pause of the child ends, each of the child's schedules that is on at
  any moment of the next N minutes is held off by a "more_time" overlay until then, and a time
  budget already used up today gets the N minutes as extra time;
- an unblock for 15 minutes, an hour or today is an "unblock" overlay; "always" is an explicit
  allow rule for that child, the same rule the Child page's toggles make.

Times go in timezone-aware, in the box's zone (schedules are local).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.engine import Engine

from agent.rules.budgets import is_used_up
from agent.rules.overlays import schedules_on_during, unblock_until
from agent.store import household as store
from agent.store.budgets import add_extra_time, list_budgets
from agent.store.overlays import add_overlay, list_overlays

MIN_MINUTES, MAX_MINUTES = 5, 240


def give_more_time(
    engine: Engine,
    child_id: int,
    child: str,
    minutes: int,
    when: datetime,
    request_id: int | None = None,
) -> str:
    """Hold off what would stop the child's internet for `minutes`; says what it did."""
    if not MIN_MINUTES <= minutes <= MAX_MINUTES:
        raise store.HouseholdError(f"give {MIN_MINUTES} to {MAX_MINUTES} minutes")
    until = when + timedelta(minutes=minutes)
    resumed = store.resume(engine, child_id=child_id)
    on = schedules_on_during(store.list_schedules(engine, child_id), when, until)
    for s in on:
        add_overlay(
            engine, child_id, "more_time", until, when, schedule_id=s.id, request_id=request_id
        )
    done = []
    if resumed:
        done.append("the pause ended")
    running = list_overlays(engine, child_id, running_at=when)
    spent = [b for b in list_budgets(engine, child_id) if is_used_up(b, running, when)]
    for b in spent:  # a budget used up for today gets the minutes too
        add_extra_time(engine, b, minutes, when, request_id=request_id)
    if spent:
        done.append(f"{minutes} more minutes on today's budget")
    if on:
        names = " and ".join(s.name for s in on)
        done.append(f"{names} is off until {until.astimezone(when.tzinfo):%H:%M}")
    if not done:
        return f"Nothing was stopping {child}'s internet for the next {minutes} minutes"
    return f"{child}: " + "; ".join(done)


def allow_for(
    engine: Engine,
    child_id: int,
    child: str,
    kind: str,
    value: str,
    unblock_for: str,
    when: datetime,
    request_id: int | None = None,
) -> str:
    """Allow an app or a website (`kind` "app" or "domain") for a while, or always."""
    until = unblock_until(unblock_for, when)
    if until is None:
        store.add_rule(engine, child_id, "allow", kind, value or "")
        return f"{value} is allowed for {child} (change it on {child}'s page)"
    add_overlay(
        engine,
        child_id,
        "unblock",
        until,
        when,
        target_kind=kind,
        target=value,
        request_id=request_id,
    )
    local = until.astimezone(when.tzinfo)
    ends = f"{local:%H:%M}" if local.date() == when.date() else "midnight"
    return f"{value} is allowed for {child} until {ends} (end it early on their page)"
