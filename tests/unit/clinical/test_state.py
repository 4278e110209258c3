from __future__ import annotations

from datetime import date

from shared.clinical.facts import (
    ClinicalFact,
    Coding,
    Demographics,
    FactKind,
    PatientFacts,
    PatientUpdate,
    Provenance,
    Quantity,
    Sex,
)
from shared.clinical.ids import fact_id
from shared.clinical.state import apply_update, facts_from_updates

LOINC = "http://loinc.org"


def _observation(
    resource: str, value: float, status: str = "final", version: str | None = None
) -> ClinicalFact:
    return ClinicalFact(
        fact_id=fact_id("lab", resource),
        kind=FactKind.OBSERVATION,
        codes=(Coding(system=LOINC, code="718-7"),),
        status=status,
        value_quantity=Quantity(value=value, unit="g/L"),
        provenance=Provenance(
            source_system="lab", format="fhir-r4", resource=resource, version=version
        ),
    )


def _update(*facts: ClinicalFact, demographics: Demographics | None = None) -> PatientUpdate:
    return PatientUpdate(
        source_system="lab", source_patient_id="p1", demographics=demographics, facts=facts
    )


def test_a_later_version_of_the_same_record_replaces_the_earlier_one() -> None:
    state = facts_from_updates([
        _update(_observation("Observation/a", 100, status="preliminary")),
        _update(_observation("Observation/a", 120)),
    ])
    assert [f.value_quantity.value for f in state.facts if f.value_quantity] == [120]


# HL7 v2.5.1 table 0085 F "can only be changed with a corrected result"; FHIR R4
# observation-status: changed after final is amended/corrected. Before: the second final upserted
# (120 read); now neither value is read until a correction comes.
def test_a_later_final_with_another_value_and_no_correction_is_in_doubt() -> None:
    state = facts_from_updates(
        [_update(_observation("Observation/a", 100)), _update(_observation("Observation/a", 120))]
    )
    [fact] = state.facts
    assert fact.value_quantity is None
    assert fact.unread is not None
    assert "two final results disagree" in fact.unread.reason


def test_an_amended_version_replaces_the_final_one() -> None:
    state = facts_from_updates([
        _update(_observation("Observation/a", 100)),
        _update(_observation("Observation/a", 120, status="amended")),
    ])
    assert [f.value_quantity.value for f in state.facts if f.value_quantity] == [120]


def test_different_records_accumulate() -> None:
    state = facts_from_updates(
        [_update(_observation("Observation/a", 100)), _update(_observation("Observation/b", 90))]
    )
    assert len(state.facts) == 2


def test_an_entered_in_error_correction_is_kept_as_a_tombstone() -> None:
    state = facts_from_updates(
        [
            _update(_observation("Observation/a", 100)),
            _update(_observation("Observation/a", 100, status="entered-in-error")),
        ]
    )
    assert [f.status for f in state.facts] == ["entered-in-error"]


def test_an_older_numbered_version_arriving_late_does_not_overwrite_the_newer() -> None:
    state = facts_from_updates(
        [
            _update(_observation("Observation/a", 120, version="3")),
            _update(_observation("Observation/a", 100, version="2")),
        ]
    )
    assert [f.value_quantity.value for f in state.facts if f.value_quantity] == [120]


def test_non_null_demographics_of_the_newer_update_win_and_nulls_do_not_erase() -> None:
    first = Demographics(birth_date=date(1990, 1, 1), sex=Sex.FEMALE)
    newer = Demographics(birth_date=date(1990, 1, 2), deceased=False)
    state = facts_from_updates([_update(demographics=first), _update(demographics=newer)])
    assert state.demographics == Demographics(
        birth_date=date(1990, 1, 2), sex=Sex.FEMALE, deceased=False
    )


def test_applying_an_update_does_not_change_the_previous_state() -> None:
    before = PatientFacts()
    after = apply_update(before, _update(_observation("Observation/a", 100)))
    assert before.facts == ()
    assert len(after.facts) == 1


# HL7 v2.5.1 table 0085 C: "record coming over is a correction and thus replaces a final
# result"; D/W withdraw it; F replaces P. At the same version (MSH-7, meta.versionId) a record
# already replaced is not brought back by a re-sent earlier state.
def test_a_final_of_the_same_version_does_not_undo_a_correction() -> None:
    state = facts_from_updates([
        _update(_observation("Observation/a", 150, "final", "20260228100000")),
        _update(_observation("Observation/a", 15, "corrected", "20260228110000")),
        _update(_observation("Observation/a", 150, "final", "20260228110000")),
    ])
    assert [(f.status, f.value_quantity.value) for f in state.facts if f.value_quantity] == [
        ("corrected", 15)
    ]


def test_a_final_of_the_same_version_does_not_bring_back_a_withdrawn_result() -> None:
    state = facts_from_updates([
        _update(_observation("Observation/a", 150, "entered-in-error", "20260228110000")),
        _update(_observation("Observation/a", 150, "final", "20260228110000")),
    ])
    assert [f.status for f in state.facts] == ["entered-in-error"]


def test_a_preliminary_of_the_same_version_does_not_undo_the_final() -> None:
    state = facts_from_updates([
        _update(_observation("Observation/a", 150, "final", "20260228110000")),
        _update(_observation("Observation/a", 140, "preliminary", "20260228110000")),
    ])
    assert [f.status for f in state.facts] == ["final"]


def test_a_correction_of_the_same_version_replaces_the_final_and_a_second_one_the_first() -> None:
    state = facts_from_updates([
        _update(_observation("Observation/a", 150, "final", "20260228110000")),
        _update(_observation("Observation/a", 15, "corrected", "20260228110000")),
        _update(_observation("Observation/a", 16, "corrected", "20260228110000")),
    ])
    assert [f.value_quantity.value for f in state.facts if f.value_quantity] == [16]


def test_a_later_final_of_the_corrected_value_still_replaces_the_correction() -> None:
    state = facts_from_updates([
        _update(_observation("Observation/a", 15, "corrected", "20260228110000")),
        _update(_observation("Observation/a", 15, "final", "20260228120000")),
    ])
    assert [(f.status, f.unread) for f in state.facts] == [("final", None)]


def test_a_later_final_with_another_value_than_the_correction_is_in_doubt() -> None:
    state = facts_from_updates([
        _update(_observation("Observation/a", 15, "corrected", "20260228110000")),
        _update(_observation("Observation/a", 150, "final", "20260228120000")),
    ])
    assert [f.value_quantity for f in state.facts] == [None]
    assert all(f.unread is not None for f in state.facts)
