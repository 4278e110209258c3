"""HL7 v2 ORU^R01 lab results (and pharmacy RXA/RXE) -> one PatientUpdate per PID group.

HL7 v2.5.1 ch. 7 (results), ch. 4/4A (pharmacy), ch. 3 (ADT^A40 merges).

**Bytes.** A message given as bytes is decoded in the character set MSH-18 names (v2.5.1
2.14.9.18, table 0211: ``8859/1``, ``UNICODE UTF-8`` ...); when MSH-18 is empty, in the
``charset`` the transport declared, else UTF-8 (which reads the v2 default, ASCII, unchanged).
A set the message does not decode in, or one TrialWatch does not know, is refused at ``MSH.18``.
Segments may end in CR, LF or CRLF.

**Times** (v2.5.1 ch. 2A.3.22 DTM: a time without an offset is the sender's local time): read
in MSH-7's offset when MSH-7 has one, else in ``sender_zone`` (the zone configured for the
source), else refused at the time's path. Read in MSH-7's one offset, a time keeps that reading
but its ``time_bounds`` are widened by ``times.WIDEST_DST_SAVE`` either side (``_dst_doubt``):
the sender's zone may have changed its offset between the time and MSH-7. A result's time is
OBX-14, else OBR-7 of its own order group (an ORC or OBR starts a group; a group without OBR
has no OBR-7 and never borrows another group's). A result that carries a value but no time
at all is dated at MSH-7 (the message time, an upper bound), flagged, and kept unread: its place
among other results is unknown.

**Identity** (table 0085 C/W/D). A result's ``fact_id`` is its order (OBR-3 filler number, else
OBR-2 placer number, or ORC-3/ORC-2, which v2.5.1 4.5.3.2-3 makes identical) and observation
(OBX-3, OBX-4 sub-id), never MSH-10, which is new for every message: a ``C`` result sent later
replaces the earlier one, ``W`` ("post original as wrong") and ``D`` (delete) turn it into an
``entered-in-error`` tombstone. A C/W/D result whose order has no number is refused (what it
replaces cannot be found). A result without an order number keeps the message-scoped identity
``HL7v2/<MSH-10>/OBX/<n>``. ``provenance.resource`` always names the message and OBX, and
``provenance.version`` is MSH-7 in UTC (``YYYYMMDDHHMMSSffffff``), so an older message re-sent
after a correction does not undo it (``state.apply_update`` ignores an older numeric version).

**Medications** (RAS^O17 RXA administrations, RDE^O11 RXE encoded orders): each RXA or RXE
becomes one medication fact, read by ``shared.clinical.hl7v2_medications`` (its docstring
gives every field, table and refusal), identified by its ORC order number like an OBX.

**One message, read versions.** A body carries one message: a second MSH, or a batch envelope
(v2.5.1 2.10.3 FHS/BHS/BTS/FTS), is refused (batch files are split by ``trialwatch evaluate
--input``). MSH-12 must be a version whose read fields v2.5.1 defines alike
(``READ_VERSIONS``; table 0085 N and O are refused in v2.3, which lacks them), else refused at
``MSH.12``. A TS's degree of precision (TS-2, table 0529) is read: ``200301011230^D`` is that
whole day. A field v2.5.1 defines as non-repeating that holds a second valued repetition is
refused at its path (``_NON_REPEATING``). A result time later than the message's arrival
(``received_at``) by more than ``CLOCK_SKEW`` is refused; later than MSH-7 only, noted.

The source system defaults to MSH-4 (sending facility), else MSH-3 (sending application). Any
refusal refuses the whole message, naming each problem as ``<SEG>[n].<field>``.
"""

from __future__ import annotations

import codecs
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, tzinfo

import hl7

from shared.clinical import bounds
from shared.clinical.errors import InvalidInput
from shared.clinical.facts import (
    ClinicalFact,
    Coding,
    Demographics,
    FactKind,
    PatientUpdate,
    Provenance,
    ReadingNote,
    Sex,
    SourcePatient,
    TimeBounds,
)
from shared.clinical.fhir_values import analytes_disagree
from shared.clinical.hl7v2_medications import (
    PharmacyContext,
    administration,
    encoded_order,
)
from shared.clinical.hl7v2_patients import (
    MERGE_MESSAGE,
    deceased,
    identifier_aliases,
    medical_record_number,
    prior_patient,
    several_record_numbers,
    site_mrn,
)
from shared.clinical.hl7v2_values import (
    NO_STATUS,
    PENDING_STATUSES,
    REPLACING_STATUSES,
    RESULT_STATUS,
    VALUED_STATUSES,
    WITHDRAWING,
    ObxField,
    ObxReading,
    abnormal_flags,
    codings,
    escape_problem,
    identified_codings,
    no_status,
    not_obtained,
    order_status_problem,
    order_without_results,
    pending_with_value,
    read_flags,
    read_obx_value,
    reference_range,
    specimen_reading,
)
from shared.clinical.ids import fact_id
from shared.clinical.local_codes import crosswalked
from shared.clinical.reading import ProblemLog, loinc_of, range_fields, result_name
from shared.clinical.times import (
    CLOCK_SKEW,
    WIDEST_DST_SAVE,
    NoTimeZone,
    TimeFormatError,
    birth_after_receipt,
    day_as_written,
    hl7_offset,
    hl7_ts_bounds,
    local_time_in_doubt,
    parse_hl7_date,
    parse_hl7_ts,
)

# PID-8 administrative sex (v2.5.1 3.4.2.8, IS, user-defined table 0001: F female, M male, O other,
# U unknown, A ambiguous, N not applicable), exact. N says neither female nor male: unknown.
_SEX = {
    "F": Sex.FEMALE, "M": Sex.MALE, "O": Sex.OTHER, "A": Sex.OTHER, "U": Sex.UNKNOWN,
    "N": Sex.UNKNOWN,
}

# v2.5.1 table 0211 (alternate character sets) -> Python codecs. ISO IR14/87/159 (JIS) and
# CNS 11643-1992 need ISO 2022 code switching, and "UNICODE" (UCS-2) is ambiguous: refused.
CHARACTER_SETS = {
    "ASCII": "ascii",
    "8859/1": "iso8859-1",
    "8859/2": "iso8859-2",
    "8859/3": "iso8859-3",
    "8859/4": "iso8859-4",
    "8859/5": "iso8859-5",
    "8859/6": "iso8859-6",
    "8859/7": "iso8859-7",
    "8859/8": "iso8859-8",
    "8859/9": "iso8859-9",
    "8859/15": "iso8859-15",
    "UNICODE UTF-8": "utf-8",
    "UNICODE UTF-16": "utf-16",
    "UNICODE UTF-32": "utf-32",
    "GB 18030-2000": "gb18030",
    "KS X 1001": "euc_kr",
    "BIG-5": "big5",
}
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


# MSH-12 versions (v2.5.1 2.14.9.12, table 0104) read as v2.5.1: in 2.3 through 2.5.1 the fields
# TrialWatch reads (MSH-3/4/7/9/10/18, PID-3/7/8/29/30, ORC-2/3, OBR-2/3/7/25, OBX-1..8/11/14,
# RXA, RXE, MRG-1) have the same position and data type (v2.5.1 is 2.5 with technical
# corrections; 2.4 and 2.5 are the versions of the real lab messages read in tests), with these
# differences, each read as its version defines it:
# - table 0085 (OBX-11) of v2.3 lacks N ("not asked") and O ("order detail description only"),
#   introduced in v2.3.1 (HL7 v2 table 0085 with each code's versionIntroduced:
#   github.com/frankoemig/hl7.v2.terminology.v25, CodeSystem-observationResultStatusCodes
#   Interpretation.json; a v2.3 parser's copy of the table lists C D F I P R S X U W only):
#   refused in a v2.3 message (``TABLE_0085_FROM_2_3_1``). The same vocabulary gives W ("post
#   original as wrong") versionIntroduced 2.3.1 too, while that v2.3 copy lists it: the sources
#   disagree, so W keeps its one meaning (withdraw the earlier result) in every version read.
# - TS (OBX-14, OBR-7, PID-7) carries a degree of precision in its second component (table 0529),
#   a live component in v2.3 and deprecated but "retained only for backward compatibility" in
#   v2.5.1 (HL7 Terminology v2-0529): read in every version (``_ts_text``).
# Refused: 2.2 and earlier (PID-29/30, patient death, were added in 2.3); 2.6 and later, which
# are not checked field by field here, and 2.7+ add the truncation character (a value cut short
# ends in it, MSH-2 '^~\\&#') and replace TS/CE with DTM/CWE; anything that is no version at all.
READ_VERSIONS = ("2.3", "2.3.1", "2.4", "2.5", "2.5.1")
# MSH-11 processing id (v2.5.1 2.14.9.11, data type PT; required). PT.1, table 0103: whether the
# message is production data or a training / debugging message, which must never screen a real
# patient: only the ids a site accepts are read (``INTAKE_HL7V2_PROCESSING_IDS``, default P);
# any other message is refused whole at MSH.11. The values are exact (PT.1 is ID).
PROCESSING_IDS = {"P": "production", "T": "training", "D": "debugging"}
DEFAULT_PROCESSING_IDS = frozenset({"P"})
# PT.2, table 0207 (processing mode): A archive, R restore from archive, I initial load,
# T current processing; PT.2 not present: current processing. Each carries the sender's data
# as PT.1 says (an archive, a restore or an initial load is production data sent again or in
# bulk), so each is read; a result sent again is told apart by its provenance version (MSH-7),
# as any re-sent message is. Other values are refused.
PROCESSING_MODES = {"": "current processing", "T": "current processing", "A": "archive",
                    "R": "restore from archive", "I": "initial load"}
# Table 0085 codes introduced in v2.3.1 (see above): no status of a v2.3 message
TABLE_0085_FROM_2_3_1 = frozenset({"N", "O"})
# Table 0529 (degree of precision, TS-2): the digits of YYYYMMDDHHMMSS each keeps
TS_PRECISION_DIGITS = {"Y": 4, "L": 6, "D": 8, "H": 10, "M": 12, "S": 14}
_TS_PRECISION_NAMES = {"Y": "year", "L": "month", "D": "day", "H": "hour", "M": "minute",
                       "S": "second"}


@dataclass
class _Group:
    source_patient_id: str | None
    demographics: Demographics | None
    facts: list[ClinicalFact] = field(default_factory=list)
    merged_into: SourcePatient | None = None
    aliases: tuple[str, ...] = ()
    # what of the segment was read with a warning (PID-3: other facilities' numbers not used)
    notes: tuple[ReadingNote, ...] = ()


# v2.5.1 2.7.2 highlighting escapes: emphasis on a display, no character of the value
_HIGHLIGHT = {"H": "", "N": ""}

# v2.5.1 ch. 4A: RAS^O17 (pharmacy administration: RXA), RDE^O11 (encoded order: RXE)
PHARMACY_MESSAGES = frozenset({("RAS", "O17"), ("RDE", "O11")})
# segments that may sit between an RXE and its TQ1 timing (RDE^O11: NTE, TQ1, TQ2, RXR, RXC)
RXE_GROUP = frozenset({"NTE", "TQ1", "TQ2", "RXR", "RXC"})


@dataclass
class _Order:
    """One order group (ORC and/or OBR) of an ORU^R01 (v2.5.1 7.3.1)."""

    orc: hl7.Segment | None = None
    obr: hl7.Segment | None = None
    obr_number: int = 0
    orc_label: str = "ORC"  # ``ORC[n]``, the n-th ORC of the message


@dataclass(frozen=True)
class _Message:
    parsed: hl7.Message
    control_id: str
    source_system: str
    received_at: datetime | None
    zone: tzinfo | None
    zone_origin: str
    sent_at: datetime | None
    merge: bool = False
    version: str = "2.5.1"
    # the zone is MSH-7's one offset (no zone configured for the source, or one MSH-7 does not
    # agree with): a time without an offset may be off by a daylight-saving change
    offset_only: bool = False
    # the names of this site's own MRN assigning authority (``shared.clinical.record_numbers``)
    site_mrn_authority: frozenset[str] = frozenset()

    def field(self, segment: hl7.Segment, name: str, number: int) -> ObxField:
        separators, escape = self.parsed.separators, self.parsed.esc
        raw = str(segment[number]) if number < len(segment) else ""
        # an escape sequence that cannot be read exactly (v2.5.1 2.7) is named, not unescaped:
        # python-hl7 drops it (or raises on a malformed formatting count)
        problem = escape_problem(raw, escape) if escape in raw else None
        repetitions = tuple(
            tuple(
                # \H\ and \N\ (2.7.2) start and end highlighting: display only, no character
                self.parsed.unescape(part, _HIGHLIGHT) if escape in part and not problem
                else part
                for part in repetition.split(separators[3])
            )
            for repetition in raw.split(separators[2])
        )
        return ObxField(path=f"{name}.{number}", repetitions=repetitions, escape=problem)

    def provenance(self, resource: str) -> Provenance:
        # MSH-7 as UTC digits is the version: a re-sent older message (an interface engine
        # replaying its queue) does not overwrite a later correction (``state.apply_update``)
        return Provenance(
            source_system=self.source_system,
            format="hl7v2",
            resource=f"HL7v2/{self.control_id}/{resource}",
            version=self.sent_at.strftime("%Y%m%d%H%M%S%f") if self.sent_at else None,
            received_at=self.received_at,
        )


def parse_hl7v2(
    message: bytes | str,
    *,
    source_system: str | None = None,
    received_at: datetime | None = None,
    sender_zone: tzinfo | None = None,
    charset: str | None = None,
    site_mrn_authority: Collection[str] = (),
    processing_ids: Collection[str] = DEFAULT_PROCESSING_IDS,
) -> list[PatientUpdate]:
    """Normalise an ORU^R01 or ADT^A40 message; raises ``InvalidInput`` naming every problem.

    ``sender_zone``: the sending site's zone (from the source's configuration), used for times
    without an offset when MSH-7 has none. ``charset``: the character set the transport
    declared for ``message`` bytes, used when MSH-18 is empty. ``site_mrn_authority``: the
    names of this site's own MRN assigning authority (``shared.clinical.record_numbers``;
    empty: not configured). ``processing_ids``: the MSH-11 processing ids (v2.5.1 table 0103)
    read (``INTAKE_HL7V2_PROCESSING_IDS``; default production only); a message sent with any
    other, or with none, is refused at ``MSH.11``.
    """
    return read_hl7v2(message, source_system=source_system, received_at=received_at,
                      sender_zone=sender_zone, charset=charset,
                      site_mrn_authority=site_mrn_authority,
                      processing_ids=processing_ids).updates


@dataclass(frozen=True, slots=True)
class Hl7v2Read:
    """What ``read_hl7v2`` read: the updates, and the warnings of segments read with one
    (``PID[n].3``: other facilities' medical record numbers not used), each at its path."""

    updates: list[PatientUpdate]
    notes: tuple[ReadingNote, ...] = ()


def read_hl7v2(
    message: bytes | str,
    *,
    source_system: str | None = None,
    received_at: datetime | None = None,
    sender_zone: tzinfo | None = None,
    charset: str | None = None,
    site_mrn_authority: Collection[str] = (),
    processing_ids: Collection[str] = DEFAULT_PROCESSING_IDS,
) -> Hl7v2Read:
    """As ``parse_hl7v2``, with the warnings of the segments read (``Hl7v2Read.notes``)."""
    log = ProblemLog()
    parsed = _parse(message, log, charset)
    if parsed is None:
        raise InvalidInput(log.problems)
    context = _header(parsed, log, source_system, received_at, sender_zone,
                      frozenset(processing_ids))
    if context is None:
        raise InvalidInput(log.problems)
    if site_mrn_authority:
        context = replace(context, site_mrn_authority=frozenset(site_mrn_authority))
    groups = _groups(context, log)
    if log.problems:
        raise InvalidInput(log.problems)
    updates = [
        PatientUpdate(
            source_system=context.source_system,
            source_patient_id=group.source_patient_id,
            aliases=group.aliases,
            merged_into=group.merged_into,
            demographics=group.demographics,
            facts=tuple(group.facts),
        )
        for group in groups
    ]
    return Hl7v2Read(updates, tuple(note for group in groups for note in group.notes))


def _parse(message: bytes | str, log: ProblemLog, charset: str | None) -> hl7.Message | None:
    text = message if isinstance(message, str) else decode_hl7v2(message, log, charset)
    if text is None:
        return None
    text = text.lstrip("\ufeff").replace("\r\n", "\r").replace("\n", "\r")
    segments = [segment for segment in text.split("\r") if segment.strip()]
    if not segments or not segments[0].startswith("MSH"):
        log.problem("MSH", "not an HL7 v2 message: it must start with an MSH segment")
        return None
    bounds.check_v2("\r".join(segments))
    if (refusal := _encoding_characters_refusal(segments[0])) is not None:
        log.problem("MSH.2", refusal)
        return None
    if len(segments) == 1 and _glued_segments(segments[0]):
        log.problem("MSH", _NO_SEGMENT_SEPARATOR)
        return None
    if (refusals := _one_message_refusals(segments)):
        for path, reason in refusals:
            log.problem(path, reason)
        return None
    try:
        return hl7.parse("\r".join(segments))
    except Exception as error:  # python-hl7 raises bare exceptions on malformed input
        log.problem("MSH", f"unreadable HL7 v2 message: {error}")
        return None


# v2.5.1 2.5.4 (message delimiters, table 2-1): a segment ends with a carriage return.
_NO_SEGMENT_SEPARATOR = (
    "no segment separator (CR, HL7 v2.5.1 2.5.4 table 2-1: segment terminator) found: the"
    " message is one segment; send it with the carriage returns kept (e.g. curl --data-binary)")
# The segments a message read here carries after MSH (ORU^R01, ADT^A40, pharmacy orders).
_BODY_SEGMENTS = ("PID", "PD1", "PV1", "PV2", "NK1", "EVN", "MRG", "ORC", "OBR", "OBX", "NTE",
                  "TQ1", "SPM", "RXE", "RXO", "RXR", "RXA", "RXD", "RXG", "AL1", "DG1")


def _glued_segments(msh: str) -> bool:
    """Whether the only segment, an MSH, carries other segments glued on: a body whose CR/LF
    were stripped in transit (``curl --data``) reads as one segment with ``PID|`` (or OBR,
    OBX, ...) inside its fields. Any message read here needs a PID after MSH, so a field that
    happens to end in ``PID`` only changes why an MSH-only body is refused."""
    separator = msh[3] if len(msh) > 3 else ""
    if not separator or separator.isalnum():
        return False
    return any(f"{name}{separator}" in msh[4:] for name in _BODY_SEGMENTS)


# v2.5.1 2.10.3 batch protocol: envelopes around several messages, never part of one message
BATCH_SEGMENTS = frozenset({"FHS", "BHS", "BTS", "FTS"})


def _one_message_refusals(segments: list[str]) -> list[tuple[str, str]]:
    """(path, reason) for each segment that makes the body more than one message.

    Each MSH starts a message (v2.5.1 2.14.9), so a second MSH is a second message: read as
    one, its results would carry the first message's control id (MSH-10) and time (MSH-7),
    and its PID would be read as part of the first. Batch envelopes (2.10.3: FHS, BHS, BTS,
    FTS) wrap several messages. A body carries one message; a batch file is split into its
    messages by ``trialwatch evaluate --input`` (``services.cli.inputs``) before this reads it.
    """
    separator = segments[0][3]
    refusals = []
    headers = 1
    for position, segment in enumerate(segments[1:], start=2):
        name = segment.split(separator, 1)[0]
        if name == "MSH":
            headers += 1
            refusals.append((f"MSH[{headers}]", (
                f"segment {position} is a second message header: a body carries one message"
                " (HL7 v2.5.1 2.14.9: each MSH starts a message); send each message on its own"
                " (a batch file is read by 'trialwatch evaluate --input', v2.5.1 2.10.3)")))
        elif name in BATCH_SEGMENTS:
            refusals.append((name, (
                f"segment {position} is {name}, a batch envelope (HL7 v2.5.1 2.10.3 batch"
                " protocol): a body carries one message, not a batch (a batch file is read by"
                " 'trialwatch evaluate --input')")))
    return refusals


def _encoding_characters_refusal(msh: str) -> str | None:
    """Why MSH-2 cannot be read as the encoding characters, or None (HL7 v2.5.1 2.14.9.2).

    MSH-2 is required and holds, in this order, the component, repetition, escape and
    subcomponent separators: 4 characters (``^~\\&``); v2.7+ adds a fifth, the truncation
    character (``#``). Each must differ from the others and from MSH-1, and none may be a
    letter, digit or space (v2.5.1 2.5.4: "delimiter characters ... non-alphanumeric").
    Anything else (missing, empty, ``^`` alone, over-long) is refused: python-hl7 would fill
    the gaps with the default separators, a guess at how the sender split its fields.
    """
    separator = msh[3] if len(msh) > 3 else ""
    received = msh[4:].split(separator, 1)[0] if separator else ""
    characters = f"{separator}{received}"
    if (
        len(received) not in (4, 5)
        or len(set(characters)) != len(characters)
        or any(c.isalnum() or c.isspace() for c in characters)
    ):
        return (
            f"MSH-2 (encoding characters) is {received!r}: HL7 v2.5.1 2.14.9.2 requires the"
            " component, repetition, escape and subcomponent separators (4 distinct"
            " non-alphanumeric characters other than MSH-1, e.g. '^~\\&'), or 5 with the"
            " v2.7+ truncation character ('^~\\&#'); the message is not read with default"
            " separators"
        )
    return None


def declared_character_set(message: bytes) -> str:
    """MSH-18's first repetition as written (``8859/1``), read before decoding.

    The MSH segment up to MSH-18 is ASCII in every single- and multi-byte set of table 0211
    except UTF-16/32 (which start with a byte-order mark), so it is read byte for byte.
    """
    head = message.split(b"\r", 1)[0].split(b"\n", 1)[0].decode("latin-1")
    if not head.startswith("MSH") or len(head) < 8:
        return ""
    separator, repetition = head[3], head[5]
    fields = head.split(separator)
    # fields[0] is "MSH" and MSH-1 is the separator itself: MSH-n is fields[n - 1]
    return fields[17].split(repetition)[0].strip() if len(fields) > 17 else ""


def decode_hl7v2(message: bytes, log: ProblemLog, charset: str | None = None) -> str | None:
    """Bytes -> text in MSH-18's character set (else ``charset``, else UTF-8); refuses at MSH.18."""
    for bom, codec in _BOMS:
        if message.startswith(bom):
            return _decode(message, codec, log, "a byte-order mark")
    declared = declared_character_set(message)
    if declared:
        # table 0211 values are exact (MSH-18 is ID, v2.5.1 2.14.9.18, 2A.3.35): a set written in
        # another case names none of the table's, so the bytes are not decoded in a guessed one
        named = CHARACTER_SETS.get(declared)
        if named is None:
            log.problem("MSH.18", f"character set {declared!r} is not one TrialWatch reads"
                        f" (v2.5.1 table 0211: {', '.join(CHARACTER_SETS)})")
            return None
        return _decode(message, named, log, f"MSH-18 {declared!r}")
    if charset:
        return _decode(message, charset, log, f"the declared charset {charset!r}")
    return _decode(message, "utf-8", log, "MSH-18 empty: ASCII (v2.5.1 default), read as UTF-8")


def _decode(message: bytes, codec: str, log: ProblemLog, why: str) -> str | None:
    try:
        return message.decode(codec)
    except (UnicodeDecodeError, LookupError) as error:
        where = f" (byte {error.start})" if isinstance(error, UnicodeDecodeError) else ""
        log.problem("MSH.18", f"the message is not valid {codec}{where}; character set from {why}")
        return None


def _header(
    parsed: hl7.Message,
    log: ProblemLog,
    source_system: str | None,
    received_at: datetime | None,
    sender_zone: tzinfo | None,
    processing_ids: frozenset[str] = DEFAULT_PROCESSING_IDS,
) -> _Message | None:
    draft = _Message(parsed, "", source_system or "", received_at, None, "", None)
    msh = parsed.segment("MSH")
    message_type = draft.field(msh, "MSH", 9)
    kind = (message_type.component(0), message_type.component(1))
    if kind not in {("ORU", "R01"), MERGE_MESSAGE, *PHARMACY_MESSAGES}:
        found = "^".join(message_type.repetitions[0]) if message_type.repetitions else ""
        log.problem("MSH.9", "only ORU^R01, ADT^A40, RAS^O17 and RDE^O11 are accepted,"
                    f" got {found!r}")
    version = draft.field(msh, "MSH", 12).component(0)
    if version not in READ_VERSIONS:
        log.problem("MSH.12", (
            f"version {version!r} (MSH-12, v2.5.1 2.14.9.12, table 0104) is not one whose fields"
            f" TrialWatch reads as v2.5.1 defines them ({', '.join(READ_VERSIONS)})"))
    processing = _processing_refusal(draft.field(msh, "MSH", 11), processing_ids)
    if processing:
        log.problem("MSH.11", processing)
    control_id = draft.field(msh, "MSH", 10).component(0)
    if not control_id:
        log.problem("MSH.10", "no message control id: results could not be told apart")
    # MSH-4 (sending facility) names the source; some senders fill only MSH-3 (application)
    sender = (
        source_system
        or draft.field(msh, "MSH", 4).component(0)
        or draft.field(msh, "MSH", 3).component(0)
    )
    if not sender:
        log.problem("MSH.4", "no sending facility (MSH-4, MSH-3) and no source_system given")
    zone, origin, sent_at = _sender_zone(draft.field(msh, "MSH", 7), log, sender_zone)
    if log.problems:
        return None
    return _Message(parsed, control_id, sender, received_at, zone, origin, sent_at,
                    kind == MERGE_MESSAGE, version,
                    offset_only=zone is not None and zone is not sender_zone)


def _processing_refusal(msh11: ObxField, accepted: frozenset[str]) -> str | None:
    """Why MSH-11 (PT, v2.5.1 2.14.9.11) keeps the message from being read, or None: no
    processing id (required), one table 0103 does not define or this site does not accept
    (``accepted``), or a processing mode (PT.2) table 0207 does not define."""
    listed = ",".join(sorted(accepted)) or "none"
    if len(msh11.repetitions) > 1:
        return "MSH-11 (processing id) is repeated; HL7 v2.5.1 2.14.9.11 allows one"
    # exact, not stripped: PT.1 and PT.2 are ID values of their tables (data type ID)
    parts = msh11.repetitions[0] if msh11.repetitions else ()
    processing_id = parts[0] if parts else ""
    mode = parts[1] if len(parts) > 1 else ""
    if len(parts) > 2:
        return ("MSH-11 has more than the two components of a PT (processing id, processing"
                " mode; HL7 v2.5.1 data type PT)")
    if not processing_id:
        return ("no processing id: MSH-11 is required (HL7 v2.5.1 2.14.9.11, table 0103: P"
                " production, T training, D debugging), so whether the message carries real"
                f" patients' results is not known; INTAKE_HL7V2_PROCESSING_IDS lists {listed}")
    meaning = PROCESSING_IDS.get(processing_id)
    if meaning is None:
        return (f"processing id {processing_id!r} is not one HL7 v2.5.1 table 0103 defines"
                " (P production, T training, D debugging; exact, MSH-11.1 is ID)")
    if processing_id not in accepted:
        return (f"processing id {processing_id} ({meaning}, HL7 v2.5.1 table 0103) is not"
                f" accepted by this site; INTAKE_HL7V2_PROCESSING_IDS lists {listed}")
    if mode not in PROCESSING_MODES:
        return (f"processing mode {mode!r} (MSH-11.2) is not one HL7 v2.5.1 table 0207 defines"
                " (A archive, R restore from archive, I initial load, T current processing,"
                " blank: current processing)")
    return None


def _sender_zone(
    msh7: ObxField, log: ProblemLog, configured: tzinfo | None
) -> tuple[tzinfo | None, str, datetime | None]:
    """(zone, where it came from, MSH-7 as UTC) for times without an offset.

    MSH-7's offset when it has one, else the zone configured for the source, else None (then
    every time without an offset is refused where it is read).
    """
    text = msh7.component(0)
    try:
        offset = hl7_offset(text) if text else None
    except TimeFormatError as error:
        log.problem(msh7.path, str(error))
        return None, "", None
    if offset is not None and _zone_agrees(configured, offset, text):
        # v2.5.1 2A.3.22: a time without an offset is in "the local time zone of the sender",
        # a zone with its daylight-saving rules, not MSH-7's one offset: a result taken before
        # a change and sent after it is in the other offset
        zone: tzinfo | None = configured
        origin = (f"the zone configured for this source ({configured}), which MSH-7's offset"
                  f" {_utc_offset(offset)} agrees with")
    elif offset is not None:
        zone = offset
        origin = f"MSH-7's offset {_utc_offset(offset)}"
    else:
        zone, origin = configured, f"the zone configured for this source ({configured})"
    if not text:
        return zone, origin, None
    try:
        return zone, origin, parse_hl7_ts(text, zone)
    except NoTimeZone:
        return zone, origin, None  # MSH-7 then matters only for undated results, which say so
    except TimeFormatError as error:
        log.problem(msh7.path, str(error))
        return None, "", None


def _zone_agrees(configured: tzinfo | None, offset: tzinfo, msh7: str) -> bool:
    """Whether the source's configured zone has MSH-7's offset at MSH-7's instant."""
    if configured is None:
        return False
    try:
        sent = parse_hl7_ts(msh7, offset)
    except TimeFormatError:
        return False
    return sent.astimezone(configured).utcoffset() == offset.utcoffset(None)


def _utc_offset(zone: tzinfo) -> str:
    delta = zone.utcoffset(None)
    if delta is None:
        return str(zone)
    minutes = int(delta.total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    return f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


# Fields TrialWatch reads that HL7 v2.5.1 defines as non-repeating, by segment, with where v2.5.1
# defines them (MSH 2.14.9, PID 3.4.2, ORC 4.5.1, OBR 4.5.3, TQ1 4.5.4, OBX 7.4.2, RXA and RXE
# ch. 4A). OBX-5 and OBX-8 repeat (7.4.2.5, 7.4.2.8), PID-3 (3.4.2.3), MSH-18 (2.14.9.18) and
# TQ1-3 (repeat pattern) repeat too.
_NON_REPEATING = {
    "MSH": ("2.14.9.{}", (3, 4, 7, 9, 10, 12)),
    "PID": ("3.4.2.{}", (7, 8, 29, 30)),
    "ORC": ("4.5.1.{}", (1, 2, 3, 5, 9)),
    "OBR": ("4.5.3.{}", (2, 3, 7, 25)),
    "TQ1": ("4.5.4.{}", (7, 8)),
    "OBX": ("7.4.2.{}", (1, 2, 3, 4, 6, 7, 11, 14)),
    "RXA": ("ch. 4A, RXA-{}", (1, 2, 3, 4, 5, 6, 7, 20, 21)),
    "RXE": ("ch. 4A, RXE-{}", (1, 2, 3, 4, 5)),
}


def _repeated_fields(message: _Message, log: ProblemLog, segment: hl7.Segment, label: str) -> None:
    """Refuse, at its path, each read field that v2.5.1 defines as non-repeating and that holds
    a second valued repetition (``F~C`` in OBX-11): the first alone would drop the others, and
    which one the sender meant is unknown. An empty trailing repetition (``F~``) drops nothing."""
    name = str(segment[0])
    section, numbers = _NON_REPEATING.get(name, ("{}", ()))
    for number in numbers:
        field = message.field(segment, label, number)
        if any(any(part.strip() for part in rep) for rep in field.repetitions[1:]):
            log.problem(field.path, (
                f"{name}-{number} does not repeat (HL7 v2.5.1 {section.format(number)}), but"
                f" {len(field.repetitions)} repetitions separated by"
                f" {message.parsed.separators[2]!r} were sent: which one holds is unknown, and"
                " none is read in place of the others"))


def _groups(message: _Message, log: ProblemLog) -> list[_Group]:
    segments = list(message.parsed)
    obx_segments = [segment for segment in segments if str(segment[0]) == "OBX"]
    set_ids = [message.field(obx, "OBX", 1).component(0) for obx in obx_segments]
    use_set_ids = all(set_ids) and len(set(set_ids)) == len(set_ids)
    groups: list[_Group] = []
    order = _Order()
    seen: Counter[str] = Counter()
    pid_count = obx_count = obr_count = orc_count = 0
    counts: Counter[str] = Counter()
    checked: Counter[str] = Counter()
    tq1 = {
        id(segment): f"TQ1[{n}]"
        for n, segment in enumerate((s for s in segments if str(s[0]) == "TQ1"), start=1)
    }
    # the current order group's results (group, index) and its specimen's reading (SPM-21/24)
    order_facts: list[tuple[int, int]] = []
    specimen: tuple[ReadingNote | None, tuple[ReadingNote, ...]] = (None, ())
    after_obx: tuple[int, int] | None = None  # the result an NTE would comment on
    after_obr = False  # an NTE here comments on the order (OBR {NTE}, v2.5.1 7.3.1)
    order_comments: tuple[ReadingNote, ...] = ()  # those comments, named on each result
    nte_count = spm_count = 0
    for position, segment in enumerate(segments):
        name = str(segment[0])
        if name != "NTE":
            after_obx = None
        after_obr = name == "OBR" or (after_obr and name == "NTE")
        if name in {"PID", "ORC", "OBR"}:
            order_facts, specimen, order_comments = [], (None, ()), ()
        if name in _NON_REPEATING:
            checked[name] += 1
            _repeated_fields(
                message, log, segment, name if name == "MSH" else f"{name}[{checked[name]}]"
            )
        if name == "PID":
            pid_count += 1
            groups.append(_patient(message, log, segment, pid_count))
            order = _Order()
        elif name == "ORC":
            orc_count += 1
            order = _Order(orc=segment, orc_label=f"ORC[{orc_count}]")
        elif name == "OBR":
            obr_count += 1
            # an OBR right after its ORC completes that group; otherwise it starts a new one
            orc = order.orc if order.obr is None else None
            order = _Order(orc=orc, obr=segment, obr_number=obr_count, orc_label=order.orc_label)
            status = message.field(segment, f"OBR[{obr_count}]", 25)
            refusal = order_status_problem(status.component(0))
            if refusal is not None:
                log.problem(status.path, refusal)
        elif name == "MRG" and message.merge and groups:
            groups.append(_merged(message, log, segment, groups[-1]))
        elif name in {"RXA", "RXE"}:
            counts[name] += 1
            label = f"{name}[{counts[name]}]"
            if not groups:
                log.problem(label, "medication before any PID segment: no patient to attach it to")
                continue
            fact = _pharmacy(message, log, segments, position, order, label, counts[name], tq1)
            if fact is not None:
                groups[-1].facts.append(fact)
        elif name == "OBX":
            obx_count += 1
            label = f"OBX[{obx_count}]"
            if not groups:
                log.problem(label, "result before any PID segment: no patient to attach it to")
                continue
            key = set_ids[obx_count - 1] if use_set_ids else str(obx_count)
            fact = _observation(message, log, segment, order, label, key, seen, pid_count)
            if fact is not None:
                if order_comments:
                    fact = fact.model_copy(update={"notes": (*fact.notes, *order_comments)})
                groups[-1].facts.append(_with_specimen(fact, *specimen))
                after_obx = (len(groups) - 1, len(groups[-1].facts) - 1)
                order_facts.append(after_obx)
        elif name == "NTE":
            nte_count += 1
            if after_obx is not None:
                # v2.5.1 7.3.1 ORU^R01 OBSERVATION: OBX {NTE}, a comment on that result
                where, index = after_obx
                fact = groups[where].facts[index]
                groups[where].facts[index] = fact.model_copy(update={"notes": (
                    *fact.notes, ReadingNote(path=f"NTE[{nte_count}]", reason=(
                        "a comment on this result (NTE, HL7 v2.5.1 2.15.10, 7.3.1) was not"
                        " read: free text never decides, and the lab may qualify or"
                        " invalidate the result there; a person should read it")))})
            elif after_obr:
                # v2.5.1 7.3.1 ORU^R01 ORDER_OBSERVATION: OBR {NTE}, a comment on the order,
                # hence on each of its results (those after it in the group)
                order_comments = (*order_comments, ReadingNote(path=f"NTE[{nte_count}]", reason=(
                    "a comment on this result's order (NTE after OBR, HL7 v2.5.1 2.15.10, 7.3.1)"
                    " was not read: free text never decides, and the lab may qualify or"
                    " invalidate the order's results there; a person should read it")))
        elif name == "SPM":
            spm_count += 1
            label = f"SPM[{spm_count}]"
            specimen = specimen_reading(
                message.field(segment, label, 21), message.field(segment, label, 24)
            )
            for where, index in order_facts:
                groups[where].facts[index] = _with_specimen(
                    groups[where].facts[index], *specimen
                )
    if not groups:
        log.problem("PID", "no PID segment")
    return groups


def _with_specimen(
    fact: ClinicalFact, unread: ReadingNote | None, notes: tuple[ReadingNote, ...]
) -> ClinicalFact:
    """``fact`` read with its specimen's SPM-21/24 (``specimen_reading``): kept unread, with
    no value, when the specimen was rejected or spoilt; noted when its handling is named. A
    withdrawal (entered-in-error) or a pending result has no value to doubt and is kept."""
    if fact.status in {"entered-in-error", "registered"}:
        return fact
    if unread is not None:
        return fact.model_copy(update={
            "unread": fact.unread or unread, "value_quantity": None, "value_code": None,
            "value_boolean": None,
        })
    if notes:
        return fact.model_copy(update={"notes": (*fact.notes, *notes)})
    return fact


def _pharmacy(
    message: _Message,
    log: ProblemLog,
    segments: list[hl7.Segment],
    position: int,
    order: _Order,
    label: str,
    number: int,
    tq1: dict[int, str],
) -> ClinicalFact | None:
    """An RXA or RXE segment through ``shared.clinical.hl7v2_medications`` (its docstring)."""
    context = PharmacyContext(
        source_system=message.source_system,
        zone=message.zone,
        zone_origin=message.zone_origin,
        field=message.field,
        provenance=message.provenance,
        offset_only=message.offset_only,
    )
    order_number = _order_number(message, order)
    segment = segments[position]
    if str(segment[0]) == "RXA":
        return administration(context, log, segment, label, number, order_number)
    timings = []
    for following in segments[position + 1:]:
        if str(following[0]) not in RXE_GROUP:
            break
        if str(following[0]) == "TQ1":
            timings.append((following, tq1[id(following)]))
    return encoded_order(
        context, log, segment, label, number, order.orc, timings, order_number,
        orc_label=order.orc_label,
    )


def _day_of_death(written: str, zone: tzinfo | None) -> date | None:
    """PID-29 as the sender's day, only when it is a valid DTM (a refused one is not used)."""
    try:
        parse_hl7_ts(written, zone)
    except NoTimeZone:
        pass  # the day is still the sender's day
    except TimeFormatError:
        return None
    return day_as_written(written)


def _patient(message: _Message, log: ProblemLog, pid: hl7.Segment, number: int) -> _Group:
    label = f"PID[{number}]"
    identifiers = message.field(pid, label, 3)
    notes: tuple[ReadingNote, ...] = ()
    if message.site_mrn_authority:
        chosen = site_mrn(identifiers, message.site_mrn_authority, message.parsed.separators[4])
        if chosen.problem is not None:
            log.problem(identifiers.path, chosen.problem)
        if chosen.unused is not None:
            notes = (ReadingNote(path=identifiers.path, reason=chosen.unused),)
        mrn = chosen.value
    else:
        if several := several_record_numbers(identifiers):
            log.problem(identifiers.path, several)
        mrn = medical_record_number(identifiers)
    # CX-4 assigning authority kept as the identifier's system (v2.5.1 2.A.14 CX, 2.A.33 HD)
    aliases = identifier_aliases(identifiers, message.parsed.separators[4])
    birth_date = None
    birth = message.field(pid, label, 7)
    # PID-7 is TS: its degree of precision (TS-2, table 0529) coarser than the digits leaves
    # only the year or month (``_ts_text``)
    birth_text, _, birth_problem = _ts_text(birth, birth.path)
    if birth_problem is not None:
        log.problem(birth.path, birth_problem)
    elif birth_text:
        try:
            # YYYY or YYYYMM is a valid DT (v2.5.1 ch. 2A.3.21): no exact day, so no exact age
            birth_date = parse_hl7_date(birth_text)
        except TimeFormatError as error:
            log.problem(birth.path, str(error))
        if birth_date is not None and (
                impossible := birth_after_receipt(birth_date, message.received_at)):
            log.problem(birth.path, impossible)
            birth_date = None
    sex_field = message.field(pid, label, 8)
    sex_sent = sex_field.component(0)
    sex = _SEX.get(sex_sent)
    if sex_sent and sex is None:
        # sex decides reference ranges by sex and pregnancy criteria, and demographics keep no
        # note: a value TrialWatch cannot read is refused, never guessed nor dropped silently
        log.problem(sex_field.path, f"administrative sex {sex_sent!r} is not in table 0001"
                    f" (v2.5.1 3.4.2.8: {', '.join(_SEX)}; codes are exact)")
    died = deceased(
        log,
        message.field(pid, label, 29),
        message.field(pid, label, 30),
        lambda text: parse_hl7_ts(text, message.zone),
    )
    death_time = message.field(pid, label, 29).component(0)
    demographics = Demographics(
        birth_date=birth_date,
        sex=sex,
        deceased=died,
        # PID-29 (DTM) as the sender's day; only when the record says deceased
        deceased_on=_day_of_death(death_time, message.zone) if died and death_time else None,
        provenance=message.provenance(f"PID/{number}"),
    )
    return _Group(source_patient_id=mrn, demographics=demographics, aliases=aliases,
                  notes=notes)


def _merged(message: _Message, log: ProblemLog, mrg: hl7.Segment, survivor: _Group) -> _Group:
    """ADT^A40: the MRG's prior identifier merged into the PID before it (v2.5.1 3.3.40)."""
    prior = prior_patient(log, message.field(mrg, "MRG", 1), survivor.source_patient_id,
                          message.site_mrn_authority, message.parsed.separators[4])
    into = (
        SourcePatient(source_patient_id=survivor.source_patient_id)
        if survivor.source_patient_id
        else None
    )
    return _Group(
        source_patient_id=prior.source_patient_id if prior else None,
        demographics=None,
        merged_into=into,
    )


# HL7 v2.5.1 2A.3.13 CWE (OBX-3): components 4-6 are the alternate identifier, "an
# alternate code for the same concept" as components 1-3
_SAME_OBSERVATION = ("HL7 v2.5.1 2A.3.13 CWE: the alternate identifier, components 4-6, codes"
                     " the same concept as the identifier")


def _observation(
    message: _Message,
    log: ProblemLog,
    obx: hl7.Segment,
    order: _Order,
    label: str,
    key: str,
    seen: Counter[str],
    patient: int,
) -> ClinicalFact | None:
    identifier = message.field(obx, label, 3)
    sent_codes = codings(identifier)
    if not sent_codes:
        log.problem(identifier.path, "no observation identifier")
        return None
    # a local OBX-3 (CWE-3 L, 99zzz: v2.5.1 2A.3.13, table 0396) read as the LOINC or SNOMED CT
    # code the site's crosswalk maps it to, noted at OBX[n].3; the identity keeps the codes sent
    # a coding-system name outside table 0396: a sourced spelling (coding_systems.yaml, e.g.
    # 'LOINC') read as its system, anything else not identified; noted at OBX[n].3.3 / .3.6
    spelled, system_notes = identified_codings(identifier)
    codes, mapped = crosswalked(spelled, message.source_system, identifier.path)
    disagreement = analytes_disagree(codes, _SAME_OBSERVATION)
    if disagreement is not None:
        # probe round 4: '777-3^Platelets^LN^751-8^Neutrophils^LN' was read as its first code
        # (FHIR's CodeableConcept with the same two codings was already refused)
        log.problem(identifier.path, disagreement)
        return None
    loinc = loinc_of(codes)
    # table values are read as the table writes them (v2.5.1 2A.3.35 ID: "drawn from a table of
    # legal values"): 'f' is not table 0085's F, and is refused like any code outside it
    status_code = message.field(obx, label, 11).component(0)
    notes: list[ReadingNote] = [*system_notes, *mapped]
    if status_code and status_code not in RESULT_STATUS:
        log.problem(f"{label}.11", f"result status {status_code!r} is not in v2.5.1 table 0085")
        return None
    if message.version == "2.3" and status_code in TABLE_0085_FROM_2_3_1:
        log.problem(f"{label}.11", (
            f"result status {status_code!r} is not in table 0085 of v2.3, the version of this"
            " message (MSH-12): it was added in v2.3.1, so what this sender meant by it is not"
            " defined"))
        return None
    units = message.field(obx, label, 6)
    # a read field with an escape sequence that cannot be read (v2.5.1 2.7): nothing of the
    # value is read from the rest of it
    escaped = _escape_note(message, obx, label)
    value = ObxReading() if escaped is not None else read_obx_value(
        log,
        message.field(obx, label, 2).component(0),
        message.field(obx, label, 5),
        units,
        loinc,
        status_code,
        f"{label}.2",
    )
    # OBX-8 repeats (v2.5.1 7.4.2.8): every flag is read; '<' / '>' (table 0078, off the
    # instrument's scale) make an exact number a bound
    value, interpretation = read_flags(
        value,
        abnormal_flags(message.field(obx, label, 8)),
        f"{label}.8",
        message.field(obx, label, 2).component(0),
    )
    ranges = message.field(obx, label, 7)
    provenance = message.provenance(f"OBX/{key}")
    identity = _identity(
        message, log, obx, order, label, sent_codes, status_code, seen, patient,
        provenance.resource,
    )
    if identity is None:
        return None
    # table 0085 I ("specimen in lab; results pending") and O ("order received; specimen not
    # yet received") with no OBX-5: no result exists yet, so there is no observation time to
    # stand in for (no OBR-7 or MSH-7 substitute and no warning about one); the fact is read as
    # registered, which no criterion reads
    pending = status_code in PENDING_STATUSES and message.field(obx, label, 5).empty
    effective, time_notes, undated, bounds = _observed_at(
        message, log, obx, order, label, pending=pending
    )
    notes.extend(time_notes)
    if not undated and effective is not None:
        notes.extend(_after_message(message, log, obx, order, label, effective, bounds))
    # an empty OBX-11 (required, v2.5.1 7.4.2.11): final, preliminary or cancelled is unknown,
    # so the result is kept unread at OBX[n].11 (FHIR R4 observation-status "unknown")
    unread = (
        escaped
        or (no_status(f"{label}.11") if not status_code else None)
        or not_obtained(status_code, f"{label}.11")
        or pending_with_value(status_code, not message.field(obx, label, 5).empty, f"{label}.11")
        or _order_without_results(message, obx, order, label)
        or _order_cancelled(message, obx, order, label)
        or value.unread
    )
    if status_code in WITHDRAWING:
        # table 0085 D/W: this OBX withdraws exactly the result with the same identity (order,
        # OBX-3, OBX-4), which becomes an entered-in-error tombstone; the receipt says so, naming
        # the result as a person would (never the internal key, never a value)
        notes.append(ReadingNote(path=f"{label}.11", reason=(
            f"result status {status_code} ({WITHDRAWING[status_code]}; HL7 v2.5.1 table 0085):"
            f" withdraws the earlier {result_name(codes)} result of {_order_words(message, order)}"
            " with the same OBX-4 sub-ID: it no longer counts")))
    elif status_code == "C":
        # table 0085 C: "Record coming over is a correction and thus replaces a final result"
        notes.append(ReadingNote(path=f"{label}.11", reason=(
            "result status C (correction; HL7 v2.5.1 table 0085): corrects the earlier"
            f" {result_name(codes)} result of {_order_words(message, order)} with the same"
            " OBX-4 sub-ID: this result replaces it")))
    if unread is None and undated and status_code in VALUED_STATUSES:
        unread = ReadingNote(path=f"{label}.14", reason="no observation time (OBX-14 and OBR-7"
                             " are empty): its place among other results is unknown")
    return ClinicalFact(
        fact_id=fact_id(message.source_system, identity),
        kind=FactKind.OBSERVATION,
        codes=codes,
        status=RESULT_STATUS.get(status_code) if status_code else NO_STATUS,
        effective_start=effective,
        time_bounds=bounds,
        value_quantity=value.quantity if unread is None else None,
        value_code=value.code if unread is None else None,
        **range_fields(
            reference_range(loinc, ranges.component(0), units, ranges.path)
            if value.quantity is not None and ranges.component(0)
            else ()
        ),
        interpretation=interpretation,
        provenance=provenance,
        unread=unread,
        notes=(*value.notes, *notes),
        received=value.received,
    )


def _order_without_results(
    message: _Message, obx: hl7.Segment, order: _Order, label: str
) -> ReadingNote | None:
    """The unread note of a valued OBX whose OBR-25 says the order has no result (table 0123
    O, I, S, X: ``hl7v2_values.order_without_results``), else None."""
    if order.obr is None or message.field(obx, label, 5).empty:
        return None
    status = message.field(order.obr, f"OBR[{order.obr_number}]", 25)
    return order_without_results(status.component(0), status.path)


# HL7 v2.5.1 table 0119 (ORC-1 order control, 4.5.1.1): CA "Cancel order/service request", OC
# "Order/service canceled", CR "Canceled as requested"; table 0038 (ORC-5 order status,
# 4.5.1.5): CA "Order was canceled"
_CANCELLING_CONTROL = {"CA": "Cancel order/service request", "OC": "Order/service canceled",
                       "CR": "Canceled as requested"}
_CANCELLED_STATUS = {"CA": "Order was canceled"}


def _order_cancelled(
    message: _Message, obx: hl7.Segment, order: _Order, label: str
) -> ReadingNote | None:
    """The unread note of a valued OBX whose ORC says its order was cancelled, else None.

    An ORU^R01 whose ORC-1 is CA/OC/CR (table 0119) or whose ORC-5 is CA (table 0038) says the
    order was cancelled; a valued OBX beside it contradicts it, as one under OBR-25 X ("No
    results available; Order canceled", ``_order_without_results``) does: which is right is
    unknown, so the value is not read and no older result decides in its place. Probe round
    5: before, the ORC was not looked at (a count of 150 under a cancelled order passed I6.1).
    """
    if order.orc is None or message.field(obx, label, 5).empty:
        return None
    control = message.field(order.orc, order.orc_label, 1)
    status = message.field(order.orc, order.orc_label, 5)
    if (code := control.component(0)) in _CANCELLING_CONTROL:
        where = control.path
        why = f"order control {code} ({_CANCELLING_CONTROL[code]}; HL7 v2.5.1 4.5.1.1, table 0119)"
    elif (code := status.component(0)) in _CANCELLED_STATUS:
        where = status.path
        why = f"order status {code} ({_CANCELLED_STATUS[code]}; HL7 v2.5.1 4.5.1.5, table 0038)"
    else:
        return None
    return ReadingNote(path=where, reason=(
        f"the order's {why} says it was cancelled, so a value sent under it contradicts its"
        " order and is not read"))


# ``times.CLOCK_SKEW``: clock skew allowed between a result's time and its message's time.


def _after_message(
    message: _Message,
    log: ProblemLog,
    obx: hl7.Segment,
    order: _Order,
    label: str,
    effective: datetime,
    bounds: TimeBounds | None,
) -> list[ReadingNote]:
    """A result's time (OBX-14, v2.5.1 7.4.2.14; else OBR-7, 4.5.3.7) against the time its
    message was sent; returns the notes to add.

    - later than ``received_at`` (TrialWatch's clock: when the message arrived) by more than
      ``CLOCK_SKEW``: impossible, refused at the time's path. Not kept unread: the engine
      skips a result dated after its evaluation time, so an older result would decide.
    - later than MSH-7 (2.14.9.7, the sender's own stamp for creating the message) by more
      than ``CLOCK_SKEW``, and not later than the arrival: the two sender clocks disagree; the
      result is read at its own time (it is not in the future) with a note. Real senders get
      MSH-7 wrong: LAB-ORU-1 is stamped 06:45, before its specimen reached the lab (SPM-18
      08:21), with results at 08:30 that the lab's next message repeats.

    A time without minutes counts from its earliest instant, MSH-7 without minutes until its
    latest.
    """
    earliest = bounds.start_earliest if bounds is not None else None
    observed = earliest if earliest is not None else effective
    path = (
        f"{label}.14" if message.field(obx, label, 14).component(0)
        else f"OBR[{order.obr_number}].7"
    )
    if message.received_at is not None and observed - message.received_at > CLOCK_SKEW:
        log.problem(path, (
            f"observed {_duration(observed - message.received_at)} after TrialWatch received"
            f" the message ({message.received_at.isoformat()}), more than the"
            f" {_duration(CLOCK_SKEW)} clock skew allowed: a result cannot be later than the"
            " message that carries it"))
        return []
    if message.sent_at is None:
        return []
    msh7 = message.field(message.parsed.segment("MSH"), "MSH", 7).component(0)
    try:
        window = hl7_ts_bounds(msh7, message.zone)
    except TimeFormatError:
        return []
    sent = window[1] if window is not None else message.sent_at
    if observed - sent <= CLOCK_SKEW:
        return []
    return [ReadingNote(path=path, reason=(
        f"observed {_duration(observed - sent)} after the message says it was created (MSH-7,"
        f" v2.5.1 2.14.9.7), more than the {_duration(CLOCK_SKEW)} clock skew allowed: the"
        " sender's clocks disagree; read at its own time"
        + (", which is not later than the message's arrival" if message.received_at else "")))]


def _duration(span: timedelta) -> str:
    minutes = int(span.total_seconds() // 60)
    return f"{minutes // 60} h {minutes % 60} min" if minutes >= 60 else f"{minutes} min"


# OBX fields a result is read from (v2.5.1 7.4.2): value type, identifier, sub-id, value,
# units, reference range, abnormal flags, status, observation time
_READ_OBX_FIELDS = (2, 3, 4, 5, 6, 7, 8, 11, 14)


def _escape_note(message: _Message, obx: hl7.Segment, label: str) -> ReadingNote | None:
    """The unread note of an OBX one of whose read fields holds an escape sequence that cannot
    be read exactly (``hl7v2_values.escape_problem``, v2.5.1 2.7), else None."""
    for number in _READ_OBX_FIELDS:
        field = message.field(obx, label, number)
        if field.escape is not None:
            return ReadingNote(path=field.path, reason=f"{field.escape}: the field is not read")
    return None


def _identity(
    message: _Message,
    log: ProblemLog,
    obx: hl7.Segment,
    order: _Order,
    label: str,
    codes: tuple[Coding, ...],
    status: str,
    seen: Counter[str],
    patient: int,
    message_scoped: str,
) -> str | None:
    """Order + observation, so a later C/W/D message finds the result it changes.

    Without an order number: ``message_scoped`` (``HL7v2/<MSH-10>/OBX/<n>``) for a new result;
    None (refused) for a C/W/D result, which must find the result it changes.
    """
    order_number = _order_number(message, order)
    if order_number is None:
        if status in REPLACING_STATUSES:
            where = f"OBR[{order.obr_number}].3" if order.obr is not None else f"{label}.11"
            log.problem(where, f"a result with status {status} (table 0085) changes an earlier"
                        " result of its order, but the order has no filler (OBR-3) or placer"
                        " (OBR-2) number to find it by")
            return None
        return message_scoped
    loinc = loinc_of(codes)
    coding = next((c for c in codes if c.code == loinc), codes[0]) if loinc else codes[0]
    sub_id = message.field(obx, label, 4).component(0)
    base = f"HL7v2/order/{order_number}/OBX/{coding.system}|{coding.code}/{sub_id}"
    seen[f"{patient}\x1f{base}"] += 1
    occurrence = seen[f"{patient}\x1f{base}"]
    # v2.5.1 7.4.2.4: OBX-4 tells apart OBX with the same OBX-3 under one OBR; when a sender
    # repeats both, the n-th such OBX of the order is the n-th in its correction too
    return base if occurrence == 1 else f"{base}#{occurrence}"


def _order_words(message: _Message, order: _Order) -> str:
    """The order as an integrator finds it: "order FIL-1 (OBR-3 filler order number)"."""
    number = _order_number(message, order)
    if number is None:
        return "the same order"
    kind, _, value = number.partition(":")
    field = "OBR-3 filler" if kind == "filler" else "OBR-2 placer"
    return f"order {value} ({field} order number)"


def _order_number(message: _Message, order: _Order) -> str | None:
    """``filler:<EI>`` from OBR-3 (else ORC-3), else ``placer:<EI>`` from OBR-2 (else ORC-2)."""
    for kind, number in (("filler", 3), ("placer", 2)):
        for segment, name in ((order.obr, "OBR"), (order.orc, "ORC")):
            if segment is None:
                continue
            entity = message.field(segment, name, number)
            parts = [entity.component(index) for index in range(4)]
            if parts[0]:
                return f"{kind}:" + "^".join(parts).rstrip("^")
    return None


def _ts_text(field: ObxField, path: str) -> tuple[str, ReadingNote | None, str | None]:
    """(text, note, problem): a TS read with its degree of precision (TS-2, table 0529).

    ``200301011230+0100^D`` is 1 January 2003, the whole day: the digits finer than TS-2 are
    dropped (``20030101+0100``) and a note says so. TS-2 empty, or equal to the digits' own
    precision: the time as sent. A code outside table 0529, or a precision finer than the
    digits give (``20030101^M``), is a ``problem`` (the time cannot be read).
    """
    text = field.component(0)
    degree = field.component(1).strip()
    if not degree or not text:
        return text, None, None
    if degree not in TS_PRECISION_DIGITS:
        return text, None, (
            f"degree of precision {degree!r} (TS-2) is not in table 0529 (Y, L, D, H, M, S):"
            f" the time {text!r} cannot be read")
    stripped = text.strip()
    offset_at = max(stripped.rfind("+"), stripped.rfind("-"))
    digits, offset = ((stripped[:offset_at], stripped[offset_at:]) if offset_at > 0
                      else (stripped, ""))
    whole = digits.split(".")[0]
    keep = TS_PRECISION_DIGITS[degree]
    name = _TS_PRECISION_NAMES[degree]
    if len(whole) < keep:
        return text, None, (
            f"degree of precision {degree!r} ({name}, TS-2, table 0529) is finer than the time"
            f" {text!r} gives: the two contradict")
    if len(whole) == keep and "." not in digits:
        return text, None, None
    kept = whole[:keep] + offset
    return kept, ReadingNote(path=path, reason=(
        f"time {text!r} with degree of precision {degree} ({name}; TS-2, table 0529, retained"
        f" for backward compatibility in v2.5.1): read as {kept!r}, the whole {name}")), None


def _dst_doubt(
    text: str, path: str, moment: datetime, bounds: TimeBounds | None, origin: str
) -> TimeBounds:
    """The bounds of a time without an offset read in MSH-7's one offset, widened by
    ``WIDEST_DST_SAVE`` on each side.

    v2.5.1 2A.3.22: a time without an offset is in "the local time zone of the sender", a zone
    with daylight-saving rules; MSH-7's offset is that zone's offset only at MSH-7's instant. A
    result taken before a change and sent after it is off by the change, which no zone makes
    larger than ``WIDEST_DST_SAVE`` (``shared.clinical.times``). Which zone, and so whether a
    change fell between the two, is unknown: the true instant may lie that far either side.
    The instant read stays ``effective_start``; a configured zone (an IANA zone) is exact and
    never comes here.
    """
    earliest = bounds.start_earliest if bounds is not None else None
    latest = bounds.start_latest if bounds is not None else None
    why = (
        f"time {text!r} has no UTC offset and no zone of this source that MSH-7 agrees with"
        f" is configured: read in {origin}, but v2.5.1 2A.3.22 makes it the sender's local"
        " time, whose daylight-saving offset may differ from MSH-7's at this time (a change"
        f" between them), by up to {_duration(WIDEST_DST_SAVE)} (the widest daylight-saving"
        " difference in the IANA tz database): it may be any instant that far either side; a"
        " window it decides is judged at both ends; configure the source's zone to read it"
        " exactly"
    )
    return TimeBounds(
        start_earliest=(earliest or moment) - WIDEST_DST_SAVE,
        start_latest=(latest or moment) + WIDEST_DST_SAVE,
        note=ReadingNote(path=path, reason=(
            why if bounds is None else f"{bounds.note.reason}; and {why}")),
    )


def _observed_at(
    message: _Message,
    log: ProblemLog,
    obx: hl7.Segment,
    order: _Order,
    label: str,
    *,
    pending: bool = False,
) -> tuple[datetime | None, list[ReadingNote], bool, TimeBounds | None]:
    """(time, notes, undated, bounds): OBX-14, else OBR-7 of this order group, else MSH-7
    (flagged). ``bounds`` when the time has no minutes (v2.5.1 2A.3.22 DTM: ``20261127`` is the
    whole day in the sender's zone): the first and last instant it stands for.

    ``pending``: a result not yet produced (table 0085 I/O, no OBX-5): only OBX-14 is its time;
    nothing stands in for it, so nothing is noted about a substitute."""
    candidates = [(message.field(obx, label, 14), f"{label}.14")]
    if pending and not candidates[0][0].component(0):
        return None, [], False, None
    if order.obr is not None:
        candidates.append(
            (message.field(order.obr, "OBR", 7), f"OBR[{order.obr_number}].7")
        )
    for candidate, path in candidates:
        text, precision_note, problem = _ts_text(candidate, path)
        if problem is not None:
            log.problem(path, problem)
            return None, [], False, None
        if not text:
            continue
        try:
            moment = parse_hl7_ts(text, message.zone)
            window = hl7_ts_bounds(text, message.zone)
        except TimeFormatError as error:
            log.problem(path, str(error))
            return None, [], False, None
        bounds = None
        if window is not None:
            moment = window[0]
            bounds = TimeBounds(
                start_earliest=window[0],
                start_latest=window[1],
                note=ReadingNote(path=path, reason=(
                    f"time {text!r} has no UTC offset and its zone shows that wall time twice or"
                    " never, at a daylight-saving change (v2.5.1 2A.3.22: the sender's local"
                    " time): it may be either instant; a window it decides is judged at both"
                    " ends" if local_time_in_doubt(text, message.zone) else
                    f"time {text!r} has no minutes (v2.5.1 2A.3.22 DTM): it may be any instant"
                    " of that day or hour; a window it decides is judged at both ends")),
            )
        if message.offset_only and hl7_offset(text) is None:
            bounds = _dst_doubt(text, path, moment, bounds, message.zone_origin)
        notes = [precision_note] if precision_note is not None else []
        if not path.endswith(".14"):
            notes.append(ReadingNote(path=path, reason="observation time from OBR-7 (the"
                                     " order's collection time): OBX-14 is empty"))
        if hl7_offset(text) is None:
            notes.append(ReadingNote(path=path, reason=f"time {text!r} has no offset: read in"
                                     f" the sender's zone, {message.zone_origin}"))
        return moment, notes, False, bounds
    if message.sent_at is None:
        note = ReadingNote(path=f"{label}.14", reason="no OBX-14, OBR-7 or readable MSH-7")
        return None, [note], True, None
    note = ReadingNote(path=f"{label}.14", reason="no OBX-14 or OBR-7: dated at MSH-7 (the"
                       " message time, an upper bound of the observation time)")
    return message.sent_at, [note], True, None
