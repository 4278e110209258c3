"""HL7 v2 (ER7 encoding): ORU^R01 results, ADT^A40 merges, RAS^O17 medication administrations
(RXA) and RDE^O11 pharmacy encoded orders (RXE with TQ1), posted to ``/hl7v2``.

Read by ``shared.clinical.hl7v2.parse_hl7v2`` from the bytes: the message's own MSH-18 names
its character set (HL7 v2.5.1 table 0211); the Content-Type charset is used only when MSH-18
is empty. MLLP framing bytes (HL7 v2.5.1 appendix C) are transport and are stripped.
"""

from __future__ import annotations

import codecs

from services.intake.core import examples
from services.intake.core.input_formats import InputFormat, MediaType, Read, ReadContext, register
from services.intake.core.receipts import EntryReceipt, Note
from services.intake.core.refusals import MalformedInput
from shared.clinical.facts import ClinicalFact, PatientUpdate, ReadingNote
from shared.clinical.fhir import fact_warnings
from shared.clinical.hl7v2 import RXE_GROUP, decode_hl7v2, read_hl7v2
from shared.clinical.input_forms import NOT_READ_SEGMENTS
from shared.clinical.reading import ProblemLog

NAME = "hl7v2"
MEDIA_TYPES = ("x-application/hl7-v2+er7", "text/plain")
# MLLP framing bytes are transport, not message (a byte-order mark is read by the normaliser).
_FRAMING = b"\x0b\x1c \t\r\n"
_MEDICATION_SEGMENTS = ("RXA", "RXE")
_BOMS = (codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


# Segments whose content the normaliser reads (HL7 v2.5.1 ORU^R01, ch. 7.3.1; ADT^A40, ch.
# 3.3.40; RAS^O17 and RDE^O11, ch. 4A): the header, the patient, the order context, the
# results and the merge. OBX, RXA and RXE are matched to the facts they gave; a TQ1 is read
# when it times the RXE before it (RDE^O11: RXE [{NTE}] {TQ1 [{TQ2}]} {RXR} [{RXC}]).
_READ = {
    "MSH": "message header (MSH-4 sender, MSH-7 time, MSH-18 character set)",
    "PID": "patient identification (PID-3, PID-7, PID-8, PID-29/30)",
    "ORC": "common order (context of the results that follow)",
    "OBR": "observation request (context of the results that follow)",
}


def read(body: bytes, media: MediaType, context: ReadContext) -> Read:
    """The updates of one HL7 v2 message, and what became of each of its segments;
    ``context.sender_zone`` reads times without an offset in messages whose MSH-7 has none.

    A message is refused as a whole when any segment cannot be read (the problems name each
    segment and field), so an accepted message's segments are each ``accepted`` (read; an
    OBX gave a result, an RXA or RXE a medication fact, a TQ1 timed the RXE before it),
    ``unread`` (an OBX kept as an unread result: every criterion reading it is ``unknown``;
    the warning says why, e.g. OBX-11 "X", v2.5.1 table 0085) or ``ignored`` (a segment
    TrialWatch does not read: NTE, PV1, SPM, RXR ...; a DG1 says why, v2.5.1 6.5.2). An RXA
    or RXE is ``accepted`` with
    warnings for what of it was kept unread (an administered amount, a dose range ...)."""
    charset = media.charset if media.charset_declared else None
    message = _message(body)
    read = read_hl7v2(message, source_system=context.source_system,
                      received_at=context.received_at, sender_zone=context.sender_zone,
                      charset=charset, site_mrn_authority=context.site_mrn_authority,
                      processing_ids=context.processing_ids)
    code_paths: list[tuple[str, str]] = []
    entries = _segment_entries(message, charset, read.updates, code_paths, read.notes)
    return Read(read.updates, entries, tuple(code_paths),
                tuple(Note(n.path, n.reason) for n in read.notes))


# the field coding what a segment's fact is (v2.5.1 OBX-3, RXA-5, RXE-2)
_CODE_FIELDS = {"OBX": 3, "RXA": 5, "RXE": 2}


def _segment_entries(message: bytes, charset: str | None, updates: list[PatientUpdate],
                     code_paths: list[tuple[str, str]],
                     notes: tuple[ReadingNote, ...] = ()) -> tuple[EntryReceipt, ...]:
    """One entry per segment, labelled as the normaliser labels them (``OBX[2]``: the second
    OBX of the message; ``PID[1]``), with the normaliser's ``notes`` at a path inside it
    (``PID[1].3``: other facilities' record numbers not used), matched to the facts by their
    provenance
    (``HL7v2/<MSH-10>/OBX/<OBX-1 set id, or the OBX's position when set ids are missing or
    repeated>``, as ``shared.clinical.hl7v2`` writes it)."""
    text = decode_hl7v2(message, ProblemLog(), charset) or ""
    segments = [s for s in text.lstrip("\ufeff").replace("\r\n", "\r").replace("\n", "\r")
                .split("\r") if s.strip()]
    if not segments or len(segments[0]) < 5:
        return ()
    field_sep, component_sep = segments[0][3], segments[0][4]
    names = [s.split(field_sep, 1)[0] for s in segments]
    set_ids = [s.split(field_sep)[1].split(component_sep)[0] if s.count(field_sep) else ""
               for s, name in zip(segments, names, strict=True) if name == "OBX"]
    by_set_id = all(set_ids) and len(set(set_ids)) == len(set_ids)
    merge = any(name == "MRG" for name in names) and any(
        u.merged_into is not None for u in updates)
    facts = {f.provenance.resource.rsplit("/OBX/", 1)[1]: f
             for u in updates for f in u.facts
             if f.provenance is not None and "/OBX/" in (f.provenance.resource or "")}
    # RXA/RXE facts: provenance ``HL7v2/<MSH-10>/RXA/<n>``, n counting that segment's name
    medications: dict[tuple[str, str], ClinicalFact] = {}
    for update in updates:
        for kept in update.facts:
            resource = kept.provenance.resource if kept.provenance is not None else None
            parts = (resource or "").rsplit("/", 2)
            if len(parts) == 3 and parts[1] in _MEDICATION_SEGMENTS:
                medications[(parts[1], parts[2])] = kept
    entries = []
    counts: dict[str, int] = {}
    in_rxe_group = False
    for name in names:
        counts[name] = counts.get(name, 0) + 1
        number = counts[name]
        path = f"{name}[{number}]"
        in_rxe_group = name == "RXE" or (in_rxe_group and name in RXE_GROUP)
        if name in _MEDICATION_SEGMENTS:
            medication = medications.get((name, str(number)))
            if medication is None:
                entries.append(EntryReceipt(path, name, "ignored", warnings=(
                    Note(path, "no medication was kept from this segment"),)))
                continue
            code_paths.append((medication.fact_id, f"{path}.{_CODE_FIELDS[name]}"))
            entries.append(EntryReceipt(path, name, "accepted", warnings=tuple(
                Note(n.path, n.reason) for n in fact_warnings(medication))))
        elif name == "TQ1" and in_rxe_group:
            entries.append(EntryReceipt(path, name, "accepted"))
        elif name == "OBX":
            fact = facts.get(set_ids[number - 1] if by_set_id else str(number))
            if fact is None:
                entries.append(EntryReceipt(path, name, "ignored", warnings=(
                    Note(path, "no result was kept from this segment"),)))
                continue
            code_paths.append((fact.fact_id, f"{path}.3"))
            warnings = tuple(Note(n.path, n.reason) for n in fact_warnings(fact))
            entries.append(EntryReceipt(path, name, "unread" if fact.unread else "accepted",
                                        warnings=warnings))
        elif name in _READ or (name == "MRG" and merge):
            entries.append(EntryReceipt(path, name, "accepted", warnings=tuple(
                Note(n.path, n.reason) for n in notes if n.path.startswith(f"{path}."))))
        else:
            entries.append(EntryReceipt(path, name, "ignored", warnings=(
                Note(path, NOT_READ_SEGMENTS.get(
                    name, f"{name} segments are not read by TrialWatch")),)))
    return tuple(entries)


def _message(body: bytes) -> bytes:
    message = body.strip(_FRAMING)
    if message.startswith(_BOMS):
        return message  # UTF-8/16/32 with a byte-order mark: the normaliser checks for MSH
    if not message.startswith(b"MSH") or len(message) < 8:
        raise MalformedInput("not an HL7 v2 message: it must start with an MSH segment")
    return message


DESCRIPTION = (
    "One HL7 v2.5.1 message, segments ending with CR, LF or CRLF. Accepted message types"
    " (MSH-9) and the segments read:\n\n"
    "- **ORU^R01** results (v2.5.1 ch. 7): PID, ORC/OBR, OBX (value, units, reference range,"
    " abnormal flags, result status, observation time), NTE;\n"
    "- **ADT^A40** merge (ch. 3): PID and MRG, the prior identifier merged into the PID;\n"
    "- **RAS^O17** medication administration (ch. 4A): **RXA** - RXA-3/4 start/end, RXA-5"
    " administered code (RxNorm ``RXN`` or ``NDC`` in the identifier or the alternate), RXA-6/7"
    " administered amount and units (one administration: kept, never read as a daily dose),"
    " RXA-20 completion status (table 0322: RE/NA are not an exposure), RXA-21 action code"
    " (table 0323: D withdraws);\n"
    "- **RDE^O11** pharmacy encoded order (ch. 4A): ORC (ORC-1 control, ORC-5 status, ORC-9"
    " transaction time) and **RXE** - RXE-2 give code, RXE-3/4/5 give amount and UCUM units"
    " (a mass, or a mass per body mass such as ``mg/kg``) with the TQ1-3 repeat pattern (table"
    " 0335) or RXE-1's interval, read into a daily dose (``mg/d`` or ``mg/kg/d``) exactly as a"
    " FHIR R4 Dosage; TQ1-7/8 start/end.\n\n"
    "Other message types are refused at MSH.9; other segments are kept as notes, not read"
    " (a DG1 diagnosis is not read as a condition: it has no clinical status, v2.5.1 6.5.2)."
    " What cannot be read exactly is refused with its ``SEG[n].field`` path, or kept unread"
    " with the reason."
)


HL7V2 = register(InputFormat(
    name=NAME, media_types=MEDIA_TYPES, read=read, route="/hl7v2",
    summary="Submit an HL7 v2 message: ORU^R01, ADT^A40, RAS^O17 or RDE^O11 (CR or LF ends)",
    body_schema={"type": "string"}, example=examples.HL7V2_ORU,
    description=DESCRIPTION,
))
