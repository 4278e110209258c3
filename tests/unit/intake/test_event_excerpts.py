"""Every reading note of a published fact, wherever it sits (the fact, its components, its
dose, its time bounds), says no free input (issue 14; shared.clinical.excerpts)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from services.intake.core.events import patient_updated
from shared.clinical.facts import (
    ClinicalFact,
    Coding,
    DailyDose,
    FactKind,
    PatientUpdate,
    Provenance,
    ReadingNote,
)

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def _note(path: str) -> ReadingNote:
    return ReadingNote(path=path, reason=f"text 'Jane Roe MRN-7' at {path}; unit 'mg/dL' kept")


def test_notes_anywhere_in_a_fact_leave_intake_without_the_sent_text() -> None:
    provenance = Provenance(source_system="lab", format="fhir-r4", resource="Observation/1",
                            received_at=NOW)
    inner = ClinicalFact(fact_id="c", kind=FactKind.OBSERVATION,
                         codes=(Coding(system="http://loinc.org", code="8480-6"),),
                         provenance=provenance, unread=_note("component[0].valueString"))
    fact = ClinicalFact(
        fact_id="f", kind=FactKind.MEDICATION,
        codes=(Coding(system="http://www.nlm.nih.gov/research/umls/rxnorm", code="5640"),),
        provenance=provenance, unread=_note("valueString"), notes=(_note("note"),),
        dose=DailyDose(unread=_note("dosage[0].text")), components=(inner,))
    update = PatientUpdate(source_system="lab", source_patient_id="p", facts=(fact,))
    event = patient_updated(update, patient_key="pt_1", receipt_id=uuid.uuid4(),
                            received_at=NOW, recorded_at=NOW)
    assert event is not None
    written = event.model_dump_json()
    assert "Jane" not in written
    assert written.count("[value not quoted]") == 4
    assert written.count("'mg/dL'") == 4, "a UCUM unit stays quoted"
