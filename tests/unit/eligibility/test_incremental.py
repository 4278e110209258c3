"""Incremental re-evaluation gives exactly the decision a full evaluation gives."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.clinical.facts import PatientFacts
from shared.clinical.fhir import parse_fhir
from shared.clinical.state import facts_from_updates
from shared.eligibility import engine
from shared.eligibility.engine import (
    EngineState,
    build_index,
    evaluate_incremental,
    evaluate_index,
    readers_of,
)
from shared.eligibility.index import FactIndex
from shared.eligibility.loader import list_trials, load_trial
from tests.unit.eligibility.fhir_builder import AS_OF, LOINC, eligible_patient
from tests.unit.eligibility.more_trials import CHT101, LN, bilag, eligible_for_all
from tests.unit.eligibility.vignettes import VIGNETTES

TRIAL = load_trial("NCT06920433")
# every version of every trial shipped in shared/trials (a new trial file joins the property)
TRIALS = [load_trial(t, v) for t, versions in list_trials().items() for v in versions]
assert {t.id for t in TRIALS} >= {TRIAL.id, CHT101, LN}


def _patient(builder_facts: PatientFacts, count: int) -> PatientFacts:
    return PatientFacts(demographics=builder_facts.demographics, facts=builder_facts.facts[:count])


POOL = facts_from_updates(
    parse_fhir(
        VIGNETTES[0]
        .build()
        .lab("777-3", 15, "10*9/L", days=0.5)
        .medication("121191", 130, 100)
        .bundle(),
        source_system="pool",
    )
)


# what all three trials read, and changes to it: new grades, results that fail, a result kept
# unread, a late stop of a drug, a new clinician answer
def _pool_all() -> PatientFacts:
    bundle = (
        bilag(eligible_for_all(), "renal", "C", days=1)
        .lab("777-3", 15, "10*9/L", days=0.5)
        .lab("6690-2", 2.5, "10*9/L", days=0.3)
        .lab("1742-6", 300, "U/L", days=0.2)
        .lab("777-3", 40, "10*9/L", days=29)
        .medication("121191", 130, 100)
        .fact("hemodynamically-stable", False)
        # NCT06920433 .5 I6.2: bilirubin 2.4 x ULN, a resolved then an active Gilbert syndrome
        .lab("1975-2", 2.4, "mg/dL", days=0.4, ref_high=1.0)
        .condition("http://hl7.org/fhir/sid/icd-10-cm", "E80.4", onset_days=3000,
                   status="resolved", abated_days=2000)
        .condition("http://hl7.org/fhir/sid/icd-10-cm", "E80.4", onset_days=10)
        .bundle()
    )
    # one result sent as a date without a time of day (judged at both ends of its day)
    dated = next(
        e["resource"]
        for e in reversed(bundle["entry"])
        if e["resource"].get("effectiveDateTime") and e["resource"]["code"]["coding"][0]["code"]
        == "777-3"
    )
    dated["effectiveDateTime"] = dated["effectiveDateTime"][:10]
    # FHIR R4 AllergyIntolerance (NCT06920433 .5 E1, indexed by category): a drug allergy of
    # unassessed criticality, a newer high-criticality one, a food one no criterion reads
    patient = next(e["resource"]["id"] for e in bundle["entry"]
                   if e["resource"]["resourceType"] == "Patient")
    for number, (category, criticality) in enumerate(
            (("medication", "unable-to-assess"), ("medication", "high"), ("food", "high"))):
        bundle["entry"].append({"fullUrl": f"urn:uuid:allergy-{number}", "resource": {
            "resourceType": "AllergyIntolerance", "id": f"allergy-{number}",
            "clinicalStatus": {"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
                "code": "active"}]},
            "type": "allergy", "category": [category], "criticality": criticality,
            "code": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                                 "code": "7980"}]},
            "patient": {"reference": f"Patient/{patient}"},
            "recordedDate": f"2026-0{number + 1}-10T09:00:00Z"}})
    return facts_from_updates(parse_fhir(bundle, source_system="pool-all"))


POOL_ALL = _pool_all()


@settings(max_examples=60, deadline=None)
@given(
    trial=st.sampled_from(TRIALS),
    start=st.integers(min_value=0, max_value=len(POOL_ALL.facts)),
    steps=st.lists(
        st.tuples(
            st.lists(st.integers(0, len(POOL_ALL.facts) - 1), min_size=1, max_size=2),
            st.integers(0, 400 * 24),
            st.booleans(),
        ),
        min_size=1,
        max_size=6,
    ),
)
def test_incremental_equals_full_across_every_trial_version(
    trial: object, start: int, steps: list[tuple[list[int], int, bool]]
) -> None:
    """Every trial version, facts added one or two at a time (or two updates before one
    evaluation), time moving on: the incremental decision is the full one, byte for byte."""
    assert trial in TRIALS
    version = TRIALS[TRIALS.index(trial)]  # typed
    index = build_index(version, _patient(POOL_ALL, start))
    as_of = AS_OF - timedelta(days=10)
    decision, state = evaluate_incremental(version, index, as_of, None)
    for numbers, hours, twice in steps:
        as_of = as_of + timedelta(hours=hours)
        index = index.with_facts([POOL_ALL.facts[n] for n in numbers])
        if twice:  # not a direct child of the index the state was made on
            index = index.with_facts([POOL_ALL.facts[numbers[0]]])
        decision, state = evaluate_incremental(version, index, as_of, state)
        full = evaluate_index(version, index, as_of)
        assert decision.model_dump_json() == full.model_dump_json()


@settings(max_examples=60, deadline=None)
@given(
    start=st.integers(min_value=0, max_value=len(POOL.facts)),
    steps=st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=len(POOL.facts) - 1), st.integers(0, 400 * 24)
        ),
        min_size=1,
        max_size=6,
    ),
)
def test_incremental_equals_full_after_new_facts_and_time(
    start: int, steps: list[tuple[int, int]]
) -> None:
    index = build_index(TRIAL, _patient(POOL, start))
    as_of = AS_OF - timedelta(days=10)
    decision, state = evaluate_incremental(TRIAL, index, as_of, None)
    for fact_number, hours in steps:
        as_of = as_of + timedelta(hours=hours)
        index = index.with_facts([POOL.facts[fact_number]])
        decision, state = evaluate_incremental(TRIAL, index, as_of, state)
        assert decision.model_dump() == evaluate_index(TRIAL, index, as_of).model_dump()


def test_time_alone_reuses_results_until_their_review_instant() -> None:
    patient = facts_from_updates(parse_fhir(eligible_patient().bundle(), source_system="t"))
    index = build_index(TRIAL, patient)
    decision, state = evaluate_incremental(TRIAL, index, AS_OF, None)
    for days in (0.5, 4, 5.1, 8, 31, 200, 2000):
        moment = AS_OF + timedelta(days=days)
        decision, state = evaluate_incremental(TRIAL, index, moment, state)
        assert decision.model_dump() == evaluate_index(TRIAL, index, moment).model_dump()


def test_an_earlier_as_of_or_other_demographics_recompute_everything() -> None:
    patient = facts_from_updates(parse_fhir(eligible_patient().bundle(), source_system="t"))
    index = build_index(TRIAL, patient)
    _, state = evaluate_incremental(TRIAL, index, AS_OF, None)
    earlier = AS_OF - timedelta(days=20)
    decision, _ = evaluate_incremental(TRIAL, index, earlier, state)
    assert decision.model_dump() == evaluate_index(TRIAL, index, earlier).model_dump()
    older = PatientFacts(
        demographics=patient.demographics.model_copy(
            update={"birth_date": patient.demographics.birth_date.replace(year=2010)}
        ),  # type: ignore[union-attr]
        facts=patient.facts,
    )
    other = build_index(TRIAL, older)
    decision, _ = evaluate_incremental(TRIAL, other, AS_OF, state)
    assert decision.model_dump() == evaluate_index(TRIAL, other, AS_OF).model_dump()


def test_a_new_alt_result_recomputes_only_the_liver_subtree_of_I6() -> None:
    patient = facts_from_updates(parse_fhir(eligible_patient().bundle(), source_system="t"))
    index = build_index(TRIAL, patient)
    _, state = evaluate_incremental(TRIAL, index, AS_OF, None)
    alt = facts_from_updates(
        parse_fhir(
            eligible_patient().lab("1742-6", 35, "U/L", days=0.5).bundle(), source_system="n"
        )
    ).facts[-1]
    later = AS_OF + timedelta(hours=1)
    newer = index.with_facts([alt])
    decision, after = evaluate_incremental(TRIAL, newer, later, state)
    assert decision.model_dump() == evaluate_index(TRIAL, newer, later).model_dump()
    i6 = next(c for c in TRIAL.criteria if c.id == "I6")
    marrow, liver, renal = i6.node.children()
    assert after.shared[marrow] is state.shared[marrow]
    assert after.shared[renal] is state.shared[renal]
    assert after.shared[liver] is not state.shared[liver]


def test_a_result_the_trial_does_not_read_keeps_its_decision_without_revisiting_it() -> None:
    patient = facts_from_updates(parse_fhir(eligible_for_all().bundle(), source_system="t"))
    index = build_index(TRIAL, patient)
    first, state = evaluate_incremental(TRIAL, index, AS_OF, None)
    # LVEF is read by NCT06946485 only
    lvef = facts_from_updates(
        parse_fhir(eligible_patient().lab("10230-1", 30, "%", days=0.5).bundle(), source_system="n")
    ).facts[-1]
    newer = index.with_facts([lvef])
    later = AS_OF + timedelta(hours=1)
    decision, after = evaluate_incremental(TRIAL, newer, later, state)
    assert after.criteria is state.criteria
    assert decision.as_of == later
    assert decision.criteria == first.criteria
    assert decision.model_dump_json() == evaluate_index(TRIAL, newer, later).model_dump_json()
    other = load_trial(CHT101)
    _, other_state = evaluate_incremental(other, index, AS_OF, None)
    other_decision, other_after = evaluate_incremental(other, newer, later, other_state)
    assert other_after.criteria is not other_state.criteria
    assert other_decision.model_dump_json() == evaluate_index(other, newer, later).model_dump_json()


def _with_date_only_platelets(days: float) -> PatientFacts:
    """The eligible patient plus a platelet count of 8 sent as a date without a time of day
    (FHIR R4 dateTime "YYYY-MM-DD": the whole day, ``ClinicalFact.time_bounds``)."""
    builder = eligible_patient().without(LOINC, "777-3").lab("777-3", 8, "10*9/L", days=days)
    bundle = builder.bundle()
    observation = bundle["entry"][-1]["resource"]
    observation["effectiveDateTime"] = observation["effectiveDateTime"][:10]
    return facts_from_updates(parse_fhir(bundle, source_system="day"))


def test_time_alone_with_a_result_known_only_to_the_day_equals_full_evaluation() -> None:
    # each end of the day ages out of I6.1's window at its own instant: the decision must
    # change at the earliest, though the result as sent ages out later
    patient = _with_date_only_platelets(days=28)
    assert any(f.time_bounds is not None for f in patient.facts)
    index = build_index(TRIAL, patient)
    decision, state = evaluate_incremental(TRIAL, index, AS_OF, None)
    for hours in range(0, 24 * 12, 3):
        moment = AS_OF + timedelta(hours=hours)
        decision, state = evaluate_incremental(TRIAL, index, moment, state)
        assert decision.model_dump_json() == evaluate_index(TRIAL, index, moment).model_dump_json()


# the three shipped trials screened side by side, as a site does: results each trial reads,
# and results only one of them reads (LVEF and INR: NCT06946485 only; the score descriptors
# and ALT: NCT06920433), a result kept unread and one no trial reads (a heart rate)
def _pool_sided() -> PatientFacts:
    bundle = (
        eligible_for_all()
        .lab("10230-1", 30, "%", days=0.4)
        .lab("10230-1", 60, "%", days=40)
        .lab("6301-6", 1.1, "1", days=0.3)
        .lab("6301-6", 3.5, "1", days=2)
        .lab("1742-6", 300, "U/L", days=0.2)
        .lab("777-3", 15, "10*9/L", days=0.5)
        .lab("8867-4", 70, "/min", days=0.1)
        # an ALT about to leave I6's look-back: its review instant is the earliest
        .lab("1742-6", 40, "U/L", days=37.5)
        .fact("hemodynamically-stable", False)
        .bundle()
    )
    # one LVEF kept unread: preliminary (FHIR R4 observation-status; ``UNREAD_STATUSES``)
    unread = next(e["resource"] for e in bundle["entry"]
                  if e["resource"].get("code", {}).get("coding", [{}])[0].get("code")
                  == "10230-1")
    unread["status"] = "preliminary"
    return facts_from_updates(parse_fhir(bundle, source_system="pool-sided"))


POOL_SIDED = _pool_sided()
SHIPPED = [load_trial(t) for t in ("NCT06920433", CHT101, LN)]


def _reads(state: object) -> dict[str, tuple[frozenset[object], frozenset[str]]]:
    """Per concept name, the kept results and criteria that read it, worked out by a scan."""
    assert isinstance(state, EngineState)
    found: dict[str, tuple[set[object], set[str]]] = {}
    for key, hit in state.shared.items():
        for name in hit[2]:
            found.setdefault(name, (set(), set()))[0].add(key)
    for cid, computed in state.criteria.items():
        for name in computed.reads:
            found.setdefault(name, (set(), set()))[1].add(cid)
    return {n: (frozenset(k), frozenset(i)) for n, (k, i) in found.items()}


@settings(max_examples=40, deadline=None)
@given(
    start=st.integers(min_value=0, max_value=len(POOL_SIDED.facts)),
    steps=st.lists(
        st.tuples(
            st.lists(st.integers(0, len(POOL_SIDED.facts) - 1), min_size=1, max_size=2),
            st.sampled_from([0, 1, 24, 24 * 40]),
        ),
        min_size=1,
        max_size=6,
    ),
)
def test_incremental_equals_full_for_several_trials_sharing_each_result(
    start: int, steps: list[tuple[list[int], int]]
) -> None:
    """Each result goes to every trial, each trial from its own state (the evaluator's
    pattern): every decision is the full one, byte for byte; the trial version's reverse
    index (``Readers``, shared by every patient's states and only added to) names exactly the
    kept results a scan finds for every concept; the earliest review instant carried over is the
    scanned one; a trial that reads none of a result keeps its criteria as they were."""
    # each example starts with empty reverse indexes: what an earlier one registered must not
    # hide a result this one failed to register
    engine._READERS.clear()
    facts = POOL_SIDED.facts
    index = build_index(TRIAL, PatientFacts(demographics=POOL_SIDED.demographics,
                                            facts=facts[:start]))
    as_of = AS_OF - timedelta(days=10)
    states = [evaluate_incremental(t, index, as_of, None)[1] for t in SHIPPED]
    for numbers, hours in steps:
        as_of = as_of + timedelta(hours=hours)
        index = index.with_facts([facts[n] for n in numbers])
        changed = index.changed_concepts()
        assert changed is not None
        for n, trial in enumerate(SHIPPED):
            before = states[n]
            reads_before = _reads(before)
            decision, after = evaluate_incremental(trial, index, as_of, before)
            full = evaluate_index(trial, index, as_of)
            assert decision.model_dump_json() == full.model_dump_json()
            read = any(name in reads_before for name in changed)
            if not read and not index.imprecise() and (
                before.review() is None or as_of < before.review()  # type: ignore[operator]
            ):
                assert after.criteria is before.criteria
            scanned = _reads(after)
            readers = after.reverse(trial)
            assert readers is readers_of(trial)  # one per trial version, for every patient
            for name in set(scanned) | changed:
                keys, ids = scanned.get(name, (frozenset(), frozenset()))
                assert readers.stale(frozenset({name}), after.shared, after.criteria) == (
                    set(keys), set(ids))
                assert readers.reads_any(frozenset({name}), after.shared, after.criteria) == (
                    bool(keys or ids))
            reviews = [c.review_at for c in after.criteria.values() if c.review_at is not None]
            reviews += [hit[4] for hit in after.shared.values() if hit[4] is not None]
            assert after.review() == min(reviews, default=None)
            states[n] = after


def test_a_result_about_to_age_out_brings_the_next_review_forward_in_every_trial() -> None:
    """A new ALT 27.5 days old at as-of leaves I6's 30-day look-back in 2.5 days: the review
    instant the state carries over must come forward to it, so stepping through those days
    re-evaluates I6 when it ages out (decisions equal to full evaluation at each step)."""
    old_alt = next(f for f in POOL_SIDED.facts
                   if f.codes[0].code == "1742-6" and f.value_quantity is not None
                   and f.value_quantity.value == 40)
    rest = tuple(f for f in POOL_SIDED.facts if f.codes[0].code != "1742-6")
    index = build_index(TRIAL, PatientFacts(demographics=POOL_SIDED.demographics, facts=rest))
    as_of = AS_OF - timedelta(days=10)
    states = [evaluate_incremental(t, index, as_of, None)[1] for t in SHIPPED]
    index = index.with_facts([old_alt])
    for hours in (0, 24, 24, 12, 12, 24):
        as_of = as_of + timedelta(hours=hours)
        for n, trial in enumerate(SHIPPED):
            decision, states[n] = evaluate_incremental(trial, index, as_of, states[n])
            assert decision.model_dump_json() == evaluate_index(
                trial, index, as_of).model_dump_json()


def test_a_concept_first_read_after_a_correction_invalidates_what_reads_it_from_then_on() -> None:
    """EULAR/ACR 2019's entry reads the ANA presence test only when no ANA titer reaches 1:80
    (``eular_acr_2019._entry``). A titer corrected below 1:80 makes I2 read it for the first
    time; a positive presence test after that must re-evaluate I2 (its new read registered in
    the trial version's reverse index), as a full evaluation does."""
    engine._READERS.clear()  # nothing registered by another test
    patient = facts_from_updates(parse_fhir(eligible_patient().bundle(), source_system="t"))
    titer = next(f for f in patient.facts if f.codes[0].code == "5048-4")
    assert titer.value_quantity is not None
    corrected = titer.model_copy(
        update={"value_quantity": titer.value_quantity.model_copy(update={"value": 40.0})})
    presence = facts_from_updates(parse_fhir(
        eligible_patient().observation(
            LOINC, "8061-4", AS_OF - timedelta(days=1),
            coded={"system": "http://snomed.info/sct", "code": "10828004"}).bundle(),
        source_system="p")).facts[-1]
    index = build_index(TRIAL, patient)
    _, state = evaluate_incremental(TRIAL, index, AS_OF, None)
    assert "ana_presence" not in state.criteria["I2"].reads
    for fact in (corrected, presence):
        index = index.with_facts([fact])
        decision, state = evaluate_incremental(TRIAL, index, AS_OF, state)
        assert decision.model_dump_json() == evaluate_index(TRIAL, index, AS_OF).model_dump_json()
    assert "ana_presence" in state.criteria["I2"].reads


def test_a_new_platelet_count_re_reads_neither_documented_score_total_nor_the_ana_entry() -> None:
    """Platelets feed a SLEDAI-2K descriptor and an EULAR/ACR 2019 item: the scores re-run,
    but their documented totals and the EULAR/ACR entry criterion (ANA), which read no
    platelet count, are replayed from the state (the decision is the full one)."""
    builder = eligible_patient()
    patient = facts_from_updates(parse_fhir(builder.bundle(), source_system="t"))
    index = build_index(TRIAL, patient)
    _, state = evaluate_incremental(TRIAL, index, AS_OF, None)
    platelets = facts_from_updates(parse_fhir(
        eligible_patient().lab("777-3", 150, "10*9/L", days=0.5).bundle(), source_system="n"
    )).facts[-1]
    newer = index.with_facts([platelets])
    later = AS_OF + timedelta(hours=1)
    decision, after = evaluate_incremental(TRIAL, newer, later, state)
    assert decision.model_dump_json() == evaluate_index(TRIAL, newer, later).model_dump_json()
    i3 = next(c for c in TRIAL.criteria if c.id == "I3")
    window = i3.node.inputs.window  # type: ignore[attr-defined]
    kept = [key for key in state.shared if isinstance(key, tuple) and key
            and key[0] in ("documented", "eular_acr_2019_entry")]
    assert ("documented", "sledai_2k_total", window.text) in kept
    assert ("documented", "eular_acr_2019_total", None) in kept
    for key in kept:
        assert after.shared[key] is state.shared[key]
    assert after.criteria["I3"] is not state.criteria["I3"]  # the score itself re-ran


@settings(max_examples=60, deadline=None)
@given(
    trial=st.sampled_from(TRIALS),
    start=st.integers(min_value=0, max_value=len(POOL_ALL.facts)),
    steps=st.lists(
        st.lists(st.integers(0, len(POOL_ALL.facts) - 1), min_size=1, max_size=3),
        min_size=1,
        max_size=8,
    ),
)
def test_an_index_grown_by_with_facts_equals_one_built_from_the_whole_record(
    trial: object, start: int, steps: list[list[int]]
) -> None:
    """``with_facts`` (persistent maps shared with the index it starts from, a new result put
    in its place in each list) gives the index ``build`` gives for the same record: the same
    facts under each code, newest first, the same codes per fact, the same facts known only
    to the day, and the same full decision; the indices it started from are unchanged."""
    assert trial in TRIALS
    version = TRIALS[TRIALS.index(trial)]  # typed
    facts = list(POOL_ALL.facts[:start])
    index = build_index(version, _patient(POOL_ALL, start))
    chain = [(index, _shape(index))]
    for numbers in steps:
        added = [POOL_ALL.facts[n] for n in numbers]
        index = index.with_facts(added)
        # a fact sent again replaces the one with its id (``with_facts``)
        ids = {f.fact_id for f in added}
        facts = [f for f in facts if f.fact_id not in ids] + list(
            {f.fact_id: f for f in added}.values())
        chain.append((index, _shape(index)))
    whole = PatientFacts(demographics=POOL_ALL.demographics, facts=tuple(facts))
    built = build_index(version, whole)
    assert _shape(index) == _shape(built)
    assert (evaluate_index(version, index, AS_OF).model_dump_json()
            == evaluate_index(version, built, AS_OF).model_dump_json())
    for earlier, shape in chain:
        assert _shape(earlier) == shape


def _shape(index: object) -> tuple[object, ...]:
    assert isinstance(index, FactIndex)
    return (
        {key: [f.fact_id for f in facts] for key, facts in index._by_key.items() if facts},
        dict(index._keys_of.items()),
        [f.fact_id for f in index.imprecise()],
    )


def _pool_scores() -> PatientFacts:
    """Results and clinician answers feeding SLEDAI-2K and 2019 EULAR/ACR items: present,
    absent, one unread and a newer one replacing an older, so an item's part of the score's
    trace grows, shrinks and changes its missing data and findings."""
    bundle = (
        eligible_patient()
        .lab("777-3", 80, "10*9/L", days=2)  # thrombocytopenia (both scores)
        .lab("777-3", 180, "10*9/L", days=1)  # a newer, normal count
        .lab("6690-2", 2.5, "10*9/L", days=3)  # leukopenia (both scores)
        .lab("8310-5", 38.6, "Cel", days=1)  # fever (both scores)
        .fact("sledai-arthritis", True, days=2)
        .fact("sledai-rash", False, days=2)
        .fact("sledai-seizure", True, days=400)  # outside SLEDAI-2K's window, ever for EULAR
        .fact("eular-seizure", True, days=5)
        .fact("eular-psychosis", False, days=5)
        .fact("sledai-low-complement", True, days=1)
        .fact("sledai-increased-dna-binding", False, days=1)
        .bundle()
    )
    return facts_from_updates(parse_fhir(bundle, source_system="pool-scores"))


POOL_SCORES = _pool_scores()


@settings(max_examples=80, deadline=None)
@given(
    start=st.integers(min_value=0, max_value=len(POOL_SCORES.facts)),
    steps=st.lists(
        st.tuples(
            st.lists(st.integers(0, len(POOL_SCORES.facts) - 1), min_size=1, max_size=3),
            st.sampled_from([0, 1, 24]),
        ),
        min_size=1,
        max_size=8,
    ),
)
def test_score_items_rescored_after_new_inputs_equal_full_evaluation(
    start: int, steps: list[tuple[list[int], int]]
) -> None:
    """SLEDAI-2K and 2019 EULAR/ACR after each new result or answer (one to three at a time,
    in any order, time moving on by 0, 1 or 24 hours): the items it feeds are scored again,
    the others reused from the state (``scores.common.rules_truth``); the decision is the full
    one, byte for byte (the scores' evidence, findings, missing data, reasons and order)."""
    index = build_index(TRIAL, _patient(POOL_SCORES, start))
    as_of = AS_OF - timedelta(days=1)
    decision, state = evaluate_incremental(TRIAL, index, as_of, None)
    for numbers, hours in steps:
        as_of = as_of + timedelta(hours=hours)
        index = index.with_facts([POOL_SCORES.facts[n] for n in numbers])
        decision, state = evaluate_incremental(TRIAL, index, as_of, state)
        assert decision.model_dump_json() == evaluate_index(TRIAL, index, as_of).model_dump_json()
