"""Qualitative result words (``Positive``, ``Not detected`` ...) as SNOMED CT codes.

The table is data (``qualitative.yaml``, with its source); anything else in a free-text
result is dropped, never copied: free text may hold names or notes.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

import yaml

from shared.clinical.facts import Coding

SNOMED = "http://snomed.info/sct"


@cache
def _table() -> dict[str, Coding]:
    text = resources.files("shared.clinical").joinpath("qualitative.yaml").read_text("utf-8")
    table: dict[str, Coding] = {}
    for entry in yaml.safe_load(text)["results"]:
        coding = Coding(system=SNOMED, code=str(entry["snomed"]), display=entry["display"])
        for word in entry["words"]:
            table[_key(word)] = coding
    return table


def _key(text: str) -> str:
    # real feeds pad, vary case and hyphenation, and hide zero-width spaces in result words
    text = re.sub(r"[\u200b-\u200d\ufeff]", "", text).strip().lower()
    return re.sub(r"[\s_-]+", " ", text)


def qualitative_coding(text: str) -> Coding | None:
    """The SNOMED coding for a recognised result word, else ``None``."""
    return _table().get(_key(text))
