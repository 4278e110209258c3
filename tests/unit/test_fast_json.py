"""``shared.infra.fast_json.loads`` reads every stored JSON text to ``json.loads``'s value."""

from __future__ import annotations

import json
import math

import pytest

from shared.infra.fast_json import loads


@pytest.mark.parametrize("text", [
    '{"value":12.9,"unit":"g/dL","code":"718-7","at":"2026-03-01T09:00:00Z"}',
    "123456789012345678901234567890",  # beyond 64 bits: orjson reads a float
    '{"count":[1,-9223372036854775809]}',  # just below int64: 19 digits
    "18446744073709551616",
    "9223372036854775807",  # int64's largest: orjson reads it exactly
    "[1e400, -1e400]",  # beyond a float's range: json reads inf
    '{"x": NaN, "y": Infinity}',
    '"\\ud800"',  # a lone surrogate escape
    '{"t":"H\\u00e4moglobin \\ud83d\\ude00 \u00e4"}',
    "[0.1, 1e-7, 2.5e+300, 5e-324, 1.7976931348623157e308, 3.5936828072853593]",
])
def test_the_value_is_what_json_loads_reads(text: str) -> None:
    expected = json.loads(text)
    for given in (text, text.encode()):
        got = loads(given)
        assert repr(got) == repr(expected)
        assert type(got) is type(expected)


def test_text_that_is_not_json_raises_as_json_loads_does() -> None:
    with pytest.raises(json.JSONDecodeError):
        loads("{")
    assert math.isnan(loads("NaN"))
