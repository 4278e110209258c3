"""Drugs are named from a sourced RxNorm name table (brief ux: names were ad-hoc strings: the
half-life table's ``ingredient``, concepts.yaml ``display``, product rows).

``shared/trials/tables/rxnorm_names.yaml`` holds RxNorm's own name of every RxNorm code a value
set of the shipped trials lists, each with the published value set it was read from; the
engine's washout (NCT06920433 E11) names the drug from it."""

from __future__ import annotations

from dataclasses import replace

from shared.clinical.fhir import parse_fhir
from shared.clinical.state import facts_from_updates
from shared.eligibility.engine import evaluate
from shared.eligibility.loader import load_trial
from shared.eligibility.reference_tables import load_tables
from tests.unit.eligibility.fhir_builder import AS_OF, eligible_patient

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"


def test_every_rxnorm_code_of_a_value_set_has_a_sourced_rxnorm_name() -> None:
    tables = load_tables()
    listed = {code for concept in tables.concepts.values()
              for system, code, _ in concept.codings if system == RXNORM}
    assert listed, "the value sets list RxNorm codes"
    assert listed <= set(tables.rxnorm_names), sorted(listed - set(tables.rxnorm_names))
    for code in listed:
        row = tables.rxnorm_name_rows[code]
        assert row["source"], code
        assert row["tty"] == "IN", code
        # RxNorm writes ingredient names in lower case (no display casing of a source)
        assert row["name"] == row["name"].lower(), (code, row["name"])


def test_the_washout_names_the_drug_from_the_rxnorm_name_table() -> None:
    trial = load_trial("NCT06920433", "2025-11-14.4")
    renamed = replace(trial.tables, rxnorm_names={**trial.tables.rxnorm_names,
                                                   "68149": "NAME FROM THE TABLE"})
    facts = facts_from_updates(parse_fhir(eligible_patient().bundle(), source_system="ehr"))
    decision = evaluate(replace(trial, tables=renamed), facts, AS_OF)
    e11 = next(c for c in decision.criteria if c.id == "E11")
    assert "NAME FROM THE TABLE last" in e11.reason, e11.reason
    assert "mycophenolate mofetil" not in e11.reason
