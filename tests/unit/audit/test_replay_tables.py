"""Replay compiles a decision's trial text against the reference tables the decision names
(``parameters["table_version.content_hash"]``), not today's: a code removed from a value set
after the decision must not change what the replay of that decision reproduces."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from services.audit.core.replay import engine_for_text, recorded_tables_hash, replay
from shared.clinical.facts import (
    ClinicalFact,
    Coding,
    Demographics,
    FactKind,
    PatientFacts,
    Provenance,
    Quantity,
    Sex,
)
from shared.eligibility.engine import evaluate
from shared.eligibility.loader import TRIALS_DIR
from shared.eligibility.reference_tables import (
    TABLES_HASH_PARAMETER,
    load_tables,
    read_table_texts,
    tables_from_texts,
    tables_hash,
)
from shared.eligibility.trial_text import compile_text
from shared.hashing import canonical_json
from tests.unit.audit.factories import BASE_TIME

TRIAL_ID, VERSION = "NCT06920433", "2025-11-14.1"
PLATELETS_ANCHOR = (
    '      - {system: loinc, code: "26515-7", display: "Platelets [#/volume] in Blood"}\n')
# LOINC 778-1 "Platelets [#/volume] in Blood by Manual count" (loinc.org/778-1)
MANUAL_COUNT = (
    '      - {system: loinc, code: "778-1", display: "Platelets [#/volume] in Blood by Manual '
    'count"}\n')


def older_texts() -> dict[str, str]:
    """The table files as an earlier evaluator start stored them: ``platelets`` reads LOINC
    778-1 (added if today's files lack it), and a comment line makes the texts differ from
    today's files whatever they hold, as any edit since would."""
    texts = read_table_texts()
    concepts = texts["concepts.yaml"]
    assert PLATELETS_ANCHOR in concepts
    if MANUAL_COUNT not in concepts:
        concepts = concepts.replace(PLATELETS_ANCHOR, PLATELETS_ANCHOR + MANUAL_COUNT, 1)
    texts["concepts.yaml"] = (concepts.rstrip("\n") + "\n# as stored by an earlier evaluator "
                              "start (tests/unit/audit/test_replay_tables.py)\n")
    return texts


def later_texts() -> dict[str, str]:
    """``older_texts`` after 778-1 was removed from ``platelets`` (the concepts version string
    unchanged, as a text-only edit leaves it)."""
    texts = older_texts()
    texts["concepts.yaml"] = texts["concepts.yaml"].replace(MANUAL_COUNT, "", 1)
    return texts


def manual_platelets(value: float = 150.0) -> PatientFacts:
    """A platelet count sent the way a lab with a manual count sends it: LOINC 778-1 with the
    UCUM unit 10*9/L (FHIR R4 Observation.code, Observation.valueQuantity)."""
    return PatientFacts(
        demographics=Demographics(birth_date=BASE_TIME.date().replace(year=1980), sex=Sex.FEMALE),
        facts=(ClinicalFact(
            fact_id="fact-plt-1", kind=FactKind.OBSERVATION,
            codes=(Coding(system="http://loinc.org", code="778-1",
                          display="Platelets [#/volume] in Blood by Manual count"),),
            status="final", effective_start=BASE_TIME - timedelta(days=2),
            value_quantity=Quantity(value=value, unit="10*9/L"),
            provenance=Provenance(source_system="lab", format="fhir-r4",
                                  resource="Observation/plt-1")),),
    )


def trial_text() -> str:
    return (TRIALS_DIR / TRIAL_ID / f"{VERSION}.yaml").read_text(encoding="utf-8")


def test_the_tables_hash_is_their_texts_identity() -> None:
    shipped = load_tables()
    assert shipped.content_hash == tables_hash(read_table_texts())
    assert shipped.content_hash.startswith("sha256:")
    assert len(shipped.content_hash) == 71
    assert tables_from_texts(older_texts()).content_hash != shipped.content_hash
    today = tables_from_texts(later_texts())
    older = tables_from_texts(older_texts())
    assert older.content_hash != today.content_hash
    assert older.versions == today.versions  # the version strings alone cannot tell them apart
    assert "http://loinc.org|778-1" in older.concept("platelets").keys
    assert "http://loinc.org|778-1" not in today.concept("platelets").keys
    with pytest.raises(ValueError, match=r"scores\.yaml: missing"):
        tables_from_texts({k: v for k, v in older_texts().items() if k != "scores.yaml"})


def test_a_decision_records_the_hash_of_the_tables_it_was_compiled_against() -> None:
    older = tables_from_texts(older_texts())
    made = evaluate(compile_text(trial_text(), older), manual_platelets(), BASE_TIME)
    assert made.parameters[TABLES_HASH_PARAMETER] == older.content_hash
    assert recorded_tables_hash(canonical_json(made).decode()) == older.content_hash


def test_an_old_decision_replays_identically_after_a_code_left_the_value_set() -> None:
    older = tables_from_texts(older_texts())
    stored = canonical_json(evaluate(compile_text(trial_text(), older), manual_platelets(),
                                     BASE_TIME)).decode()
    snapshot = canonical_json(manual_platelets()).decode()

    against_today = replay(stored, snapshot, TRIAL_ID, VERSION, BASE_TIME,
                           engine_for_text(trial_text(), tables_from_texts(later_texts())))
    assert not against_today.identical  # the removal matters to this decision
    assert any("778-1" in d or "fact-plt-1" in d for d in against_today.differences), (
        against_today.differences)

    pinned = replay(stored, snapshot, TRIAL_ID, VERSION, BASE_TIME,
                    engine_for_text(trial_text(), older))
    assert pinned.identical, pinned.differences
    assert pinned.tables_hash == older.content_hash


def test_a_decision_from_before_the_hash_was_recorded_replays_against_todays_tables() -> None:
    made = json.loads(canonical_json(evaluate(compile_text(trial_text(), load_tables()),
                                              manual_platelets(), BASE_TIME)))
    del made["parameters"][TABLES_HASH_PARAMETER]
    stored = json.dumps(made)
    assert recorded_tables_hash(stored) is None
    result = replay(stored, canonical_json(manual_platelets()).decode(), TRIAL_ID, VERSION,
                    BASE_TIME, engine_for_text(trial_text()))
    assert result.identical, result.differences
    assert result.tables_hash is None
