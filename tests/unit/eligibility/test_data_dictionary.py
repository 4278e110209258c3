"""The published data dictionary is generated from the trial files and kept up to date."""

from __future__ import annotations

from pathlib import Path

from shared.eligibility.dictionary import render_markdown
from shared.eligibility.loader import list_trials, load_trial

DOCS = Path(__file__).resolve().parents[3] / "docs" / "data-dictionary.md"


def test_the_committed_data_dictionary_matches_the_trial_files() -> None:
    expected = render_markdown([load_trial(t) for t in sorted(list_trials())])
    assert DOCS.read_text(encoding="utf-8") == expected, (
        "docs/data-dictionary.md is stale:"
        " run `trialwatch dictionary --out docs/data-dictionary.md`"
    )


def test_every_criterion_lists_the_codes_it_reads() -> None:
    text = render_markdown([load_trial("NCT06920433")])
    for criterion in load_trial("NCT06920433").criteria:
        assert f"### {criterion.id} (" in text
    assert "LOINC `777-3`" in text
    assert "ICD-10-CM `E80.4`" in text
    assert "RxNorm `121191`" in text
    assert "TrialWatch facts `investigator-deems-unsuitable`" in text
