"""The arguments of ``trialwatch evaluate`` (light: the command itself is ``evaluate.run``)."""

from __future__ import annotations

import argparse

from services.cli.lazy import Handler


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="evaluate one patient's FHIR R4 / HL7 v2 record against a trial (offline)",
        description="Evaluate one patient's record against a trial version and print the "
        "decision. The record is a FHIR R4 Bundle (--bundle: collection, transaction or "
        "searchset) or FHIR R4 JSON and HL7 v2 ORU^R01 files (--input, in order).",
    )
    parser.add_argument("--trial", default=None,
                        help="trial id, e.g. NCT06920433 (`trialwatch trials list`); required "
                             "unless only --explain-input is wanted")
    parser.add_argument("--version", default=None, help="trial version (default: the latest)")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--bundle", help="path to the Bundle JSON ('-' for stdin)")
    source.add_argument(
        "--input", nargs="+", metavar="FILE",
        help="FHIR R4 JSON or HL7 v2 files (one message or a batch), read in this order",
    )
    parser.add_argument(
        "--explain-input", action="store_true",
        help="print how each element was read: as sent -> canonical, or why not",
    )
    parser.add_argument(
        "--hl7-zone", default=None, metavar="AREA/CITY",
        help="the HL7 v2 sender's IANA zone, for times without an offset when MSH-7 has none"
        " (as INTAKE_HL7V2_ZONES)",
    )
    parser.add_argument(
        "--hl7-processing-ids", default="P", metavar="P,T",
        help="the HL7 v2 processing ids (MSH-11, table 0103: P production, T training, D"
        " debugging) read (as INTAKE_HL7V2_PROCESSING_IDS; default P: a training message is"
        " refused; P,T reads a test feed)",
    )
    parser.add_argument(
        "--at", default=None, help="as-of instant, ISO-8601 with offset (default: now, UTC)"
    )
    parser.add_argument("--json", action="store_true", help="print the decision as JSON")
    parser.set_defaults(func=Handler("evaluate", "run"))
