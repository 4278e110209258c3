"""The texts the engine writes into a decision are bounded where they are made (issue 14
section 2): a decision whose text is longer than its bound is refused by the engine naming the
criterion and the field (``DecisionTextTooLong``), never cut and never left for the contracts,
the alerts or audit to refuse later. A reason is the one text that grows with the patient's
data: E11 (NCT06920433, immunosuppressant or biologic within five half-lives) names every
medication within its look-back that it cannot identify, ~440 characters each (finding and
need), so a history with 60 such entries within the washout passes 16,384; 10 is the longest
real case (5,555 characters, golden decisions). Medications are sent as a FHIR R4
MedicationAdministration with an RxNorm code in neither the product table nor a drug value set
(``tests/unit/eligibility/test_unidentified_codes.py``)."""

from __future__ import annotations

import copy
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from shared.clinical.fhir import parse_fhir
from shared.clinical.state import facts_from_updates
from shared.eligibility import decision as bounds
from shared.eligibility.decision import (
    CriterionResult,
    DecisionTextTooLong,
    Evidence,
    Outcome,
    Status,
    check_texts,
)
from shared.eligibility.engine import evaluate
from shared.eligibility.loader import load_trial

AS_OF = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
VIGNETTE = Path(__file__).resolve().parents[2] / "fixtures" / "vignettes" / "eligible.json"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"


def _with_unidentified_medications(count: int) -> Any:
    bundle = json.loads(VIGNETTE.read_text(encoding="utf-8"))
    for n in range(count):
        resource = {
            "resourceType": "MedicationAdministration", "id": f"unidentified-{n}",
            "status": "completed", "subject": {"reference": "Patient/vignette"},
            # RxNorm codes of the 9,000,000 range: in neither the product table nor a value set
            "medicationCodeableConcept": {"coding": [{"system": RXNORM,
                                                      "code": str(9_000_000 + n)}]},
            "effectiveDateTime": f"2026-02-{1 + n % 27:02d}T09:00:00Z"}
        bundle["entry"].append({"fullUrl": f"urn:uuid:{resource['id']}",
                                "resource": copy.deepcopy(resource)})
    return facts_from_updates(parse_fhir(bundle, source_system="test-ehr"))


def test_ten_unidentified_medications_give_a_decision_within_the_bounds() -> None:
    decision = evaluate(load_trial("NCT06920433"), _with_unidentified_medications(10), AS_OF)
    e11 = next(c for c in decision.criteria if c.id == "E11")
    assert e11.outcome is Outcome.UNKNOWN
    assert decision.status is Status.UNDETERMINED
    assert 3_000 < len(e11.reason) <= bounds.CRITERION_REASON_MAX_LENGTH
    # what the engine built unvalidated is what the model accepts
    assert type(decision).model_validate(decision.model_dump()) == decision


def test_a_reason_over_its_bound_is_refused_by_the_engine_naming_criterion_and_field() -> None:
    with pytest.raises(DecisionTextTooLong) as refused:
        evaluate(load_trial("NCT06920433"), _with_unidentified_medications(60), AS_OF)
    said = str(refused.value)
    assert said.startswith("criterion E11: reason is ")
    assert f"more than its bound {bounds.CRITERION_REASON_MAX_LENGTH:,}" in said
    # lengths and names only: never the text, which quotes the patient's data
    assert "9000000" not in said
    assert "rxnorm" not in said.lower()
    assert isinstance(refused.value, ValueError)


def test_evidence_checked_before_is_not_read_again_and_only_that_very_object() -> None:
    """``check_texts(results, checked)``: the evidence objects an incremental evaluation's
    earlier result held passed the check then, and their bounds do not depend on the result
    they are in, so they are skipped by identity; an equal object made anew, or any other
    item, is read."""
    over = Evidence.model_construct(note="x" * (bounds.EVIDENCE_TEXT_MAX_LENGTH + 1))
    fits = Evidence.model_construct(note="a note")
    # a skipped item is not read (the contract: only items that passed before are given)
    check_texts((_result(evidence=(fits, over)),), (over,))
    with pytest.raises(DecisionTextTooLong, match=r"^criterion E11: evidence\[\].note is"):
        check_texts((_result(evidence=(fits, over)),), (fits,))
    twin = Evidence.model_construct(note="x" * (bounds.EVIDENCE_TEXT_MAX_LENGTH + 1))
    assert twin == over
    assert twin is not over
    with pytest.raises(DecisionTextTooLong, match=r"evidence\[\].note is"):
        check_texts((_result(evidence=(twin,)),), (over,))
    # the result's own texts are always read
    with pytest.raises(DecisionTextTooLong, match=r"^criterion E11: reason is"):
        check_texts((_result(reason="x" * (bounds.CRITERION_REASON_MAX_LENGTH + 1),
                             evidence=(fits,)),), (fits,))


def test_an_incremental_evaluation_refuses_a_reason_over_its_bound_as_a_full_one_does() -> None:
    """The incremental path checks each result it makes afresh, skipping only the evidence its
    earlier result held: 50 more unidentified medications after a state made with 10 make E11's
    reason too long, and it is refused naming E11 as ``evaluate`` refuses it."""
    from shared.eligibility.engine import build_index, evaluate_incremental

    trial = load_trial("NCT06920433")
    ten, sixty = _with_unidentified_medications(10), _with_unidentified_medications(60)
    index = build_index(trial, ten)
    _, state = evaluate_incremental(trial, index, AS_OF, None)
    known = {fact.fact_id for fact in ten.facts}
    more = [fact for fact in sixty.facts if fact.fact_id not in known]
    assert len(more) == 50
    with pytest.raises(DecisionTextTooLong, match=r"^criterion E11: reason is "):
        evaluate_incremental(trial, index.with_facts(more), AS_OF, state)


def _result(**changes: Any) -> CriterionResult:
    values: dict[str, Any] = {"id": "E11", "kind": "exclusion", "outcome": "unknown",
                              "reason": "r", "evidence": (), "missing": ()}
    values.update(changes)
    return CriterionResult.model_construct(**values)


EVIDENCE_LIMITS = [
    ("fact_id", 64), ("resource", 16_384), ("code", 4096 + 1 + 1024), ("value", 65_536),
    ("unit", 512), ("note", 32_768 + 8_192)]


@pytest.mark.parametrize(("field", "limit"), EVIDENCE_LIMITS)
def test_each_evidence_text_one_over_its_bound_is_refused_by_model_and_engine_check(
    field: str, limit: int,
) -> None:
    assert Evidence.model_validate({field: "x" * limit})
    with pytest.raises(ValidationError) as refused:
        Evidence.model_validate({field: "x" * (limit + 1)})
    assert {e["loc"][0] for e in refused.value.errors()} == {field}
    check_texts((_result(evidence=(Evidence.model_construct(**{field: "x" * limit}),)),))
    with pytest.raises(DecisionTextTooLong, match=rf"^criterion E11: evidence\[\].{field} is"):
        check_texts((_result(evidence=(Evidence.model_construct(
            **{field: "x" * (limit + 1)}),)),))


@pytest.mark.parametrize(("changes", "field"), [
    ({"id": "I" + "1" * 32}, "id"),
    ({"reason": "x" * (bounds.CRITERION_REASON_MAX_LENGTH + 1)}, "reason"),
    ({"missing": ("x" * (bounds.EVIDENCE_TEXT_MAX_LENGTH + 1),)}, "missing[]"),
    ({"missing": ("x",) * (bounds.MISSING_MAX_ITEMS + 1)}, "missing (items)"),
    ({"evidence": (Evidence.model_construct(details={"k" * 65: 1}),)},
     "evidence[].details{key}"),
    ({"evidence": (Evidence.model_construct(details={"k": "x" * 65_537}),)},
     "evidence[].details{}"),
    ({"evidence": (Evidence.model_construct(details={f"k{n}": n for n in range(65)}),)},
     "evidence[].details (items)"),
])
def test_each_criterion_text_over_its_bound_is_refused(changes: dict[str, Any],
                                                       field: str) -> None:
    with pytest.raises(DecisionTextTooLong, match=rf"^criterion \S+: {re.escape(field)} is"):
        check_texts((_result(**changes),))
    with pytest.raises(ValidationError):
        CriterionResult.model_validate(_result(**changes).__dict__ | {
            "evidence": [e.__dict__ for e in changes.get("evidence", ())]})


def test_the_golden_decisions_are_within_every_bound() -> None:
    import gzip

    from shared.eligibility.decision import Decision
    folder = Path(__file__).resolve().parents[2] / "fixtures" / "golden_decisions"
    seen = 0
    for path in sorted(folder.glob("*.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as lines:
            for line in lines:
                decision = Decision.model_validate_json(json.loads(line)["decision"])
                check_texts(decision.criteria)
                seen += 1
    assert seen >= 500


def test_people_s_words_make_an_engine_text_at_most_twice_as_long() -> None:
    # Need.item and the alert's reasons hold the engine's texts through plain_words:
    # their bounds are PLAIN_WORDS_GROWTH times the engine's
    from shared.eligibility import readable
    growth = max(len(words) / len(name) for name, words in readable._INTERNAL_NAMES.items())
    assert growth <= readable.PLAIN_WORDS_GROWTH
    sample = " ".join([*readable._INTERNAL_NAMES, "0.5 10*9/L", "2026-02-28", "cva"] * 3)
    assert len(readable.plain_words(sample)) <= readable.PLAIN_WORDS_GROWTH * len(sample)
    assert len(readable.clean_reason("x: cannot be decided — " + sample)) <= (
        readable.PLAIN_WORDS_GROWTH * len("x: cannot be decided — " + sample))


def test_an_alert_holds_a_reason_and_needs_at_their_bounds() -> None:
    from shared.contracts.events import ALERT_TEXT_MAX_LENGTH, HEADLINE_MAX_LENGTH
    from shared.eligibility.readable import NEED_MAX_LENGTH, Need, clean_reason
    reason = ("E11: " + clean_reason("x" * bounds.CRITERION_REASON_MAX_LENGTH))
    assert len(reason) <= ALERT_TEXT_MAX_LENGTH
    assert Need(item="x" * NEED_MAX_LENGTH, unblocks=("E11",))
    with pytest.raises(ValidationError):
        Need(item="x" * (NEED_MAX_LENGTH + 1), unblocks=("E11",))
    assert HEADLINE_MAX_LENGTH >= 3 * 2 * NEED_MAX_LENGTH


class _Text(str):
    """A str subclass (a StrEnum member is one): measured like any text."""


def _outcome(check: Any, result: CriterionResult) -> str | None:
    try:
        check(result)
    except Exception as refused:  # the two checks must fail alike
        return f"{type(refused).__name__}: {refused}"
    return None


def _field_by_field(result: CriterionResult) -> None:
    """The reference: every bound of the published models (``CriterionResult``, ``Evidence``),
    one field at a time in the order the models list them, raising on the first over."""
    where = f"criterion {result.id[:bounds.CRITERION_ID_MAX_LENGTH]}"

    def within(field: str, value: object, limit: int) -> None:
        if isinstance(value, str | tuple | dict) and len(value) > limit:
            raise DecisionTextTooLong(
                f"{where}: {field} is {len(value):,} long, more than its bound {limit:,} "
                "(shared.eligibility.decision)")

    within("id", result.id, bounds.CRITERION_ID_MAX_LENGTH)
    within("reason", result.reason, bounds.CRITERION_REASON_MAX_LENGTH)
    within("missing (items)", result.missing, bounds.MISSING_MAX_ITEMS)
    for item in result.missing:
        within("missing[]", item, bounds.EVIDENCE_TEXT_MAX_LENGTH)
    for evidence in result.evidence:
        within("evidence[].fact_id", evidence.fact_id, 64)
        within("evidence[].resource", evidence.resource, 16_384)
        within("evidence[].code", evidence.code, bounds.CODE_TEXT_MAX_LENGTH)
        within("evidence[].value", evidence.value, bounds.VALUE_TEXT_MAX_LENGTH)
        within("evidence[].unit", evidence.unit, 512)
        within("evidence[].note", evidence.note, bounds.EVIDENCE_TEXT_MAX_LENGTH)
        details = evidence.details
        if details:
            within("evidence[].details (items)", details, bounds.DETAILS_MAX_ITEMS)
            for key, value in details.items():
                within("evidence[].details{key}", key, bounds.NAME_MAX_LENGTH)
                within("evidence[].details{}", value, bounds.VALUE_TEXT_MAX_LENGTH)


def test_the_one_pass_check_answers_as_the_field_by_field_check() -> None:
    """``check_texts`` (one table-driven pass, ``decision._first_over``) answers as the
    field-by-field reference (``_field_by_field``, the engine's check before it was folded into
    one) whatever the texts, types and lengths: it raises what the reference does, on the same
    first field with the same words, and passes what it passes. Each example has every field
    within its bound (a text at the bound, a str subclass, a number, None) but at most one,
    one over (a text, a tuple, a str subclass)."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    limits = {"fact_id": 64, "resource": 16_384, "code": bounds.CODE_TEXT_MAX_LENGTH,
              "value": bounds.VALUE_TEXT_MAX_LENGTH, "unit": 512,
              "note": bounds.EVIDENCE_TEXT_MAX_LENGTH}

    def within(limit: int) -> st.SearchStrategy[Any]:
        return st.one_of(st.just("short"), st.just("x" * limit), st.just(_Text("y" * limit)),
                         st.floats(allow_nan=False), st.booleans(), st.none())

    def over(limit: int) -> st.SearchStrategy[Any]:
        return st.sampled_from(
            ["x" * (limit + 1), ("x",) * (limit + 1), _Text("y" * (limit + 1))])

    @st.composite
    def results(draw: st.DrawFn) -> CriterionResult:
        # which field is over its bound (None: none); an evidence field in the last item
        places = ["id", "reason", "missing (items)", "missing[]", "details (items)",
                  "details{key}", "details{}", *limits]
        chosen = {draw(st.sampled_from([None, *places]))}
        evidence = []
        count = draw(st.integers(1, 3))
        for position in range(count):
            last = position == count - 1
            fields = {name: draw(over(limit) if name in chosen and last else within(limit))
                      for name, limit in limits.items()}
            details = {"k": draw(within(bounds.VALUE_TEXT_MAX_LENGTH))}
            if last and "details{}" in chosen:
                details["v"] = draw(over(bounds.VALUE_TEXT_MAX_LENGTH))
            if last and "details{key}" in chosen:
                details["k" * (bounds.NAME_MAX_LENGTH + 1)] = 1
            if last and "details (items)" in chosen:
                details.update((f"k{n}", n) for n in range(bounds.DETAILS_MAX_ITEMS + 1))
            evidence.append(Evidence.model_construct(**fields, details=details))
        missing: tuple[Any, ...] = tuple(
            draw(within(bounds.EVIDENCE_TEXT_MAX_LENGTH)) for _ in range(draw(st.integers(0, 2))))
        if "missing[]" in chosen:
            missing += ("x" * (bounds.EVIDENCE_TEXT_MAX_LENGTH + 1),)
        if "missing (items)" in chosen:
            missing += ("x",) * bounds.MISSING_MAX_ITEMS
        ident = draw(over(bounds.CRITERION_ID_MAX_LENGTH)) if "id" in chosen else draw(
            st.sampled_from(["E11", _Text("I6.1"), None]))
        reason = draw(over(bounds.CRITERION_REASON_MAX_LENGTH) if "reason" in chosen
                      else within(bounds.CRITERION_REASON_MAX_LENGTH))
        return _result(id=ident, reason=reason, missing=missing, evidence=tuple(evidence))

    @settings(max_examples=200, deadline=None)
    @given(results())
    def agrees(result: CriterionResult) -> None:
        reference = _outcome(_field_by_field, result)
        assert _outcome(lambda r: check_texts((r,)), result) == reference
        # the items before the last are within their bounds: passed as checked before (an
        # incremental evaluation's earlier result), skipping them gives the same answer
        assert _outcome(lambda r: check_texts((r,), r.evidence[:-1]), result) == reference

    agrees()
