"""Every text field of every event contract (``shared.contracts``) has a length bound, and a
value one character over it is refused naming the field (issue 14 section 2: an unbounded
``CoordinatorActed.reason`` took any length into the event, audit's row and the broker). The
walk covers each ``str`` field and each collection of ``str`` declared in the contract modules
(nested models from ``shared.clinical`` and ``shared.eligibility`` are bounded where intake
reads them, by the normaliser). HTTP boundaries: tests/integration/evaluator/
test_coordinator_app_actions.py and tests/integration/intake/test_api.py."""

from __future__ import annotations

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
from shared.contracts.events import CoordinatorActed, RegistryChangeRef

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
    return [path] if tp is str and not _bounded(metadata) else []


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
    unbounded = [p for m in models for name, field in m.model_fields.items()
                 for p in _unbounded(field.annotation, list(field.metadata),
                                     f"{m.__name__}.{name}")]
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
