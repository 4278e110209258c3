"""``trialwatch evaluate``: check one patient's record against a trial, offline.

The record is a FHIR Bundle (``--bundle``) or any number of FHIR R4 JSON and HL7 v2 files
(``--input FILE...``, read in order, format detected, see ``services.cli.inputs``), through the
same normaliser intake uses. ``--explain-input`` prints how each element was read (as sent ->
canonical, or why not); without ``--trial`` it prints only that.

Exit codes: 0 a decision (or the explanation) was printed, whatever the status; 2 the input or
the trial cannot be used (the message names each refused element with its path and reason).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from services.cli.evaluate_args import register as register
from services.cli.explain import render_inputs
from services.cli.inputs import InputError, ReadInput, read_inputs
from shared.clinical.errors import InvalidInput
from shared.clinical.facts import PatientUpdate
from shared.clinical.fhir import parse_fhir
from shared.clinical.state import facts_from_updates
from shared.eligibility.engine import evaluate
from shared.eligibility.loader import TrialFileError, load_trial
from shared.eligibility.readable import concept_labels
from shared.eligibility.report import render_text
from shared.infra.clock import utc_now
from shared.infra.local_codes import LocalCodesFileError, install_site_local_codes
from shared.infra.medication_codes import install_site_medication_codes
from shared.infra.unit_aliases import UnitAliasFileError, install_site_unit_aliases
from shared.settings import processing_id_set
from shared.time import as_utc

ACCEPTED_BUNDLE_TYPES = ("collection", "transaction", "searchset")
USAGE_ERROR = 2


class UsageError(Exception):
    """Input that cannot be evaluated; the message is shown to the user as is."""


def _parse_at(text: str | None) -> datetime:
    if text is None:
        return utc_now()
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


def _zone(name: str | None) -> tzinfo | None:
    if name is None:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise UsageError(f"--hl7-zone {name!r} is not an IANA time zone (e.g. America/New_York)")\
            from None


def _processing_ids(text: str) -> frozenset[str]:
    """``--hl7-processing-ids`` read as intake reads INTAKE_HL7V2_PROCESSING_IDS."""
    try:
        return processing_id_set(text)
    except ValueError as error:
        raise UsageError(f"--hl7-processing-ids {text!r}: {error}") from None


def _bundle_updates(path: str) -> list[PatientUpdate]:
    bundle = _read_bundle(path)
    try:
        updates = parse_fhir(bundle, source_system=f"file:{Path(path).name}")
    except InvalidInput as error:
        raise InputError(f"{path}: malformed FHIR bundle", error.problems) from None
    if len(updates) != 1:
        raise UsageError(f"{path}: the bundle holds {len(updates)} patients; evaluate takes"
                         " exactly one")
    return updates


def _one_patient(inputs: list[ReadInput]) -> list[PatientUpdate]:
    """Every update, in order; each input must be about one patient (ids are never printed)."""
    for read in inputs:
        patients = {u.source_patient_id for u in read.updates if u.source_patient_id}
        if len(patients) > 1:
            raise UsageError(f"{read.label}: holds {len(patients)} patients; evaluate takes one")
    named = {(u.source_system, u.source_patient_id) for r in inputs for u in r.updates
             if u.source_patient_id}
    updates = [update for read in inputs for update in read.updates]
    if len(named) > 1:
        _same_person(updates)
        print(f"note: the inputs name {len(named)} patient identifiers (not shown); they are"
              " evaluated as one patient", file=sys.stderr)
    return updates


def _same_person(updates: list[PatientUpdate]) -> None:
    """Refuse inputs under several identifiers whose demographics disagree.

    Two sources may name one patient differently (an MRN in HL7 v2 PID-3, a FHIR Patient id),
    so several identifiers alone are not refused; but a birth date (FHIR Patient.birthDate,
    HL7 v2 PID-7) or an administrative sex (Patient.gender, PID-8) that differs between them
    means they describe different people, and evaluating them as one would take age and sex
    from whichever file came last. The values are not printed (they identify the patient).
    """
    known = [u.demographics for u in updates if u.demographics is not None]
    births = {d.birth_date for d in known if d.birth_date is not None}
    sexes = {d.sex for d in known if d.sex is not None}
    disagree = [name for name, found in (("birth date", births), ("sex", sexes)) if len(found) > 1]
    if disagree:
        raise UsageError(
            f"the inputs name several patients whose {' and '.join(disagree)} differ (values not"
            " shown): they describe different people; evaluate one patient's files at a time"
        )


def run(args: argparse.Namespace) -> int:
    try:
        as_of = _parse_at(args.at)
        install_site_unit_aliases()  # CLINICAL_UNIT_ALIASES_FILE, as intake reads it
        install_site_local_codes()  # CLINICAL_LOCAL_CODES_FILE, as intake reads it
        install_site_medication_codes()  # CLINICAL_MEDICATION_CODES_FILE, likewise
        if args.trial is None and not args.explain_input:
            raise UsageError("--trial is required (e.g. --trial NCT06920433), unless only "
                             "--explain-input is wanted")
        trial = load_trial(args.trial, args.version) if args.trial else None
        if args.input:
            inputs = read_inputs(args.input, _zone(args.hl7_zone),
                                 _processing_ids(args.hl7_processing_ids))
            updates = _one_patient(inputs)
        else:
            updates = _bundle_updates(args.bundle)
            inputs = [ReadInput(Path(args.bundle).name, "fhir-r4", tuple(updates))]
        decision = evaluate(trial, facts_from_updates(updates), as_of) if trial else None
    except InputError as error:
        for refusal in error.each():
            print(f"error: {refusal}", file=sys.stderr)
            for problem in refusal.problems:
                print(f"  - {problem}", file=sys.stderr)
        return USAGE_ERROR
    except (UsageError, TrialFileError, UnitAliasFileError, LocalCodesFileError) as error:
        print(f"error: {error}", file=sys.stderr)
        return USAGE_ERROR
    if args.explain_input:
        # beside a JSON decision, the explanation goes to stderr so stdout stays JSON
        print(render_inputs(inputs), file=sys.stderr if args.json and decision else sys.stdout)
    if decision is None:
        return 0
    if args.json:
        print(decision.model_dump_json(indent=2))
    else:
        if args.explain_input:
            print()
        concepts = trial.tables.concepts.values() if trial is not None else ()
        print(render_text(decision, concept_labels((c.label, c.keys) for c in concepts)))
    return 0
