"""Whatever arrives, the normalisers either return facts or raise InvalidInput: never crash."""

from __future__ import annotations

import contextlib
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.clinical.errors import InvalidInput
from shared.clinical.fhir import parse_fhir
from shared.clinical.hl7v2 import parse_hl7v2
from tests.unit.clinical.conftest import FIXTURES, load_fhir_fixture

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=12,
)
_KEYS = ["resourceType", "type", "entry", "resource", "fullUrl", "subject", "code", "valueQuantity"]


def _accepts_or_refuses(payload: Any) -> None:
    with contextlib.suppress(InvalidInput):
        parse_fhir(payload, source_system="fuzz")


@settings(max_examples=150, deadline=None)
@given(document=_JSON)
def test_arbitrary_json_is_normalised_or_refused(document: Any) -> None:
    _accepts_or_refuses(json.dumps(document))


@settings(max_examples=60, deadline=None)
@given(
    index=st.integers(min_value=0, max_value=20),
    key=st.sampled_from(_KEYS),
    value=_JSON,
)
def test_a_bundle_with_one_element_replaced_by_junk_is_normalised_or_refused(
    index: int, key: str, value: Any
) -> None:
    bundle = load_fhir_fixture("lupus_bundle.json")
    entries = bundle["entry"]
    target = entries[index % len(entries)]
    (target["resource"] if key not in ("resource", "fullUrl") else target)[key] = value
    _accepts_or_refuses(bundle)
    bundle[key] = value
    _accepts_or_refuses(bundle)


_HL7 = (FIXTURES / "hl7v2" / "oru_lupus_labs.hl7").read_text("utf-8")


@settings(max_examples=200, deadline=None)
@given(position=st.integers(min_value=0, max_value=len(_HL7)), junk=st.text(max_size=6))
def test_an_hl7_message_with_junk_inserted_is_normalised_or_refused(
    position: int, junk: str
) -> None:
    with contextlib.suppress(InvalidInput):
        parse_hl7v2(_HL7[:position] + junk + _HL7[position:])
