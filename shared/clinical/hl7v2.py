"""HL7 v2 ORU^R01 lab results -> one PatientUpdate per PID group.

Segments may end in CR, LF or CRLF. Timestamps without an offset are read in ``assume_tz``
(UTC unless the caller knows the sender's zone). The source system defaults to MSH-4 (sending
facility), else MSH-3 (sending application). Each OBX becomes one observation fact whose
provenance is ``HL7v2/<MSH-10>/OBX/<set id>``; when a message repeats set ids (one series per
OBR, as real feeds do), the OBX's position in the message is used instead so that no two
results of one message share a fact id. A correction sent later under a new MSH-10 therefore
arrives as a new fact: v2 has no record id that survives across messages.
Any problem refuses the whole message, naming each as ``<SEG>[n].<field>``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo

import hl7

from shared.clinical import bounds
from shared.clinical.errors import InvalidInput
from shared.clinical.facts import (
    ClinicalFact,
    Demographics,
    FactKind,
    PatientUpdate,
    Provenance,
    Sex,
)
from shared.clinical.fhir_values import Reader, loinc_of
from shared.clinical.hl7v2_values import (
    RESULT_STATUS,
    ObxField,
    codings,
    read_obx_value,
    reference_range,
)
from shared.clinical.ids import fact_id
from shared.clinical.times import TimeFormatError, parse_hl7_date, parse_hl7_ts

_SEX = {"F": Sex.FEMALE, "M": Sex.MALE, "O": Sex.OTHER, "A": Sex.OTHER, "U": Sex.UNKNOWN}


@dataclass
class _Group:
    source_patient_id: str | None
    demographics: Demographics | None
    facts: list[ClinicalFact] = field(default_factory=list)


@dataclass(frozen=True)
class _Message:
    parsed: hl7.Message
    control_id: str
    source_system: str
    received_at: datetime | None
    assume_tz: tzinfo

    def field(self, segment: hl7.Segment, name: str, number: int) -> ObxField:
        separators, escape = self.parsed.separators, self.parsed.esc
        raw = str(segment[number]) if number < len(segment) else ""
        repetitions = tuple(
            tuple(
                self.parsed.unescape(part) if escape in part else part
                for part in repetition.split(separators[3])
            )
            for repetition in raw.split(separators[2])
        )
        return ObxField(path=f"{name}.{number}", repetitions=repetitions)

    def provenance(self, resource: str) -> Provenance:
        return Provenance(
            source_system=self.source_system,
            format="hl7v2",
            resource=f"HL7v2/{self.control_id}/{resource}",
            received_at=self.received_at,
        )


def parse_hl7v2(
    message: bytes | str,
    *,
    source_system: str | None = None,
    received_at: datetime | None = None,
    assume_tz: tzinfo = UTC,
) -> list[PatientUpdate]:
    """Normalise an ORU^R01 message; raises ``InvalidInput`` naming every problem."""
    reader = Reader()
    parsed = _parse(message, reader)
    if parsed is None:
        raise InvalidInput(reader.problems)
    context = _header(parsed, reader, source_system, received_at, assume_tz)
    if context is None:
        raise InvalidInput(reader.problems)
    groups = _groups(context, reader)
    if reader.problems:
        raise InvalidInput(reader.problems)
    return [
        PatientUpdate(
            source_system=context.source_system,
            source_patient_id=group.source_patient_id,
            demographics=group.demographics,
            facts=tuple(group.facts),
        )
        for group in groups
    ]


def _parse(message: bytes | str, reader: Reader) -> hl7.Message | None:
    text = message if isinstance(message, str) else _decode(message)
    text = text.lstrip("\ufeff").replace("\r\n", "\r").replace("\n", "\r")
    segments = [segment for segment in text.split("\r") if segment.strip()]
    if not segments or not segments[0].startswith("MSH"):
        reader.problem("MSH", "not an HL7 v2 message: it must start with an MSH segment")
        return None
    bounds.check_v2("\r".join(segments))
    try:
        return hl7.parse("\r".join(segments))
    except Exception as error:  # python-hl7 raises bare exceptions on malformed input
        reader.problem("MSH", f"unreadable HL7 v2 message: {error}")
        return None


def _decode(message: bytes) -> str:
    try:
        return message.decode("utf-8")
    except UnicodeDecodeError:
        return message.decode("latin-1")  # the v2 default character set when MSH-18 is empty


def _header(
    parsed: hl7.Message,
    reader: Reader,
    source_system: str | None,
    received_at: datetime | None,
    assume_tz: tzinfo,
) -> _Message | None:
    draft = _Message(parsed, "", source_system or "", received_at, assume_tz)
    msh = parsed.segment("MSH")
    message_type = draft.field(msh, "MSH", 9)
    if (message_type.component(0), message_type.component(1)) != ("ORU", "R01"):
        found = "^".join(message_type.repetitions[0]) if message_type.repetitions else ""
        reader.problem("MSH.9", f"only ORU^R01 is accepted, got {found!r}")
    control_id = draft.field(msh, "MSH", 10).component(0)
    if not control_id:
        reader.problem("MSH.10", "no message control id: results could not be told apart")
    # MSH-4 (sending facility) names the source; some senders fill only MSH-3 (application)
    sender = (
        source_system
        or draft.field(msh, "MSH", 4).component(0)
        or draft.field(msh, "MSH", 3).component(0)
    )
    if not sender:
        reader.problem("MSH.4", "no sending facility (MSH-4, MSH-3) and no source_system given")
    if reader.problems:
        return None
    return _Message(parsed, control_id, sender, received_at, assume_tz)


def _groups(message: _Message, reader: Reader) -> list[_Group]:
    segments = list(message.parsed)
    obx_segments = [segment for segment in segments if str(segment[0]) == "OBX"]
    set_ids = [message.field(obx, "OBX", 1).component(0) for obx in obx_segments]
    use_set_ids = all(set_ids) and len(set(set_ids)) == len(set_ids)
    groups: list[_Group] = []
    obr: hl7.Segment | None = None
    pid_count = obx_count = 0
    for segment in segments:
        name = str(segment[0])
        if name == "PID":
            pid_count += 1
            groups.append(_patient(message, reader, segment, pid_count))
        elif name == "OBR":
            obr = segment
        elif name == "OBX":
            obx_count += 1
            label = f"OBX[{obx_count}]"
            if not groups:
                reader.problem(label, "result before any PID segment: no patient to attach it to")
                continue
            key = set_ids[obx_count - 1] if use_set_ids else str(obx_count)
            fact = _observation(message, reader, segment, obr, label, key)
            if fact is not None:
                groups[-1].facts.append(fact)
    if not groups:
        reader.problem("PID", "no PID segment")
    return groups


def _patient(message: _Message, reader: Reader, pid: hl7.Segment, number: int) -> _Group:
    label = f"PID[{number}]"
    identifiers = message.field(pid, label, 3)
    mrn = next(
        (
            identifiers.component(0, index)
            for index in range(len(identifiers.repetitions))
            if identifiers.component(4, index) == "MR" and identifiers.component(0, index)
        ),
        identifiers.component(0) or None,
    )
    birth_date = None
    birth = message.field(pid, label, 7)
    if birth.component(0):
        try:
            birth_date = parse_hl7_date(birth.component(0))
        except TimeFormatError as error:
            reader.problem(birth.path, str(error))
    sex = _SEX.get(message.field(pid, label, 8).component(0).upper())
    demographics = Demographics(
        birth_date=birth_date, sex=sex, provenance=message.provenance(f"PID/{number}")
    )
    return _Group(source_patient_id=mrn, demographics=demographics)


def _observation(
    message: _Message,
    reader: Reader,
    obx: hl7.Segment,
    obr: hl7.Segment | None,
    label: str,
    key: str,
) -> ClinicalFact | None:
    identifier = message.field(obx, label, 3)
    codes = codings(identifier)
    if not codes:
        reader.problem(identifier.path, "no observation identifier")
        return None
    loinc = loinc_of(codes)
    value_type = message.field(obx, label, 2).component(0).upper()
    units = message.field(obx, label, 6)
    value = read_obx_value(reader, value_type, message.field(obx, label, 5), units, loinc)
    ranges = message.field(obx, label, 7)
    numeric = value.quantity is not None
    status_code = message.field(obx, label, 11).component(0).upper()
    provenance = message.provenance(f"OBX/{key}")
    return ClinicalFact(
        fact_id=fact_id(message.source_system, provenance.resource),
        kind=FactKind.OBSERVATION,
        codes=codes,
        status=RESULT_STATUS.get(status_code, status_code or None),
        effective_start=_observed_at(message, reader, obx, obr, label),
        value_quantity=value.quantity,
        value_code=value.code,
        value_boolean=value.boolean,
        reference_range=(
            reference_range(reader, loinc, ranges.component(0), units, ranges.path)
            if numeric and ranges.component(0)
            else None
        ),
        interpretation=message.field(obx, label, 8).component(0) or None,
        provenance=provenance,
    )


def _observed_at(
    message: _Message, reader: Reader, obx: hl7.Segment, obr: hl7.Segment | None, label: str
) -> datetime | None:
    candidates = [message.field(obx, label, 14)]
    if obr is not None:
        candidates.append(message.field(obr, "OBR", 7))
    for candidate in candidates:
        text = candidate.component(0)
        if text:
            try:
                return parse_hl7_ts(text, message.assume_tz)
            except TimeFormatError as error:
                reader.problem(candidate.path, str(error))
                return None
    return None
