"""An unidentified medication in the list of items to send is worded for a coordinator, not as
an internal system|code key (fresh-user report M6)."""

from __future__ import annotations

from shared.eligibility.readable import (
    UNIDENTIFIED_MEDICATION_HINT,
    fold_unidentified,
    need_key,
    need_words,
)

ITEM = ("medication of 1984-08-13 could not be read: medication coded as"
        " http://www.nlm.nih.gov/research/umls/rxnorm|316049 not identified: RxNorm code 316049"
        " is not in the product table (tables/rxnorm_products.yaml) nor in a drug value set;"
        " which drug it is is unknown")


def test_an_unidentified_rxnorm_medication_is_a_task_for_a_coordinator() -> None:
    for item in (ITEM, need_key(ITEM)):
        said = need_words(item)
        assert said.startswith("a medication TrialWatch cannot identify (RxNorm 316049")
        assert "http://" not in said
        assert "|" not in said
    # no coordinator action can settle it: the words say who can (not "confirm it is none"),
    # once per list (fresh user ux: once per code made the E11 row a wall of text)
    for said in (fold_unidentified([ITEM])[0], UNIDENTIFIED_MEDICATION_HINT):
        assert "criteria about recent drugs" in said
        assert "RxNorm product table" in said
        assert "site medication crosswalk" in said
        assert "confirm" not in said
        assert "http://" not in said


def test_the_hint_does_not_ask_for_rxnorm_when_the_sender_already_sent_rxnorm() -> None:
    """Fresh user (s14): Synthea codes hydrochlorothiazide 25 MG as RxNorm 316049, and the page
    said to wait "until the sender codes it in RxNorm with a product TrialWatch lists": the
    sender had. What is missing is TrialWatch's own table row, which the site adds."""
    assert "codes it in RxNorm" not in UNIDENTIFIED_MEDICATION_HINT
    assert "not in TrialWatch's drug tables" in UNIDENTIFIED_MEDICATION_HINT
    assert "even a correct RxNorm code" in UNIDENTIFIED_MEDICATION_HINT


def test_other_items_are_unchanged() -> None:
    assert need_words("platelet count within 30 days") == "platelet count within 30 days"
