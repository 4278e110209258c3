"""``trialwatch audit verify`` and ``trialwatch audit replay``: the auditor's offline tools.

verify  walks the hash chain and the signed checkpoints: exit 0 intact, 1 tampered,
        2 when it cannot run (bad arguments, database unreachable).
replay  re-runs the criteria engine on a stored decision's snapshot, trial version and as-of
        time: exit 0 identical, 1 different, 2 when it cannot run (unknown id, no engine).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import uuid
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from services.audit import admin
from services.audit.admin import (
    EngineUnavailable,
    Expectations,
    VerificationReport,
    engine_for_text,
    installed_engine,
    parse_checkpoint_key,
    recorded_tables_hash,
    replay,
)
from shared.eligibility.reference_tables import Tables
from shared.infra.clock import utc_now
from shared.infra.signing import TrustedKeys
from shared.infra.sql_engine import existing_database, make_engine
from shared.settings import AuditSettings

INTACT, TAMPERED, CANNOT_RUN = 0, 1, 2


def register(audit_subparsers: argparse._SubParsersAction) -> None:
    verify = audit_subparsers.add_parser(
        "verify", help="check the audit chain against the signed checkpoints",
        description="Walk every audit record's hash chain and hold it against the signed "
                    "checkpoints. Prints 'intact up to record N' or the first record altered, "
                    "removed or reordered. Exit 0 intact, 1 tampered, 2 could not verify.",
    )
    _database_options(verify)
    verify.add_argument("--checkpoint-dir", type=Path,
                        help="signed checkpoints (default AUDIT_CHECKPOINT_DIR)")
    verify.add_argument("--public-key", type=Path,
                        help="Ed25519 public key the checkpoints must be signed with "
                             "(default AUDIT_VERIFY_KEY_FILE, else beside the signing key)")
    verify.add_argument("--min-head", type=int, metavar="N",
                        help="the chain had at least N records (noted earlier, or from a "
                             "replica): a newest checkpoint signing fewer is reported stale")
    verify.add_argument("--max-age", type=_duration, metavar="DURATION",
                        help="the newest checkpoint must be younger than this (e.g. 300s, "
                             "10m, 2h, 1d; a few AUDIT_CHECKPOINT_INTERVAL_S): older is stale, "
                             "as when the later checkpoint files were deleted")
    verify.add_argument("--min-checkpoint", type=_checkpoint_key, metavar="SEQ[-ACCESS[-ACTION]]",
                        help="a checkpoint known to have been written: its file name (or the "
                             "numbers in it, e.g. 48-7-1: records, access entry id, coordinator "
                             "action), noted off the audit host (copied, logged or listed "
                             "there). A newest trusted checkpoint signing fewer records, access "
                             "entries or actions is reported stale: later checkpoints were "
                             "deleted, e.g. with the access entries or actions they alone "
                             "signed, which --min-head cannot see")
    verify.add_argument("--state", type=Path, metavar="FILE",
                        help="incremental: resume after the checkpoint where the last intact "
                             "walk recorded in FILE ended, rehash only the records after it, "
                             "and record the new end there (keep FILE where the audit host "
                             "cannot write). Without it every record is rehashed")
    verify.add_argument("--full", action="store_true",
                        help="with --state: rehash every record anyway (run one now and then: "
                             "an incremental walk does not see changes to records it "
                             "verified before), then record the new end in FILE")
    verify.add_argument("--decision-key", type=Path, action="append", metavar="PEM",
                        help="an evaluator public key (or a folder of *.pub.pem) decisions may "
                             "be signed with; repeatable (default AUDIT_DECISION_KEYS and "
                             "AUDIT_RETIRED_DECISION_KEYS): every record's signature is checked")
    verify.add_argument("--intake-key", type=Path, action="append", metavar="PEM",
                        help="an intake public key (or a folder of *.pub.pem) re-identifications "
                             "may be signed with; repeatable (default AUDIT_INTAKE_KEYS and "
                             "AUDIT_RETIRED_INTAKE_KEYS): every re-identification in the access "
                             "log is checked against its stored signature")
    verify.add_argument("--signatures", choices=("unvouched", "all"), default="unvouched",
                        help="unvouched (default): verify the Ed25519 signature of each signed "
                             "record no trusted checkpoint vouches for (the service checks "
                             "each record's signature before it signs the record's hash in a "
                             "checkpoint; a vouched record must still hash to exactly that "
                             "signed hash, by a key still trusted here); all: verify every "
                             "record's signature again (an occasional deep check)")
    verify.add_argument("--workers", type=int, default=None, metavar="N",
                        help="processes that rehash the records and check their signatures, "
                             "in chunks of each batch read (1: in this process; default: the "
                             "CPUs, at most 4, with --signatures all, else 1: without an "
                             "Ed25519 verification per record, sending the rows to other "
                             "processes costs about what checking them here does); a few "
                             "records are checked here anyway")
    verify.add_argument("--json", action="store_true", help="print the full report as JSON")
    verify.set_defaults(func=_verify)

    replay_parser = audit_subparsers.add_parser(
        "replay", help="re-run the criteria engine on a stored decision",
        description="Re-evaluate a stored decision from its stored input snapshot, trial "
                    "version and as-of time; confirm the identical result or print the "
                    "differences. Exit 0 identical, 1 different, 2 could not replay.",
    )
    replay_parser.add_argument("decision_id", metavar="DECISION_ID", type=uuid.UUID)
    _database_options(replay_parser)
    replay_parser.add_argument("--json", action="store_true", help="print the result as JSON")
    replay_parser.add_argument(
        "--registry-database-url",
        help="the evaluator database holding the trial registry (EVALUATOR_DATABASE_URL); the "
             "trial version is found there by id, version and content hash, else in the trial "
             "folders (EVALUATOR_TRIALS_DIR, the shipped files) by the same hash; so are the "
             "reference tables the decision names (table_version.content_hash), else in "
             "shared/trials/tables by the same hash")
    replay_parser.set_defaults(func=_replay)


def _database_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--database-url", help="audit database (default AUDIT_DATABASE_URL)")


def _verify(args: argparse.Namespace) -> int:
    settings = AuditSettings()
    url = existing_database(args.database_url or settings.database_url,
                            "AUDIT_DATABASE_URL or --database-url")
    checkpoint_dir = args.checkpoint_dir or settings.checkpoint_dir
    public_key = args.public_key or settings.verify_key_path()
    expectations = Expectations(now=utc_now(), min_head=args.min_head,
                                max_age=args.max_age, min_checkpoint=args.min_checkpoint)
    keys = TrustedKeys(args.decision_key or (*settings.decision_key_paths(),
                                             *settings.retired_decision_key_paths()))
    intake_keys = TrustedKeys(args.intake_key or (*settings.intake_key_paths(),
                                                  *settings.retired_intake_key_paths()))
    try:
        verification = asyncio.run(admin.verify(url, checkpoint_dir, public_key, expectations,
                                                keys, state=args.state, full=args.full,
                                                workers=args.workers or (
                                                    min(4, os.cpu_count() or 1)
                                                    if args.signatures == "all" else 1),
                                                signatures=args.signatures,
                                                intake_keys=intake_keys))
    except Exception as error:  # the tool reports why it could not verify, never a traceback
        print(f"could not verify: {type(error).__name__}: {error}", file=sys.stderr)
        return CANNOT_RUN
    report = verification.report
    if args.json:
        print(report.model_dump_json(indent=2))
    else:
        print(_verify_text(report))
        if verification.resumed_at is not None:
            print(f"incremental: records 1..{verification.resumed_at} were verified by an "
                  f"earlier walk ({args.state}); --full rehashes them too")
    return INTACT if report.intact else TAMPERED


def _duration(text: str) -> timedelta:
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    number, unit = (text[:-1], text[-1]) if text[-1:] in units else (text, "s")
    try:
        seconds = float(number) * units[unit]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r}") from None
    if not 0 < seconds < 10 * 365 * 86400:
        raise argparse.ArgumentTypeError(f"not a usable duration: {text!r}")
    return timedelta(seconds=seconds)


def _checkpoint_key(text: str) -> tuple[int, int, int]:
    """``--min-checkpoint``: the numbers or a checkpoint file's name, given with its folder or
    not (``checkpoints.parse_checkpoint_key``, as ``GET /verify?min_checkpoint=`` reads it)."""
    try:
        return parse_checkpoint_key(Path(text).name)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{error}: {text!r}") from None


def _verify_text(report: VerificationReport) -> str:
    lines = [("INTACT: " if report.intact else "TAMPERED: ") + report.summary,
             f"records checked: {report.records_checked}; signed checkpoints trusted: "
             f"{report.checkpoints_trusted}, chain matches them up to record "
             f"{report.covered_by_checkpoint_up_to}"]
    if report.intact and report.head_sequence > report.covered_by_checkpoint_up_to:
        lines.append(f"records {report.covered_by_checkpoint_up_to + 1}..{report.head_sequence} "
                     "are newer than the last checkpoint: chain-checked only")
    lines.append(f"access log entries checked: {report.access_entries_checked} "
                 f"({report.access_legacy_entries} unchained legacy, before the chain began); "
                 f"re-identifications signature-checked: {report.reidentifications_checked} "
                 f"({report.reidentifications_unsigned_legacy} unsigned legacy)")
    lines.append(f"coordinator actions checked: {report.actions_checked} "
                 f"({report.actions_legacy} unchained legacy, signature-checked only)")
    return "\n".join(lines)


def _replay(args: argparse.Namespace) -> int:
    url = existing_database(args.database_url or AuditSettings().database_url,
                            "AUDIT_DATABASE_URL or --database-url")
    try:
        evaluate = installed_engine()
        found = asyncio.run(_load_for_replay(url, args.decision_id))
    except EngineUnavailable as error:
        print(f"could not replay: {error}", file=sys.stderr)
        return CANNOT_RUN
    if found is None:
        print(f"could not replay: no stored decision {args.decision_id}", file=sys.stderr)
        return CANNOT_RUN
    row, snapshot = found
    if snapshot is None:
        print(f"could not replay: the input snapshot {row['snapshot_hash']} of decision "
              f"{args.decision_id} is not stored (audit verify reports it snapshot-missing)",
              file=sys.stderr)
        return CANNOT_RUN
    tables_digest = recorded_tables_hash(row["decision"])
    tables = None
    if tables_digest is not None:
        try:
            tables = asyncio.run(_recorded_tables(args, tables_digest))
        except ValueError as error:  # stored texts that no longer hash to the digest
            print(f"could not replay: {error}", file=sys.stderr)
            return CANNOT_RUN
        if tables is None:
            print(f"could not replay: decision {args.decision_id} was compiled against the "
                  f"reference tables {tables_digest}, found neither in the evaluator's registry "
                  "database (--registry-database-url) nor in shared/trials/tables",
                  file=sys.stderr)
            return CANNOT_RUN
        evaluate = installed_engine(tables)
    if row.get("trial_content_hash"):
        try:
            text = asyncio.run(_trial_text(args, row))
        except Exception as error:  # the registry database may be unreachable from here
            print(f"could not replay: the trial registry: {type(error).__name__}: {error}",
                  file=sys.stderr)
            return CANNOT_RUN
        if text is None:
            print(f"could not replay: no trial text {row['trial_id']} {row['trial_version']} "
                  f"with hash {row['trial_content_hash']} in the registry or the trial folders",
                  file=sys.stderr)
            return CANNOT_RUN
        evaluate = engine_for_text(text, tables)
    try:
        result = replay(row["decision"], snapshot, row["trial_id"], row["trial_version"],
                        row["as_of"], evaluate)
    except Exception as error:  # e.g. the trial version is no longer installed
        print(f"could not replay: {type(error).__name__}: {error}", file=sys.stderr)
        return CANNOT_RUN
    tables_note = (f"reference tables: {result.tables_hash}, as recorded by the decision"
                   if result.tables_hash else
                   "reference tables: today's (shared/trials/tables); the decision records no "
                   "table_version.content_hash, so the tables it was made with are not known")
    if args.json:
        print(json.dumps({"decision_id": str(args.decision_id), "identical": result.identical,
                          "differences": result.differences,
                          "tables_hash": result.tables_hash, "tables": tables_note}, indent=2))
    elif result.identical:
        print(f"IDENTICAL: decision {args.decision_id} ({row['trial_id']} "
              f"{row['trial_version']}, as of {row['as_of'].isoformat()}) reproduces exactly")
        print(tables_note)
    else:
        print(f"DIFFERENT: decision {args.decision_id} does not reproduce:")
        for difference in result.differences:
            print(f"  {difference}")
        print(tables_note)
    return INTACT if result.identical else TAMPERED


async def _trial_text(args: argparse.Namespace, row: dict[str, Any]) -> str | None:
    """The exact text the decision was made with: the registry (by id, version and hash),
    else a trial folder file with the same hash."""
    from services.evaluator.admin import text_by_hash
    from shared.eligibility.decision import TrialRef
    from shared.eligibility.loader import TRIALS_DIR
    from shared.eligibility.trial_text import content_hash
    from shared.settings import EvaluatorSettings

    settings = EvaluatorSettings()
    trial = TrialRef(id=row["trial_id"], version=row["trial_version"])
    digest = row["trial_content_hash"]
    engine = make_engine(args.registry_database_url or settings.database_url)
    try:
        async with engine.connect() as connection:
            from sqlalchemy.ext.asyncio import AsyncSession

            async with AsyncSession(bind=connection) as session:
                text = await text_by_hash(session, trial, digest)
    except Exception as error:  # no registry reachable: the folders may still hold the text
        print(f"note: trial registry not read ({type(error).__name__}); "
              "looking in the trial folders", file=sys.stderr)
        text = None
    finally:
        await engine.dispose()
    if text is not None:
        return text
    for folder in (settings.trials_dir, TRIALS_DIR):
        path = folder / trial.id / f"{trial.version}.yaml" if folder else None
        if path is not None and path.is_file():
            candidate = path.read_text(encoding="utf-8")
            if content_hash(candidate) == digest:
                return candidate
    return None


async def _recorded_tables(args: argparse.Namespace, digest: str) -> Tables | None:
    """The reference tables with ``digest``: the evaluator's registry database (stored there
    by each evaluator start), else ``shared/trials/tables`` while its files have that hash.
    Raises ``ValueError`` when the registry's stored texts do not hash to ``digest``."""
    from services.evaluator.admin import tables_by_hash
    from shared.eligibility.reference_tables import (
        read_table_texts,
        tables_from_texts,
        tables_hash,
    )
    from shared.settings import EvaluatorSettings

    texts: dict[str, str] | None = None
    engine = make_engine(args.registry_database_url or EvaluatorSettings().database_url)
    try:
        async with engine.connect() as connection:
            from sqlalchemy.ext.asyncio import AsyncSession

            async with AsyncSession(bind=connection) as session:
                texts = await tables_by_hash(session, digest)
    except ValueError:
        raise
    except Exception as error:  # no registry reachable: the folder may still hold the tables
        print(f"note: trial registry not read for the reference tables "
              f"({type(error).__name__}); looking in shared/trials/tables", file=sys.stderr)
    finally:
        await engine.dispose()
    if texts is None:
        try:
            folder = read_table_texts()
        except OSError:
            return None
        texts = folder if tables_hash(folder) == digest else None
    return tables_from_texts(texts) if texts is not None else None


async def _load_for_replay(url: str, decision_id: uuid.UUID,
                           ) -> tuple[dict[str, Any], str | None] | None:
    return await admin.load_for_replay(url, decision_id)


def main(argv: Sequence[str] | None = None) -> int:
    """Standalone entry: ``python -m services.cli.audit_tools verify|replay ...``."""
    parser = argparse.ArgumentParser(prog="trialwatch audit")
    register(parser.add_subparsers(dest="audit_command", required=True, metavar="TOOL"))
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
