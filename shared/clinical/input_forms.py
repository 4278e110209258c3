"""Which forms of each input element the normaliser reads, keeps unread, or refuses.

Published in the data dictionary (``trialwatch dictionary``) so that an integrator can check a
feed before sending it. Every row names the standard that decides it; the behaviour itself is
in ``hl7v2.py`` / ``hl7v2_values.py`` / ``hl7v2_medications.py`` and is tested in
``tests/unit/clinical/test_hl7v2*.py``.
Outcomes: **read** (a canonical value), **unread** (the fact is kept with its code, time and
provenance plus a reason; every criterion reading it is unknown while it is the latest),
**refused** (the whole message is refused, naming ``<SEG>[n].<field>`` and why).
``FHIR_FORMS`` does the same for FHIR R4 (behaviour in ``fhir.py``, ``fhir_resources.py``,
``fhir_values.py``; tests in ``tests/unit/clinical/test_fhir*.py`` and
``tests/unit/intake/test_receipts.py``); a FHIR refusal refuses the entry or the whole input as
the Bundle type says.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.clinical.times import WIDEST_DST_SAVE


@dataclass(frozen=True, slots=True)
class InputForm:
    element: str
    form: str
    outcome: str
    standard: str


DG1_NOT_READ = (
    "DG1 (diagnosis) is not read as a condition: HL7 v2.5.1 6.5.2 DG1 gives the code (DG1-3) and"
    " the diagnosis type (DG1-6, table 0052: A admitting, W working, F final) but no clinical"
    " status, so it cannot say whether the condition is active or resolved; no criterion reads"
    " it. Send the condition as a FHIR R4 Condition with Condition.clinicalStatus (POST /fhir)"
)
"""Why an HL7 v2 DG1 segment is not read (the receipt names each DG1 with it)."""

NOT_READ_SEGMENTS: dict[str, str] = {"DG1": DG1_NOT_READ}
"""HL7 v2 segments that carry clinical content TrialWatch does not read, with the reason a
receipt gives for each one (other unread segments get a generic note)."""


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
    InputForm("OBX-7", "`3.5-5.0`, `4.3 to 6.2`, `<40`, `>1`, `7-35 U/L` (a unit convertible"
              " to the result's), `M: 10-50 F: 7-35`, `Female: 7-35; Male: 10-50`,"
              " `7-35 (F) 10-50 (M)`",
              "read (the same reader as FHIR referenceRange.text); a sex-labelled range is used"
              " only when the patient's sex is known; any other text (`7-35 (adult)`, a label"
              " twice, another unit) is kept as a range not read: a x ULN criterion is unknown"
              " naming `OBX[n].7`, never the site default", "HL7 v2.5.1 7.4.2.7"),
    InputForm("OBX-5 (SN)", "`^5^-^10` (range, inclusive)", "read: a value in [5, 10] (`>=5`, "
              "`upper` 10), as a FHIR valueRange; high below low: unread; a negative bound of a"
              " catalogued analyte on a ratio scale (`^10^-^-20` platelets): refused at"
              " `OBX[n].5`, as a negative value is", "v2.5.1 2A.3.70 SN"),
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
    InputForm("OBX-5 (CE, CWE, CNE)", "`code^text^system` and the alternate `^code^text^system`"
              " (CWE-4..6)", "read as a FHIR CodeableConcept: any known coding of the two decides;"
              " codings meaning different results are unread; neither known: the first (SNOMED CT,"
              " LOINC first) kept as sent, noted; both kept in the received value; table 0396 names"
              " mapped to URIs; a local code (`POS^Positive^L`) is not read by its spelling: a"
              " criterion reading it is unknown unless `qualitative.yaml` `local_codes` maps it",
              "v2.5.1 2A.3.13 CWE"),
    InputForm("OBX-5 (other table 0125 types)", "DT, TS, RP, ED, NA, XPN ...",
              "unread: holds no result TrialWatch reads", "v2.5.1 table 0125"),
    InputForm("OBX-5", "empty, OBX-11 `F`/`C`/`P`/`R`/`S`/`U`", "unread: a result without value",
              "v2.5.1 7.4.2.5, table 0085"),
    InputForm("OBX-5", "empty, OBX-11 `I`/`O`/`D`/`W`", "read: no value expected",
              "table 0085"),
    InputForm("NTE after an OBX", "any comment (`Specimen clotted. Result invalid`)",
              "not read (free text never decides); the result carries a warning at `NTE[k]`"
              " that a comment on it was not read", "v2.5.1 7.3.1 (OBX {NTE}), 2.15.10"),
    InputForm("NTE after an OBR", "any comment on the order", "not read (free text never"
              " decides); each result of that order carries a warning at `NTE[k]` that a"
              " comment on its order was not read", "v2.5.1 7.3.1 (OBR {NTE}), 2.15.10"),
    InputForm("SPM-21", "any reject reason (table 0490: `RC` clotting, `QS`, `RH` ...)",
              "every result of the specimen's order group unread at `SPM[k].21`",
              "v2.5.1 7.4.3.21, table 0490"),
    InputForm("SPM-24", "`AUT`, `CLOT`, `CON`, `HEM`, `SNR`, or a code outside table 0493",
              "every result of the order group unread at `SPM[k].24`; `CFU`, `COOL`, `FROZ`,"
              " `LIVE`, `ROOM` (handling): a note", "v2.5.1 7.4.3.24, table 0493"),
    InputForm("OBX-11, OBX-2, OBX-8, OBR-25, RXA-20/21, ORC-5, PID-30, TS-2, MSH-18",
              "a table value in another case (`f`, `nm`, `ll`, `cp`)",
              "refused at the field's path as a code outside its table (a flag: not read as"
              " the table's); never upper-cased into the table's code",
              "v2.5.1 2A.3.35 ID; tables 0085, 0125, 0078, 0123, 0322, 0323, 0038, 0136, 0529,"
              " 0211"),
    InputForm("ORC-1 (with RXE)", "a code of table 0119 that does not say whether the order"
              " runs (`UA`, `DE`, `RP`, `RU` ...); a code outside the table or in another case",
              "the medication unread at `ORC[n].1` (proves no use, clears no washout); refused"
              " at `ORC[n].1`. `CA`/`OC`/`CR` cancelled, `DC`/`OD`/`DR` stopped, `HD`/`OH`/`HR`"
              " on hold; `NW`, `OK`, `SC`, `XO` ...: ORC-5", "v2.5.1 4.5.1.1, table 0119"),
    InputForm("ORC-1 (with RXE)", "empty (ORC-1 is required), or no ORC before the RXE",
              "the medication unread at `ORC[n].1` (or `RXE[n]`): ORC-5 is not read as the"
              " order's status, since only ORC-1 says what the segment does with the order",
              "v2.5.1 4.5.1 (ORC-1 R), 4.5.1.1, 4.5.1.5; ch. 4A RDE^O11 (ORC required)"),
    InputForm("PID-3", "repetitions typed `MR` (CX-5, table 0203) with different values (each"
              " facility's MRN, as an HIE relays)", "refused at `PID[n].3` (which number is this"
              " site's is not in the message; the first was never taken); one number under two"
              " authorities is read. With INTAKE_MRN_ASSIGNING_AUTHORITY set: the MR under this"
              " site's authority (CX-4 namespace id or universal id) is read, the others are named"
              " in the receipt and not used; none (or two) under it refused at `PID[n].3`",
              "v2.5.1 3.4.2.3, 2A.3.14 CX, 2A.3.33 HD, table 0203"),
    InputForm("PID-30", "a value outside table 0136 (`YES`, `NO`, `no`, `1`)",
              "refused at `PID[n].30` (whether the patient died decides every decision;"
              " never guessed from a word); `Y` deceased, `N` not", "v2.5.1 3.4.2.30, table 0136"),
    InputForm("PID-8", "a value outside table 0001 (`f`, `Female`, `W`); `N` not applicable",
              "refused at `PID[n].8` (sex decides ranges by sex and pregnancy criteria; never"
              " guessed); `F`/`M` read, `O`/`A` other, `U`/`N` unknown",
              "v2.5.1 3.4.2.8, user-defined table 0001"),
    InputForm("OBX-11", "empty", "unread at `OBX[n].11` (status `unknown`): final, preliminary"
              " or cancelled is unknown, so the value is not read and no older result decides in"
              " its place", "v2.5.1 7.4.2.11 (required), table 0085"),
    InputForm("OBX-11", "`X` (results cannot be obtained), `N` (not asked)",
              "unread at `OBX[n].11`: no result was obtained, so no older result decides in its"
              " place", "table 0085"),
    InputForm("OBX-2", "empty while OBX-5 is valued", "refused at `OBX[n].2`",
              "v2.5.1 7.4.2.2 (required when OBX-5 is valued)"),
    InputForm("OBX-2", "not in table 0125", "refused at `OBX[n].2`", "v2.5.1 table 0125"),
    InputForm("OBX-6", "a unit that cannot be right for a catalogued analyte",
              "refused at `OBX[n].6`", "UCUM; `analytes.yaml`"),
    InputForm("OBX-6", "an unreadable unit for an analyte not catalogued", "unread", "UCUM"),
    InputForm("OBX-6", "CE-2 text naming another unit than CE-1 (`ukat/L^U/L^UCUM`, "
              "`U/L^[IU]/L^UCUM`)",
              "refused at `OBX[n].6` (unread for an analyte not catalogued); a display form of "
              "the same unit (`U/L^IU/L^UCUM`) or free text is read by CE-1",
              "v2.5.1 2A.3.8 CE; UCUM 2.2 4.4"),
    InputForm("OBX-6", "CE-4 alternate identifier naming another unit than CE-1 "
              "(`10*9/L^^UCUM^10*6/L^^UCUM`)",
              "refused at `OBX[n].6` (unread for an analyte not catalogued); the same unit "
              "coded twice (`10*9/L^^UCUM^K/uL^^L`) is read by CE-1",
              "v2.5.1 2A.3.8 CE / 2A.3.13 CWE (an alternate code for the same concept)"),
    InputForm("OBX-6", "`[IU]/L`, `[iU]/L` for an enzyme (ALT), with or without `^^UCUM`",
              "refused at `OBX[n].6`: UCUM's arbitrary international unit is no enzyme unit; "
              "the lab spelling `IU/L` is `U/L` (alias table)",
              "UCUM 2.2 4.4; IUPAC Gold Book international unit"),
    InputForm("OBX-6", "`10^9/L` sent unescaped (CE-1 `10`, CE-2 `9/L`)",
              "refused at `OBX[n].6` naming what was sent (unread for an analyte not"
              " catalogued), never read as the unit `10`; `10\\S\\9/L` is read",
              "v2.5.1 2.7 (escape `\\S\\`), 7.4.2.6 CE"),
    InputForm("OBX-11", "`C` (corrected)", "read: replaces the result of the same order + "
              "observation", "table 0085"),
    InputForm("OBX-11", "`W` (post original as wrong), `D` (delete)",
              "read: exactly the result of the same order + OBX-3 + OBX-4 becomes an"
              " `entered-in-error` tombstone; the receipt names it", "table 0085"),
    InputForm("OBX-11", "`C`/`W`/`D` whose order has no OBR-3/OBR-2 (or ORC-3/ORC-2) number",
              "refused at `OBR[n].3`: what it replaces cannot be found", "table 0085"),
    InputForm("OBX-11", "a code outside table 0085", "refused at `OBX[n].11`", "table 0085"),
    InputForm("OBX-11", "`N` or `O` in a v2.3 message (MSH-12 `2.3`)", "refused at `OBX[n].11`:"
              " both were added to table 0085 in v2.3.1", "table 0085 (versions)"),
    InputForm("result identity", "order (OBR-3 filler, else OBR-2 placer) + OBX-3 + OBX-4",
              "read; never MSH-10 (new per message)", "v2.5.1 4.5.3.2-3, 7.4.2.4"),
    InputForm("OBX-14, OBR-7", "with an offset (`20261127083000-0500`)", "read as that instant",
              "v2.5.1 2A.3.22 DTM"),
    InputForm("OBX-14, OBR-7", "without minutes (`20261127`, `2026112708`)",
              "read as the whole day or hour in the sender's zone, kept as `time_bounds`: a"
              " criterion whose answer differs at its first and last instant is unknown",
              "v2.5.1 2A.3.22 DTM (precision as sent)"),
    InputForm("OBX-14, OBR-7, PID-7", "with a degree of precision coarser than its digits"
              " (`200301011230^D`)", "read at that precision (the whole day; PID-7: no exact day"
              " below `D`), with a note", "TS-2, table 0529 (retained in v2.5.1)"),
    InputForm("OBX-14, OBR-7, PID-7", "with a degree of precision outside table 0529, or finer"
              " than its digits (`20030101^M`)", "refused at the field's path",
              "TS-2, table 0529"),
    InputForm("OBX-14, OBR-7, RXA-3/4, TQ1-7/8, RXE-1, ORC-9", "without an offset",
              "read in the zone configured for the "
              "source (`INTAKE_HL7V2_ZONES`, `--hl7-zone`) when MSH-7 has no offset or one it "
              "agrees with: exact; else in MSH-7's offset, its `time_bounds` widened by "
              f"{WIDEST_DST_SAVE.total_seconds() / 3600:g} h either side (the widest "
              "daylight-saving difference in the IANA tz database): a criterion the hour "
              "decides is unknown; with a note naming the zone",
              "v2.5.1 2A.3.22 DTM"),
    InputForm("OBX-14, OBR-7", "without an offset, no MSH-7 offset, no configured zone",
              "refused at the time's path (never read as UTC)", "v2.5.1 2A.3.22 DTM"),
    InputForm("OBX-14", "empty", "OBR-7 of the OBX's own order group, with a note; a group "
              "without OBR never borrows another group's time", "v2.5.1 7.4.2.14, 7.4.1.7"),
    InputForm("OBX-14, OBR-7", "both empty on a valued result", "unread, dated at MSH-7 (an "
              "upper bound) with a note", "v2.5.1 7.4.2.14"),
    InputForm("OBX-14, OBR-7", "later than the message's arrival (intake's clock) + 5 min",
              "refused at the time's path: a result cannot be later than its message",
              "v2.5.1 7.4.2.14, 4.5.3.7"),
    InputForm("OBX-14, OBR-7", "later than MSH-7 + 5 min, not later than the arrival",
              "read at its own time, with a note (senders' MSH-7 clocks can be wrong)",
              "v2.5.1 2.14.9.7"),
    InputForm("OBX-8", "`<`, `>` (off the instrument's scale) on a number",
              "read: a bound (`600` flagged `>` is `>600`); an SN bound on the other side, an "
              "SN `=`, a range, or both flags: unread at `OBX[n].8`",
              "v2.5.1 7.4.2.8, table 0078, 2A.3.70"),
    InputForm("OBX-8", "`<`, `>` on a coded value (CE/CWE/CNE) or a qualitative word (ST/TX)",
              "unread at `OBX[n].8`: a code has no place on an instrument scale, and the value "
              "is not read without its flag", "v2.5.1 7.4.2.8, table 0078"),
    InputForm("OBX-8", "repetitions (`HH~>`, `H~W`)", "every flag read: a repeated flag is "
              "one; several different flags give no interpretation, with a note",
              "v2.5.1 7.4.2.8 (repeating)"),
    InputForm("OBX-5 (NM, ST, TX, FT, SN)", "more components than the type has (`150^x`)",
              "unread at `OBX[n].5`; an empty trailing component (`150^`) reads",
              "v2.5.1 2A.3.47 NM, 2A.3.70 SN, 2.7.1"),
    InputForm("OBR-25", "`O`, `I`, `S`, `X` (no results available) over a valued OBX",
              "unread at `OBR[n].25`", "v2.5.1 4.5.3.25, table 0123"),
    InputForm("ORC-1, ORC-5", "ORC-1 `CA`, `OC`, `CR` (table 0119) or ORC-5 `CA` (table 0038):"
              " the order was cancelled, over a valued OBX of an ORU^R01",
              "unread at `ORC[n].1` / `ORC[n].5`", "v2.5.1 4.5.1.1, 4.5.1.5, tables 0119, 0038"),
    InputForm("OBR-25", "`Y`, `Z` (queries only), a code outside table 0123",
              "refused at `OBR[n].25`; empty, `A`, `P`, `C`, `R`, `F`: each OBX-11 decides",
              "v2.5.1 4.5.3.25, table 0123"),
    InputForm("OBX-1/2/3/4/6/7/11/14, OBR-2/3/7/25, ORC-1/2/3/5/9, TQ1-7/8, PID-7/8/29/30, "
              "MSH-3/4/7/9/10/12, RXA-1..7/20/21, RXE-1..5",
              "a second valued repetition (`F~C`)", "refused at the field's path (non-repeating"
              " fields); an empty trailing repetition (`F~`) reads",
              "v2.5.1 7.4.2, 4.5.3, 4.5.1, 4.5.4, 3.4.2, 2.14.9, ch. 4A"),
    InputForm("MSH", "a second MSH, or FHS/BHS/BTS/FTS, in one body",
              "refused: one message per body (batch files: `trialwatch evaluate --input`)",
              "v2.5.1 2.14.9, 2.10.3"),
    InputForm("MSH-12", "`2.3`, `2.3.1`, `2.4`, `2.5`, `2.5.1`", "read as v2.5.1 (the fields "
              "read are defined alike, except table 0085 N/O, absent from v2.3); anything else,"
              " empty included, refused at `MSH.12`",
              "v2.5.1 2.14.9.12, table 0104"),
    InputForm("MSH-11", "PT.1 processing id (table 0103) `P`, `T`, `D`; PT.2 processing mode"
              " (table 0207) `A`, `R`, `I`, `T`, blank",
              "read when PT.1 is one INTAKE_HL7V2_PROCESSING_IDS lists (default `P`;"
              " `trialwatch evaluate --hl7-processing-ids`), every table 0207 mode read"
              " (archive, restore, initial load carry real data); another id (training `T`,"
              " debugging `D`), an absent MSH-11, a value outside either table (exact) refused"
              " whole at `MSH.11`",
              "v2.5.1 2.14.9.11, data type PT, tables 0103, 0207"),
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
    InputForm("DG1 (any field)", "a diagnosis segment (DG1-3 code, DG1-6 type A/W/F)",
              "not read: named in the receipt (`DG1[n]`, outcome ignored) with the reason; no "
              "diagnosis type says whether the condition is active or resolved, so it is never "
              "a condition fact (send a FHIR R4 Condition with clinicalStatus)",
              "v2.5.1 6.5.2 DG1, table 0052"),
    # pharmacy segments (RAS^O17, RDE^O11): shared/clinical/hl7v2_medications.py
    InputForm("RXA-5, RXE-2 (CE)", "identifier^text^system and alternate in components 4-6 "
              "(`RXN`, `NDC`, `WC`, a local system)", "read: every coded triple kept (RxNorm, "
              "NDC, WHO ATC URIs; local as sent), the site medication crosswalk applied as to a "
              "FHIR Coding; none refused", "v2.5.1 ch. 4A RXA-5, RXE-2; table 0396 (`WC` WHO "
              "ATC)"),
    InputForm("RXA-3, RXA-4", "start; end empty", "read: one dose at the RXA-3 instant; RXA-3 "
              "empty or not a DTM refused", "v2.5.1 ch. 4A RXA-3/4 (end null: RXA-3 assumed)"),
    InputForm("RXA-20", "`CP`, `PA`, empty", "read: an exposure (`completed`, `stopped`; "
              "empty: `unknown` completion, with a note)", "v2.5.1 ch. 4A RXA-20, table 0322"),
    InputForm("RXA-20", "`RE`, `NA`", "read as not given (`not-done`, with a note): not an "
              "exposure; other codes refused", "table 0322"),
    InputForm("RXA-21", "`D`", "withdraws the administration of the same order and sub-ids "
              "(entered-in-error); refused without an order number", "table 0323"),
    InputForm("RXA-6, RXA-7", "amount in UCUM units", "kept as sent; not a daily dose (one "
              "administration): dose unread, saying so", "v2.5.1 ch. 4A RXA-6/7"),
    InputForm("RXA-7, RXE-5", "units not coded `UCUM`", "dose unread at the units field",
              "UCUM"),
    InputForm("RXE-3/4/5 x TQ1-3", "one amount, mass or mass/kg in UCUM; `Q<n>S/M/H/D`, `BID`, "
              "`TID`, `QID`, `<n>ID`, `QAM`, `QPM`, `QHS`, `QOD`", "read: the daily dose "
              "(same reader as FHIR Dosage)", "v2.5.1 ch. 4A RXE-3/5, ch. 4 TQ1-3, table 0335"),
    InputForm("RXE-3/4/5 x TQ1-3", "a range (RXE-4 differs), `PRN`, weekly/monthly, meal "
              "related, continuous, several TQ1", "dose unread at its field", "table 0335"),
)


_R4 = "FHIR R4"
FHIR_FORMS: tuple[InputForm, ...] = (
    InputForm("Bundle.type", "`transaction`, `searchset`; a single resource",
              "all or nothing: any problem refuses the whole input (422, every path)",
              f"{_R4} http, Batches and transactions"),
    InputForm("Bundle.type", "`batch`, `collection`, `message`",
              "each entry accepted or refused alone; the 202 receipt names each entry's outcome; "
              "every entry refused: 422", f"{_R4} http, Batches and transactions"),
    InputForm("Bundle.type", "`document`, `history`, anything else", "refused at `Bundle.type`",
              f"{_R4} Bundle.type"),
    InputForm("Bundle.entry", "a request without a resource (`DELETE`, `GET`, `HEAD`)",
              "refused at `Bundle.entry[n].request.method` (a deletion is never silently "
              "skipped; send the resource as `entered-in-error`)", f"{_R4} Bundle.entry.request"),
    InputForm("Patient.identifier", "several identifiers typed `MR` (v2-0203) with different"
              " values", "refused at `Bundle.entry[n].resource.identifier` (which is this site's"
              " is not in the resource); one number under two systems is read. With"
              " INTAKE_MRN_ASSIGNING_AUTHORITY set: the MR whose system is this site's is read,"
              " the others are named in the receipt and not used; none (or two) under it refused",
              f"{_R4} Patient.identifier, v2-0203"),
    InputForm("Bundle.entry", "a resource type TrialWatch does not read (Encounter, Claim ...)",
              "ignored (named `ignored` in the receipt)", f"{_R4} resource list"),
    InputForm("Bundle.entry", "an entry whose Patient entry was refused",
              "refused (its facts could not be keyed to the right patient)",
              f"{_R4} References"),
    InputForm("Observation.focus", "a focus that is not the patient of record (a donor, a "
              "fetus, a relative: `Patient/donor-7`, `RelatedPerson/...`, display only)",
              "accepted without a fact for the patient, the receipt warning at `focus` (not her "
              "result; never decides her criteria); a focus naming the subject is read",
              f"{_R4} Observation.focus"),
    InputForm("DiagnosticReport.result, Observation.hasMember",
              "a reference `#o1` to a contained Observation (a report's results inside it)",
              "read as a result, named `<Container>/<id>#o1`, with the container's subject when "
              "it has none and its version; a contained `subject` naming another patient, or "
              "`#id` naming no contained Observation: refused at that path; a withdrawn "
              "(`entered-in-error`) report withdraws them", f"{_R4} References (contained)"),
    InputForm("any resource's `contained`",
              "a contained Observation, Condition ... not referenced as a result",
              "not read, named in the receipt at `contained[k]`", f"{_R4} dom-3"),
    InputForm("any resource read, its backbone elements, its contained resources; "
              "Bundle.entry (request, response, search)",
              "`modifierExtension` (uncertainty-of-presence, a donor's result ...), "
              "`implicitRules` (also on the Bundle)",
              "refused at that path (a transaction whole, a batch entry alone): TrialWatch "
              "understands no modifier extension or implicit rules; an ordinary `extension` "
              "is not read", f"{_R4} Extensibility (modifier extensions); Resource.implicitRules"),
    InputForm("any resource", "failing `fhir.resources` R4B validation",
              "refused at the element's path", f"{_R4} element definitions"),
    InputForm("Observation.code, Condition.code, medication[x]",
              "several codings (LOINC + local, SNOMED + ICD-10)",
              "read: every coding kept (criteria match any); units follow the catalogued LOINC "
              "coding wherever it is in the list", f"{_R4} datatypes: CodeableConcept.coding"),
    InputForm("Observation.code (and component.code)",
              "LOINC codings of two different catalogued analytes (777-3 platelets + 718-7"
              " hemoglobin, or 777-3 platelets + 751-8 neutrophils: `measures` in"
              " analytes.yaml)", "refused at `code.coding`, naming both",
              f"{_R4} datatypes: CodeableConcept.coding"),
    InputForm("any CodeableConcept", "a coding without `system` or without `code`",
              "left out with a note (refused when no usable coding remains for a code that is "
              "required)", f"{_R4} datatypes: Coding"),
    InputForm("Observation.valueQuantity", "value + UCUM `code` (or `unit`)",
              "read, converted to the canonical unit; value and unit kept as sent (decimal "
              "precision included)", f"{_R4} Quantity; UCUM"),
    InputForm("Observation.valueQuantity", "`comparator` `<`, `<=`, `>=`, `>`",
              "read as a bound, judged as a bound", f"{_R4} Quantity.comparator"),
    InputForm("Observation.valueQuantity", "another `comparator`",
              "refused at `.comparator`", f"{_R4} Quantity.comparator (required binding)"),
    InputForm("Observation.valueQuantity", "a unit that cannot be right for a catalogued analyte",
              "refused at `.code`/`.unit`", "UCUM; `analytes.yaml`"),
    InputForm("Quantity (value, referenceRange, valueRange, component, age, dose)",
              "`code` without `system`",
              "refused at `.code` (the display is not read in its place); a dose: unread",
              f"{_R4} Quantity qty-3"),
    InputForm("Quantity (value, referenceRange, valueRange, component, age, dose)",
              "`code` and `unit` naming different units (`ukat/L` shown as `U/L`)",
              "refused at `.code` (unread for an analyte not catalogued; a dose: unread), also "
              "when the display is UCUM for another kind of unit (`[IU]/L` beside `U/L`); a "
              "display form of the same unit (`x10^9/L`, `IU/L` for an enzyme) is read by the code",
              f"{_R4} Quantity.unit, .code"),
    InputForm("Observation.component", "a result in `component[i]` (a CBC panel 58410-2 with "
              "no value[x] and 777-3 platelets in a component)",
              "read as a result of its own code, with the Observation's subject, time and status "
              "(its own fact id); its value read, refused or kept unread at "
              "`component[i].value[x]` / `.dataAbsentReason` as a value[x] is; the engine reads "
              "it as it reads an Observation of that code",
              f"{_R4} Observation.component (code value pairs that share the same attributes)"),
    InputForm("any primitive of a resource read (`valueQuantity._value`, `_valueString`, "
              "`_effectiveDateTime`, `_birthDate` ...)",
              "a data-absent-reason extension in `_<name>` beside a value of `<name>`",
              "refused at `<path>._<name>`, naming the reason code (the element says it has no "
              "value and sends one); without a value, `valueQuantity._value` is unread",
              f"{_R4} JSON (primitive elements); extension-data-absent-reason"),
    InputForm("medication[x] (MedicationStatement/Request/Administration/Dispense, "
              "Medication.code; HL7 v2 RXE-2, RXA-5 with CWE-4..6)",
              "codings naming different drugs through the shared tables (RxNorm 8640 prednisone "
              "+ 979092 hydroxychloroquine tablet; 121191 rituximab + 8640)",
              "kept as sent; the engine reads the medication as unread at "
              "`medication[x]` / RXE-2 / RXA-5 naming every code (no use proved, washout "
              "unknown); an ingredient beside a product of it still reads",
              f"{_R4} datatypes: CodeableConcept.coding; HL7 v2.5.1 2A.3.13"),
    InputForm("MedicationStatement/Request/Administration/Dispense.status",
              "not a code of its required value set (`Not-taken`, `Entered-in-error`,"
              " `not_taken`; codes are case-sensitive), or absent",
              "refused at `status` (read as sent it counted as a use of the drug)",
              f"{_R4} medication-statement-status, medicationrequest-status,"
              " medication-admin-status, medicationdispense-status (required)"),
    InputForm("Observation.dataAbsentReason", "sent beside a `value[x]`",
              "refused at `.dataAbsentReason` (whether the value stands is unknown)",
              f"{_R4} Observation obs-6"),
    InputForm("Observation.interpretation",
              "codings in ObservationInterpretation (v3) or table 0078 (v2) systems",
              "read (the flag decides only when there is no number); other systems, no system, "
              "or differing flags: not read, noted; a result that is only such a flag is unread",
              f"{_R4} Observation.interpretation"),
    InputForm("Quantity", "`code` in SNOMED CT (a concept id)",
              "the `unit` display is read, with a note; no display: refused at `.code`",
              f"{_R4} Quantity.system"),
    InputForm("Observation.valueQuantity",
              "a unit that is not UCUM for an analyte not catalogued; no `value`", "unread",
              f"{_R4} Quantity"),
    InputForm("Observation.valueCodeableConcept",
              "a SNOMED CT result qualifier; LOINC answers LA6576-8, LA6577-6, LA11882-0, "
              "LA11883-8, LA33-6, LA32-8 (`qualitative.yaml`), in any position",
              "read: the SNOMED CT qualifier (Positive, Negative, Detected, Not detected, Yes, "
              "No)", f"{_R4} CodeableConcept; LOINC answer lists LL2160-7, LL744-4, LL361-7"),
    InputForm("Observation.valueCodeableConcept", "ECOG answers LA9622-7 ... LA9627-6",
              "read: the score 0-5 (unit `1`)", "LOINC 89247-1, answer list LL529-9"),
    InputForm("Observation.valueCodeableConcept", "codings that mean different results",
              "unread", f"{_R4} CodeableConcept (all codings mean the same concept)"),
    InputForm("Observation.valueCodeableConcept", "codes TrialWatch does not know",
              "the first coding kept as sent, with a note; a positive/negative criterion reading"
              " it is unknown, naming the system (a lab's own code is read only through"
              " `qualitative.yaml` `local_codes`)", f"{_R4} CodeableConcept, Coding.system"),
    InputForm("Observation.valueCodeableConcept", "`text` only",
              "read as `valueString` is (below), else unread", f"{_R4} CodeableConcept.text"),
    InputForm("Observation.valueString", "`Positive`, `neg`, `Not detected` ...",
              "read: a SNOMED CT result code", "`qualitative.yaml`"),
    InputForm("Observation.valueString", "`<10`, `<=5`, `≤5`, `> 400`, `>1:320`, `<1:40`, `1:80`",
              "read: a bound or titer, as a Quantity with a comparator. Without a unit a bound is "
              "read in the accepted unit that makes it loosest (true whichever the lab meant), "
              "with a note", f"{_R4} Observation.value[x]; `analytes.yaml`"),
    InputForm("Observation.valueString", "a plain number (`180`)",
              "read only when every accepted unit of the analyte gives the same value; "
              "otherwise unread (no unit)", f"{_R4} Observation.value[x]"),
    InputForm("Observation.valueString", "`<<10`, `5-10`, free text",
              "unread; quoted only when short and without letters (never copied otherwise)",
              f"{_R4} Observation.value[x]"),
    InputForm("Observation.valueRange", "`low` and `high`",
              "read: a value in [low, high] (`Quantity.upper`), judged on both bounds",
              f"{_R4} Range (bounds inclusive)"),
    InputForm("Observation.valueRange", "only `low` / only `high`",
              "read: `>= low` / `<= high`", f"{_R4} Range"),
    InputForm("Observation.valueRange", "neither, or `high` below `low`", "unread", f"{_R4} Range"),
    InputForm("Observation.valueRatio", "`1:N` (a bound on the denominator bounds the titer)",
              "read: titer N `{titer}`", f"{_R4} Ratio"),
    InputForm("Observation.valueRatio", "any other ratio", "unread", f"{_R4} Ratio"),
    InputForm("Observation.valueBoolean", "any", "read", f"{_R4} Observation.value[x]"),
    InputForm("Observation.valueInteger", "a score, an index or an analyte not catalogued",
              "read: an integer in unit `1` (a criterion reads it only when `1` is among its"
              " units)", f"{_R4} Observation.value[x], integer"),
    InputForm("Observation.valueInteger", "a catalogued analyte measured in a unit (a count"
              " per volume, a concentration, a percentage)", "unread at"
              " `Observation.valueInteger`: an integer has no unit, and none is guessed",
              f"{_R4} Observation.value[x], integer"),
    InputForm("Observation.valueInteger", "not a JSON whole number (`\"150\"`, `true`)",
              "refused at `Observation.valueInteger`", f"{_R4} integer (JSON)"),
    InputForm("Observation.value[x]", "valueTime, valueDateTime, valuePeriod, valueSampledData",
              "unread: not a result form TrialWatch reads", f"{_R4} Observation.value[x]"),
    InputForm("Observation.value[x]", "absent, with `dataAbsentReason` (any code, or text only)",
              "unread at `dataAbsentReason`, naming the reason: the result could not be obtained,"
              " so no older result decides in its place; a panel with `hasMember` adds nothing",
              f"{_R4} Observation.dataAbsentReason"),
    InputForm("Observation.status", "`cancelled`, `unknown`",
              "unread at `status` (not obtained; status unknown)", f"{_R4} observation-status"),
    InputForm("Observation.status", "`entered-in-error`, `registered`",
              "read: withdrawn / no result yet; no criterion reads it",
              f"{_R4} observation-status"),
    InputForm("Observation.effective[x]", "dateTime, instant, Period with an offset",
              "read as that instant", f"{_R4} dateTime"),
    InputForm("effective[x], onset[x], abatement[x], performed[x], authoredOn",
              "a date without a time (`2026-02-26`, or only a month or year: `2026-02`, `2026`)",
              "read as the whole period in any zone (UTC-12 to UTC+14), kept as `time_bounds`:"
              " a criterion whose answer differs at the first and last instant (the last never"
              " after as-of or receipt) is unknown, naming the time it needs",
              f"{_R4} dateTime (no time, no zone; partial date)"),
    InputForm("effectivePeriod, onsetPeriod, abatementPeriod, performedPeriod",
              "`start` after `end` (a date compared as its whole day, month or year)",
              "refused at the Period's path", f"{_R4} Period per-1"),
    InputForm("Observation.effective[x]", "a dateTime with a time and no offset",
              "refused at its path", f"{_R4} dateTime (a time SHALL have a zone)"),
    InputForm("Observation.effective[x]", "absent, `issued` present",
              "dated by `issued` as an upper bound (`effective_end`), with a note: approximate;"
              " `time_bounds` any instant up to `issued`, judged at both ends",
              f"{_R4} Observation.issued"),
    InputForm("DiagnosticReport.effective[x]", "absent (`issued` present, or not)",
              "as Observation.effective[x]: bounded by `issued`, else each conclusion kept"
              " unread at `effective[x]`", f"{_R4} DiagnosticReport.effective[x], issued"),
    InputForm("Observation.effective[x]", "`effectiveTiming`; absent with no `issued`",
              "kept unread at `effective[x]`, bounded by every instant up to its receipt"
              " (`time_bounds`): no older result decides in its place",
              f"{_R4} Observation.effective[x]"),
    InputForm("Observation.referenceRange", "several entries (`appliesTo`, `age`); `text` only",
              "read: every entry kept, the engine picks the one fitting the patient; text read "
              "as OBX-7 (one reader); text that does not read is kept as a range not read: a"
              " x ULN criterion is unknown naming `referenceRange[i].text`, never the default",
              f"{_R4} Observation.referenceRange"),
    InputForm("Condition.onset[x], abatement[x]", "Age, Range, string (abatement also boolean)",
              "not read as a time, with a note", f"{_R4} Condition.onset[x]"),
    InputForm("Condition.clinicalStatus, verificationStatus",
              "text alone, a code of another system or outside the bound one, two that differ,"
              " a bare code string (STU3)",
              "refused at its path (only a coding in condition-clinical / condition-ver-status"
              " is read)", f"{_R4} Condition.clinicalStatus (required binding)"),
    InputForm("Condition.clinicalStatus", "absent (verificationStatus not refuted,"
              " entered-in-error ...), or not inactive/resolved/remission with abatement[x]",
              "kept unread at `clinicalStatus`: whether the condition is active is unknown",
              f"{_R4} Condition con-3 (guideline), con-4"),
    InputForm("Condition.clinicalStatus", "sent with verificationStatus entered-in-error",
              "refused at `clinicalStatus`", f"{_R4} Condition con-5"),
    InputForm("Procedure.performed[x]", "string, Age, Range", "not read as a time, with a note",
              f"{_R4} Procedure.performed[x]"),
    InputForm("Medication{Statement,Administration}.effective[x], MedicationRequest.authoredOn,"
              " MedicationDispense.whenHandedOver",
              "absent", "undated, with a note", f"{_R4} element definitions"),
    InputForm("MedicationDispense.status", "preparation, in-progress, on-hold, stopped, unknown",
              "kept unread at `status` (no handover proven, one may be hidden or follow): no"
              " proof of use, washout unknown; completed read as an exposure from"
              " whenHandedOver; cancelled, declined, entered-in-error no exposure",
              f"{_R4} medicationdispense-status (required binding)"),
    InputForm("DiagnosticReport.conclusionCode", "each CodeableConcept",
              "read as valueCodeableConcept is; a report without one adds no fact (its results "
              "are the Observations it references)", f"{_R4} DiagnosticReport"),
    InputForm("Patient.gender", "outside male, female, other, unknown",
              "refused at `Patient.gender`", f"{_R4} AdministrativeGender (required binding)"),
    InputForm("Patient.birthDate", "`YYYY`, `YYYY-MM`",
              "no exact birth date (age unknown where it matters); results kept", f"{_R4} date"),
)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def input_forms_markdown() -> list[str]:
    """The Markdown sections listing ``HL7V2_FORMS`` and ``FHIR_FORMS`` (lines)."""
    lines = [
        "## How HL7 v2 input is read (ORU^R01, ADT^A40, RAS^O17, RDE^O11)",
        "",
        "Each OBX, RXA and RXE becomes one fact, read exactly, kept **unread** (the fact stays",
        "with its code, time and provenance plus the reason; criteria reading it are unknown), or",
        "the message is",
        "**refused** naming `<SEG>[n].<field>`. Every OBX keeps its value and unit as sent.",
        "",
        "| Element | Form | Outcome | Standard |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {_cell(f.element)} | {_cell(f.form)} | {_cell(f.outcome)} | {_cell(f.standard)} |"
        for f in HL7V2_FORMS
    ]
    lines += [
        "",
        "## How FHIR R4 input is read",
        "",
        "Each element is read exactly, kept **unread** (the fact stays with its code, time and",
        "provenance plus the reason), read with a **note**, or **refused** naming its path. The",
        "202 receipt lists every unread element and note (`warnings`) and, for a Bundle, each",
        "entry's outcome (`entries`: accepted, refused with its problems, or ignored).",
        "",
        "| Element | Form | Outcome | Standard |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {_cell(f.element)} | {_cell(f.form)} | {_cell(f.outcome)} | {_cell(f.standard)} |"
        for f in FHIR_FORMS
    ]
    lines.append("")
    return lines
