"""Trial files are validated on load; errors name the file and what is wrong."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from shared.eligibility.loader import (
    TRIALS_DIR,
    TrialFileError,
    list_trials,
    load_trial,
    parse_trial,
)
from shared.eligibility.reference_tables import load_tables

TABLES = load_tables()
TRIAL_FILE = (
    Path(__file__).resolve().parents[3] / "shared" / "trials" / "NCT06920433" / "2025-11-14.1.yaml"
)


def raw() -> dict[str, Any]:
    data = yaml.safe_load(TRIAL_FILE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_the_registry_lists_the_trial_and_loads_its_latest_version() -> None:
    assert list_trials()["NCT06920433"] == [
        "2025-11-14.1", "2025-11-14.2", "2025-11-14.3", "2025-11-14.4",
        "2025-11-14.5"]
    trial = load_trial("NCT06920433")
    assert (trial.id, trial.version) == ("NCT06920433", "2025-11-14.5")


def test_every_protocol_criterion_is_encoded_with_its_quoted_text() -> None:
    trial = load_trial("NCT06920433")
    expected = [f"I{n}" for n in range(1, 6)] + ["I6", "I6.1", "I6.2", "I6.3", "I7", "I8", "I9"]
    expected += [f"E{n}" for n in range(1, 14)]
    assert [c.id for c in trial.criteria] == expected
    assert all(len(c.protocol_text) > 5 for c in trial.criteria)
    assert "Gilbert syndrome" in next(c for c in trial.criteria if c.id == "I6.2").protocol_text


def test_each_domain_ambiguity_is_a_named_parameter_with_reasoning() -> None:
    parameters = load_trial("NCT06920433").spec.parameters
    for name in (
        "refractory_definition",
        "chronicity_index_increased_min",
        "proteinuria_rule",
        "i6_3_acute_decline_override",
        "e11_drug_classes",
        "e11_half_life_bound",
        "e13_policy",
        "cockcroft_gault_weight",
    ):
        assert len(parameters[name].rationale) > 40, name


def test_an_unknown_parameter_reference_is_refused() -> None:
    data = raw()
    data["criteria"][0]["logic"] = {"age": {"op": ">=", "years": "$no_such_parameter"}}
    with pytest.raises(TrialFileError, match=r"unknown parameter \$no_such_parameter"):
        parse_trial(data, TABLES)


def test_an_unknown_node_or_concept_is_refused() -> None:
    data = raw()
    data["criteria"][0]["logic"] = {"agee": {"op": ">=", "years": 18}}
    with pytest.raises(TrialFileError, match="agee"):
        parse_trial(data, TABLES)
    data = raw()
    data["criteria"][0]["logic"] = {
        "lab": {"concept": "unicorns", "op": ">", "value": 1, "lookback": "P1D"}
    }
    with pytest.raises(TrialFileError, match="unicorns"):
        parse_trial(data, TABLES)


def test_a_duplicate_criterion_id_and_a_missing_protocol_text_are_refused() -> None:
    data = raw()
    data["criteria"].append(data["criteria"][0])
    with pytest.raises(TrialFileError, match="duplicate criterion ids"):
        parse_trial(data, TABLES)
    data = raw()
    del data["criteria"][0]["protocol_text"]
    with pytest.raises(TrialFileError, match="protocol_text"):
        parse_trial(data, TABLES)


def test_an_unknown_trial_or_version_is_refused() -> None:
    with pytest.raises(TrialFileError, match="unknown trial"):
        load_trial("NCT00000000")
    with pytest.raises(TrialFileError, match="no version"):
        load_trial("NCT06920433", "9.9")


@pytest.mark.parametrize("field", ["id", "version"])
def test_a_trial_id_or_version_longer_than_the_registry_holds_is_refused_on_load(
    field: str,
) -> None:
    """Trial ids and versions are kept in 64-character columns (evaluator tables) and travel
    in every decision's TrialRef (bounded to 64, issue 14 section 2): a longer one is refused
    when the file is read, naming the field, not when a decision is published."""
    data = raw()
    data["trial"][field] = "9" * 64
    parse_trial(data, TABLES)
    data["trial"][field] = "9" * 65
    with pytest.raises(TrialFileError, match=f"trial.{field}"):
        parse_trial(data, TABLES)


@pytest.mark.parametrize(("where", "field"), [
    (("criteria", 0, "summary"), "summary"),
    (("criteria", 0, "protocol_text"), "protocol_text"),
    (("trial", "title"), "title"),
])
def test_a_trial_text_longer_than_decisions_quote_is_refused_on_load(
    where: tuple[str | int, ...], field: str,
) -> None:
    # issue 14 section 2: a summary heads every reason of its criterion, the protocol text
    # and title are shown on pages; each bounded (shared.eligibility.schema)
    from shared.eligibility.schema import (
        HEADER_TEXT_MAX_LENGTH,
        PROSE_MAX_LENGTH,
        SUMMARY_MAX_LENGTH,
    )
    limit = {"summary": SUMMARY_MAX_LENGTH, "protocol_text": PROSE_MAX_LENGTH,
             "title": HEADER_TEXT_MAX_LENGTH}[field]
    raw = yaml.safe_load((TRIALS_DIR / "NCT06920433" / "2025-11-14.4.yaml").read_text())
    parent = raw
    for step in where[:-1]:
        parent = parent[step]
    parent[where[-1]] = "x" * limit
    assert parse_trial(copy.deepcopy(raw), load_tables())
    parent[where[-1]] = "x" * (limit + 1)
    with pytest.raises(TrialFileError, match=field):
        parse_trial(raw, load_tables())


def test_a_criterion_id_or_parameter_value_over_its_bound_is_refused_on_load() -> None:
    raw = yaml.safe_load((TRIALS_DIR / "NCT06920433" / "2025-11-14.4.yaml").read_text())
    long_id = copy.deepcopy(raw)
    long_id["criteria"][0]["id"] = "I" + "1" * 32
    with pytest.raises(TrialFileError, match=r"criteria\.0\.id"):
        parse_trial(long_id, load_tables())
    name, parameter = next((n, p) for n, p in raw["parameters"].items()
                           if isinstance(p["value"], str))
    parameter["value"] = "x" * 1_025
    with pytest.raises(TrialFileError, match=name):
        parse_trial(raw, load_tables())
