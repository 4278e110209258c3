"""Reasons that leave intake quote a sent token only when it is of a closed vocabulary
(shared.clinical.excerpts): a UCUM unit, a catalogued LOINC code, a code of a closed table."""

from __future__ import annotations

from shared.clinical.excerpts import NOT_QUOTED, without_excerpts


def test_a_ucum_unit_a_catalogued_code_and_a_table_code_are_quoted() -> None:
    for kept in ("unit 'g/dL' is not a count per volume", "LOINC '777-3' (platelets)",
                 "result status 'F' then 'C'", "split at an unescaped '^'"):
        assert without_excerpts(kept) == kept
    assert without_excerpts("'<>150': 'not equal to' gives no value") == (
        f"{NOT_QUOTED}: 'not equal to' gives no value"), "the sent value, not the reader's words"


def test_free_text_a_name_an_annotation_a_number_and_an_unknown_code_are_described() -> None:
    said = without_excerpts(
        "unit 'Jane Roe' could not be read; unit '{Jane}' annotated; time '19700412' has no"
        " offset; code '12345-6' unknown; result status 'Q' is not in table 0085")
    assert said == (f"unit {NOT_QUOTED} could not be read; unit {NOT_QUOTED} annotated; time "
                    f"{NOT_QUOTED} has no offset; code {NOT_QUOTED} unknown; result status "
                    f"{NOT_QUOTED} is not in table 0085")
    assert without_excerpts('text "it\'s Jane" was sent') == f"text {NOT_QUOTED} was sent"


def test_an_apostrophe_in_a_word_is_no_quotation() -> None:
    said = "the sender's local time and the patient's record"
    assert without_excerpts(said) == said
