"""Primitives and scores are registries: each module declares itself, and every part of the
engine (schema, compiler, trial-text checks, data dictionary) reads it from there."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from shared.eligibility.loader import TrialFileError, parse_trial
from shared.eligibility.params import Strict
from shared.eligibility.primitives.base import Node
from shared.eligibility.primitives.registry import primitive, registered
from shared.eligibility.reference_tables import Tables, load_tables
from shared.eligibility.schema import LEAF_NODES, TrialFile
from shared.eligibility.scores.registry import registered as registered_scores
from shared.eligibility.trial_text import validate_text

TABLES = load_tables()
TRIAL_FILE = (
    Path(__file__).resolve().parents[3] / "shared" / "trials" / "NCT06920433" / "2025-11-14.1.yaml"
)


def _trial_with(logic: dict[str, Any]) -> dict[str, Any]:
    raw = yaml.safe_load(TRIAL_FILE.read_text(encoding="utf-8"))
    raw["criteria"] = [dict(raw["criteria"][0], logic=logic, parameters=[])]
    return dict(raw)


def test_every_registered_primitive_is_a_node_of_the_published_schema() -> None:
    names = set(registered())
    assert {"lab", "lab_uln", "washout", "score", "bilag", "med_within"} <= names
    assert {spec.name for spec in LEAF_NODES.values()} == names
    defined = TrialFile.model_json_schema()["$defs"]
    for spec in registered().values():
        assert spec.args.__name__ in defined


def test_the_score_primitive_accepts_exactly_the_registered_scores() -> None:
    names = list(registered_scores())
    assert set(names) == {
        "eular_acr_2019",
        "sledai_2k",
        "cockcroft_gault",
        "nih_activity",
        "nih_chronicity",
    }
    unknown = _trial_with({"score": {"score": "sledai", "op": ">=", "value": 6}})
    with pytest.raises(TrialFileError, match="sledai"):
        parse_trial(unknown, TABLES)


def test_a_score_without_an_input_it_needs_is_refused_when_the_trial_is_loaded() -> None:
    # before the registry a SLEDAI-2K threshold without its window failed an assert mid-evaluation
    raw = _trial_with({"score": {"score": "sledai_2k", "op": ">=", "value": 6}})
    with pytest.raises(TrialFileError, match="I1: score sledai_2k needs window"):
        parse_trial(raw, TABLES)
    cg = {"score": "cockcroft_gault", "op": ">=", "value": 30, "lookback": "P30D"}
    with pytest.raises(TrialFileError, match="needs weight, weight_lookback"):
        parse_trial(_trial_with({"score": cg}), TABLES)


def test_every_score_lists_the_data_it_reads_for_the_data_dictionary() -> None:
    for score in registered_scores().values():
        rows = score.rows(TABLES)
        assert rows, score.name
        assert all(row.element and row.how for row in rows)


def test_the_trial_text_check_reads_the_concept_parameters_a_primitive_declares() -> None:
    raw = _trial_with({"bilag": {"concept": "no_such", "min_a": 1, "min_b": 2, "lookback": "P1M"}})
    problems = validate_text(yaml.safe_dump(raw, sort_keys=False), TABLES)
    assert any("unknown concept 'no_such'" in p.message for p in problems)


def test_a_primitive_name_cannot_be_registered_twice() -> None:
    class Args(Strict):
        concept: str

    def compile_(args: Args, tables: Tables) -> Node:
        raise AssertionError("never compiled")

    with pytest.raises(ValueError, match="registered twice"):
        primitive("lab", Args)(compile_)
    assert registered()["lab"].args.__name__ == "LabArgs"
