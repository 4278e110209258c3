"""``trialwatch evaluate``: check one patient's FHIR Bundle against a trial, offline.

Exit codes: 0 a decision was printed (whatever its status); 2 the input or the trial cannot
be used (the message names what is wrong).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shared.clinical.errors import InvalidInput
from shared.clinical.fhir import parse_fhir
from shared.clinical.state import facts_from_updates
from shared.eligibility.engine import evaluate
from shared.eligibility.loader import TrialFileError, load_trial
from shared.eligibility.report import render_text
from shared.infra.unit_aliases import UnitAliasFileError, install_site_unit_aliases
from shared.time import as_utc

ACCEPTED_BUNDLE_TYPES = ("collection", "transaction", "searchset")
USAGE_ERROR = 2


class UsageError(Exception):
    """Input that cannot be evaluated; the message is shown to the user as is."""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="evaluate one patient's FHIR R4 Bundle against a trial (offline)",
        description="Evaluate one patient's FHIR R4 Bundle (collection, transaction or "
        "searchset) against a trial version and print the decision.",
    )
    parser.add_argument("--trial", required=True, help="trial id, e.g. NCT06920433")
    parser.add_argument("--version", default=None, help="trial version (default: the latest)")
    parser.add_argument("--bundle", required=True, help="path to the Bundle JSON ('-' for stdin)")
    parser.add_argument(
        "--at", default=None, help="as-of instant, ISO-8601 with offset (default: now, UTC)"
    )
    parser.add_argument("--json", action="store_true", help="print the decision as JSON")
    parser.set_defaults(func=run)


def _parse_at(text: str | None) -> datetime:
    if text is None:
        return datetime.now(UTC)
    try:
        return as_utc(datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError as error:
        raise UsageError(f"--at {text!r}: {error} (example: 2026-03-01T09:00:00Z)") from None


def _read_bundle(path: str) -> dict[str, Any]:
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise UsageError(f"cannot read bundle {path}: {error.strerror}") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise UsageError(
            f"{path}: not JSON ({error.msg} at line {error.lineno}, column {error.colno})"
        ) from None
    if not isinstance(document, dict) or document.get("resourceType") != "Bundle":
        kind = (
            document.get("resourceType") if isinstance(document, dict) else type(document).__name__
        )
        raise UsageError(f"{path}: expected a FHIR Bundle, got resourceType {kind!r}")
    if document.get("type") not in ACCEPTED_BUNDLE_TYPES:
        raise UsageError(
            f"{path}: Bundle.type {document.get('type')!r} is not one of"
            f" {', '.join(ACCEPTED_BUNDLE_TYPES)}"
        )
    return document


def run(args: argparse.Namespace) -> int:
    try:
        as_of = _parse_at(args.at)
        install_site_unit_aliases()  # CLINICAL_UNIT_ALIASES_FILE, as intake reads it
        trial = load_trial(args.trial, args.version)
        bundle = _read_bundle(args.bundle)
        updates = parse_fhir(bundle, source_system=f"file:{Path(args.bundle).name}")
        if len(updates) != 1:
            raise UsageError(
                f"{args.bundle}: the bundle holds {len(updates)} patients;"
                " evaluate takes exactly one"
            )
        decision = evaluate(trial, facts_from_updates(updates), as_of)
    except InvalidInput as error:
        print(f"error: {args.bundle}: malformed FHIR bundle", file=sys.stderr)
        for problem in error.problems:
            print(f"  - {problem}", file=sys.stderr)
        return USAGE_ERROR
    except (UsageError, TrialFileError, UnitAliasFileError) as error:
        print(f"error: {error}", file=sys.stderr)
        return USAGE_ERROR
    if args.json:
        print(decision.model_dump_json(indent=2))
    else:
        print(render_text(decision))
    return 0
