"""``trialwatch webhooks``: the key that seals coordinators' webhook secrets at rest.

rotate-key     put a new Fernet key first in EVALUATOR_WEBHOOK_KEY_FILE (created when absent;
               older keys kept after it) and re-seal every stored secret under it
retire-keys    re-seal again, check the newest key alone opens every secret, keep only it

A running evaluator reads the key file again whenever it changes, so deliveries keep working
through both steps; the secrets are opened and sealed in memory only, never written in clear.
Needs the evaluator's database (EVALUATOR_DATABASE_URL) and key file, not the broker.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from services.evaluator import admin
from shared.settings import EvaluatorSettings


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "webhooks", help="webhook secret keys: rotate-key, retire-keys",
        description="Coordinators' webhook secrets are stored sealed (Fernet) under the keys of "
                    "EVALUATOR_WEBHOOK_KEY_FILE, newest first. Rotate: rotate-key, then, once "
                    "it reports every secret re-sealed, retire-keys.",
    )
    tools = parser.add_subparsers(dest="webhooks_command", required=True, metavar="ACTION")
    rotate = tools.add_parser("rotate-key", help="add a new key and re-seal every secret")
    _common(rotate)
    rotate.set_defaults(func=_rotate)
    retire = tools.add_parser("retire-keys", help="keep only the newest key (after rotate-key)")
    _common(retire)
    retire.set_defaults(func=_retire)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--database-url", default=None,
                        help="the evaluator's database (default: EVALUATOR_DATABASE_URL)")
    parser.add_argument("--key-file", type=Path, default=None,
                        help="the webhook key file (default: EVALUATOR_WEBHOOK_KEY_FILE)")


def _targets(args: argparse.Namespace) -> tuple[str, Path]:
    settings = EvaluatorSettings()
    return (args.database_url or settings.database_url,
            args.key_file or settings.webhook_key_path())


def _rotate(args: argparse.Namespace) -> int:
    database_url, key_file = _targets(args)
    try:
        done = asyncio.run(admin.rotate_webhook_key(database_url, key_file))
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"{key_file}: new key added first ({done.keys} key(s) in the file)")
    if not done.migrated:
        print("the evaluator database is not at the newest schema: `trialwatch migrate` seals "
              "its stored secrets with the new key")
        return 0
    print(f"re-sealed {done.resealed} webhook secret(s) under the new key")
    _unreadable(done)
    if done.keys > 1:
        print("the older key(s) still open nothing stored here; remove them with "
              "`trialwatch webhooks retire-keys` (after every evaluator sharing the key file "
              "has seen the new one)")
    return 0


def _retire(args: argparse.Namespace) -> int:
    database_url, key_file = _targets(args)
    try:
        done = asyncio.run(admin.retire_webhook_keys(database_url, key_file))
    except (admin.KeysStillInUse, admin.MissingKeyFile, ValueError) as error:
        print(f"error: {error}; nothing removed", file=sys.stderr)
        return 2
    print(f"{key_file}: only the newest key kept; {done.resealed} webhook secret(s) sealed "
          "under it")
    _unreadable(done)
    return 0


def _unreadable(done: admin.KeyRotation) -> None:
    if done.unreadable:
        print(f"{len(done.unreadable)} webhook(s) hold a secret no key opens (their deliveries "
              f"fail; register them again): {', '.join(done.unreadable[:10])}")
