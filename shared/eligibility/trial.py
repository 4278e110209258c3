"""A loaded, compiled trial version: what the engine evaluates."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from shared.eligibility.decision import CriterionKind, Scalar
from shared.eligibility.primitives.base import Node
from shared.eligibility.reference_tables import Tables
from shared.eligibility.schema import TrialFile


@dataclass(frozen=True, slots=True)
class CompiledCriterion:
    id: str
    kind: CriterionKind
    summary: str
    protocol_text: str
    node: Node
    parameters: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TrialVersion:
    id: str
    version: str
    title: str
    criteria: tuple[CompiledCriterion, ...]
    parameters: dict[str, Scalar]
    tables: Tables
    spec: TrialFile
    path: Path | None = None
