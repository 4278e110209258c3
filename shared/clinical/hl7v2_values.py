"""Reading OBX fields: coded identifiers, typed values (OBX-2/-5), units, ranges and statuses.

Every OBX-5 is either read (a canonical quantity or code), refused (the problem names
``OBX[n].<field>``), or kept unread (``ObxReading.unread``: the fact stays, every criterion that
reads it is unknown). References are to HL7 v2.5.1: ch. 7.4.2 (OBX fields), ch. 2A (data types),
table 0125 (value types) and table 0085 (result status).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from shared.clinical.codes import HL7V2_SYSTEMS, LOINC, SNOMED, hl7v2_system_problem
from shared.clinical.facts import Coding, Quantity, ReadingNote, ReceivedValue, ReferenceRange
from shared.clinical.qualitative import Answer, coded_answer, qualitative_coding
from shared.clinical.reading import (
    COMPARATORS,
    ProblemLog,
    is_number,
    number_in_text,
    quoted,
    text_reference_ranges,
)
from shared.clinical.units import (
    UnitError,
    analyte_for,
    beyond_limits,
    convert,
    negative_refusal,
    to_canonical,
    units_conflict,
)

# HL7 table 0085 (observation result status) -> FHIR ObservationStatus, so consumers read one
# vocabulary. W ("post original as wrong") and D ("delete") withdraw the result.
RESULT_STATUS = {
    "C": "corrected",
    "D": "entered-in-error",
    "F": "final",
    "I": "registered",
    "N": "cancelled",
    "O": "registered",
    "P": "preliminary",
    "R": "preliminary",
    "S": "preliminary",
    "U": "final",
    "W": "entered-in-error",
    "X": "cancelled",
}
# Table 0085 statuses that carry a result value: an empty OBX-5 under them is a result that
# could not be read. I/O (pending), X (cannot be obtained), N (not asked), D and W (withdrawn)
# carry none.
VALUED_STATUSES = frozenset({"C", "F", "P", "R", "S", "U"})
# Table 0085 statuses of a result not produced yet: I "specimen in lab; results pending", O
# "order received; specimen not yet received" (FHIR R4 observation-status registered).
PENDING_STATUSES = frozenset({"I", "O"})
# Table 0085 statuses that change an earlier result of the same order and observation.
REPLACING_STATUSES = frozenset({"C", "D", "W"})
# Table 0085 statuses saying a result was sought and none exists: X "results cannot be obtained
# for this observation", N "not asked" (not sought although OBR-4 implies it would be). Such a
# result is kept unread at OBX-11: it may stand for a value the analyser could not report
# (clotted, out of range), so an older result must not decide in its place (issue 9). FHIR R4
# reads the same as Observation.status ``cancelled`` and ``dataAbsentReason``.
NOT_OBTAINED = {
    "X": "results cannot be obtained for this observation",
    "N": "not asked: the observation was not sought",
}
# Table 0085 statuses that withdraw the earlier result of the same order and observation.
WITHDRAWING = {"D": "deletes the OBX record", "W": "post original as wrong"}


# HL7 v2.5.1 table 0123 (result status, OBR-25, 4.5.3.25): the status of the order's results
# as a whole. Each result keeps its own status (OBX-11, table 0085) under A, P, C, R and F.
ORDER_STATUS = {
    "O": "Order received; specimen not yet received",
    "I": "No results available; specimen received, procedure incomplete",
    "S": "No results available; procedure scheduled, but not done",
    "A": "Some, but not all, results available",
    "P": "Preliminary: A verified early result is available, final results not yet obtained",
    "C": "Correction to results",
    "R": "Results stored; not yet verified",
    "F": "Final results; results stored and verified",
    "X": "No results available; Order canceled",
    "Y": "No order on record for this test (used only on queries)",
    "Z": "No record of this patient (used only on queries)",
}
# Table 0123 statuses under which the order has no result: a value sent under them is not read
ORDER_WITHOUT_RESULTS = frozenset({"O", "I", "S", "X"})
# Table 0123 statuses of a query response, not of an order's results (ORU^R01 is unsolicited)
QUERY_ONLY_STATUSES = frozenset({"Y", "Z"})


def order_status_problem(status: str) -> str | None:
    """Why OBR-25 ``status`` (as sent, may be empty) is refused, else None. Table values are
    read as table 0123 writes them (v2.5.1 2A.3.35 ID): ``f`` is refused, not read as ``F``.

    Empty is accepted: OBR-25 is conditional (v2.5.1 4.5.3.25) and each result's OBX-11 says
    its status. A code outside table 0123, or Y/Z (query responses only), is refused.
    """
    if not status or (status in ORDER_STATUS and status not in QUERY_ONLY_STATUSES):
        return None
    if status in QUERY_ONLY_STATUSES:
        return (f"result status {status} ({ORDER_STATUS[status]}; HL7 v2.5.1 4.5.3.25, table"
                " 0123) answers a query; it is no status of the results of an order")
    return f"result status {status!r} is not in HL7 v2.5.1 table 0123 (OBR-25, 4.5.3.25)"


def order_without_results(status: str, path: str) -> ReadingNote | None:
    """The unread note of a valued OBX under an OBR-25 saying no result exists, else None."""
    if status not in ORDER_WITHOUT_RESULTS:
        return None
    return ReadingNote(path=path, reason=(
        f"the order's result status is {status} ({ORDER_STATUS[status]}; HL7 v2.5.1 4.5.3.25,"
        " table 0123): No results available for this order (O, I, S, X), so a value sent"
        " under it contradicts its order and is not read"))


# FHIR R4 observation-status for an OBX whose OBX-11 is empty: "unknown" ("the authoring/source
# system does not know which of the status values currently applies for this observation").
NO_STATUS = "unknown"


def no_status(path: str) -> ReadingNote:
    """The unread note of an OBX whose OBX-11 is empty.

    OBX-11 is required (HL7 v2.5.1 7.4.2.11, table 0085): without it the result may be final,
    preliminary, corrected, cancelled or withdrawn, so its value is not read and an older
    result does not decide in its place (the engine reads the fact as unread).
    """
    return ReadingNote(
        path=path,
        reason=(
            "no result status (OBX-11 is required, HL7 v2.5.1 7.4.2.11, table 0085): whether"
            " this result is final, preliminary or cancelled is unknown, so it is not read"
        ),
    )


def not_obtained(status: str, path: str) -> ReadingNote | None:
    """The unread note of an OBX whose OBX-11 says no result was obtained (X, N), else None."""
    meaning = NOT_OBTAINED.get(status)
    if meaning is None:
        return None
    return ReadingNote(
        path=path,
        reason=(
            f"result status {status} ({meaning}; HL7 v2.5.1 table 0085): no result was"
            " obtained, and an older result cannot stand in for it"
        ),
    )

def pending_with_value(status: str, valued: bool, path: str) -> ReadingNote | None:
    """The unread note of an OBX whose OBX-11 says no result exists yet (I, O) while OBX-5 is
    valued, else None.

    HL7 v2.5.1 table 0085 I "specimen in lab; results pending", O "order received; specimen
    not yet received": a value sent under either contradicts the status, so whether it is a
    result is unknown. Kept unread, never dropped as pending (probe round 4: OBX-11 I with a
    platelet count of 8 was read as registered, which no criterion reads, with no trace, and
    the older 180 decided I6.1).
    """
    if status not in PENDING_STATUSES or not valued:
        return None
    meaning = "specimen in lab; results pending" if status == "I" else (
        "order received; specimen not yet received")
    return ReadingNote(path=path, reason=(
        f"result status {status} ({meaning}; HL7 v2.5.1 table 0085) sent with a value in"
        " OBX-5: whether the value is a result is unknown"))


_NUMBER = r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
_TEXT_TYPES = {"ST", "TX", "FT"}
_FREE_TEXT_TYPES = {"TX", "FT"}
_CODED_TYPES = {"CE", "CWE", "CNE"}
# v2.5.1 table 0125 value types that hold no result TrialWatch reads (dates, names, addresses,
# pointers, encapsulated data, arrays): kept unread when valued.
_OTHER_TYPES = {
    "AD", "CF", "CK", "CN", "CP", "CX", "DT", "DTM", "ED", "MA", "MO", "NA", "PN", "RP", "TM",
    "TN", "TS", "XAD", "XCN", "XON", "XPN", "XTN",
}  # fmt: skip
_PREFERRED_SYSTEMS = (SNOMED, LOINC)
_TITER_SEPARATORS = {":", "/"}  # SN ratios (v2.5.1 ch. 2A.3.70): 1:80 and 1/80 are titers


@dataclass(frozen=True)
class ObxField:
    """One OBX field, already split: repetitions of components; ``escape`` says why an escape
    sequence in it could not be read (``escape_problem``), else None."""

    path: str
    repetitions: tuple[tuple[str, ...], ...]
    escape: str | None = None

    def component(self, index: int, repetition: int = 0) -> str:
        if repetition >= len(self.repetitions):
            return ""
        components = self.repetitions[repetition]
        return components[index].strip() if index < len(components) else ""

    @property
    def empty(self) -> bool:
        return not any(any(part.strip() for part in rep) for rep in self.repetitions)

    @property
    def valued_repetitions(self) -> int:
        return sum(1 for rep in self.repetitions if any(part.strip() for part in rep))


@dataclass(frozen=True)
class ObxReading:
    """What one OBX-5 became: a quantity or a code, or an ``unread`` note; plus warnings and
    the value and unit as sent (``received``)."""

    quantity: Quantity | None = None
    code: Coding | None = None
    unread: ReadingNote | None = None
    notes: tuple[ReadingNote, ...] = ()
    received: ReceivedValue | None = None
    # SN.1 "=" (v2.5.1 2A.3.70): the sender said the value equals the number, no bound
    equal: bool = False


# v2.5.1 2.7 escape sequences in text fields: 2.7.1 delimiters (F S T R E), 2.7.2 highlighting
# (H N), 2.7.4 hexadecimal data (Xdddd...), 2.7.6 formatting commands (.sp .br .fi .nf .in .ti
# .sk .ce; .sp/.in/.ti/.sk/.ce take a number). 2.7.3 character set switches (Cxxyy, Mxxyyzz)
# and 2.7.5 locally defined sequences (Zdddd) have no meaning TrialWatch knows.
_KNOWN_ESCAPES = frozenset({"F", "S", "T", "R", "E", "H", "N", ".br", ".fi", ".nf"})
_NUMBERED_FORMATS = re.compile(r"^\.(?:sp|sk|ce)[0-9]*$|^\.(?:in|ti)[+-]?[0-9]*$", re.ASCII)
_HEX = re.compile(r"^X(?:[0-9A-Fa-f]{2})+$", re.ASCII)


def escape_problem(text: str, escape: str) -> str | None:
    """Why an escape sequence in ``text`` cannot be read exactly (HL7 v2.5.1 2.7), else None.

    A sequence is the escape character, a code, the escape character. Not read: an
    escape character with no closing one (a backslash the sender did not send as ``\\E\\``:
    ``Neg\\Pos`` would lose ``Pos``), an empty or unknown code, a locally defined ``\\Z..\\``
    (2.7.5) or character-set switch ``\\C..\\``/``\\M..\\`` (2.7.3), hexadecimal data that is
    not whole bytes of printable ASCII (other bytes' characters depend on the character
    set, 2.7.4; a control character is no text), and a
    formatting command with a malformed count. python-hl7 drops each of these silently.
    """
    position = text.find(escape)
    while position != -1:
        end = text.find(escape, position + 1)
        if end == -1:
            return (f"an escape character {escape!r} without its closing one (v2.5.1 2.7: a"
                    f" {escape!r} in text is sent as {escape}E{escape}): the text after it"
                    " cannot be read")
        code = text[position + 1:end]
        hex_data = _HEX.match(code)
        if hex_data and all(0x20 <= int(code[i:i + 2], 16) < 0x7F for i in range(1, len(code), 2)):
            pass
        elif code not in _KNOWN_ESCAPES and not _NUMBERED_FORMATS.match(code):
            shown = code if len(code) <= 12 and code.isascii() else f"{code[:1]}..."
            what = {
                "Z": "a locally defined escape (v2.5.1 2.7.5) whose meaning is not known",
                "C": "a character set switch (v2.5.1 2.7.3) that is not read",
                "M": "a character set switch (v2.5.1 2.7.3) that is not read",
                "X": "hexadecimal data (v2.5.1 2.7.4) that is not whole printable ASCII bytes",
            }.get(code[:1], "not an escape sequence of v2.5.1 2.7")
            return f"escape sequence {escape}{shown}{escape} is {what}"
        position = text.find(escape, end + 1)
    return None


def codings(field: ObxField) -> tuple[Coding, ...]:
    """CE/CWE identifier and alternate identifier; v2 system names map to URIs where known."""
    found = []
    for first in (0, 3):
        code = field.component(first)
        if code:
            system = field.component(first + 2)
            found.append(
                Coding(
                    system=HL7V2_SYSTEMS.get(system, system),
                    code=code,
                    display=field.component(first + 1) or None,
                )
            )
    return tuple(found)


def identified_codings(field: ObxField) -> tuple[tuple[Coding, ...], tuple[ReadingNote, ...]]:
    """``codings(field)`` with each coding-system name read per ``codes.hl7v2_system_problem``
    (a spelling of ``coding_systems.yaml`` read as its system), and a note at CWE-3
    (``<path>.3``) or CWE-6 (``<path>.6``) for each name that is not a table 0396 value read
    as sent: a spelling read, an empty or unknown name not identified. Local names (``L``,
    ``99zzz``) are kept as sent, without a note (the site code crosswalk reads them)."""
    found: list[Coding] = []
    notes: list[ReadingNote] = []
    for first in (0, 3):
        code = field.component(first)
        if code:
            system = field.component(first + 2)
            uri, note = hl7v2_system_problem(system)
            if note is not None:
                notes.append(ReadingNote(path=f"{field.path}.{first + 3}", reason=note))
            found.append(Coding(system=uri or system, code=code,
                                display=field.component(first + 1) or None))
    return tuple(found), tuple(notes)


def unit_of(field: ObxField) -> str:
    """OBX-6 (CE, v2.5.1 7.4.2.6): the unit code, else its text."""
    return field.component(0) or field.component(1)


# A power of ten split off at a '^' the sender did not escape: "10^9/L" sent as is reaches the
# reader as CE-1 "10" and CE-2 "9/L" (also "x10^3/uL" -> "x10", "3/uL").
_SPLIT_BASE = re.compile(r"^(?:[x×*]\s*)?10$", re.IGNORECASE)
_SPLIT_EXPONENT = re.compile(r"^[+-]?\d+(?:\s*[/.*a-zA-Zµμ\[{(]|$)")


def _unit_component_conflict(
        loinc: str | None, field: ObxField, component: int, names: str, cites: str,
) -> str | None:
    """Why an OBX-6 component names another unit than its identifier (CE-1), else None.

    ``component`` is 0-based (1: the text CE-2, 3: the alternate identifier CE-4); the reason
    calls it ``names`` (``"its text"``) and says after its value what the standard makes of
    it (``cites``: ``"(OBX-6 CE-2, v2.5.1 2A.3.8: the name of the identifier)"``).

    HL7 v2.5.1 2A.3.8 CE: CE-2 is "the descriptive or textual name of the identifier", so
    ``ukat/L^U/L^UCUM`` (60x apart) or ``U/L^[IU]/L^UCUM`` (UCUM's arbitrary international
    unit beside the enzyme unit) contradicts itself: which unit the value is in is unknown.
    HL7 v2.5.1 2A.3.8 CE / 2A.3.13 CWE: components 4-6 are "an alternate code for the same
    concept" (a lab's own unit code beside the UCUM one, ``10*9/L^^UCUM^K/uL^^L``), so
    ``10*9/L^^UCUM^10*6/L^^UCUM`` (a thousand times apart) contradicts itself likewise (probe
    round 5: before, CE-1 was read and CE-4 ignored). Both are compared by meaning as FHIR R4
    Quantity.code and .unit are (``units.units_conflict``: a display form of the same unit,
    ``IU/L`` for an enzyme's ``U/L``, the same unit spelt otherwise, a local code with no
    UCUM meaning, or free text, is no conflict).
    """
    code, other = field.component(0), field.component(component)
    if not code or not other or not units_conflict(loinc or "", code, other):
        return None
    return (
        f"unit {code!r} and {names} {other!r} {cites} name different units: which one the"
        " value is in is unknown"
    )


def split_unit(field: ObxField) -> str | None:
    """OBX-6 as sent (``10^9/L``) when its components look like one unit split at an unescaped
    component separator, else None.

    OBX-6 is CE (v2.5.1 7.4.2.6: identifier^text^coding system); a '^' inside a unit must be
    sent as the escape sequence ``\\S\\`` (v2.5.1 2.7). A CE-1 that is only a power-of-ten
    base (``10``, ``x10``) followed by a CE-2 that starts with an exponent (``9/L``) is such a
    split: reading CE-1 alone would read the unit as the number 10.
    """
    if len(field.repetitions) != 1:
        return None
    base, exponent = field.component(0), field.component(1)
    if _SPLIT_BASE.match(base) and _SPLIT_EXPONENT.match(exponent):
        return "^".join(part.strip() for part in field.repetitions[0]).rstrip("^")
    return None


def split_unit_reason(sent: str) -> str:
    """Why a unit split at an unescaped '^' is not read (``split_unit``)."""
    return (
        f"unit field holds {sent!r}: components that look like one unit split at an unescaped"
        " component separator '^' (OBX-6 is CE, identifier^text^coding system; a '^' inside"
        " a unit is sent as \\S\\, HL7 v2.5.1 2.7 escape sequences), so the unit is not read"
        " from a guess"
    )


def read_obx_value(
    log: ProblemLog,
    value_type: str,
    value: ObxField,
    unit: ObxField,
    loinc: str | None,
    status: str,
    type_path: str,
) -> ObxReading:
    """OBX-5 read as OBX-2 says (v2.5.1 7.4.2.2, table 0125).

    ``status`` is OBX-11 (table 0085). Refusals go to ``log``: OBX-2 empty or unknown while
    OBX-5 is valued, a unit that cannot be right for a catalogued analyte. A value that is
    present but not readable (an SN comparator outside the standard's set included) is kept
    ``unread``.
    """
    sent_unit = unit_of(unit) or None
    if value.empty:
        if status in VALUED_STATUSES:
            reason = f"no value (OBX-5 is empty) in a result with status {status}"
            return ObxReading(unread=ReadingNote(path=value.path, reason=reason))
        return ObxReading()
    if not value_type:
        # v2.5.1 7.4.2.2: OBX-2 "must be valued if OBX-11 is not X"; without it OBX-5 could be
        # NM, ST, SN or CWE, and reading it as any one of them would be a guess.
        log.problem(type_path, "value type (OBX-2) is empty while OBX-5 is valued"
                    " (v2.5.1 7.4.2.2 requires it; e.g. NM for a number)")
        return ObxReading()
    if value.valued_repetitions > 1 and value_type not in _FREE_TEXT_TYPES:
        # v2.5.1 7.4.2.5: OBX-5 repeats "for multipart, single answer results" (CE, TX, FT):
        # one code or number cannot stand for several parts, and the first alone drops the rest
        reason = (
            f"{value.valued_repetitions} values in one {value_type} result (a multipart answer,"
            " v2.5.1 7.4.2.5): no one of its parts is the result"
        )
        return _unread(value.path, reason, None, sent_unit)
    extra = _beyond_components(value, value_type)
    if extra is not None:
        return _unread(value.path, extra, None, sent_unit)
    if value_type in _CODED_TYPES:
        return _coded(log, loinc, value, unit)
    if value_type in _TEXT_TYPES:
        return _text(log, loinc, value_type, value, unit)
    if value_type == "NM":
        text = value.component(0)
        if not is_number(text):
            reason = f"value {quoted(text)} is not a number (NM, v2.5.1 ch. 2A.3.47)"
            return _unread(value.path, reason, _shown(text), sent_unit)
        return _quantity(log, loinc, float(text), None, unit, value.path, text)
    if value_type == "SN":
        return _structured_numeric(log, loinc, value, unit)
    if value_type in _OTHER_TYPES:
        reason = f"value type {value_type} (table 0125) holds no result TrialWatch reads"
        return _unread(value.path, reason, None, sent_unit)
    log.problem(type_path, f"value type {value_type!r} is not in HL7 v2.5.1 table 0125")
    return ObxReading()


# Value types whose components are fixed: NM and the string/text types are primitives (one
# component; a delimiter inside text is sent as an escape sequence, v2.5.1 2.7.1), SN has four
# (2A.3.70: comparator, num1, separator/suffix, num2).
_COMPONENTS = {
    "NM": (1, "NM (numeric, v2.5.1 2A.3.47) is a primitive data type"),
    "ST": (1, "ST (string data, v2.5.1 ch. 2A) is a primitive data type"),
    "TX": (1, "TX (text data, v2.5.1 ch. 2A) is a primitive data type"),
    "FT": (1, "FT (formatted text, v2.5.1 ch. 2A) is a primitive data type"),
    "SN": (4, "SN (structured numeric, v2.5.1 2A.3.70) has four components"),
}


def _beyond_components(value: ObxField, value_type: str) -> str | None:
    """Why OBX-5 holds more components than its data type has, else None.

    A component separator '^' inside a primitive value is not part of it (a '^' in text is sent
    as the escape sequence \\S\\, v2.5.1 2.7.1): reading the first component alone would drop
    the rest (NM ``150^x`` read as 150). An empty trailing component (``150^``) drops nothing.
    """
    known = _COMPONENTS.get(value_type)
    if known is None:
        return None
    count, what = known
    for repetition in value.repetitions:
        extra = [part for part in repetition[count:] if part.strip()]
        if extra:
            return (
                f"{what}: the value holds {len(repetition)} components separated by '^' (a"
                " '^' inside a value is sent as \\S\\, v2.5.1 2.7.1), so which part is the"
                " result is unknown and no part of it is read"
            )
    return None


def _coded(log: ProblemLog, loinc: str | None, value: ObxField, unit: ObxField) -> ObxReading:
    """CE/CWE/CNE (v2.5.1 2A.3.13 CWE): the identifier (CWE-1..3) and the alternate identifier
    (CWE-4..6) name one concept, as every coding of a FHIR R4 CodeableConcept does.

    Read as FHIR's ``valueCodeableConcept`` is (``fhir_values.read_concept``): any coding
    TrialWatch knows decides (``qualitative.coded_answer``: SNOMED CT qualifiers, LOINC answer
    codes, the ECOG answer list as its score), wherever it is; codings that mean different
    results make the value unread; with no known coding the first in a standard system (SNOMED
    CT, then LOINC) is kept as sent, else the first, with a note. ``received`` keeps both codings
    as sent (CWE-1..6). Without any code, the text (CWE-2, else CWE-9 original text) goes through
    the qualitative vocabulary, as an ST result would; else unread.
    """
    coded = codings(value)
    shown = "^".join(part for part in value.repetitions[0][:6]) if value.repetitions else ""
    received = ReceivedValue(value=shown.strip("^") or None)
    if coded:
        readings: dict[object, tuple[Coding, Answer]] = {}
        for coding in coded:
            answer = coded_answer(coding)
            if answer is not None:
                key = (answer.coding.system, answer.coding.code) if answer.coding else answer.score
                readings.setdefault(key, (coding, answer))
        if len(readings) > 1:
            sent = ", ".join(f"{c.system}|{c.code}" for c, _ in readings.values())
            reason = f"the identifier and alternate identifier mean different results ({sent})"
            return ObxReading(unread=ReadingNote(path=value.path, reason=reason), received=received)
        if readings:
            _, answer = next(iter(readings.values()))
            if answer.coding is not None:
                return ObxReading(code=answer.coding, received=received)
            score = answer.score if answer.score is not None else 0.0
            one = ObxField(path=unit.path, repetitions=(("1",),))
            read = _quantity(log, loinc, score, None, one, value.path, shown.strip("^"))
            return ObxReading(
                quantity=read.quantity, unread=read.unread, notes=read.notes, received=received
            )
        preferred = next(
            (c for system in _PREFERRED_SYSTEMS for c in coded if c.system == system), coded[0]
        )
        note = ReadingNote(path=value.path, reason=(
            "no coding is a result code TrialWatch knows; kept as sent"
            f" ({preferred.system}|{preferred.code})"))
        return ObxReading(code=preferred, notes=(note,), received=received)
    text = value.component(1) or value.component(8)
    word = qualitative_coding(text) if text else None
    if word is not None:
        note = ReadingNote(path=value.path, reason=f"coded value without a code: its text"
                           f" {text!r} read as a qualitative result word")
        return ObxReading(code=word, notes=(note,), received=ReceivedValue(value=text))
    reason = "coded value without a code (CWE.1), and no text that is a qualitative result word"
    return ObxReading(unread=ReadingNote(path=value.path, reason=reason), received=None)


def _text(
    log: ProblemLog, loinc: str | None, value_type: str, value: ObxField, unit: ObxField
) -> ObxReading:
    """ST/TX/FT: a qualitative word, a number, a bound (``<10``) or a titer; else unread."""
    sent_unit = unit_of(unit) or None
    text = value.component(0)
    if value_type in _FREE_TEXT_TYPES and value.valued_repetitions > 1:
        reason = f"{value_type} free text ({value.valued_repetitions} lines) is not a result value"
        return _unread(value.path, reason, None, sent_unit)
    coding = qualitative_coding(text)
    if coding is not None:
        return ObxReading(code=coding, received=ReceivedValue(value=text.strip()))
    number = number_in_text(text)
    if number is not None and number.problem is not None:
        log.problem(value.path, f"a number sent as {value_type} text: {number.problem}")
        return _unread(value.path, number.problem, None, sent_unit)
    if number is None:
        if value_type in _FREE_TEXT_TYPES:
            reason = f"{value_type} free text is not a result value"
        else:
            reason = (
                f"text {quoted(text)} is not a number, a bound (<10), a titer (1:80) or a"
                " qualitative result word"
            )
        return _unread(value.path, reason, _shown(text), sent_unit)
    note = ReadingNote(
        path=value.path,
        reason=f"a number sent as {value_type} text (v2.5.1 7.4.2.2 expects NM or SN) was read"
        f" as {_as_read(text)}",
    )
    units = ObxField(unit.path, (("{titer}",),)) if number.titer else unit
    reading = _quantity(
        log, loinc, number.value, number.comparator, units, value.path, text.strip(), unit
    )
    return _with_note(reading, note)


def _structured_numeric(
    log: ProblemLog, loinc: str | None, value: ObxField, unit: ObxField
) -> ObxReading:
    """SN (v2.5.1 ch. 2A.3.70): ``<comparator>^<num1>^<separator/suffix>^<num2>``.

    ``^182`` -> 182; ``>^300`` -> >300; ``^1^:^320`` and ``^1^/^320`` -> 320 {titer};
    ``<^1^:^80`` -> a titer below 1:80 (<80 {titer}). A range ``^5^-^10`` ("the data range is
    inclusive": 5 <= x <= 10) -> ``>=5`` with ``upper`` 10, as FHIR valueRange. Another ratio, a
    categorical ``^2^+``, a range with a comparator or ``<>`` (not equal) have no value or bound
    the fact can hold: unread.
    """
    comparator, first, separator, second = (value.component(i) for i in range(4))
    shown = f"{comparator}{first}{separator}{second}"
    sent_unit = unit_of(unit) or None
    if comparator not in COMPARATORS and comparator not in ("", "=", "<>"):
        # e.g. '182' without its leading '^', or '=<': the relation to the number is unknown
        reason = (f"SN.1 {quoted(comparator)} is not a comparator (>, <, >=, <=, =, <>;"
                  " v2.5.1 ch. 2A.3.70)")
        return _unread(value.path, reason, _shown(shown), sent_unit)
    bound = comparator if comparator in COMPARATORS else None
    if comparator == "<>":
        reason = f"{shown!r}: 'not equal to' gives no value or bound"
        return _unread(value.path, reason, shown, sent_unit)
    if not is_number(first) or (second and not is_number(second)):
        reason = f"{quoted(shown)} is not a structured numeric (SN.2 and SN.4 are numbers)"
        return _unread(value.path, reason, _shown(shown), sent_unit)
    if not separator and not second:
        read = _quantity(log, loinc, float(first), bound, unit, value.path, shown)
        return replace(read, equal=True) if comparator == "=" else read
    if separator in _TITER_SEPARATORS and second and float(first) == 1:
        titer = ObxField(unit.path, (("{titer}",),))
        return _quantity(log, loinc, float(second), bound, titer, value.path, shown, unit)
    if separator == "-" and second and not comparator:
        return _range(log, loinc, float(first), float(second), unit, value.path, shown)
    if separator == "-" and second:
        reason = f"range {shown!r} with a comparator: its relation to the range is unknown"
    elif separator in _TITER_SEPARATORS and second:
        reason = f"ratio {shown!r} is not a titer 1:N and has no single value"
    elif separator == "+" and not second:
        reason = f"categorical result {shown!r} (SN '+') has no numeric value"
    else:
        reason = f"{shown!r} is not a structured numeric form of v2.5.1 ch. 2A.3.70"
    return _unread(value.path, reason, shown, sent_unit)


def _quantity(
    log: ProblemLog,
    loinc: str | None,
    number: float,
    comparator: str | None,
    unit: ObxField,
    path: str,
    shown: str,
    sent: ObxField | None = None,
) -> ObxReading:
    received = ReceivedValue(value=shown, unit=unit_of(sent or unit) or None)
    negative = negative_refusal(loinc or "", number)
    if negative is not None:
        log.problem(path, f"{negative} (LOINC {loinc})")
        return ObxReading(received=received)
    split = split_unit(unit)
    if split is not None:
        received = ReceivedValue(value=shown, unit=split)
        if loinc is not None and analyte_for(loinc) is not None:
            log.problem(unit.path, f"{split_unit_reason(split)} (LOINC {loinc})")
            return ObxReading(received=received)
        note = ReadingNote(path=unit.path, reason=split_unit_reason(split))
        return ObxReading(unread=note, received=received)
    try:
        # OBX-6 CE-3 "UCUM" (table 0396): CE-1 is read as UCUM says, never through the alias
        # table (units.convert: "K/uL^^UCUM" is kelvin per microlitre)
        declared = unit.component(2).strip() == "UCUM" and bool(unit.component(0))
        converted = convert(loinc or "", number, unit_of(unit), declared_ucum=declared)
        if conflict := _unit_component_conflict(
                loinc, unit, 1, "its text",
                "(OBX-6 CE-2, v2.5.1 2A.3.8: the name of the identifier)",
        ) or _unit_component_conflict(
                loinc, unit, 3, "its alternate identifier",
                "(OBX-6 CE-4, v2.5.1 2A.3.8: an alternate code for the same concept)"):
            raise UnitError(conflict)
    except UnitError as error:
        if loinc is not None and analyte_for(loinc) is not None:
            log.problem(unit.path, f"{error} (LOINC {loinc})")
            return ObxReading(received=received)
        reason = f"unit {unit_of(unit)!r} could not be read: {error}"
        return ObxReading(unread=ReadingNote(path=unit.path, reason=reason), received=received)
    quantity = converted.quantity
    impossible = beyond_limits(loinc or "", quantity)
    if impossible is not None:
        # OBX-5 (v2.5.1 7.4.2.5) holds a value no laboratory could have measured: a unit or
        # value typed wrong; kept unread, never read as sent (analytes.yaml limits)
        return ObxReading(unread=ReadingNote(path=path, reason=impossible), received=received)
    if comparator:
        quantity = quantity.model_copy(update={"comparator": comparator})
    # a non-UCUM spelling read through the alias table is named on the fact (unit_aliases.yaml)
    notes = (converted.alias.note(unit.path),) if converted.alias else ()
    return ObxReading(quantity=quantity, notes=notes, received=received)


def _range(
    log: ProblemLog, loinc: str | None, low: float, high: float, unit: ObxField, path: str,
    shown: str,
) -> ObxReading:
    """SN ``^low^-^high``: inclusive bounds, each converted; read as ``>= low`` up to ``upper``.

    A negative bound of a catalogued analyte on a ratio scale is refused at OBX-5 once, as a
    negative single value is (``units.negative_refusal``), before the order of the bounds is
    looked at: ``^10^-^-20`` is a sender's error, not a reversed range.
    """
    for bound in (low, high):
        negative = negative_refusal(loinc or "", bound)
        if negative is not None:
            log.problem(path, f"range {shown!r}: {negative} (LOINC {loinc})")
            return ObxReading(received=ReceivedValue(value=shown, unit=unit_of(unit) or None))
    if high < low:
        return _unread(path, f"range {shown!r} has its high below its low", shown,
                       unit_of(unit) or None)
    lower = _quantity(log, loinc, low, ">=", unit, path, shown)
    upper = _quantity(log, loinc, high, None, unit, path, shown)
    if lower.quantity is None or upper.quantity is None:
        return lower if lower.quantity is None else upper
    quantity = lower.quantity.model_copy(update={"upper": upper.quantity.value})
    return ObxReading(quantity=quantity, received=lower.received)


def _unread(path: str, reason: str, shown: str | None, unit: str | None) -> ObxReading:
    received = ReceivedValue(value=shown, unit=unit) if shown or unit else None
    return ObxReading(unread=ReadingNote(path=path, reason=reason), received=received)


def _with_note(reading: ObxReading, note: ReadingNote) -> ObxReading:
    if reading.quantity is None:
        return reading
    return ObxReading(
        quantity=reading.quantity,
        code=reading.code,
        unread=reading.unread,
        notes=(*reading.notes, note),
        received=reading.received,
    )


# A number written as text is quoted in its reading note up to this length (real ones are under
# 30 characters); a longer one (OBX-5 may hold 65,536) is named by its length, so the note stays
# within ``facts.REASON_MAX_LENGTH``.
_QUOTED_NUMBER_MAX = 1024


def _as_read(text: str) -> str:
    stripped = text.strip()
    if len(stripped) <= _QUOTED_NUMBER_MAX:
        return repr(stripped)
    return f"a {len(stripped)}-character text"


def _shown(text: str) -> str | None:
    """The text itself when it may be kept (a short value without letters), else None."""
    stripped = text.strip()
    return stripped if quoted(stripped).startswith("'") else None


def _convert(
    log: ProblemLog, loinc: str | None, value: float, unit: str, path: str
) -> Quantity | None:
    try:
        return to_canonical(loinc or "", value, unit)
    except UnitError as error:
        if loinc is not None and analyte_for(loinc) is not None:
            log.problem(path, f"{error} (LOINC {loinc})")
        return None


def reference_range(
    loinc: str | None, text: str, unit: ObxField, path: str
) -> tuple[ReferenceRange, ...]:
    """OBX-7 (HL7 v2.5.1 7.4.2.7, ST: "lower limit-upper limit", "> lower limit", "< upper
    limit", or text) read by the reader FHIR referenceRange.text shares
    (``reading.text_reference_ranges``): ``3.5-5.0``, ``4.3 to 6.2``, ``<40``, ``>1``,
    ``7-35 U/L``, ``M: 10-50 F: 7-35``, ``7-35 (F) 10-50 (M)``; anything else is kept as a
    range sent but not read, at ``OBX[n].7``."""
    return text_reference_ranges(loinc, text, unit_of(unit) or None, path)


# HL7 v2.5.1 table 0078 (abnormal flags) "<" and ">": the result lies beyond the end of the
# analyser's measuring scale. No number inside the scale is the value; the number sent is the
# scale's end, so the value is known only as a bound beyond it (FHIR R4 Quantity.comparator).
OFF_SCALE = {
    "<": "below absolute low-off instrument scale",
    ">": "above absolute high-off instrument scale",
}
# SN comparators (v2.5.1 2A.3.70) that say the same as an off-scale flag, or less
_SAME_SIDE = {"<": frozenset({"<", "<="}), ">": frozenset({">", ">="})}


def abnormal_flags(field: ObxField) -> tuple[str, ...]:
    """OBX-8's flags, each once, in the order sent (v2.5.1 7.4.2.8: IS, repeating; table 0078).

    ``H~H`` -> ``("H",)``; ``HH~>`` -> ``("HH", ">")``. Only the first component of each
    repetition is the flag (OBX-8 is CWE from v2.7 on: ``A^Abnormal^HL70078``).
    """
    flags: list[str] = []
    for repetition in range(len(field.repetitions)):
        flag = field.component(0, repetition)
        # table 0078 codes as the table writes them: 'h' is not H, so 'H~h' is two flags
        if flag and flag not in flags:
            flags.append(flag)
    return tuple(flags)


def read_flags(
    reading: ObxReading, flags: tuple[str, ...], path: str, value_type: str = ""
) -> tuple[ObxReading, str | None]:
    """(reading, interpretation): OBX-5's reading with every OBX-8 flag applied, and the one
    flag kept as the fact's interpretation (HL7 v2.5.1 7.4.2.8, table 0078).

    ``value_type`` is OBX-2 (table 0125), as sent.

    - ``<`` / ``>`` (off the instrument's scale): an exact number becomes a bound (``600``
      flagged ``>`` is ``>600``); an SN bound on the same side stays as sent (``>=^600``); a
      bound on the other side, an SN ``=`` (2A.3.70: equal to the number), a range, or both
      flags at once contradict the value: unread at ``path``. On a value that is no number on
      a scale, a coded value (CE/CWE/CNE, including a score read from an answer code) or a
      qualitative word sent as text, the flag cannot be applied and the value is not read
      without it: unread at ``path`` (before, the code was read and the flag left aside).
    - the other flags: one (after removing repeats) is the interpretation; several different
      ones (``H~W``) are not read as any one of them, with a note at ``path``. The number or code
      is read by itself either way; a result whose only content would be the flags is unread.
    """
    off_scale = [flag for flag in flags if flag in OFF_SCALE]
    others = [flag for flag in flags if flag not in OFF_SCALE]
    notes: list[ReadingNote] = []
    interpretation: str | None = None
    if len(others) == 1:
        interpretation = others[0]
    elif others:
        sent = ", ".join(repr(flag) for flag in others)
        notes.append(ReadingNote(path=path, reason=(
            f"{len(others)} different abnormal flags ({sent}; OBX-8 repeats, v2.5.1 7.4.2.8,"
            " table 0078): no one of them is the result's interpretation, so none is read;"
            " the value is read by itself")))
    elif len(off_scale) == 1:
        interpretation = off_scale[0]
    if reading.unread is not None:
        return reading, interpretation
    if len(off_scale) > 1:
        return _flag_unread(reading, path, "flags '<' and '>' (table 0078: below the low-off"
                            " and above the high-off instrument scale) at once"), None
    if off_scale and (value_type in _CODED_TYPES or reading.code is not None):
        what = "a coded value" if value_type in _CODED_TYPES else "a qualitative word"
        return _flag_unread(reading, path, (
            f"flag {off_scale[0]!r} (table 0078: {OFF_SCALE[off_scale[0]]}) on {what}"
            f" ({value_type or 'OBX-5'}): the flag places a number beyond the end of the"
            " instrument's measuring scale, and this value is no number on a scale, so the two"
            " do not read together")), interpretation
    if off_scale and reading.equal:
        return _flag_unread(reading, path, (
            f"flag {off_scale[0]!r} (table 0078: {OFF_SCALE[off_scale[0]]}) on a value sent"
            " with the comparator '=' (SN.1, v2.5.1 2A.3.70: equal to the number): the two"
            " contradict")), interpretation
    quantity = reading.quantity
    if off_scale and quantity is not None:
        flag = off_scale[0]
        meaning = f"flag {flag!r} (table 0078: {OFF_SCALE[flag]})"
        if quantity.upper is not None:
            return _flag_unread(reading, path, f"{meaning} on a range: where the value lies is"
                                " unknown"), interpretation
        if quantity.comparator is not None and quantity.comparator not in _SAME_SIDE[flag]:
            return _flag_unread(reading, path, f"{meaning} on a value sent as"
                                f" {quantity.comparator}{quantity.value:g}: the two"
                                " contradict"), interpretation
        if quantity.comparator is None:
            quantity = quantity.model_copy(update={"comparator": flag})
            notes.append(ReadingNote(path=path, reason=(
                f"{meaning}: the value lies beyond the number sent, read as the bound"
                f" {flag}{quantity.value:g} {quantity.unit}, never as that value")))
    if (notes and interpretation is None and quantity is None and reading.code is None):
        return _flag_unread(reading, path, notes[0].reason), None
    return ObxReading(
        quantity=quantity,
        code=reading.code,
        unread=None,
        notes=(*reading.notes, *notes),
        received=reading.received,
    ), interpretation


def _flag_unread(reading: ObxReading, path: str, reason: str) -> ObxReading:
    return ObxReading(
        unread=ReadingNote(path=path, reason=f"{reason} (v2.5.1 7.4.2.8): the result is not read"),
        notes=reading.notes,
        received=reading.received,
    )


# HL7 v2.5.1 7.4.3.24 SPM-24 Specimen Condition (CWE, repeating), table 0493. A condition that
# alters what was measured in the specimen (its text: autolyzed, clotted, contaminated,
# hemolyzed, or never received) leaves every result of it in doubt; a handling condition
# (centrifuged, cool, frozen, live, room temperature) says how it was kept, not that it is spoilt.
SPECIMEN_SPOILT = {
    "AUT": "Autolyzed", "CLOT": "Clotted", "CON": "Contaminated", "HEM": "Hemolyzed",
    "SNR": "Sample not received",
}
SPECIMEN_HANDLING = {
    "CFU": "Centrifuged", "COOL": "Cool", "FROZ": "Frozen", "LIVE": "Live",
    "ROOM": "Room temperature",
}
# HL7 v2.5.1 7.4.3.21 SPM-21 Specimen Reject Reason (CWE, repeating), table 0490
SPECIMEN_REJECT = {
    "EX": "Expired", "QS": "Quantity not sufficient", "RA": "Missing patient ID number",
    "RB": "Broken container", "RC": "Clotting", "RD": "Missing collection date",
    "RE": "Missing patient name", "RH": "Hemolysis", "RI": "Identification problem",
    "RM": "Labeling", "RN": "Contamination", "RP": "Missing phlebotomist ID",
    "RR": "Improper storage", "RS": "Name misspelling",
}
_HL7_TABLE_SYSTEMS = ("", "HL7")  # CWE-3 empty, or HL7nnnn (table 0396 "HL7nnnn")


def _cwe_codes(field: ObxField) -> list[tuple[str, str]]:
    """(code, coding system) of each valued repetition of a CWE field."""
    return [
        (field.component(0, rep).strip(), field.component(2, rep).strip())
        for rep in range(len(field.repetitions))
        if field.component(0, rep).strip() or field.component(1, rep).strip()
    ]


def specimen_reading(
    reject: ObxField, condition: ObxField
) -> tuple[ReadingNote | None, tuple[ReadingNote, ...]]:
    """(unread, notes) for every result of a specimen's order group, from SPM-21 and SPM-24.

    SPM-21 valued: the lab rejected the specimen (table 0490, whatever the reason or code
    system): its results are unread at ``SPM[k].21``. SPM-24 with a table 0493 condition that
    alters what was measured (``SPECIMEN_SPOILT``), or a code outside table 0493 (or in another
    code system, CWE-3: its meaning is unknown): unread at ``SPM[k].24``. A handling condition
    (``SPECIMEN_HANDLING``): a note. Neither text component is ever quoted (free text).
    """
    rejected = _cwe_codes(reject)
    if rejected:
        code, system = rejected[0]
        meaning = SPECIMEN_REJECT.get(code) if system == "" or system == "HL70490" else None
        named = f"{code!r} ({meaning})" if meaning else "a code outside the table"
        return ReadingNote(path=reject.path, reason=(
            f"the specimen was rejected by the laboratory: specimen reject reason {named}"
            " (SPM-21, HL7 v2.5.1 7.4.3.21, table 0490); its results are not read")), ()
    notes: list[ReadingNote] = []
    for code, system in _cwe_codes(condition):
        in_table = system in ("", "HL70493")
        if in_table and code in SPECIMEN_HANDLING:
            notes.append(ReadingNote(path=condition.path, reason=(
                f"specimen condition {code!r} ({SPECIMEN_HANDLING[code]}; SPM-24, table 0493):"
                " how the specimen was kept, read as not altering its results")))
            continue
        why = (
            f"specimen condition {code!r} ({SPECIMEN_SPOILT[code]}; SPM-24, HL7 v2.5.1"
            " 7.4.3.24, table 0493): what was measured may not be the patient's value"
            if in_table and code in SPECIMEN_SPOILT else
            "a specimen condition outside table 0493 (SPM-24, HL7 v2.5.1 7.4.3.24): whether"
            " it alters the results is unknown"
        )
        return ReadingNote(path=condition.path, reason=f"{why}; its results are not read"), ()
    return None, tuple(notes)
