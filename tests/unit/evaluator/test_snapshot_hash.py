"""The evaluator hashes a patient's snapshot from per-fact canonical JSON it remembers
(``decisions.snapshot_hash``); audit recomputes ``shared.hashing.content_hash`` from the stored
snapshot, so the two must give the same hash for every snapshot, remembered fragments or not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from services.evaluator.core import decisions
from shared.clinical.facts import (
    ClinicalFact,
    Coding,
    Demographics,
    FactKind,
    PatientFacts,
    Provenance,
    Quantity,
)
from shared.clinical.fhir import parse_fhir
from shared.clinical.state import facts_from_updates
from shared.hashing import content_hash
from tests.unit.eligibility.fhir_builder import eligible_patient

T0 = datetime(2026, 11, 30, 8, 30, tzinfo=UTC)
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
NUMBER = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e15, max_value=1e15)


@st.composite
def facts(draw: st.DrawFn) -> ClinicalFact:
    n = draw(st.integers(0, 10_000))
    return ClinicalFact(
        fact_id=f"f-{n}-{draw(TEXT)}", kind=FactKind.OBSERVATION,
        codes=(Coding(system="http://loinc.org", code=draw(TEXT) or "x", display=draw(TEXT)),),
        status="final", effective_start=T0 - timedelta(minutes=n),
        value_quantity=Quantity(value=draw(NUMBER), unit="1"),
        provenance=Provenance(source_system=draw(TEXT) or "s", format="fhir-r4",
                              resource=f"Observation/{n}"))


@settings(max_examples=60, deadline=None)
@given(first=st.lists(facts(), max_size=6), later=st.lists(facts(), max_size=3))
def test_the_snapshot_hash_is_the_content_hash_fresh_and_remembered(
    first: list[ClinicalFact], later: list[ClinicalFact],
) -> None:
    before = PatientFacts(demographics=Demographics(), facts=tuple(first))
    assert decisions.snapshot_hash(before) == content_hash(before)
    assert decisions.snapshot_hash(before) == content_hash(before)  # every fragment remembered
    after = PatientFacts(demographics=before.demographics, facts=(*first, *later))
    assert decisions.snapshot_hash(after) == content_hash(after)


def test_a_real_patients_snapshot_hashes_as_audit_hashes_it() -> None:
    patient = facts_from_updates(parse_fhir(eligible_patient().bundle(), source_system="test"))
    assert len(patient.facts) > 10
    assert decisions.snapshot_hash(patient) == content_hash(patient)
    changed = PatientFacts(demographics=patient.demographics, facts=patient.facts[1:])
    assert decisions.snapshot_hash(changed) == content_hash(changed)
