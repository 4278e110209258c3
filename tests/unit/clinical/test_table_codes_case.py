"""HL7 v2 table values and FHIR codes are read exactly as the table writes them (case-sensitive).

Found by the ``probe`` review (/work/notes/probe.md item 10): OBX-11 ``f`` was read as ``F``
(final) while every other code outside table 0085 is refused. HL7 v2.5.1 2A.3.35 ID ("coded
value for HL7 defined tables"): the value "is drawn from a table of legal values"; table 0085's
values are ``F``, ``P``, ``C`` ...: ``f`` is none of them, and guessing that the sender meant
``F`` is reading what was not sent. The same for every ID field read: OBX-2 (table 0125), OBR-25
(table 0123), RXA-20 (0322), RXA-21 (0323), ORC-5 (0038), PID-30 (0136), TS-2 (0529), and OBX-8
flags (table 0078, whose codes the engine compares). FHIR R4 (Using Codes in Resources): "all
the codes defined by FHIR itself are case sensitive and SHALL be used in the provided case";
Observation.status is refused by the model already (tested here), and an interpretation code
``h`` or ``pos`` is not ObservationInterpretation's ``H``/``POS``.

Before (main at 5d0ed4f): each lower-case code below was upper-cased and read (OBX-11 ``f`` as
final: the eligible vignette + platelets 8 sent with ``f`` was INELIGIBLE on a value whose status
no table defines; OBX-8 / interpretation ``pos`` read as positive). After: refused at the
field's path (a code outside its table, as any other), or for flags not read.
"""

from __future__ import annotations

import pytest

from shared.clinical.errors import InvalidInput
from shared.clinical.facts import ClinicalFact, FactKind, Provenance
from shared.clinical.fhir import parse_fhir
from shared.clinical.hl7v2 import parse_hl7v2
from shared.eligibility.reading import result_reading
from tests.unit.test_real_feed_examples import UCUM, _add, _bundle, _observation, _oru

OBR = "OBR|1|ORD-9|FIL-9|57021-8^CBC^LN|||20260228080000+0000"
OBR_25 = OBR + "|" * 18 + "{}"  # OBR-25 result status


def _obx(value_type: str = "NM", flag: str = "LL", status: str = "F") -> str:
    return (f"OBX|1|{value_type}|777-3^Platelets^LN||8|10*9/L|150-400|{flag}|||{status}|||"
            "20260228080000+0000")


def _problems(message: str) -> list[str]:
    with pytest.raises(InvalidInput) as refused:
        parse_hl7v2(message, source_system="lab")
    return [str(problem) for problem in refused.value.problems]


def test_obr_25_is_at_field_25() -> None:
    # the fixture's own check: F at OBR-25 reads, X (no results) keeps the value unread
    (update,) = parse_hl7v2(_oru("C0", _obx(), obr=OBR_25.format("X")), source_system="lab")
    assert update.facts[0].unread is not None
    assert update.facts[0].unread.path == "OBR[1].25"


@pytest.mark.parametrize("status", ["f", "p", "c", "d", "Final"])
def test_a_result_status_not_written_as_table_0085_writes_it_is_refused(status: str) -> None:
    problems = _problems(_oru("C1", _obx(status=status)))
    assert any("OBX[1].11" in p and "0085" in p for p in problems), problems


def test_the_upper_case_status_is_read() -> None:
    (update,) = parse_hl7v2(_oru("C2", _obx()), source_system="lab")
    assert update.facts[0].status == "final"


@pytest.mark.parametrize("value_type", ["nm", "Nm", "sn"])
def test_a_value_type_not_written_as_table_0125_writes_it_is_refused(value_type: str) -> None:
    problems = _problems(_oru("C3", _obx(value_type=value_type)))
    assert any("OBX[1].2" in p for p in problems), problems


@pytest.mark.parametrize("status", ["f", "x", "p"])
def test_an_order_status_not_written_as_table_0123_writes_it_is_refused(status: str) -> None:
    problems = _problems(_oru("C4", _obx(), obr=OBR_25.format(status)))
    assert any("OBR[1].25" in p and "0123" in p for p in problems), problems


def test_a_lower_case_flag_is_no_table_0078_flag() -> None:
    (update,) = parse_hl7v2(_oru("C5", _obx(flag="ll")), source_system="lab")
    fact = update.facts[0]
    assert fact.value_quantity is not None  # the number is read by itself
    assert fact.interpretation == "ll"  # kept as sent, never as LL


def test_flags_differing_only_in_case_are_two_flags_not_one() -> None:
    (update,) = parse_hl7v2(_oru("C6", _obx(flag="H~h")), source_system="lab")
    fact = update.facts[0]
    assert fact.interpretation is None
    assert any(note.path == "OBX[1].8" for note in fact.notes)


def _flag_only(flag: str) -> ClinicalFact:
    return ClinicalFact(
        fact_id="f", kind=FactKind.OBSERVATION, codes=(), status="final", interpretation=flag,
        provenance=Provenance(source_system="s", format="hl7v2", resource="HL7v2/1/OBX/1"),
    )


@pytest.mark.parametrize("flag", ["pos", "h", "neg", "n", "Pos"])
def test_the_engine_reads_no_flag_in_another_case(flag: str) -> None:
    positive, why = result_reading(_flag_only(flag), None)
    assert positive is None
    assert repr(flag) in why


@pytest.mark.parametrize(("flag", "expected"), [("POS", True), ("H", True), ("NEG", False)])
def test_the_engine_reads_the_table_s_flags(flag: str, expected: bool) -> None:
    assert result_reading(_flag_only(flag), None)[0] is expected


@pytest.mark.parametrize("status", ["Final", "FINAL", "Preliminary"])
def test_a_fhir_status_in_another_case_is_refused(status: str) -> None:
    entry = _observation(
        "plt", "777-3", "2026-02-28T09:00:00Z",
        valueQuantity={"value": 8, "unit": "10*9/L", "system": UCUM, "code": "10*9/L"},
    )
    entry["resource"]["status"] = status
    with pytest.raises(InvalidInput) as refused:
        parse_fhir(_bundle(_add(entry)), source_system="ehr")
    assert any("status" in str(p) for p in refused.value.problems)


# --- pharmacy and patient ID fields ---------------------------------------------------------

MSH_RAS = "MSH|^~\\&|EHR|HOSP|TW|TW|20261101100000+0000||RAS^O17^RAS_O17|RAS0001|P|2.5.1"
PID = "PID|1||vignette^^^TEST-EHR^MR||Doe^Jane||19900101|F"


def _rxa(status: str = "CP", action: str = "A") -> str:
    fields = ["RXA", "0", "1", "20261101093000+0000", "",
              "CYC500^Cyclophosphamide 500 mg^L^3002^cyclophosphamide^RXN", "500", "mg"]
    fields += [""] * 12
    fields += [status, action]
    return "|".join(fields)


def _ras(*segments: str) -> str:
    return "\r".join([MSH_RAS, PID, *segments]) + "\r"


def test_the_rxa_fixture_reads() -> None:
    (update,) = parse_hl7v2(_ras("ORC|RE||||CM", _rxa()), source_system="pharm")
    assert update.facts


@pytest.mark.parametrize(("segment", "path"), [
    (_rxa(status="cp"), "RXA[1].20"),
    (_rxa(action="a"), "RXA[1].21"),
])
def test_rxa_codes_in_another_case_are_refused(segment: str, path: str) -> None:
    problems = _problems(_ras("ORC|RE||||CM", segment))
    assert any(path in p for p in problems), problems


def test_a_death_indicator_in_another_case_is_refused() -> None:
    pid = PID + "|" * 22 + "y"  # PID-30
    message = "\r".join([_oru("C7", _obx()).split("\r")[0], pid, OBR, _obx()]) + "\r"
    problems = _problems(message)
    assert any(".30" in p for p in problems), problems


def test_a_ts_degree_of_precision_in_another_case_is_refused() -> None:
    obx = _obx().replace("20260228080000+0000", "20260228080000+0000^d")
    problems = _problems(_oru("C8", obx))
    assert any("OBX[1].14" in p and "0529" in p for p in problems), problems


def test_a_fhir_condition_clinical_status_in_another_case_is_refused() -> None:
    # FHIR R4 condition-clinical codes are lower case (required binding): 'Active' is none
    entry = {
        "fullUrl": "urn:uuid:c1",
        "resource": {
            "resourceType": "Condition", "id": "c1", "subject": {"reference": "Patient/vignette"},
            "clinicalStatus": {"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                "code": "Active",
            }]},
            "code": {"coding": [{"system": "http://snomed.info/sct", "code": "84757009"}]},
        },
        "request": {"method": "PUT", "url": "Condition/c1"},
    }
    with pytest.raises(InvalidInput) as refused:
        parse_fhir(_bundle(_add(entry)), source_system="ehr")
    assert any("clinicalStatus" in str(p) for p in refused.value.problems)


# MSH-18 (v2.5.1 2.14.9.18, ID, HL7 table 0211): "8859/1", "UNICODE UTF-8", "BIG-5" are written
# as the table writes them (2A.3.35 ID); another case names no set of the table, so the bytes
# are not decoded in a guessed set and the message is refused at MSH.18 (before: upper-cased).
MSH_CHARSET = ("MSH|^~\\&|LAB|CITY-LAB|TW|TW|20260228100000+0000||ORU^R01^ORU_R01|M-CS|P|2.5.1"
               "||||||{}")
PID_CHARSET = "PID|1||vignette^^^TEST-EHR^MR||Doe^Jane||19900101|F"


def _charset_message(charset: str) -> bytes:
    return ("\r".join([MSH_CHARSET.format(charset), PID_CHARSET, OBR, _obx()]) + "\r").encode(
        "utf-8")


@pytest.mark.parametrize("charset", ["unicode utf-8", "Unicode UTF-8", "UNICODE utf-8", "ascii",
                                     "big-5", "Big-5", "gb 18030-2000"])
def test_a_character_set_in_another_case_is_refused_at_msh_18(charset: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_hl7v2(_charset_message(charset), source_system="lab")
    problems = [str(p) for p in refused.value.problems]
    assert any(p.startswith("MSH.18") and "table 0211" in p for p in problems), problems


@pytest.mark.parametrize("charset", ["UNICODE UTF-8", "ASCII", "8859/1"])
def test_a_character_set_as_table_0211_writes_it_is_read(charset: str) -> None:
    (update,) = parse_hl7v2(_charset_message(charset), source_system="lab")
    assert update.facts[0].status == "final"
