"""The jobs process's one scheduler: periodic jobs, one-off jobs one at a time, failures logged."""

from __future__ import annotations

import logging
import threading
from zoneinfo import ZoneInfo

import pytest

from agent.ops.scheduler import Scheduler

from waiting import wait_for

TZ = ZoneInfo("Europe/London")


@pytest.fixture
def scheduler():
    s = Scheduler(TZ)
    yield s
    s.shutdown()


def test_a_failing_job_is_logged_and_the_others_keep_running(scheduler, caplog):
    caplog.set_level(logging.ERROR, "houserules.jobs")
    ran = threading.Event()

    def broken() -> None:
        raise RuntimeError("the disk is full")

    scheduler.every("broken", broken, 1.0)
    scheduler.every("fine", ran.set, 1.0)
    assert scheduler.names == ["broken", "fine"]
    scheduler.start()
    wait_for(ran.is_set, "the healthy job's first run")
    wait_for(lambda: "broken failed: the disk is full" in caplog.text, "the failure in the log")
    ran.clear()
    wait_for(ran.is_set, "the healthy job's next run")


def test_a_one_off_job_runs_once_and_one_at_a_time(scheduler):
    started, release, runs = threading.Event(), threading.Event(), []

    def update() -> None:
        runs.append(1)
        started.set()
        release.wait(60)

    assert scheduler.run_soon("lists update", update)  # starts the scheduler if need be
    wait_for(started.is_set, "the one-off job to start")
    assert not scheduler.run_soon("lists update", update)  # pressed twice: one update
    release.set()
    wait_for(lambda: scheduler.run_soon("lists update", lambda: None), "the first run to end")
    assert runs == [1]


def test_a_failing_one_off_job_can_be_started_again(scheduler):
    def broken() -> None:
        raise RuntimeError("no network")

    assert scheduler.run_soon("lists update", broken)
    wait_for(lambda: scheduler.run_soon("lists update", lambda: None), "the failed run to end")


def test_a_one_off_job_asked_for_after_shutdown_is_not_run(caplog):
    """The household lease can be gained while the jobs process stops: the jobs it would start
    are not run, and the stopped scheduler is not started again."""
    caplog.set_level(logging.ERROR)
    s = Scheduler(TZ)
    first = threading.Event()
    assert s.run_soon("insights", first.set)
    wait_for(first.is_set, "a one-off job before shutdown")
    wait_for(lambda: not s._aps.get_jobs(), "the one-off job run and gone")
    s.shutdown()
    late = threading.Event()
    assert not s.run_soon("insights", late.set)
    assert not s._aps.running
    assert not late.is_set() and "Error" not in caplog.text
