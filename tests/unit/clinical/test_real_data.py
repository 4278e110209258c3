"""The handout data (``<repo>/../shared/data``): Synthea R4 bundles and real ORU^R01 messages."""

from __future__ import annotations

import pytest

from shared.clinical.errors import InvalidInput
from shared.clinical.facts import FactKind
from shared.clinical.fhir import normalise_fhir
from shared.clinical.hl7v2 import parse_hl7v2
from tests.unit.clinical.conftest import HANDOUT_PROCESSING_IDS, lab_oru, shared_data


def test_every_synthea_bundle_normalises_into_one_patient_with_facts() -> None:
    bundles = sorted(shared_data("fhir-synthea").glob("*.json"))
    assert len(bundles) == 24
    for bundle in bundles:
        result = normalise_fhir(bundle.read_bytes(), source_system="synthea")
        assert len(result.updates) == 1, bundle.name
        update = result.updates[0]
        assert update.source_patient_id
        assert update.demographics is not None
        assert update.demographics.birth_date is not None
        kinds = {fact.kind for fact in update.facts}
        assert FactKind.OBSERVATION in kinds, bundle.name
        assert "Claim" in result.skipped or "Encounter" in result.skipped


def test_synthea_creatinine_38483_4_arrives_in_canonical_mg_per_dl() -> None:
    bundle = next(iter(sorted(shared_data("fhir-synthea").glob("*.json"))))
    (update,) = normalise_fhir(bundle.read_bytes(), source_system="synthea").updates
    creatinine = [f for f in update.facts if f.codes[0].code == "38483-4" and f.value_quantity]
    assert creatinine
    assert {f.value_quantity.unit for f in creatinine if f.value_quantity} == {"mg/dL"}


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        # PID-30 'NO' is no code of table 0136 (Y/N, v2.5.1 3.4.2.30): refused, not guessed
        ("LAB-ORU-1.hl7", "PID[1].30: death indicator 'NO' is not Y or N"),
        ("ORU-R01-RMGEAD.hl7", None),
        ("LRI_2.0-NG_CBC_Typ_Message.hl7", "OBX[2].6: unit 'g/mL' is implausible for hemoglobin"),
        (
            "LAB-ORU-2.hl7",
            # UCUM 2.2: l-1 is litre to the power -1 multiplied in, so g/l-1 is gram x litre;
            # said with the unit as received and the dimensions in plain words (issue 11: the
            # reason read "Cannot convert from 'gram * liter' to 'gram / liter'")
            "OBX[6].6: unit 'g/l-1' is not a unit of hemoglobin: 'g/l-1' is mass x volume,"
            " expected mass per volume such as g/L, or amount of substance per volume such as"
            " mmol/L",
        ),
        ("ORU-R01-01.hl7", "OBX[2].3: no observation identifier"),
    ],
)
def test_each_real_hl7_message_normalises_or_is_refused_with_a_reason(
    name: str, expected: str | None
) -> None:
    message = (shared_data("hl7v2") / name).read_bytes()
    if expected is None:
        updates = parse_hl7v2(message, processing_ids=HANDOUT_PROCESSING_IDS)
        assert len(updates) == 1
        assert updates[0].facts
        return
    with pytest.raises(InvalidInput) as caught:
        parse_hl7v2(message, processing_ids=HANDOUT_PROCESSING_IDS)
    assert any(str(problem).startswith(expected) for problem in caught.value.problems), str(
        caught.value
    )


@pytest.mark.parametrize(("name", "processing_id"), [
    ("LAB-ORU-1.hl7", "T"), ("LAB-ORU-2.hl7", "T"), ("LRI_2.0-NG_CBC_Typ_Message.hl7", "T"),
    ("ORU-R01-01.hl7", "T"),
])
def test_the_handouts_training_messages_are_refused_at_msh_11_by_default(
    name: str, processing_id: str,
) -> None:
    """HL7 v2.5.1 table 0103: T is training; by default (P) a site reads none of it."""
    with pytest.raises(InvalidInput) as caught:
        parse_hl7v2((shared_data("hl7v2") / name).read_bytes())
    [problem] = caught.value.problems
    assert problem.path == "MSH.11"
    assert problem.reason.startswith(f"processing id {processing_id} (training")


def test_the_messy_count_units_of_the_real_feed_read_through_the_alias_table_and_say_so() -> None:
    (update,) = parse_hl7v2(lab_oru("LAB-ORU-1.hl7"), processing_ids=HANDOUT_PROCESSING_IDS)
    by_code = {fact.codes[0].code: fact for fact in update.facts if fact.value_quantity}
    units = {code: f.value_quantity.unit for code, f in by_code.items() if f.value_quantity}
    assert units["11125-2"] == "10*9/L"
    assert units["11273-0"] == "10*12/L"
    # (OBX[5].14 notes that this result is later than MSH-7: test_hl7v2_message_header.py)
    [note] = [n for n in by_code["11125-2"].notes if n.path.endswith(".6")]
    assert note.path == "OBX[5].6"
    assert note.reason.startswith("unit 'giga.l-1' is not UCUM; read as '10*9/L'")
    assert by_code["11125-2"].received is not None
    assert by_code["11125-2"].received.unit == "giga.l-1"
    assert update.source_system == "SomeSystem"
