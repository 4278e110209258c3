"""A criterion names only the missing data that could still change its answer.

Strong Kleene: a node that is TRUE or FALSE needs nothing; an UNKNOWN composite needs what its
UNKNOWN children need, and nothing its decided children would have needed. "not documented"
findings (and the like) follow the same rule; evidence is kept as it is.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.clinical.facts import Demographics, PatientFacts, Sex
from shared.clinical.fhir import parse_fhir
from shared.clinical.state import facts_from_updates
from shared.eligibility.context import Context, Trace
from shared.eligibility.decision import CriterionResult, Outcome
from shared.eligibility.engine import build_index, evaluate, evaluate_index
from shared.eligibility.loader import load_trial
from shared.eligibility.logic import Truth, all_of, any_of, at_least
from shared.eligibility.primitives.base import (
    AllOf,
    AnyOf,
    AtLeast,
    Node,
    Not,
    Requirement,
    Shared,
    settled,
)
from tests.unit.eligibility.fhir_builder import AS_OF, ICD10, LOINC, POSITIVE, TW, eligible_patient

TRIAL = load_trial("NCT06920433", "2025-11-14.1")
VIGNETTE_BUNDLES = Path(__file__).resolve().parents[2] / "fixtures" / "vignettes"


def _criterion(results: tuple[CriterionResult, ...], criterion_id: str) -> CriterionResult:
    return next(c for c in results if c.id == criterion_id)


def test_missing_platelets_leaves_I6_needing_exactly_the_platelet_count() -> None:
    bundle = json.loads((VIGNETTE_BUNDLES / "missing-platelets.json").read_text(encoding="utf-8"))
    patient = facts_from_updates(parse_fhir(bundle, source_system="cli"))
    decision = evaluate(TRIAL, patient, AS_OF)
    i6 = _criterion(decision.criteria, "I6")
    assert i6.outcome is Outcome.UNKNOWN
    assert i6.missing == ("platelet count within 30 days",)
    assert "acute decline" not in i6.reason
    assert i6.reason.endswith("needs: platelet count within 30 days")


def test_a_decided_criterion_mentions_no_undocumented_override() -> None:
    patient = facts_from_updates(parse_fhir(eligible_patient().bundle(), source_system="t"))
    i63 = _criterion(evaluate(TRIAL, patient, AS_OF).criteria, "I6.3")
    assert i63.outcome is Outcome.PASS
    assert i63.missing == ()
    assert "not documented" not in i63.reason
    # the computed CrCl that decided it is still cited
    assert any(e.code == "trialwatch|crcl-cockcroft-gault" for e in i63.evidence)


def test_an_unknown_override_is_needed_when_the_crcl_is_below_30() -> None:
    builder = eligible_patient().without(LOINC, "2160-0").lab("2160-0", 2.5, "mg/dL", days=1)
    builder.without(TW, "acute-crcl-decline-due-to-disease")
    patient = facts_from_updates(parse_fhir(builder.bundle(), source_system="t"))
    i63 = _criterion(evaluate(TRIAL, patient, AS_OF).criteria, "I6.3")
    assert i63.outcome is Outcome.UNKNOWN
    assert i63.missing == (
        "clinician: low CrCl is an acute decline caused by the disease itself"
        " (documented within 30 days)",
    )
    assert "not documented: clinician: low CrCl" in i63.reason


# --------------------------------------------------------------------------- synthetic trees


class _Leaf(Node):
    """A leaf with a fixed answer, the data it says it lacks and what it found."""

    def __init__(self, name: str, truth: Truth, needs: list[str], gaps: list[str]) -> None:
        self.name, self.truth, self.needs, self.gaps = name, truth, needs, gaps

    def evaluate(self, ctx: Context, trace: Trace) -> Truth:
        trace.findings.append(f"{self.name} looked")
        for what in self.needs:
            trace.need(what)
        for finding in self.gaps:
            trace.gap(finding)
        return self.truth

    def requirements(self) -> list[Requirement]:
        return []


_WORDS = st.sampled_from(["a", "b", "c", "d", "e"])


@st.composite
def _leaves(draw: st.DrawFn) -> Node:
    name = draw(st.text("xyz", min_size=1, max_size=3))
    return _Leaf(
        name,
        draw(st.sampled_from(list(Truth))),
        draw(st.lists(_WORDS, max_size=2)),
        draw(st.lists(_WORDS.map(lambda w: f"not documented: {w}"), max_size=2)),
    )


def _trees(leaves: st.SearchStrategy[Node]) -> st.SearchStrategy[Node]:
    def extend(children: st.SearchStrategy[Node]) -> st.SearchStrategy[Node]:
        many = st.lists(children, min_size=1, max_size=4)
        return st.one_of(
            many.map(AllOf),
            many.map(AnyOf),
            children.map(Not),
            many.flatmap(lambda ns: st.integers(0, len(ns) + 1).map(lambda n: AtLeast(n, ns))),
        )

    return st.recursive(leaves, extend, max_leaves=12)


@st.composite
def _trees_with_a_shared_subtree(draw: st.DrawFn) -> Node:
    shared = Shared(draw(_trees(_leaves())))
    return draw(_trees(st.one_of(_leaves(), st.just(shared))))


def _reference(node: Node, ctx: Context) -> tuple[Truth, list[str], list[str]]:
    """(truth, missing, findings) by the rule, from each leaf evaluated on its own."""
    if isinstance(node, Shared):
        return _reference(node.node, ctx)
    if isinstance(node, Not):
        truth, missing, findings = _reference(node.node, ctx)
        return ~truth, missing, findings
    if isinstance(node, AllOf | AnyOf | AtLeast):
        parts = [_reference(child, ctx) for child in node.children()]
        truths = [t for t, _, _ in parts]
        if isinstance(node, AllOf):
            truth = all_of(truths)
        elif isinstance(node, AnyOf):
            truth = any_of(truths)
        else:
            truth = at_least(node.n, truths)
        if isinstance(node, AllOf) and Truth.FALSE in truths:
            # a conjunction says nothing of the children after its first FALSE one
            parts = parts[: truths.index(Truth.FALSE) + 1]
        missing = [m for t, ms, _ in parts if t is Truth.UNKNOWN for m in ms]
        findings = [f for _, _, fs in parts for f in fs]
    else:
        trace = Trace()
        truth = node.evaluate(ctx, trace)
        missing, findings = trace.missing, trace.findings
    if truth is not Truth.UNKNOWN:
        # a decided node needs nothing, and its "not documented" findings cannot matter
        missing = []
        findings = [f for f in findings if not f.startswith("not documented: ")]
    return truth, list(dict.fromkeys(missing)), findings


def _empty_context() -> Context:
    return Context(as_of=AS_OF, index=build_index(TRIAL, PatientFacts()), tables=TRIAL.tables)


@settings(max_examples=200, deadline=None)
@given(_trees_with_a_shared_subtree())
def test_only_unknown_leaves_under_undecided_composites_are_named_missing(tree: Node) -> None:
    trace = Trace()
    truth = settled(tree, _empty_context(), trace)
    expected_truth, expected_missing, expected_findings = _reference(tree, _empty_context())
    assert truth is expected_truth
    assert trace.missing == expected_missing
    assert trace.findings == expected_findings
    if truth is not Truth.UNKNOWN:
        assert trace.missing == []


# --------------------------------------------------------------------------- the real trial

_POOL = facts_from_updates(
    parse_fhir(
        eligible_patient()
        .lab("2160-0", 2.6, "mg/dL", days=1)  # CrCl below 30 when newest
        .fact("acute-crcl-decline-due-to-disease", True, days=0.5)
        .fact("acute-crcl-decline-due-to-disease", False, days=2)
        .condition(ICD10, "E80.4", onset_days=3000)  # Gilbert syndrome
        .lab("1975-2", 3.0, "mg/dL", days=1)  # bilirubin 2.5 x ULN
        .observation(LOINC, "5196-1", AS_OF - timedelta(days=2), coded=POSITIVE)
        .observation(LOINC, "16128-1", AS_OF - timedelta(days=2), coded=POSITIVE)
        .medication("121191", start_days=130, end_days=100)  # rituximab: within washout
        .medication("27169", start_days=300, end_days=30)  # leflunomide
        .fact("leflunomide-accelerated-elimination-completed", True)
        .fact("relapse-after-remission", True)
        .observation(LOINC, "2106-3", AS_OF - timedelta(days=1), coded=POSITIVE)
        .bundle(),
        source_system="pool",
    )
)


@st.composite
def _patients(draw: st.DrawFn) -> PatientFacts:
    chosen = draw(st.lists(st.booleans(), min_size=len(_POOL.facts), max_size=len(_POOL.facts)))
    demographics = Demographics(
        birth_date=draw(st.sampled_from([date(1990, 5, 10), date(2008, 3, 2), None])),
        sex=draw(st.sampled_from([Sex.FEMALE, Sex.MALE, Sex.OTHER, None])),
    )
    facts = tuple(f for f, keep in zip(_POOL.facts, chosen, strict=True) if keep)
    return PatientFacts(demographics=demographics, facts=facts)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_patients(), st.integers(min_value=-15 * 24, max_value=60 * 24))
def test_every_missing_item_of_the_trial_could_change_its_criterion(
    patient: PatientFacts, hours: int
) -> None:
    as_of = AS_OF + timedelta(hours=hours)
    index = build_index(TRIAL, patient)
    decision = evaluate_index(TRIAL, index, as_of)
    for criterion, result in zip(TRIAL.criteria, decision.criteria, strict=True):
        ctx = Context(as_of=as_of, index=index, tables=TRIAL.tables)
        truth, necessary, _ = _reference(criterion.node, ctx)
        if result.missing:
            assert result.outcome is Outcome.UNKNOWN
        assert (truth is Truth.UNKNOWN) == (result.outcome is Outcome.UNKNOWN)
        # necessary: from an UNKNOWN leaf with no decided composite above it; and all of them
        assert list(result.missing) == necessary, result.id
        if result.outcome is not Outcome.UNKNOWN:
            assert "needs: " not in result.reason
            assert "not documented: " not in result.reason
