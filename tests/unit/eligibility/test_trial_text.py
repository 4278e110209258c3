"""``trials validate``: every problem of a trial file with its line, column, criterion and
what was expected; the content hash that identifies a stored version."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from shared.eligibility.loader import TRIALS_DIR, TrialFileError
from shared.eligibility.reference_tables import load_tables
from shared.eligibility.trial_text import compile_text, content_hash, validate_text

TABLES = load_tables()
CHT101 = (TRIALS_DIR / "NCT06946485" / "2025-10-03.1.yaml").read_text(encoding="utf-8")


def _line_of(text: str, fragment: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if fragment in line)


TRIAL_FILES = sorted(p for p in TRIALS_DIR.glob("*/*.yaml") if p.parent.name != "tables")


@pytest.mark.parametrize("path", TRIAL_FILES, ids=lambda p: p.parent.name)
def test_every_shipped_trial_file_validates_clean(path: Path) -> None:
    assert validate_text(path.read_text(encoding="utf-8"), TABLES) == []


def test_the_hash_is_of_the_exact_text_so_a_changed_byte_is_a_different_version() -> None:
    assert content_hash(CHT101) == content_hash(str(CHT101))
    assert content_hash(CHT101) != content_hash(CHT101 + "\n")
    assert content_hash(CHT101).startswith("sha256:")
    assert len(content_hash(CHT101)) == 71


def test_an_unknown_concept_is_reported_at_its_line_and_column_with_the_criterion() -> None:
    text = CHT101.replace("concept: leukocytes", "concept: leukocytez")
    [problem, shared_problem] = validate_text(text, TABLES)  # I6 and I6.1 share the subtree
    line = _line_of(text, "leukocytez")
    assert (problem.line, problem.column) == (
        line,
        text.splitlines()[line - 1].index("leukocytez") + 1,
    )
    assert {problem.criterion, shared_problem.criterion} == {"I6", "I6.1"}
    assert "unknown concept 'leukocytez'" in problem.message
    assert "concepts.yaml" in problem.expected


def test_an_unknown_primitive_names_the_nodes_that_exist() -> None:
    text = CHT101.replace("{score: {score: sledai_2k", "{scroe: {score: sledai_2k")
    [problem] = validate_text(text, TABLES)
    assert problem.criterion == "I2"
    assert problem.line == _line_of(text, "scroe")
    assert "unknown primitive or node 'scroe'" in problem.message
    assert "'bilag'" in problem.expected
    assert "'lab'" in problem.expected


def test_a_bad_window_asks_for_an_iso_8601_duration() -> None:
    text = CHT101.replace("lookback: $bilag_lookback", "lookback: 30 days")
    [problem] = validate_text(text, TABLES)
    assert (problem.criterion, problem.line) == ("I3", _line_of(text, "lookback: 30 days"))
    assert "ISO-8601 duration" in problem.expected


def test_a_parameter_without_a_value_and_an_unknown_parameter_are_both_reported() -> None:
    text = CHT101.replace('  bilag_lookback:\n    value: "P30D"', "  bilag_lookback:\n    value:")
    text = text.replace("$crcl_min_ml_min", "$crcl_min")
    problems = validate_text(text, TABLES)
    messages = [p.message for p in problems]
    assert "parameter bilag_lookback has no value" in messages
    unknown = [p for p in problems if p.message == "unknown parameter $crcl_min"]
    assert {p.criterion for p in unknown} == {"I6", "I6.3"}
    assert all(p.line == _line_of(text, "$crcl_min") for p in unknown)
    assert len(problems) == 3  # no restatement of the same problems by the schema


def test_a_concept_coded_only_in_a_system_intake_never_delivers_is_unreachable() -> None:
    tables = load_tables()
    concept = tables.concepts["lvef"]
    tables.concepts["lvef"] = replace(
        concept, codings=(("urn:oid:1.2.3", "x", None),), keys=frozenset({"urn:oid:1.2.3|x"})
    )
    problems = validate_text(CHT101, tables)
    assert {p.criterion for p in problems} == {"I6", "I6.5"}
    assert all("no code in a system intake delivers" in p.message for p in problems)


LN = (TRIALS_DIR / "TRIALX-323795" / "2025-12-01.5.yaml").read_text(encoding="utf-8")


def test_an_attestation_worded_for_another_trial_is_refused_at_its_line() -> None:
    # a clinician fact is recorded per patient, not per trial: TRIALX-323795 E5 reading the
    # investigator's "no" after reading NCT06946485's full protocol would take it as its own
    # (concepts.yaml worded_for)
    theirs = "fact_excluded_by_unencoded_text_nct06946485"
    text = LN.replace("fact_excluded_by_unencoded_text_trialx_323795", theirs)
    [problem] = validate_text(text, TABLES)
    line = _line_of(text, f"concept: {theirs}")
    assert (problem.line, problem.column) == (line, text.splitlines()[line - 1].index(theirs) + 1)
    assert problem.criterion == "E5"
    assert f"attestation '{theirs}' is worded for NCT06946485" in problem.message
    assert "worded_for: TRIALX-323795" in problem.expected


def test_a_copy_of_a_trial_under_another_id_may_not_read_its_consent_or_catch_all() -> None:
    # consent is given to one trial, and the catch-all is the investigator's reading of one
    # protocol: an upload copied from TRIALX-323795 must ask its own
    text = LN.replace("id: TRIALX-323795", "id: UPLOADED-0002", 1)
    problems = validate_text(text, TABLES)
    assert {(p.criterion, p.message.split("'")[1]) for p in problems} == {
        ("I7", "fact_informed_consent_trialx_323795"),
        ("E5", "fact_excluded_by_unencoded_text_trialx_323795"),
    }
    assert all("worded for TRIALX-323795" in p.message for p in problems)


def test_yaml_that_does_not_parse_is_reported_at_the_error() -> None:
    [problem] = validate_text("trial:\n  id: [unclosed\n", TABLES)
    assert problem.line >= 2
    assert "not valid YAML" in problem.message


def test_compile_text_refuses_a_file_with_problems_and_compiles_a_clean_one() -> None:
    assert compile_text(CHT101, TABLES).id == "NCT06946485"
    with pytest.raises(TrialFileError, match="unknown concept"):
        compile_text(CHT101.replace("concept: leukocytes", "concept: nope"), TABLES)


def test_a_duplicate_criterion_id_is_reported_at_the_duplicate_with_the_other_problems() -> None:
    text = CHT101.replace("  - id: I2\n", "  - id: I1\n", 1)
    text = text.replace("concept: leukocytes", "concept: leukocytez")
    problems = validate_text(text, TABLES)
    [duplicate] = [p for p in problems if "duplicate" in p.message]
    second = [i for i, line in enumerate(text.splitlines(), 1) if line == "  - id: I1"][1]
    assert (duplicate.line, duplicate.column) == (second, len("  - id: ") + 1)
    assert duplicate.criterion == "I1"
    assert "I1" in duplicate.message
    assert any("unknown concept 'leukocytez'" in p.message for p in problems), problems


@pytest.mark.parametrize(("written", "words"), [
    ("\\0", "U+0000 (NUL)"), ("\\e", "U+001B"), ("\\ud800", "lone surrogate U+D800"),
    ("\\x01", "U+0001"), ("y" * 70_000, "longer than"),
])
def test_a_scalar_that_decodes_to_refused_text_is_a_problem_at_its_line_and_column(
    written: str, words: str
) -> None:
    """YAML escapes (YAML 1.1 5.7, double-quoted scalars) decode to any code point: "\\0" to
    NUL, which PostgreSQL text cannot hold and SQLite keeps (shared.text_safety)."""
    line = _line_of(CHT101, "  title:")
    text = CHT101.replace('  title: "', f'  title: "{written}', 1)
    [problem] = validate_text(text, TABLES)
    assert (problem.line, problem.column) == (line, 10)
    assert words in problem.message
    with pytest.raises(TrialFileError):
        compile_text(text, TABLES)


def test_a_control_character_written_in_the_file_is_named_at_its_line_and_column() -> None:
    line = _line_of(CHT101, "  title:")
    text = CHT101.replace("  title:", "  \x07title:", 1)
    [problem] = validate_text(text, TABLES)
    assert (problem.line, problem.column) == (line, 3)
    assert "U+0007" in problem.message
