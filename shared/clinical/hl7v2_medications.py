"""HL7 v2.5.1 pharmacy segments -> medication facts: RXA (administration), RXE (encoded order).

The same ``ClinicalFact`` (kind ``medication``) as a FHIR R4 MedicationAdministration / a
MedicationRequest (``shared.clinical.fhir_resources.medication``): the drug's codings, a
status, a period, ``time_bounds`` for a time coarser than a minute, and ``dose``.

**RXA** (v2.5.1 ch. 4A, pharmacy/treatment administration):

- RXA-5 administered code (CE): identifier^text^coding system and, in components 4-6, the
  alternate identifier^text^system. Every coded triple is kept (the engine matches any it
  knows); ``RXN`` is RxNorm, ``NDC`` the National Drug Code, ``WC`` WHO ATC (table 0396), each
  read under its FHIR R4 URI so the site medication crosswalk applies as to a FHIR Coding;
  local ``L``/``99zzz`` kept as sent (the crosswalk's local rows). No code at all: refused.
- RXA-3 start date/time (required: refused when empty); RXA-4 end date/time, "if null, the
  date/time of RXA-3 is assumed" (v2.5.1 ch. 4A RXA-4): one dose at one instant.
- RXA-20 completion status (optional, table 0322, codes as in HL7 Terminology
  http://terminology.hl7.org/CodeSystem/v2-0322): ``CP`` complete (``completed``), ``PA``
  partially administered (an exposure, ``stopped``), ``RE`` refused and ``NA`` not
  administered (``not-done``: not an exposure, as FHIR R4 MedicationAdministration.status
  ``not-done``; the fact says so). Empty: the segment still records an administration ("the
  RXA carries the administration data", RAS^O17 in HL7 v2 ch. 4), so it is an exposure whose
  completion is not stated (``unknown``, with a note). Any other code is refused at RXA-20.
- RXA-21 action code (table 0323): ``D`` deletes the administration of the same identity (an
  ``entered-in-error`` tombstone), ``A``/``U``/empty add or update it.
- RXA-6 administered amount (NM) in RXA-7 units (CE, UCUM when its coding system is
  ``UCUM``): one administration, not a daily dose, so ``dose`` is kept unread saying so (as a
  FHIR R4 MedicationAdministration.dosage is not read as a daily dose); units that are not
  UCUM make the amount unread with that reason. The amount and unit as sent are kept in
  ``received``.

**RXE** (v2.5.1 ch. 4A, pharmacy/treatment encoded order) with the order's ORC and the TQ1
that follow it (v2.5.1 ch. 4 TQ1, RDE^O11):

- RXE-2 give code (CE) as RXA-5; RXE-3 give amount minimum, RXE-4 maximum (a range when they
  differ: the dose is unread), RXE-5 give units (CE, UCUM);
- the frequency from TQ1-3 repeat pattern (table 0335: ``Q<n>S|M|H|D``, ``BID``, ``TID``,
  ``QID``, ``<n>ID``, ``QAM``/``QPM``/``QHS`` once a day, ``QOD`` every 2 days), else RXE-1's
  interval (TQ component 2, deprecated in v2.5 but still sent); ``PRN`` (as needed), weekly or
  monthly patterns, meal-related and continuous timing are not a daily dose: unread;
- the daily dose is computed by the one dosage reader (``shared.clinical.dosage``) from the
  same dose and frequency a FHIR R4 Dosage would carry, so both inputs give the same figure;
- the period is TQ1-7/TQ1-8 (start/end), else RXE-1 components 4/5, else ORC-9 (the order's
  transaction time, as FHIR MedicationRequest.authoredOn), flagged;
- the status from ORC-1 order control (table 0119, exact: cancel ``CA``/``OC``/``CR``,
  discontinue ``DC``/``OD``/``DR``, hold ``HD``/``OH``/``HR``), else ORC-5 order status (table
  0038) for a control about a live order (``NW``, ``OK``, ``SC``, ``XO`` ...); any other code
  of table 0119 (``UA`` unable to accept, ``DE``, ``RP`` ...) keeps the medication unread at
  ``ORC[n].1``, and a code outside the table is refused there. An empty ORC-1 (required, v2.5.1
  4.5.1; it "determines the function of the order segment", 4.5.1.1) keeps it unread there
  too, whatever ORC-5 says, and an RXE with no ORC before it (RDE^O11 requires one) is unread
  at ``RXE[n]``: the order's status is never read as active by default.

Times are read like OBX times (``parse_hl7_ts`` in the message's zone; read in MSH-7's one
offset, a time without an offset has ``time_bounds`` widened by ``WIDEST_DST_SAVE``, v2.5.1
2A.3.22); anything that cannot be read exactly is refused at its ``<SEG>[n].<field>`` path, or
kept unread with the reason.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from shared.clinical.codes import UCUM
from shared.clinical.dosage import read_dosage
from shared.clinical.facts import (
    ClinicalFact,
    Coding,
    DailyDose,
    FactKind,
    Provenance,
    ReadingNote,
    ReceivedValue,
    TimeBounds,
)
from shared.clinical.hl7v2_values import ObxField, codings
from shared.clinical.ids import fact_id
from shared.clinical.medication_codes import identified_medication
from shared.clinical.reading import ProblemLog
from shared.clinical.times import (
    WIDEST_DST_SAVE,
    TimeFormatError,
    hl7_offset,
    hl7_ts_bounds,
    parse_hl7_ts,
)

NDC = "http://hl7.org/fhir/sid/ndc"
"""FHIR's URI for the National Drug Code; HL7 v2 table 0396 names it ``NDC``."""
ATC = "http://www.whocc.no/atc"
"""FHIR's URI for the WHO ATC classification; HL7 v2 table 0396 names it ``WC`` (HL7
Terminology NamingSystem v3-WC, OID 2.16.840.1.113883.6.73). Table 0396 ``ATC`` is the American
Type Culture Collection, not a drug code system: not read as WHO ATC."""
# v2.5.1 table 0396 names of drug code systems read under their FHIR R4 URIs (terminologies-
# systems), so the site medication crosswalk, whose rows name FHIR URIs, applies to an RXA-5 /
# RXE-2 code exactly as to the same FHIR Coding (``RXN`` -> RxNorm is done by ``codings``)
_DRUG_SYSTEMS = {"NDC": NDC, "WC": ATC}

# v2.5.1 table 0322 completion status -> FHIR R4 MedicationAdministration.status
COMPLETION_STATUS = {
    "CP": "completed",
    "PA": "stopped",
    "RE": "not-done",
    "NA": "not-done",
}
_NOT_GIVEN = {"RE": "refused", "NA": "not administered"}

# v2.5.1 table 0323 action code
ACTION_CODES = frozenset({"A", "D", "U"})

# v2.5.1 table 0038 order status -> FHIR R4 MedicationRequest.status
ORDER_STATUS = {
    "A": "active",
    "IP": "active",
    "SC": "active",
    "CM": "completed",
    "CA": "cancelled",
    "DC": "stopped",
    "HD": "on-hold",
    "ER": "entered-in-error",
    "RP": "stopped",
}
# v2.5.1 table 0119 (ORC-1 order control, 4.5.1.1): every code of the table, exact (ID,
# 2A.3.35). Codes that end or hold the order whatever ORC-5 says (CA cancel order request, OC
# order cancelled, CR canceled as requested; DC discontinue request, OD discontinued, DR
# discontinued as requested; HD hold request, OH order held, HR on hold as requested):
_ORDER_CONTROL = {
    "CA": "cancelled", "OC": "cancelled", "CR": "cancelled",
    "DC": "stopped", "OD": "stopped", "DR": "stopped",
    "HD": "on-hold", "OH": "on-hold", "HR": "on-hold",
}
# codes about a live order, whose status ORC-5 (table 0038) gives: NW new, OK accepted, SC status
# changed, XO change request, XR changed as requested, XX changed unsolicited, RE observations to
# follow, RL release hold, OE released, OR released as requested, RO replacement order, NA number
# assigned, SN send number, PA parent, CH child, FU refilled unsolicited, OF refilled as requested
_LIVE_ORDER_CONTROL = frozenset({
    "NW", "OK", "SC", "XO", "XR", "XX", "RE", "RL", "OE", "OR", "RO", "NA", "SN", "PA", "CH",
    "FU", "OF",
})
# the rest of table 0119: none says whether the order runs (UA unable to accept, DE data errors,
# RP replace request, RU replaced unsolicited, RQ replaced as requested, DF refill denied ...)
_OTHER_ORDER_CONTROL = frozenset({
    "AF", "CN", "DE", "DF", "LI", "OP", "PR", "PY", "RF", "RP", "RQ", "RR", "RU", "SR", "SS",
    "UA", "UC", "UD", "UF", "UH", "UM", "UN", "UR", "UX",
})
ORDER_CONTROL_CODES = frozenset(_ORDER_CONTROL) | _LIVE_ORDER_CONTROL | _OTHER_ORDER_CONTROL

# v2.5.1 table 0335 repeat pattern -> (frequency, period, FHIR UnitsOfTime)
_FIXED_PATTERNS = {
    "BID": (2, 1.0, "d"),
    "TID": (3, 1.0, "d"),
    "QID": (4, 1.0, "d"),
    "QAM": (1, 1.0, "d"),
    "QPM": (1, 1.0, "d"),
    "QHS": (1, 1.0, "d"),
    "QOD": (1, 2.0, "d"),
}
_EVERY = re.compile(r"^Q([0-9]+(?:\.[0-9]+)?)([SMHDWL])$")
_TIMES_A_DAY = re.compile(r"^([0-9]+)ID$")
_UNIT_OF_TIME = {"S": "s", "M": "min", "H": "h", "D": "d"}

FieldOf = Callable[[Any, str, int], ObxField]


@dataclass(frozen=True)
class PharmacyContext:
    """What a pharmacy segment needs from its message (built by ``shared.clinical.hl7v2``).

    ``field(segment, label, n)`` splits and unescapes field n; ``provenance(resource)`` names
    the message; ``order_number`` is the order's ``filler:``/``placer:`` number or None.
    """

    source_system: str
    zone: tzinfo | None
    zone_origin: str
    field: FieldOf
    provenance: Callable[[str], Provenance]
    # ``zone`` is MSH-7's one offset, not a configured IANA zone (``hl7v2._dst_doubt``)
    offset_only: bool = False


def drug_codings(field: ObxField) -> tuple[Coding, ...]:
    """RXA-5 / RXE-2 (CE): the identifier and the alternate identifier (components 1-3 and
    4-6), table 0396 ``NDC`` mapped to FHIR's NDC URI, ``WC`` to WHO ATC's and ``RXN`` to
    RxNorm (``codings``); a local system (``L``, ``99zzz``) kept as sent."""
    return tuple(
        coding.model_copy(update={"system": _DRUG_SYSTEMS[coding.system]})
        if coding.system in _DRUG_SYSTEMS else coding
        for coding in codings(field)
    )


def _time(
    context: PharmacyContext, log: ProblemLog, field: ObxField, component: int = 0
) -> tuple[datetime | None, tuple[datetime, datetime] | None, bool]:
    """(instant, window or None, refused) of one TS component.

    The window is the day or hour a time without minutes stands for (v2.5.1 2A.3.22), widened
    by ``WIDEST_DST_SAVE`` either side when a time without an offset is read in MSH-7's one
    offset (``context.offset_only``): the sender's zone may have changed its offset between
    this time and MSH-7 (as OBX times, ``hl7v2._dst_doubt``)."""
    text = field.component(component)
    if not text:
        return None, None, False
    where = field.path if component == 0 else f"{field.path}.{component + 1}"
    try:
        instant, window = parse_hl7_ts(text, context.zone), hl7_ts_bounds(text, context.zone)
    except TimeFormatError as error:
        log.problem(where, str(error))
        return None, None, True
    if context.offset_only and hl7_offset(text) is None:
        first, last = window if window is not None else (instant, instant)
        window = (first - WIDEST_DST_SAVE, last + WIDEST_DST_SAVE)
    return instant, window, False


def _bounds(
    start: tuple[datetime, datetime] | None,
    end: tuple[datetime, datetime] | None,
    path: str,
    context: PharmacyContext,
) -> TimeBounds | None:
    if start is None and end is None:
        return None
    reason = (
        "time without minutes (v2.5.1 2A.3.22 DTM): it may be any instant of that day or"
        " hour; a window it decides is judged at both ends")
    if context.offset_only:
        reason = (
            "time without minutes (v2.5.1 2A.3.22 DTM) or without a UTC offset: it may be any"
            " instant of that day or hour, and one without an offset, read in"
            f" {context.zone_origin}, is the sender's local time, whose daylight-saving offset"
            " may differ from MSH-7's by up to"
            f" {WIDEST_DST_SAVE.total_seconds() / 3600:g} h (the widest daylight-saving"
            " difference in the IANA tz database); a window it decides is judged at both ends;"
            " configure the source's zone to read it exactly")
    return TimeBounds(
        start_earliest=start[0] if start else None,
        start_latest=start[1] if start else None,
        end_earliest=end[0] if end else None,
        end_latest=end[1] if end else None,
        note=ReadingNote(path=path, reason=reason),
    )


def _ucum_unit(field: ObxField) -> str | None:
    """The UCUM code of a CE units field (RXA-7, RXE-5), from the identifier or alternate."""
    for first in (0, 3):
        if field.component(first) and field.component(first + 2).upper() == "UCUM":
            return field.component(first)
    return None


def _units_sent(field: ObxField) -> str:
    shown = field.component(0) or field.component(1)
    system = field.component(2)
    return f"{shown!r} (coding system {system!r})" if system else repr(shown)


def administration(
    context: PharmacyContext,
    log: ProblemLog,
    rxa: Any,
    label: str,
    number: int,
    order_number: str | None,
) -> ClinicalFact | None:
    """One RXA segment as a medication fact, or None when refused (problems in ``log``).

    ``label`` is ``RXA[n]`` (the n-th RXA of the message), ``order_number`` the number of the
    ORC it follows (its identity, so an RXA-21 ``D`` sent later finds it).
    """
    field = context.field
    code_field = field(rxa, label, 5)
    codes = drug_codings(code_field)
    if not codes:
        log.problem(code_field.path, "no administered code (RXA-5 is required, v2.5.1 ch. 4A)")
        return None
    # the site medication crosswalk (NDC, local codes -> RxNorm; ingredients), noted
    codes, identified = identified_medication(codes, context.source_system, code_field.path)
    # ID fields as their tables write them (v2.5.1 2A.3.35): 'cp' is not table 0322's CP
    status_code = field(rxa, label, 20).component(0)
    if status_code and status_code not in COMPLETION_STATUS:
        log.problem(f"{label}.20", f"completion status {status_code!r} is not in v2.5.1 table"
                    " 0322 (CP, RE, NA, PA)")
        return None
    action = field(rxa, label, 21).component(0)
    if action and action not in ACTION_CODES:
        log.problem(f"{label}.21", f"action code {action!r} is not in v2.5.1 table 0323"
                    " (A, D, U)")
        return None
    start_field, end_field = field(rxa, label, 3), field(rxa, label, 4)
    if not start_field.component(0):
        log.problem(start_field.path, "no administration start time (RXA-3 is required,"
                    " v2.5.1 ch. 4A)")
        return None
    start, start_window, bad_start = _time(context, log, start_field)
    end, end_window, bad_end = _time(context, log, end_field)
    if bad_start or bad_end:
        return None
    notes: list[ReadingNote] = [*identified]
    if end is None:
        # v2.5.1 ch. 4A RXA-4: "If null, the date/time of RXA-3 ... is assumed"
        end, end_window = start, start_window
        notes.append(ReadingNote(path=end_field.path, reason="no end time: the administration"
                                 " is the instant of RXA-3 (v2.5.1 ch. 4A RXA-4)"))
    status = COMPLETION_STATUS.get(status_code, "unknown")
    if not status_code:
        notes.append(ReadingNote(path=f"{label}.20", reason="no completion status (RXA-20,"
                                 " table 0322): an administration whose completion is not"
                                 " stated, read as an exposure"))
    elif status_code in _NOT_GIVEN:
        notes.append(ReadingNote(path=f"{label}.20", reason=(
            f"completion status {status_code} ({_NOT_GIVEN[status_code]}, v2.5.1 table 0322):"
            " the drug was not given, not an exposure")))
    elif status_code == "PA":
        notes.append(ReadingNote(path=f"{label}.20", reason="completion status PA (partially"
                                 " administered, table 0322): an exposure, read as stopped"))
    sub_ids = f"{field(rxa, label, 1).component(0)}/{field(rxa, label, 2).component(0)}"
    provenance = context.provenance(f"RXA/{number}")
    if order_number is not None:
        identity = f"HL7v2/order/{order_number}/RXA/{sub_ids}"
    elif action == "D":
        log.problem(f"{label}.21", "action code D (delete, table 0323) must find the"
                    " administration it deletes, but its ORC has no filler (ORC-3) or placer"
                    " (ORC-2) order number")
        return None
    else:
        identity = provenance.resource
    if action == "D":
        status = "entered-in-error"
        notes.append(ReadingNote(path=f"{label}.21", reason=(
            f"action code D (delete, v2.5.1 table 0323): withdraws the administration"
            f" {identity.removeprefix('HL7v2/')}")))
    dose, received = _administered_amount(field, rxa, label)
    return ClinicalFact(
        fact_id=fact_id(context.source_system, identity),
        kind=FactKind.MEDICATION,
        codes=codes,
        status=status,
        effective_start=start,
        effective_end=end,
        time_bounds=_bounds(start_window, end_window, start_field.path, context),
        provenance=provenance,
        notes=tuple(notes),
        received=received,
        dose=dose,
    )


def _administered_amount(
    field: FieldOf, rxa: Any, label: str
) -> tuple[DailyDose | None, ReceivedValue | None]:
    amount = field(rxa, label, 6).component(0)
    units = field(rxa, label, 7)
    if not amount and units.empty:
        return None, None
    sent_unit = units.component(0) or units.component(1) or None
    received = ReceivedValue(value=amount or None, unit=sent_unit)
    shown = f"{amount} {sent_unit or ''}".strip()
    if _ucum_unit(units) is None:
        reason = (f"administered units {_units_sent(units)} are not coded in UCUM: the"
                  " administered amount is not read")
        return DailyDose(unread=ReadingNote(path=units.path, reason=reason), received=shown), \
            received
    return DailyDose(
        unread=ReadingNote(path=f"{label}.6", reason=(
            "an administered amount (RXA-6) is one administration, not a daily dose (as a FHIR"
            " R4 MedicationAdministration.dosage)")),
        received=shown,
    ), received


def encoded_order(
    context: PharmacyContext,
    log: ProblemLog,
    rxe: Any,
    label: str,
    number: int,
    orc: Any | None,
    timings: list[tuple[Any, str]],
    order_number: str | None,
    orc_label: str = "ORC",
) -> ClinicalFact | None:
    """One RXE segment (with its ORC and following TQ1 segments) as a medication fact.

    ``timings`` are the TQ1 segments after the RXE with their labels (``TQ1[n]``); ``orc_label``
    names the ORC in paths (``ORC[n]``).
    """
    field = context.field
    code_field = field(rxe, label, 2)
    codes = drug_codings(code_field)
    if not codes:
        log.problem(code_field.path, "no give code (RXE-2 is required, v2.5.1 ch. 4A)")
        return None
    # the site medication crosswalk (NDC, local codes -> RxNorm; ingredients), noted
    codes, identified = identified_medication(codes, context.source_system, code_field.path)
    notes: list[ReadingNote] = [*identified]
    status = "active"
    unread: ReadingNote | None = None
    if orc is None:
        # v2.5.1 ch. 4A RDE^O11: the ORDER group starts with a required ORC, whose ORC-1 says
        # what the message does with the order; without it nothing says whether it runs
        unread = ReadingNote(path=label, reason=(
            "no ORC before this RXE (v2.5.1 ch. 4A RDE^O11: each ORDER group begins with a"
            " required ORC, whose ORC-1 order control says what is done with the order):"
            " whether the order is running, hence whether the drug was taken, is unknown"))
    else:
        control_field = field(orc, orc_label, 1)
        status_field = field(orc, orc_label, 5)
        control = control_field.component(0)
        order_status = status_field.component(0)
        if control and control not in ORDER_CONTROL_CODES:
            log.problem(control_field.path, f"order control {control!r} is not in v2.5.1 table"
                        " 0119 (codes are exact, 2A.3.35 ID)")
            return None
        if order_status and order_status not in ORDER_STATUS:
            log.problem(status_field.path,
                        f"order status {order_status!r} is not in v2.5.1 table 0038")
            return None
        if not control:
            # v2.5.1 4.5.1: ORC-1 is required (R); 4.5.1.1: it "determines the function of the
            # order segment". ORC-5 reports the order's status (4.5.1.5), but a segment whose
            # function is unknown may be a cancel or hold request on an order still in
            # progress: ORC-5 is not read as the status
            unread = ReadingNote(path=control_field.path, reason=(
                "no order control (ORC-1 is required, v2.5.1 4.5.1; it determines the function"
                " of the order segment, 4.5.1.1): what this message does with the order is"
                " unknown, so its order status (ORC-5) is not read and whether the drug was"
                " taken is unknown"))
        elif control in _OTHER_ORDER_CONTROL:
            unread = ReadingNote(path=control_field.path, reason=(
                f"order control {control} (v2.5.1 table 0119) does not say whether the order"
                " is running: whether the drug was taken is unknown"))
        status = _ORDER_CONTROL.get(control) or ORDER_STATUS.get(order_status, "active")
    quantity_timing = field(rxe, label, 1)
    start = end = None
    start_window = end_window = None
    where = f"{label}.1"
    for segment, tq1_label in timings[:1]:
        start_field, end_field = field(segment, tq1_label, 7), field(segment, tq1_label, 8)
        start, start_window, bad_start = _time(context, log, start_field)
        end, end_window, bad_end = _time(context, log, end_field)
        if bad_start or bad_end:
            return None
        where = start_field.path
    if start is None and end is None and not quantity_timing.empty:
        start, start_window, bad_start = _time(context, log, quantity_timing, 3)
        end, end_window, bad_end = _time(context, log, quantity_timing, 4)
        if bad_start or bad_end:
            return None
        where = f"{quantity_timing.path}.4"
    if start is None and end is None and orc is not None:
        transaction = field(orc, orc_label, 9)
        start, start_window, bad = _time(context, log, transaction)
        if bad:
            return None
        if start is not None:
            where = transaction.path
            notes.append(ReadingNote(path=transaction.path, reason="no start in TQ1-7 or RXE-1:"
                                     " dated at ORC-9, the order's transaction time (as FHIR"
                                     " MedicationRequest.authoredOn)"))
    if start is None and end is None:
        notes.append(ReadingNote(path=where, reason="no time: the medication order is undated"))
    provenance = context.provenance(f"RXE/{number}")
    identity = (
        f"HL7v2/order/{order_number}/RXE" if order_number is not None else provenance.resource
    )
    return ClinicalFact(
        fact_id=fact_id(context.source_system, identity),
        kind=FactKind.MEDICATION,
        codes=codes,
        status=status,
        effective_start=start,
        effective_end=end,
        time_bounds=_bounds(start_window, end_window, where, context),
        provenance=provenance,
        notes=tuple(notes),
        unread=unread,
        dose=_daily_dose(field, rxe, label, quantity_timing, timings),
    )


def _daily_dose(
    field: FieldOf,
    rxe: Any,
    label: str,
    quantity_timing: ObxField,
    timings: list[tuple[Any, str]],
) -> DailyDose | None:
    """RXE-3/4/5 x the repeat pattern, read by ``read_dosage`` as the equivalent FHIR Dosage."""
    minimum = field(rxe, label, 3).component(0)
    maximum = field(rxe, label, 4).component(0)
    units = field(rxe, label, 5)
    if not minimum and not maximum:
        return None
    shown = f"{minimum}{'-' + maximum if maximum and maximum != minimum else ''}"
    shown = f"{shown} {units.component(0) or units.component(1)}".strip()
    if maximum and _number(maximum) != _number(minimum):
        return _unread(f"{label}.4", f"give amount {minimum} to {maximum} (RXE-3 minimum,"
                       " RXE-4 maximum): a dose range, which dose is given is unknown", shown)
    value = _number(minimum)
    if value is None:
        return _unread(f"{label}.3", f"give amount {minimum!r} is not a number", shown)
    unit = _ucum_unit(units)
    if unit is None:
        return _unread(units.path, f"give units {_units_sent(units)} are not coded in UCUM:"
                       " the dose is not read", shown)
    if len(timings) > 1:
        return _unread(timings[1][1], f"{len(timings)} TQ1 timings (a taper, split or"
                       " sequential regimen): the daily dose is not read", shown)
    if timings:
        segment, tq1_label = timings[0]
        pattern_field = field(segment, tq1_label, 3)
        pattern_path = f"{pattern_field.path}"
    else:
        pattern_field = quantity_timing
        pattern_path = f"{quantity_timing.path}.2"
    pattern = pattern_field.component(0 if timings else 1).upper()
    if not pattern:
        return _unread(pattern_path, "no repeat pattern: how often is unknown", shown)
    repeat = _repeat(pattern)
    if isinstance(repeat, str):
        return _unread(pattern_path, f"repeat pattern {pattern!r} (v2.5.1 table 0335): {repeat}",
                       shown)
    frequency, period, period_unit = repeat
    dose = read_dosage(
        [{
            "doseAndRate": [{"doseQuantity": {"value": value, "system": UCUM, "code": unit}}],
            "timing": {"repeat": {
                "frequency": frequency, "period": period, "periodUnit": period_unit,
            }},
        }],
        label,
    )
    if dose is not None and dose.unread is not None:
        # the reader names FHIR paths; the sender wrote RXE-3/RXE-5 and TQ1-3
        path = units.path if "doseQuantity" in dose.unread.path else pattern_path
        return _unread(path, dose.unread.reason, shown)
    if dose is not None:
        return dose.model_copy(update={"received": f"{shown}, {pattern}"})
    return None


def _repeat(pattern: str) -> tuple[int, float, str] | str:
    """(frequency, period, FHIR unit of time) of a table 0335 pattern, or why it is not read."""
    if pattern in _FIXED_PATTERNS:
        return _FIXED_PATTERNS[pattern]
    every = _EVERY.match(pattern)
    if every:
        unit = _UNIT_OF_TIME.get(every[2])
        if unit is None:
            return "a weekly or monthly pattern gives no daily dose"
        return 1, float(every[1]), unit
    times = _TIMES_A_DAY.match(pattern)
    if times and int(times[1]) > 0:
        return int(times[1]), 1.0, "d"
    if pattern.startswith("PRN"):
        return "as needed (PRN): there is no regular daily dose"
    if pattern == "ONCE":
        return "a single dose: there is no daily dose"
    return "not a fixed number of doses per day (continuous, meal-related or site-specific)"


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _unread(path: str, reason: str, shown: str) -> DailyDose:
    return DailyDose(unread=ReadingNote(path=path, reason=reason), received=shown)
