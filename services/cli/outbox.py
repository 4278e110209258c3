"""``trialwatch outbox``: the outbox dead letters of intake and the evaluator, for an operator.

list     every unresolved dead letter: id, surrogate patient key, topic, reason, stored size,
         when, and how many of that patient's rows are held behind it (--all: resolved too)
release  resolve one dead letter, with a reason that is kept beside it:
         (default) retry: tried again in its place by the running service's relay, once the
                   change that lets it through is made (a larger KAFKA_MAX_REQUEST_SIZE for
                   the service, and a restart); refused while it is still larger than the
                   KAFKA_MAX_REQUEST_SIZE the service recorded in its database when it last
                   started (without one: this command's own environment's, said so); the
                   value checked against, and where it came from, is printed
         --drop:   never published; recorded with the reason and who dropped it, left out of
                   every broker refill; the rows held behind it flow

Only through each service's admin.py; needs the service's database, not the broker. Nothing
printed here identifies a patient: keys are surrogate keys, and no payload is ever shown.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

from services.evaluator import admin as evaluator_admin
from services.intake import admin as intake_admin
from shared.infra.clock import utc_now
from shared.infra.outbox_sql import DeadLetterEntry, DeadLetterRefused, ReleaseAction
from shared.infra.runtime_settings import RecordedSetting
from shared.infra.sql_engine import existing_database
from shared.settings import EvaluatorSettings, IntakeSettings, KafkaSettings

OK, REFUSED = 0, 2
SERVICES = ("intake", "evaluator")

Listing = Callable[..., Coroutine[Any, Any, list[DeadLetterEntry]]]
Resolving = Callable[..., Coroutine[Any, Any, DeadLetterEntry]]


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "outbox", help="outbox dead letters: list them, retry or drop one (with a reason)",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = parser.add_subparsers(dest="outbox_command", required=True, metavar="ACTION")

    listing = actions.add_parser("list", help="the dead letters and the rows held behind each")
    _common(listing)
    listing.add_argument("--all", action="store_true",
                         help="resolved dead letters too, with how and why")
    listing.set_defaults(func=_list)

    release = actions.add_parser(
        "release", help="retry a dead letter in its place, or --drop it; a reason is required")
    release.add_argument("id", type=int, help="the dead letter's id (first column of list)")
    _common(release)
    release.add_argument("--reason", required=True,
                         help="why (kept with the dead letter, e.g. a ticket number)")
    release.add_argument("--drop", action="store_true",
                         help="never publish this row; the rows held behind it flow")
    release.add_argument("--actor", default=None,
                         help="who decides (default cli:<login name>)")
    release.set_defaults(func=_release)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--service", required=True, choices=SERVICES,
                        help="whose outbox: intake (patient updates) or evaluator (decisions, "
                             "snapshots, alerts, coordinator actions)")
    parser.add_argument("--database-url",
                        help="the service's database (INTAKE_DATABASE_URL or "
                             "EVALUATOR_DATABASE_URL)")


def _database_url(args: argparse.Namespace) -> str:
    if args.service == "intake":
        return existing_database(str(args.database_url or IntakeSettings().database_url),
                                 "INTAKE_DATABASE_URL or --database-url")
    return existing_database(str(args.database_url or EvaluatorSettings().database_url),
                             "EVALUATOR_DATABASE_URL or --database-url")


def _admin(service: str) -> tuple[Listing, Resolving]:
    if service == "intake":
        return intake_admin.outbox_dead_letters, intake_admin.resolve_outbox_dead_letter
    return evaluator_admin.outbox_dead_letters, evaluator_admin.resolve_outbox_dead_letter


def _list(args: argparse.Namespace) -> int:
    listing, _ = _admin(args.service)
    entries = asyncio.run(listing(_database_url(args), include_resolved=args.all))
    if not entries:
        print(f"{args.service}: no {'' if args.all else 'unresolved '}outbox dead letters")
        return OK
    rows = [("ID", "KEY", "TOPIC", "SIZE", "DEAD-LETTERED (UTC)", "HELD", "REASON")]
    rows += [(f"{e.id}", e.key, e.topic, _size(e.size_bytes), _when(e.dead_lettered_at),
              f"{e.held_behind}", e.reason) for e in entries]
    widths = [max(len(row[i]) for row in rows) for i in range(6)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False))
              + "  " + row[6])
    for e in entries:
        if e.released_at is not None:
            print(f"#{e.id}: {e.release_action} at {_when(e.released_at)} by {e.released_by}: "
                  f"{e.release_reason}")
    held = sum(e.held_behind for e in entries)
    print(f"{sum(e.released_at is None for e in entries)} unresolved; {held} row(s) held "
          f"behind them. Resolve one: trialwatch outbox release ID --service {args.service} "
          "--reason TEXT [--drop]")
    return OK


def _release(args: argparse.Namespace) -> int:
    _, resolving = _admin(args.service)
    action: ReleaseAction = "drop" if args.drop else "retry"
    actor = str(args.actor or f"cli:{getpass.getuser()}")
    database_url = _database_url(args)
    # the relay's producer reads KAFKA_MAX_REQUEST_SIZE from the service's environment, which
    # the service records in its database at each start: check a retry against that value
    recorded = asyncio.run(_recorded_limit(args.service)(database_url))
    limit, source = _limit(args.service, recorded)
    checked = (f"a retry's size was checked against KAFKA_MAX_REQUEST_SIZE = {limit:,} bytes "
               f"({source})")
    try:
        entry = asyncio.run(resolving(
            database_url, args.id, action, reason=args.reason, by=actor, at=utc_now(),
            limit_bytes=limit))
    except DeadLetterRefused as refused:
        print(f"refused: {refused}", file=sys.stderr)
        if action == "retry":
            print(checked, file=sys.stderr)
        return REFUSED
    if action == "drop":
        print(f"dropped #{entry.id} ({entry.topic}, key {entry.key}): it will never be "
              f"published; recorded with your reason. The {entry.held_behind} row(s) held "
              f"behind it are sent by the running {args.service} within its next relay round.")
    else:
        print(f"released #{entry.id} ({entry.topic}, key {entry.key}) for a retry: the running "
              f"{args.service} sends it in its place, then the {entry.held_behind} row(s) held "
              "behind it. If the broker still refuses it, it is dead-lettered again (a new "
              "entry in `trialwatch outbox list`).")
        print(checked)
    return OK


def _recorded_limit(service: str) -> Callable[[str], Coroutine[Any, Any, RecordedSetting | None]]:
    if service == "intake":
        return intake_admin.recorded_max_request_size
    return evaluator_admin.recorded_max_request_size


def _limit(service: str, recorded: RecordedSetting | None) -> tuple[int, str]:
    """The limit (bytes) a retry is checked against, and a sentence saying where it came from:
    what the service recorded in its database when it last started, else this command's own
    environment (KAFKA_MAX_REQUEST_SIZE, or its default), said to be a fallback."""
    if recorded is not None:
        try:
            return int(recorded.value), (
                f"recorded by the {service} service in its database when it started at "
                f"{_when(recorded.recorded_at)} ({recorded.recorded_by}); a restart with "
                "another value records that one")
        except ValueError:
            pass
    own = KafkaSettings().max_request_size
    where = ("as set in this command's environment" if os.environ.get("KAFKA_MAX_REQUEST_SIZE")
             else "the default: KAFKA_MAX_REQUEST_SIZE is not set in this command's "
                  "environment")
    return own, (f"{where}; the {service} service has recorded no limit in its database "
                 "(it records the one it runs with at each start, from this version on: "
                 "start it once), so its relay may use another")


def _size(size: int | None) -> str:
    return "?" if size is None else f"{size:,} B"


def _when(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
