"""shared.text_safety: which text any service accepts, and where a refusal is named."""

from __future__ import annotations

import pytest

from shared.text_safety import MAX_TEXT_CHARS, character_problem, text_problems


@pytest.mark.parametrize("text", ["plain", "tab\there", "lines\r\nand\nmore", "é 漢 😀", "",
                                  "\x7f DEL and \x85 NEL are not C0"])
def test_printable_text_and_tab_lf_cr_are_accepted(text: str) -> None:
    assert character_problem(text) is None


@pytest.mark.parametrize(("text", "index", "words"), [
    ("a\x00b", 1, "U+0000 (NUL)"),
    ("ab\x1b", 2, "U+001B"),
    ("\x0b", 0, "U+000B"),
    ("x\ud800", 1, "lone surrogate U+D800"),
    ("x\udfff", 1, "lone surrogate U+DFFF"),
])
def test_controls_and_lone_surrogates_are_refused_at_their_index(
    text: str, index: int, words: str
) -> None:
    found = character_problem(text)
    assert found is not None
    assert found[0] == index
    assert words in found[1]


def test_over_long_text_is_refused_and_never_quoted() -> None:
    found = character_problem("s" * (MAX_TEXT_CHARS + 1))
    assert found == (MAX_TEXT_CHARS, f"is longer than {MAX_TEXT_CHARS} characters")
    assert character_problem("s" * MAX_TEXT_CHARS) is None


def test_every_refused_string_of_a_json_document_is_named_by_its_path() -> None:
    document = {"context": {"patientId": "p\x00", "userId": "ok"},
                "items": ["ok", "bad\ud800"], "k\x01": 1, "n": 3}
    assert sorted(text_problems(document)) == sorted([
        ("body.context.patientId", character_problem("p\x00")[1]),  # type: ignore[index]
        ("body.items.1", character_problem("bad\ud800")[1]),  # type: ignore[index]
        ("body", "a key " + character_problem("k\x01")[1]),  # type: ignore[index]
    ])
