"""The core commands: init, run, check-config, lists update."""

from __future__ import annotations

import argparse
import sys

from agent import config_checks
from agent.cli import CliError
from agent.config import Config
from agent.lists import job as lists_job
from agent.rules.catalog import load_catalog
from agent.store import db
from agent.store.migrate import migrate


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("init", help="create the database and compile the lists")
    p.set_defaults(func=cmd_init)
    p = sub.add_parser("run", help="start the DNS filter (and its background jobs)")
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("check-config", help="check the config file without starting")
    p.set_defaults(func=cmd_check_config)
    lists = sub.add_parser("lists", help="blocklists")
    lsub = lists.add_subparsers(dest="lists_command", metavar="ACTION", required=True)
    p = lsub.add_parser("update", help="fetch and compile every list source now")
    p.set_defaults(func=cmd_lists_update)


def _open_db(cfg: Config) -> None:
    try:
        result = migrate(db.make_engine(cfg.database_url))
    except db.StoreError as exc:  # MigrationError included: the old database is untouched
        raise CliError(str(exc)) from None
    if result.applied or result.stamped:
        print(result.summary())


def cmd_init(cfg: Config, args: argparse.Namespace) -> int:
    _open_db(cfg)
    where = cfg.database_path or db.shown(cfg.store.url)
    print(f"database ready: {where}")
    return _compile_and_say(cfg)


def _compile_and_say(cfg: Config) -> int:
    """Compile the lists now and say how it went: 0 unless a list is broken (downloads that
    could not be made yet are said, and tried again by the running box)."""
    report = lists_job.compile_now(cfg, load_catalog())
    for line in report.lines:
        print(line)
    if report.waiting:
        print(
            f"not downloaded yet: {', '.join(report.waiting)}. HouseRules starts with the lists "
            "it has and downloads these when the box reaches the internet "
            f"(tried again every {cfg.blocklists.refresh_hours:g} hours)."
        )
    return 0 if report.usable else 1


def cmd_run(cfg: Config, args: argparse.Namespace) -> int:
    """Become the DNS process: exec a fresh interpreter running `agent.ops.runner`, so the
    process that answers every query carries none of what the other commands imported."""
    print(f"HouseRules starting with {cfg.source}", file=sys.stderr)
    from agent.ops.lean import become_dns_process

    become_dns_process(cfg.source if cfg.source != "built-in defaults" else None, args.verbose)
    return 0  # not reached


def cmd_check_config(cfg: Config, args: argparse.Namespace) -> int:
    """Loading the config ran every check `run` runs (`agent.config_checks`); this adds what
    `run` survives but a parent wants to know about: missing list files (the list is left out),
    and a PostgreSQL that refuses HouseRules (the jobs and dashboard could never start) or does
    not answer now (a warning: the DNS keeps answering with the last rules it has)."""
    problems = []
    for source in cfg.blocklists.sources:
        if source.path is not None and not cfg.resolve(source.path).is_file():
            problems.append(
                f"blocklists source {source.name!r}: file not found: {cfg.resolve(source.path)}"
            )
    if cfg.mqtt.enabled and cfg.mqtt.credentials_file is not None:
        from agent.ops.homeassistant import MqttError, read_credentials

        try:
            read_credentials(cfg.resolve(cfg.mqtt.credentials_file))
        except MqttError as exc:
            problems.append(f"mqtt.credentials_file: {exc}")
    warnings = config_checks.warnings(cfg)
    if db.is_postgres(cfg.store.url):
        found = db.postgres_problem(cfg.store.url)
        if found is not None and found[1]:
            problems.append(f"store.url: PostgreSQL refused HouseRules: {found[0]}")
        elif found is not None:
            warnings.append(
                f"[store.url] PostgreSQL does not answer now ({found[0]}): the DNS answers "
                "with the last rules it has, and the dashboard and jobs wait for the database"
            )
    for line in problems:
        print(f"houserules: {cfg.source}: {line}", file=sys.stderr)
    if problems:
        return 2
    for line in warnings:
        print(f"houserules: warning: {cfg.source}: {line}", file=sys.stderr)
    listen = ", ".join(str(hp) for hp in cfg.dns.listen)
    print(f"{cfg.source}: OK (DNS on {listen}; {len(cfg.blocklists.sources)} list sources)")
    return 0


def cmd_lists_update(cfg: Config, args: argparse.Namespace) -> int:
    return _compile_and_say(cfg)
