"""The scheduled sends: weekly digests and alert emails, and how the agent registers them.

Digests are not a cron job at 18:00 on Sundays. A sweep runs every minute and, per carer, works
out the latest due moment at or before now (their day and time, in the box's time zone); if that
week's digest is not recorded as sent, it claims it and sends it. So a box that was off, asleep
or restarting at 18:00 sends that week's digest when it comes back, without any job store to
persist: the record of what was sent is the `digest_sends` table, claimed in a transaction
before the mail server is contacted, which also makes a send happen once across restarts and
processes. (A cron trigger with a misfire grace time would only catch a run missed while the
scheduler was running; after a restart its next run would be next Sunday.) Only the latest week
is sent: after three weeks off, one digest, not three. A failed send is tried again after a
back-off (`agent.store.digest`); a refused address waits for a new one, the others go on.

Time is a parameter: every entry point reads `clock()`, so tests run any week at any moment.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from agent.config import WEEKDAY_NAMES, Config

if TYPE_CHECKING:  # the rest loads on first use: a box without email never needs it
    from sqlalchemy.engine import Engine

    from agent.digest.delivery import Outcome, Sender
    from agent.digest.mailer import Accepted
    from agent.digest.model import Digest, Period
    from agent.rules.catalog import Catalog
    from agent.store.carers import Carer
    from agent.talk.prompts import Library

log = logging.getLogger("houserules.email")

Clock = Callable[[], datetime]
Job = tuple[str, Callable[[], object], float]
DIGEST_EVERY = 60.0  # seconds: a digest goes out within a minute of its time
ALERTS_EVERY = 15.0  # with the 30 s grouping, an alert email leaves within a minute


class EmailJobs:
    """The email side of the agent. `engine` may be a callable: the agent's engine is None
    while the database is unavailable, and the jobs then do nothing."""

    def __init__(
        self,
        cfg: Config,
        engine: Engine | Callable[[], Engine | None],
        *,
        clock: Clock | None = None,
        mailer: Sender | None = None,
        library: Library | None = None,
        catalog: Catalog | None = None,
    ) -> None:
        self.cfg = cfg
        self.tz = ZoneInfo(cfg.rules.timezone)
        self._engine = engine
        self.clock = clock or (lambda: datetime.now(self.tz))
        self._mailer = mailer
        self._library, self._catalog = library, catalog

    # -- what the scheduler runs ---------------------------------------------------------------

    def jobs(self) -> list[Job]:
        """(name, function, seconds) for a scheduler: the digest and alert sweeps."""
        return [
            ("weekly digests", self.send_due_digests, DIGEST_EVERY),
            ("alert emails", self.sweep_alerts, ALERTS_EVERY),
        ]

    def send_due_digests(self, carer: str | None = None) -> list[Outcome]:
        """Send every carer's (or the named carer's) latest due digest not sent yet."""
        engine = self.engine
        if engine is None or not self.cfg.email.enabled:
            return []
        from agent.digest.collect import latest_due, period_for
        from agent.digest.delivery import deliver, failed
        from agent.digest.messages import digest_message
        from agent.store.carers import list_carers
        from agent.store.digest import claim_digest, digest_send

        now = self.now()
        out = []
        for c in list_carers(engine):
            if carer is not None and c.name.lower() != carer.lower():
                continue
            if not c.children or c.address_problem:
                continue  # nobody to hear about, or waiting for a new address
            due = latest_due(now, c.digest_day, c.digest_time)
            if due < c.created_at:
                continue  # their first digest is next week's
            period = period_for(due)
            done = digest_send(engine, c.id, period.week)
            if done is not None and done.status == "sent":
                continue  # the usual case, read without taking the write lock
            record = claim_digest(engine, c.id, period.week, due, now, retry_refused=True)
            if record is None:
                continue  # sent already, being sent, or waiting to try again
            what = f"weekly digest {period.week}"
            try:
                key = f"digest.{period.week}.carer-{c.id}"
                msg = digest_message(self.build(c, period), self.cfg.email.sender, _to(c), now, key)
            except Exception as exc:  # a bug here must not keep the row "sending" for an hour
                out.append(failed(engine, record, c, now, what, exc))
                continue
            out.append(deliver(engine, self.mailer, record, c, msg, now, what))
        return out

    def sweep_alerts(self) -> list[Outcome]:
        engine = self.engine
        if engine is None or not self.cfg.email.enabled:
            return []
        from agent.digest import alerts
        from agent.digest.collect import device_names

        return alerts.sweep(
            engine,
            self.cfg.email,
            self.mailer,
            self.now(),
            self.tz,
            self.dashboard_url,
            device_names(engine),
        )

    # -- for the command line ------------------------------------------------------------------

    def send_digest_now(self, carer: Carer) -> Accepted:
        """The last 7 days, to one carer, now. Recorded as sent on request, so the status shows
        it; the weekly one still goes out. Raises MailError."""
        from agent.digest.collect import iso_week, period_for
        from agent.digest.messages import digest_message
        from agent.store.digest import record_sent_on_request

        now = self.now()
        msg = digest_message(
            self.build(carer, period_for(now)), self.cfg.email.sender, _to(carer), now, None
        )
        answer = self.mailer.send(msg)
        label = f"{iso_week(now.date())}, on request {now.astimezone(self.tz):%d %b %H:%M:%S}"
        record_sent_on_request(self._need_engine(), carer.id, label, now)
        return answer

    def build(self, carer: Carer | None, period: Period) -> Digest:
        """A carer's digest for `period`; with no carer, one about every child."""
        from agent.digest.build import build_digest
        from agent.digest.collect import carer_weeks
        from agent.store.household import list_children

        engine = self._need_engine()
        if carer is None:
            names = tuple(c.name for c in list_children(engine))
            day = WEEKDAY_NAMES.index(self.cfg.email.digest_day)
            who, when = (
                "there",
                f"{WEEKDAY_NAMES[day].capitalize()}s at {self.cfg.email.digest_time}",
            )
        else:
            names, who, when = carer.children, carer.name, carer.digest_when
        return build_digest(
            who,
            period,
            carer_weeks(engine, names, period, self.tz),
            library=self.library,
            catalog=self.catalog,
            tz=self.tz,
            dashboard_url=self.dashboard_url,
            schedule=when,
        )

    # -- parts ---------------------------------------------------------------------------------

    def now(self) -> datetime:
        return self.clock().astimezone(self.tz)

    @property
    def engine(self) -> Engine | None:
        return self._engine() if callable(self._engine) else self._engine

    def _need_engine(self) -> Engine:
        engine = self.engine
        if engine is None:
            raise RuntimeError("the database is not available")
        return engine

    @property
    def mailer(self) -> Sender:
        if self._mailer is None:
            from agent.digest.mailer import Mailer  # smtplib and email load here

            self._mailer = Mailer.from_config(self.cfg)
        return self._mailer

    @property
    def library(self) -> Library:
        if self._library is None:
            from agent.talk.prompts import default_library

            self._library = default_library()
        return self._library

    @property
    def catalog(self) -> Catalog | None:
        if self._catalog is None:
            from agent.rules.catalog import CatalogError, load_catalog

            try:
                self._catalog = load_catalog()
            except CatalogError as exc:
                log.warning("digests without app details: %s", exc)
        return self._catalog

    @property
    def dashboard_url(self) -> str:
        return dashboard_url(self.cfg)


def dashboard_url(cfg: Config) -> str:
    """`[email] dashboard_url`, else the address the dashboard listens on."""
    if cfg.email.dashboard_url:
        return cfg.email.dashboard_url
    host, port = cfg.dashboard.listen.host, cfg.dashboard.listen.port
    if host in ("0.0.0.0", "::"):
        host = f"{socket.gethostname()}.local"  # what a phone on the home network can reach
    elif ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}/"


def register_jobs(
    scheduler: Any, agent: Any, *, clock: Clock | None = None, mailer: Sender | None = None
) -> EmailJobs:
    """Add the digest and alert sweeps to an APScheduler 3 scheduler (not yet started or
    running). `agent` has `.cfg` and `.engine` (None while the database is unavailable), and
    optionally `.now` (a clock)."""
    jobs = EmailJobs(
        agent.cfg,
        lambda: agent.engine,
        clock=clock or getattr(agent, "now", None),
        mailer=mailer,
    )
    for name, fn, seconds in jobs.jobs():
        scheduler.add_job(
            _guarded(name, fn),
            "interval",
            seconds=seconds,
            id=name,
            name=name,
            max_instances=1,  # a slow mail server never piles up sends
            coalesce=True,  # runs missed while busy become one
            misfire_grace_time=None,  # a late run still runs: the sweep itself decides what is due
        )
    return jobs


def _guarded(name: str, fn: Callable[[], object]) -> Callable[[], None]:
    def run() -> None:
        try:
            fn()
        except Exception as exc:  # one failing job must not stop the others
            log.error("%s failed: %s", name, exc)

    return run


def _to(carer: Carer) -> tuple[str, str]:
    return (carer.name, carer.email)
