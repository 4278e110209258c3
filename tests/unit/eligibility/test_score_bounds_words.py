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
            " yet documented were present; SLEDAI-2K cannot yet decide >= 8") in said, said


def test_an_index_without_a_window_keeps_its_bounds() -> None:
    said = clean_reason("I4: NIH — NIH activity index computed: 3 sure, up to 24")
    assert said == ("I4: NIH — NIH activity index: 3 from what is documented; up to 24 if every"
                    " item not yet documented were present"), said
