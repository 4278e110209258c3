"""A worklist filter entry keeps its parentheses whole (fresh-user report M6: "NIH activity index
(or lesion scores (8 patients)"): a per-patient list inside parentheses is dropped up to its
closing parenthesis, never with the rest of the item."""

from __future__ import annotations

from shared.eligibility.readable import need_key

NIH = ("NIH activity index (or lesion scores: endocapillary hypercellularity, neutrophils/"
       "karyorrhexis, fibrinoid necrosis) from a biopsy within 6 months")


def test_a_list_inside_parentheses_is_dropped_to_its_closing_parenthesis() -> None:
    assert need_key(NIH) == "NIH activity index (or lesion scores) from a biopsy within 6 months"


def test_a_trailing_list_is_still_dropped() -> None:
    assert need_key("SLEDAI-2K total within 30 days or descriptors: fever, leukopenia") == (
        "SLEDAI-2K total within 30 days or descriptors")
