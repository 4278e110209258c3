"""``cite``'s shortcut for a value sent as kept gives what the long way gives, for any text."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.eligibility.context import _sent_as_kept, _written_otherwise, as_received

_NUMBERS = st.floats(allow_nan=True, allow_infinity=True) | st.integers(-10**6, 10**6).map(float)
_TEXTS = st.one_of(
    st.none(),
    st.text(alphabet="0123456789.-+<>= e", max_size=8),
    _NUMBERS.map(repr),
    _NUMBERS.map(lambda v: str(int(v)) if v == v and abs(v) != float("inf") else repr(v)),
)


class _Received:
    def __init__(self, value: str | None, unit: str | None) -> None:
        self.value, self.unit = value, unit


class _Quantity:
    def __init__(self, value: float, unit: str) -> None:
        self.value, self.unit = value, unit


class _Fact:
    def __init__(self, received: _Received, quantity: _Quantity) -> None:
        self.received, self.value_quantity = received, quantity


@settings(max_examples=2000, deadline=None)
@given(
    text=_TEXTS,
    value=_NUMBERS,
    received_unit=st.sampled_from([None, "10*9/L", "mg/dL"]),
)
def test_sent_as_kept_only_when_the_long_way_adds_nothing(
    text: str | None, value: float, received_unit: str | None
) -> None:
    if _sent_as_kept(text, received_unit, value, "10*9/L"):
        fact = _Fact(_Received(text, received_unit), _Quantity(value, "10*9/L"))
        assert as_received(fact) is None  # type: ignore[arg-type]
        assert not _written_otherwise(text, value)


def test_the_common_shapes_take_the_shortcut() -> None:
    assert _sent_as_kept("150", "10*9/L", 150.0, "10*9/L")
    assert _sent_as_kept("0.5", None, 0.5, "10*9/L")
    assert not _sent_as_kept("0.50", None, 0.5, "10*9/L")
    assert not _sent_as_kept("1e-05", None, 1e-05, "10*9/L")
    assert not _sent_as_kept("150", "/uL", 150.0, "10*9/L")
