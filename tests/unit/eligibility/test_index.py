"""The fact index keeps exactly the facts some value set can read, newest first."""

from __future__ import annotations

import json
import tracemalloc
from datetime import timedelta
from pathlib import Path

from shared.clinical.facts import PatientFacts
from shared.clinical.fhir import parse_fhir
from shared.clinical.state import facts_from_updates
from shared.eligibility.engine import build_index
from shared.eligibility.index import FactIndex
from shared.eligibility.loader import list_trials, load_trial
from shared.eligibility.reference_tables import Concept
from tests.unit.eligibility.fhir_builder import ICD10, eligible_patient
from tests.unit.eligibility.vignettes import VIGNETTES

TRIAL = load_trial("NCT06920433", "2025-11-14.1")


def _patient() -> PatientFacts:
    builder = (
        eligible_patient()
        .lab("8867-4", 72, "/min", days=1)  # heart rate: read by no criterion
        .lab("777-3", 150, "10*9/L", days=1)
        .condition(ICD10, "G40.909", onset_days=900)  # read by an ICD-10-CM family prefix
        .medication("1734919", start_days=30)  # an RxNorm product of cyclophosphamide
    )
    return facts_from_updates(parse_fhir(builder.bundle(), source_system="t"))


def test_a_code_no_value_set_reads_is_not_indexed_and_the_rest_match_as_before() -> None:
    patient = _patient()
    trimmed = build_index(TRIAL, patient)
    everything = FactIndex.build(patient, TRIAL.tables.product_ingredients)
    heart_rate = next(f for f in patient.facts if f.codes[0].code == "8867-4")
    assert heart_rate.fact_id not in {f.fact_id for fs in trimmed._by_key.values() for f in fs}
    for concept in TRIAL.tables.concepts.values():
        assert trimmed.matching(concept) == everything.matching(concept), concept.name


def test_per_code_lists_are_newest_first() -> None:
    index = build_index(TRIAL, _patient())
    platelets = index.matching(TRIAL.tables.concept("platelets"))
    assert [f.value_quantity.value for f in platelets if f.value_quantity] == [150, 180]


def test_a_prefix_coded_condition_and_a_product_coded_drug_are_indexed() -> None:
    index = build_index(TRIAL, _patient())
    assert any(
        f.codes[0].code == "G40.909" for f in index.matching(TRIAL.tables.concept("cns_disease"))
    )
    assert index.matching(TRIAL.tables.concept("immunosuppressants"))[0].codes[0].code == "1734919"


def test_with_facts_keeps_the_entries_of_concepts_the_new_facts_do_not_feed() -> None:
    """An index made by ``with_facts`` reuses its parent's worked-out entries only for the
    concepts the new (or replaced) facts cannot match; every entry equals a fresh build's."""
    patient = _patient()
    index = build_index(TRIAL, patient)
    concepts = list(TRIAL.tables.concepts.values())
    for concept in concepts:
        index.entry(concept)
    extra = facts_from_updates(
        parse_fhir(
            eligible_patient()
            .lab("777-3", 15, "10*9/L", days=0.5)  # a new platelet count
            .condition(ICD10, "G40.101", onset_days=3)  # an ICD-10-CM prefix family
            .bundle(),
            source_system="new",
        )
    ).facts
    new = [f for f in extra if f.codes[0].code in ("777-3", "G40.101")]
    replaced = next(f for f in patient.facts if f.codes[0].code == "777-3")
    withdrawn = replaced.model_copy(update={"status": "entered-in-error"})
    child = index.with_facts([*new, withdrawn])
    changed = child.changed_concepts()
    assert changed is not None
    assert "platelets" in changed
    fresh = build_index(
        TRIAL,
        PatientFacts(
            demographics=patient.demographics,
            facts=tuple(f for f in patient.facts if f.fact_id != replaced.fact_id) + tuple(new),
        ),
    )
    for concept in concepts:
        assert child.entry(concept) == fresh.entry(concept), concept.name
        # the very same entry (lists) as the parent's exactly when the new facts cannot feed it
        assert (child.entry(concept) is index.entry(concept)) is (concept.name not in changed)
    assert child.entries["platelets"][0][0].value_quantity.value == 15  # type: ignore[union-attr]


def _entries_one_by_one(index: FactIndex, concepts: list[Concept]) -> dict[str, list[str]]:
    """What ``FactIndex.entry`` works out concept by concept on the same lists (no entries made
    at build): the fact ids of each concept, newest first, and the newest time."""
    lazy = FactIndex(
        index.demographics, index._by_key, index._keys_of, index._products,
        readable=index._readable,
    )
    found = {}
    for concept in concepts:
        facts, newest = lazy.entry(concept)
        found[concept.name] = [newest.isoformat(), *(f.fact_id for f in facts)]
    return found


def test_the_entries_made_at_build_equal_those_worked_out_concept_by_concept() -> None:
    """``FactIndex.build`` works out every table concept's entry from the codes present
    (``Readable.entries``); each equals ``entry`` computed alone (a concept fed by several
    codes merged newest first, a concept with no fact empty), for every trial version and
    every vignette patient, and a Synthea record when ``../shared`` is present."""
    patients = [
        facts_from_updates(parse_fhir(v.build().bundle(v.bundle_type), source_system="v"))
        for v in VIGNETTES
    ]
    patients.append(_patient())
    synthea = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "fhir-synthea"
    for path in sorted(synthea.glob("*.json"))[:3] if synthea.is_dir() else []:
        patients.append(facts_from_updates(parse_fhir(json.loads(path.read_text()),
                                                      source_system="synthea")))
    merged = 0
    for trial_id, versions in list_trials().items():
        for version in versions:
            trial = load_trial(trial_id, version)
            concepts = list(trial.tables.concepts.values())
            for patient in patients:
                index = build_index(trial, patient)
                made = {c.name: index.entries.get(c.name) for c in concepts}
                merged += sum(1 for e in made.values() if e is not None and len(e[0]) > 1)
                got = {
                    c.name: [index.entry(c)[1].isoformat(), *(f.fact_id for f in index.entry(c)[0])]
                    for c in concepts
                }
                assert got == _entries_one_by_one(index, concepts), (trial_id, version)
    assert merged  # the patients include concepts with several facts


def test_the_loaded_tables_carry_their_product_ingredients_and_the_index_keeps_no_cache() -> None:
    """The ingredients the product table rolls products up to are worked out once, when the
    tables are loaded (``Tables.ingredients``), not in a module-level cache keyed by ``id()``:
    the engine mutates no global."""
    from shared.eligibility import index as index_module
    from shared.eligibility.index import readable_codes

    tables = TRIAL.tables
    expected = frozenset(i for found in tables.product_ingredients.values() for i in found)
    assert tables.ingredients == expected
    assert "5521" in tables.ingredients  # hydroxychloroquine (979092 rolls up to it)
    assert readable_codes(tables).ingredients is tables.ingredients
    assert not hasattr(index_module, "_INGREDIENTS")


def _large_record(count: int) -> PatientFacts:
    """The vignette's record and ``count`` more platelet counts, one a day (each its own
    fact): a record of years of results."""
    base = facts_from_updates(parse_fhir(
        eligible_patient().lab("777-3", 150, "10*9/L", days=1).bundle(), source_system="t"))
    platelet = next(f for f in base.facts if f.codes and f.codes[0].code == "777-3")
    assert platelet.effective_start is not None
    extra = [
        platelet.model_copy(update={
            "fact_id": f"platelet-{n}",
            "effective_start": platelet.effective_start - timedelta(days=n + 2),
        })
        for n in range(count)
    ]
    return PatientFacts(demographics=base.demographics, facts=(*base.facts, *extra))


def test_adding_a_result_to_a_long_record_does_not_copy_the_record() -> None:
    """``with_facts`` shares what it does not change with the index it starts from: adding one
    result to a record of 5,000 indexed results allocates what the new result changes (a few
    kilobytes), not a copy of the record's tables (a dict of 5,000 entries alone is ~150 KiB).
    Memory is counted (``tracemalloc``), not time: the figure is exact and repeatable."""
    record = _large_record(5000)
    index = build_index(TRIAL, record)
    news = [f.model_copy(update={"fact_id": f"new-{n}"}) for n, f in enumerate(record.facts[-3:])]
    # from an index ``with_facts`` made: the evaluator's pattern (each result from the last)
    current = index.with_facts([news[0]])
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        later = current.with_facts([news[1]])
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    assert later.matching(TRIAL.tables.concept("platelets"))[0].fact_id in {
        f.fact_id for f in (*news, *record.facts)}
    assert len(later._keys_of) == len(current._keys_of) + 1
    # the platelet list itself (5,000 entries, ~40 KiB) is rebuilt: the code the result changed
    assert peak < 64 * 1024, peak
