"""Property tests: the engine's three-valued logic obeys the strong Kleene laws."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from shared.eligibility.logic import Truth, all_of, any_of, at_least, compare_bounds, not_

truths = st.sampled_from(list(Truth))
lists = st.lists(truths, max_size=8)


def _completions(values: list[Truth]) -> list[list[Truth]]:
    """Every way to replace each UNKNOWN with TRUE or FALSE."""
    results: list[list[Truth]] = [[]]
    for value in values:
        options = [Truth.TRUE, Truth.FALSE] if value is Truth.UNKNOWN else [value]
        results = [[*r, o] for r in results for o in options]
    return results


@given(truths)
def test_negation_is_an_involution(a: Truth) -> None:
    assert not_(not_(a)) is a
    assert ~a is not_(a)


@given(truths, truths)
def test_de_morgan_holds_for_three_values(a: Truth, b: Truth) -> None:
    assert not_(all_of([a, b])) is any_of([not_(a), not_(b)])
    assert not_(any_of([a, b])) is all_of([not_(a), not_(b)])


@given(truths, truths, truths)
def test_conjunction_and_disjunction_are_associative_and_commutative(
    a: Truth, b: Truth, c: Truth
) -> None:
    assert all_of([a, b]) is all_of([b, a])
    assert any_of([a, b]) is any_of([b, a])
    assert all_of([all_of([a, b]), c]) is all_of([a, all_of([b, c])])
    assert any_of([any_of([a, b]), c]) is any_of([a, any_of([b, c])])


@given(truths, truths, truths)
def test_distribution_holds(a: Truth, b: Truth, c: Truth) -> None:
    assert all_of([a, any_of([b, c])]) is any_of([all_of([a, b]), all_of([a, c])])


@given(lists)
def test_identities_of_empty_compositions(values: list[Truth]) -> None:
    assert all_of([*values, Truth.TRUE]) is all_of(values)
    assert any_of([*values, Truth.FALSE]) is any_of(values)
    assert all_of([]) is Truth.TRUE
    assert any_of([]) is Truth.FALSE


@given(lists)
def test_a_definite_answer_never_depends_on_how_unknowns_resolve(values: list[Truth]) -> None:
    """Kleene soundness: TRUE/FALSE only when every completion of the unknowns agrees."""
    for combine in (all_of, any_of, lambda v: at_least(2, v)):
        result = combine(values)
        outcomes = {combine(c) for c in _completions(values)}
        if result is Truth.UNKNOWN:
            assert outcomes == {Truth.TRUE, Truth.FALSE}
        else:
            assert outcomes == {result}


@given(lists, st.integers(min_value=0, max_value=9))
def test_at_least_n_matches_its_definition(values: list[Truth], n: int) -> None:
    sure = sum(v is Truth.TRUE for v in values)
    possible = sum(v is not Truth.FALSE for v in values)
    expected = Truth.TRUE if sure >= n else Truth.FALSE if possible < n else Truth.UNKNOWN
    assert at_least(n, values) is expected


@given(lists)
def test_at_least_one_is_any_and_at_least_all_is_all(values: list[Truth]) -> None:
    assert at_least(1, values) is any_of(values)
    assert at_least(len(values), values) is all_of(values)


@given(
    st.floats(min_value=-1e6, max_value=1e6),
    st.floats(min_value=0, max_value=1e6),
    st.floats(min_value=-1e6, max_value=1e6),
    st.sampled_from([">=", ">", "<=", "<"]),
)
def test_a_bounded_score_is_decided_only_when_both_bounds_agree(
    low: float, width: float, threshold: float, op: str
) -> None:
    result = compare_bounds(low, low + width, threshold, op)
    if width == 0:
        assert result is not Truth.UNKNOWN
    if result is Truth.TRUE:
        assert compare_bounds(low, low, threshold, op) is Truth.TRUE
        assert compare_bounds(low + width, low + width, threshold, op) is Truth.TRUE
