"""Every text field of every event contract (``shared.contracts``) has a length bound, and a
value one character over it is refused naming the field (issue 14 section 2: an unbounded
``CoordinatorActed.reason`` took any length into the event, audit's row and the broker). The
walk covers each ``str`` field, each collection of ``str`` and each mapping keyed or valued by
``str`` declared in the contract modules, and recursively every model they embed
(``shared.clinical`` facts and notes, ``shared.eligibility`` decisions and needs), so an event
any client builds cannot carry unbounded text however deep (the engine's own texts: bounded in
``shared.eligibility.decision`` and refused where the engine makes them,
tests/unit/eligibility/test_decision_text_bounds.py). HTTP boundaries:
tests/integration/evaluator/test_coordinator_app_actions.py and
tests/integration/intake/test_api.py."""

from __future__ import annotations

import collections.abc
import types
import typing
import uuid
from datetime import UTC, datetime
from typing import Any

import annotated_types
import pytest
from pydantic import BaseModel, ValidationError

from shared.contracts import envelope, events, signatures
from shared.contracts.envelope import REASON_MAX_LENGTH
from shared.contracts.events import CoordinatorActed, PatientUpdated, RegistryChangeRef

CONTRACT_MODULES = (envelope, events, signatures)
AT = datetime(2026, 12, 2, 17, 0, tzinfo=UTC)


def _bounded(metadata: list[Any]) -> bool:
    flat = [m for item in metadata for m in (item, *(getattr(item, "metadata", None) or ()))]
    return any(isinstance(m, annotated_types.MaxLen) for m in flat)


def _unbounded(tp: Any, metadata: list[Any], path: str) -> list[str]:
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        inner, *extra = typing.get_args(tp)
        return _unbounded(inner, metadata + extra, path)
    if origin in (typing.Union, types.UnionType):
        return [p for arg in typing.get_args(tp) for p in _unbounded(arg, metadata, path)]
    if origin in (tuple, list, frozenset, set):
        items = [a for a in typing.get_args(tp) if a is not Ellipsis]
        found = [p for a in items for p in _unbounded(a, [], path + "[]")]
        if any(_is_text(a) for a in items) and not _bounded(metadata):
            found.append(path + " (number of items)")
        return found
    if origin in (dict, typing.Mapping, collections.abc.Mapping):
        key, value = typing.get_args(tp)
        found = [*_unbounded(key, [], path + "{key}"), *_unbounded(value, [], path + "{}")]
        if (_is_text(key) or _is_text(value)) and not _bounded(metadata):
            found.append(path + " (number of items)")
        return found
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return _model_unbounded(tp, path)
    return [path] if tp is str and not _bounded(metadata) else []


def _model_unbounded(model: type[BaseModel], path: str) -> list[str]:
    """Every unbounded text of ``model`` and of each model it embeds, named by the path from
    the contract (``PatientFactsChanged.facts[].codes[].display``); each embedded model is
    reported once, at the first path reaching it (recursion: ClinicalFact.components)."""
    if model in _walking:
        return []
    _walking.add(model)
    return [p for name, field in model.model_fields.items()
            for p in _unbounded(field.annotation, list(field.metadata), f"{path}.{name}")]


_walking: set[type[BaseModel]] = set()


def _is_text(tp: Any) -> bool:
    if typing.get_origin(tp) is typing.Annotated:
        return _is_text(typing.get_args(tp)[0])
    return tp is str


def contract_models() -> list[type[BaseModel]]:
    return [v for module in CONTRACT_MODULES for v in vars(module).values()
            if isinstance(v, type) and issubclass(v, BaseModel) and v.__module__ ==
            module.__name__]




def test_every_text_field_of_every_contract_is_bounded() -> None:
    models = contract_models()
    assert {"Envelope", "CoordinatorActed", "DeadLetter", "EventSignature"} <= {
        m.__name__ for m in models}
    _walking.clear()
    unbounded = [p for m in models for p in _model_unbounded(m, m.__name__)]
    assert {"ClinicalFact", "ReadingNote", "Coding", "Decision", "CriterionResult", "Evidence",
            "Need", "TrialRef"} <= {m.__name__ for m in _walking}
    assert unbounded == []


def acted(**changes: Any) -> dict[str, Any]:
    identity = uuid.uuid4()
    return {"event_id": identity, "occurred_at": AT, "recorded_at": AT, "source": "evaluator",
            "patient_key": "pt_" + "1" * 32, "correlation_id": identity,
            "action_id": identity, "action": "not-a-candidate", "trial_id": "NCT06920433",
            "actor": "ward-a", "reason": "declined participation", **changes}


@pytest.mark.parametrize(("field", "limit"), [
    ("reason", REASON_MAX_LENGTH), ("actor", 128), ("trial_id", 64), ("source", 200),
    ("patient_key", 128)])
def test_one_character_over_the_bound_is_refused_naming_the_field(field: str,
                                                                  limit: int) -> None:
    assert CoordinatorActed.model_validate(acted(**{field: "x" * limit}))
    with pytest.raises(ValidationError) as refused:
        CoordinatorActed.model_validate(acted(**{field: "x" * (limit + 1)}))
    assert [e["loc"] for e in refused.value.errors()] == [(field,)]


def test_a_registry_stop_reason_is_bounded_like_the_registry_api() -> None:
    with pytest.raises(ValidationError) as refused:
        RegistryChangeRef.model_validate({
            "change_id": uuid.uuid4(), "action": "deactivate", "actor": "api:pi", "at": AT,
            "trial": {"id": "NCT06920433", "version": "2025-11-14.2"},
            "content_hash": "sha256:" + "0" * 64, "reason": "x" * (REASON_MAX_LENGTH + 1)})
    assert [e["loc"] for e in refused.value.errors()] == [("reason",)]


@pytest.mark.parametrize(("path", "limit"), [
    (("facts", 0, "codes", 0, "code"), 1024), (("facts", 0, "codes", 0, "system"), 4096),
    (("facts", 0, "codes", 0, "display"), 65_536), (("facts", 0, "provenance", "version"), 64),
    (("facts", 0, "value_quantity", "unit"), 64), (("facts", 0, "notes", 0, "reason"), 32_768)])
def test_a_fact_text_one_character_over_its_bound_is_refused_naming_it(
    path: tuple[str | int, ...], limit: int,
) -> None:
    def event(text: str) -> dict[str, Any]:
        fact: dict[str, Any] = {
            "fact_id": "5b971c0eee33b8ff6cf3f9314a5b96cc", "kind": "observation",
            "codes": [{"system": "http://loinc.org", "code": "718-7"}],
            "value_quantity": {"value": 129.0, "unit": "g/L"},
            "notes": [{"path": "OBX[1].5", "reason": "read with a warning"}],
            "provenance": {"source_system": "lab-a", "format": "hl7v2",
                           "resource": "HL7v2/MSG-1/OBX/1"}}
        document = {"event_id": uuid.uuid4(), "occurred_at": AT, "recorded_at": AT,
                    "source": "intake", "patient_key": "pt_" + "1" * 32,
                    "correlation_id": uuid.uuid4(), "facts": [fact]}
        parent: Any = document
        for step in path[:-1]:
            parent = parent[step]
        parent[path[-1]] = text
        return document

    assert PatientUpdated.model_validate(event("x" * limit))
    with pytest.raises(ValidationError) as refused:
        PatientUpdated.model_validate(event("x" * (limit + 1)))
    assert [e["loc"] for e in refused.value.errors()] == [path]
