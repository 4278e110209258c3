"""Which forms of each input element the normaliser reads, keeps unread, or refuses.

Published in the data dictionary (``trialwatch dictionary``) so that an integrator can check a
feed before sending it. Every row names the standard that decides it; the behaviour itself is
in ``hl7v2.py`` / ``hl7v2_values.py`` and is tested in ``tests/unit/clinical/test_hl7v2*.py``.
Outcomes: **read** (a canonical value), **unread** (the fact is kept with its code, time and
provenance plus a reason; every criterion reading it is unknown while it is the latest),
**refused** (the whole message is refused, naming ``<SEG>[n].<field>`` and why).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class InputForm:
    element: str
    form: str
    outcome: str
    standard: str


HL7V2_FORMS: tuple[InputForm, ...] = (
    InputForm("OBX-5 (NM)", "`12.5`, `-3`, `.5`", "read: the number in OBX-6's unit, converted",
              "v2.5.1 2A.3.47 NM"),
    InputForm("OBX-5 (NM)", "`<10`, `high`, two repetitions", "unread: not a number",
              "v2.5.1 2A.3.47 NM"),
    InputForm("OBX-5 (SN)", "`^182`, `=^182`", "read: 182", "v2.5.1 2A.3.70 SN"),
    InputForm("OBX-5 (SN)", "`>^300`, `<=^0.5`", "read: a bound (`>300`), judged as a bound",
              "v2.5.1 2A.3.70 SN.1"),
    InputForm("OBX-5 (SN)", "`^1^:^320`, `^1^/^320`, `<^1^:^80`",
              "read: titer 320 {titer}; `<1:80` is a titer below 80", "v2.5.1 2A.3.70 SN.3"),
    InputForm("OBX-5 (SN)", "`^5^-^10` (range, inclusive)", "read: a value in [5, 10] (`>=5`, "
              "`upper` 10), as a FHIR valueRange; high below low: unread", "v2.5.1 2A.3.70 SN"),
    InputForm("OBX-5 (SN)", "`^2^:^3` (ratio), `^2^+` (categorical), `<>^5`, `<^5^-^10`",
              "unread: no value or bound a fact can hold", "v2.5.1 2A.3.70 SN"),
    InputForm("OBX-5 (SN)", "SN.1 other than `>`, `<`, `>=`, `<=`, `=`, `<>` (`=<`, or `182` "
              "without its leading `^`)", "unread: the relation to the number is unknown",
              "v2.5.1 2A.3.70 SN.1"),
    InputForm("OBX-5 (ST)", "`Positive`, `Not detected` ... (`qualitative.yaml`)",
              "read: a SNOMED CT result code", "v2.5.1 7.4.2.5"),
    InputForm("OBX-5 (ST)", "`<10`, `>= 0.5`, `1:160`, `>1:320`, `12.5`",
              "read as a number/bound/titer in OBX-6's unit, with a note (NM/SN expected)",
              "v2.5.1 7.4.2.2"),
    InputForm("OBX-5 (ST)", "other text (`<<10`, `5-10`, `see comment`)",
              "unread; the text is quoted only when short and without letters",
              "v2.5.1 7.4.2.5"),
    InputForm("OBX-5 (TX, FT)", "free text", "unread, never copied (it may name people)",
              "v2.5.1 2A.3.77 TX, 2A.3.31 FT"),
    InputForm("OBX-5 (CE, CWE, CNE)", "`code^text^system` (and alternate triplet)",
              "read: the first coding; table 0396 names mapped to URIs", "v2.5.1 2A.3.13 CWE"),
    InputForm("OBX-5 (other table 0125 types)", "DT, TS, RP, ED, NA, XPN ...",
              "unread: holds no result TrialWatch reads", "v2.5.1 table 0125"),
    InputForm("OBX-5", "empty, OBX-11 `F`/`C`/`P`/`R`/`S`/`U`", "unread: a result without value",
              "v2.5.1 7.4.2.5, table 0085"),
    InputForm("OBX-5", "empty, OBX-11 `I`/`O`/`X`/`N`/`D`/`W`", "read: no value expected",
              "table 0085"),
    InputForm("OBX-2", "empty while OBX-5 is valued", "refused at `OBX[n].2`",
              "v2.5.1 7.4.2.2 (required when OBX-5 is valued)"),
    InputForm("OBX-2", "not in table 0125", "refused at `OBX[n].2`", "v2.5.1 table 0125"),
    InputForm("OBX-6", "a unit that cannot be right for a catalogued analyte",
              "refused at `OBX[n].6`", "UCUM; `analytes.yaml`"),
    InputForm("OBX-6", "an unreadable unit for an analyte not catalogued", "unread", "UCUM"),
    InputForm("OBX-11", "`C` (corrected)", "read: replaces the result of the same order + "
              "observation", "table 0085"),
    InputForm("OBX-11", "`W` (post original as wrong), `D` (delete)",
              "read: the earlier result becomes an `entered-in-error` tombstone", "table 0085"),
    InputForm("OBX-11", "`C`/`W`/`D` whose order has no OBR-3/OBR-2 (or ORC-3/ORC-2) number",
              "refused at `OBR[n].3`: what it replaces cannot be found", "table 0085"),
    InputForm("OBX-11", "a code outside table 0085", "refused at `OBX[n].11`", "table 0085"),
    InputForm("result identity", "order (OBR-3 filler, else OBR-2 placer) + OBX-3 + OBX-4",
              "read; never MSH-10 (new per message)", "v2.5.1 4.5.3.2-3, 7.4.2.4"),
    InputForm("OBX-14, OBR-7", "with an offset (`20261127083000-0500`)", "read as that instant",
              "v2.5.1 2A.3.22 DTM"),
    InputForm("OBX-14, OBR-7", "without an offset", "read in MSH-7's offset, else the zone "
              "configured for the source (`INTAKE_HL7V2_ZONES`, `--hl7-zone`), with a note",
              "v2.5.1 2A.3.22 DTM"),
    InputForm("OBX-14, OBR-7", "without an offset, no MSH-7 offset, no configured zone",
              "refused at the time's path (never read as UTC)", "v2.5.1 2A.3.22 DTM"),
    InputForm("OBX-14", "empty", "OBR-7 of the OBX's own order group, with a note; a group "
              "without OBR never borrows another group's time", "v2.5.1 7.4.2.14, 7.4.1.7"),
    InputForm("OBX-14, OBR-7", "both empty on a valued result", "unread, dated at MSH-7 (an "
              "upper bound) with a note", "v2.5.1 7.4.2.14"),
    InputForm("PID-7", "`YYYYMMDD[HHMM...]`", "read: the birth date", "v2.5.1 2A.3.21 DT"),
    InputForm("PID-7", "`YYYY`, `YYYYMM`", "read: no exact day, so age is unknown where it "
              "matters; the results are kept", "v2.5.1 2A.3.21 DT"),
    InputForm("MSH-18", "`ASCII`, `8859/1`-`8859/9`, `8859/15`, `UNICODE UTF-8/16/32`, "
              "`GB 18030-2000`, `KS X 1001`, `BIG-5`", "read: the bytes are decoded in it",
              "v2.5.1 2.14.9.18, table 0211"),
    InputForm("MSH-18", "empty", "the transport's declared charset, else UTF-8 (ASCII, the v2 "
              "default, reads the same); other bytes refused at `MSH.18`", "table 0211"),
    InputForm("MSH-18", "ISO IR14/87/159, CNS 11643-1992, `UNICODE` (UCS-2), anything else",
              "refused at `MSH.18`", "table 0211"),
)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def input_forms_markdown() -> list[str]:
    """The Markdown section listing ``HL7V2_FORMS`` (lines, no trailing newline)."""
    lines = [
        "## How HL7 v2 ORU^R01 input is read",
        "",
        "Each OBX becomes one fact, read exactly, kept **unread** (the fact stays with its code,",
        "time and provenance plus the reason; criteria reading it are unknown), or the message is",
        "**refused** naming `<SEG>[n].<field>`. Every OBX keeps its value and unit as sent.",
        "",
        "| Element | Form | Outcome | Standard |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {_cell(f.element)} | {_cell(f.form)} | {_cell(f.outcome)} | {_cell(f.standard)} |"
        for f in HL7V2_FORMS
    ]
    lines.append("")
    return lines
