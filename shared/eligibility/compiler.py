"""Turn a validated trial file's logic trees into evaluable nodes, once, at load time."""

from __future__ import annotations

from collections.abc import Callable

from pydantic import BaseModel

from shared.eligibility import schema as s
from shared.eligibility.durations import Duration, parse_duration
from shared.eligibility.primitives.base import AllOf, AnyOf, AtLeast, Node, Not, Shared
from shared.eligibility.primitives.bilag import BilagGrades
from shared.eligibility.primitives.demographic import AgeAtLeast, SexIs
from shared.eligibility.primitives.labs import LabResult, LabThreshold, LabUlnMultiple
from shared.eligibility.primitives.medication_history import MedicationCount, MedicationWithin
from shared.eligibility.primitives.records import (
    BiopsyClassIn,
    ClinicianFact,
    ConditionOnRecord,
    MedicationUsed,
)
from shared.eligibility.primitives.score import ScoreThreshold
from shared.eligibility.primitives.washout import WashoutActive
from shared.eligibility.reference_tables import Tables


def _d(text: str | None) -> Duration | None:
    return parse_duration(text) if text else None


def _req(text: str) -> Duration:
    return parse_duration(text)


class Compiler:
    """Compiles criteria so that identical subtrees become one shared, memoised node."""

    def __init__(self, tables: Tables, logic: list[object]) -> None:
        self.tables = tables
        self.counts: dict[str, int] = {}
        for tree in logic:
            self._count(tree)
        self.built: dict[str, Node] = {}

    @staticmethod
    def _key(node: object) -> str:
        assert isinstance(node, BaseModel)
        return f"{type(node).__name__}:{node.model_dump_json(by_alias=True)}"

    def _count(self, node: object) -> None:
        key = self._key(node)
        self.counts[key] = self.counts.get(key, 0) + 1
        for child in _children(node):
            self._count(child)

    def compile(self, node: object) -> Node:
        key = self._key(node)
        if key in self.built:
            return self.built[key]
        compiled = _compile(node, self.tables, self.compile)
        if self.counts.get(key, 0) > 1:
            compiled = Shared(compiled)
        self.built[key] = compiled
        return compiled


def _children(node: object) -> list[object]:
    match node:
        case s.AllNode(all=children) | s.AnyNode(any=children):
            return list(children)
        case s.NotNode(not_=child):
            return [child]
        case s.AtLeastNode(at_least=a):
            return list(a.of)
    return []


def _compile(node: object, tables: Tables, sub: Callable[[object], Node]) -> Node:
    c = tables.concept
    match node:
        case s.AllNode(all=children):
            return AllOf([sub(n) for n in children])
        case s.AnyNode(any=children):
            return AnyOf([sub(n) for n in children])
        case s.NotNode(not_=child):
            return Not(sub(child))
        case s.AtLeastNode(at_least=a):
            return AtLeast(a.n, [sub(n) for n in a.of])
        case s.AgeNode(age=a):
            return AgeAtLeast(a.op, a.years)
        case s.SexNode(sex=a):
            return SexIs(a.is_)
        case s.LabNode(lab=a):
            return LabThreshold(c(a.concept), a.op, a.value, _req(a.lookback))
        case s.LabUlnNode(lab_uln=a):
            return LabUlnMultiple(c(a.concept), a.op, a.multiple, _req(a.lookback))
        case s.LabResultNode(lab_result=a):
            return LabResult(c(a.concept), a.expect, _req(a.lookback), a.positive_above)
        case s.ConditionNode(condition=a):
            return ConditionOnRecord(c(a.valueset), _d(a.within), a.active_only)
        case s.FactNode(fact=a):
            return ClinicianFact(c(a.concept), _d(a.lookback), a.absent == "false")
        case s.MedUsedNode(med_used=a):
            return MedicationUsed([c(v) for v in a.valuesets], _d(a.started_at_least))
        case s.WashoutNode(washout=a):
            clearances = {
                drug: ClinicianFact(c(concept), _d(a.clearance_validity))
                for drug, concept in a.cleared_by.items()
            }
            return WashoutActive(
                [c(v) for v in a.valuesets], a.half_life_bound, a.multiple, clearances
            )
        case s.ScoreNode(score=a):
            return ScoreThreshold(
                a.score,
                a.op,
                a.value,
                window=_d(a.window),
                lookback=_d(a.lookback),
                weight=a.weight,
                weight_lookback=_d(a.weight_lookback),
            )
        case s.BiopsyClassNode(biopsy_class=a):
            return BiopsyClassIn(c(a.concept), a.classes, _req(a.lookback))
        case s.BilagNode(bilag=a):
            return BilagGrades(c(a.concept), a.min_a, a.min_b, _req(a.lookback))
        case s.MedCountNode(med_count=a):
            return MedicationCount([c(v) for v in a.valuesets], a.at_least, _d(a.started_at_least))
        case s.MedWithinNode(med_within=a):
            return MedicationWithin([c(v) for v in a.valuesets], _req(a.within))
    raise TypeError(f"unsupported node {type(node).__name__}")
