"""The bounds pre-pass's fast check (no path per value) agrees with the full walk: it passes a
document exactly when the full walk names no problem, so the problems (and their paths) any
input gets are those of the full walk (shared/clinical/bounds.py, issue 13)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.clinical import bounds

SYNTHEA = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "fhir-synthea"
_KEYS = st.sampled_from(["code", "unit", "system", "value", "id", "effectiveDateTime", "div",
                         "text", "low", "valueQuantity", "entry", "resource"])
_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-10**17, max_value=10**17),
    st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=False, allow_infinity=False, places=3, min_value=Decimal("-1e16"),
                max_value=Decimal("1e16")),
    st.text(max_size=80), st.sampled_from(["x" * 70, "y" * 300, "a\x00b", "z" * 5000]),
)
_JSON: st.SearchStrategy[Any] = st.recursive(
    _SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_KEYS, inner,
                                                                          max_size=5),
    max_leaves=40)


@settings(max_examples=200, deadline=None)
@given(_JSON)
def test_the_fast_check_passes_exactly_what_the_full_walk_passes(document: Any) -> None:
    assert bounds._within_bounds(document) == (bounds._fhir_problems(document) == [])
    assert bounds.fhir_problems(document) == bounds._fhir_problems(document)


def test_depth_and_node_limits_fall_back_to_the_full_walk() -> None:
    deep: Any = "leaf"
    for _ in range(bounds.MAX_DEPTH + 1):
        deep = {"a": deep}
    assert not bounds._within_bounds(deep)
    assert bounds.fhir_problems(deep) == bounds._fhir_problems(deep) != []
    wide = {"resourceType": "Bundle", "entry": [0] * bounds.MAX_NODES}
    assert not bounds._within_bounds(wide)
    assert bounds.fhir_problems(wide)[0].path == "$"


def test_real_bundles_pass_both_ways() -> None:
    files = sorted(SYNTHEA.glob("*.json"))[:3]
    if not files:
        pytest.skip("../shared/data/fhir-synthea is not here")
    for path in files:
        document = json.loads(path.read_text(), parse_float=Decimal)
        assert bounds._within_bounds(document)
        assert bounds._fhir_problems(document) == []
