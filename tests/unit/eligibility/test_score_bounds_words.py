"""A score known only between bounds is said in words (fresh user ux): "SLEDAI-2K computed over
30 days: 0 sure, up to 105" left a coordinator asking what "sure" meant. The bounds are the
engine's (scores/sledai_2k.py, scores/nih_indices.py: the lower counts the documented items,
the upper every item not yet documented too); only the words change."""

from __future__ import annotations

from shared.eligibility.readable import clean_reason


def test_score_bounds_say_what_is_documented_and_what_could_still_count() -> None:
    said = clean_reason("I3: SLEDAI-2000 >= 8 — SLEDAI-2K computed over 30 days: 0 sure, up to"
                        " 105; SLEDAI-2K cannot yet decide >= 8")
    assert "sure" not in said, said
    assert ("SLEDAI-2K over 30 days: 0 from what is documented; up to 105 if every item not"
            " yet documented were present; the criterion needs 8 or more: cannot be decided"
            " yet") in said, said


def test_an_index_without_a_window_keeps_its_bounds() -> None:
    said = clean_reason("I4: NIH — NIH activity index computed: 3 sure, up to 24")
    assert said == ("I4: NIH — NIH activity index: 3 from what is documented; up to 24 if every"
                    " item not yet documented were present"), said


def test_the_eular_acr_score_says_what_it_counted_what_it_could_reach_and_what_is_needed() -> None:
    """Fresh user: "EULAR/ACR 2019 computed: 26 sure (musculoskeletal 6, ...), up to 51; 2019
    EULAR/ACR SLE classification score meets >= 10" (NCT06920433 I2) went unexplained: the
    domains in parentheses kept the bounds from being said in words, and the threshold read as
    a formula. Aringer 2019: a total of 10 or more classifies (scores/eular_acr_2019.py); the
    bounds are the engine's (scores.yaml weights, the highest per domain)."""
    said = clean_reason(
        "I2: SLE — entry criterion met: ANA titer 1:160; EULAR/ACR 2019 computed: 26 sure"
        " (musculoskeletal 6, renal 10, complement 4, sle_specific_antibodies 6), up to 51;"
        " 2019 EULAR/ACR SLE classification score meets >= 10")
    assert said == (
        "I2: SLE — entry criterion met: ANA titer 1:160; EULAR/ACR 2019: 26 from what is"
        " documented (musculoskeletal 6, renal 10, complement 4, SLE-specific antibodies 6); up"
        " to 51 if every item not yet documented were present; the criterion needs 10 or more:"
        " met"), said
    below = clean_reason("I2: SLE — EULAR/ACR 2019 computed: 4 sure (renal 4), up to 4;"
                         " 2019 EULAR/ACR SLE classification score does not meet >= 10")
    assert below == ("I2: SLE — EULAR/ACR 2019: 4 from what is documented (renal 4); no item"
                     " not yet documented could raise it; the criterion needs 10 or more: not"
                     " met"), below
