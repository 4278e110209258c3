"""A per-patient index of facts by code, built once and read by every criterion.

Medication facts are also indexed under their RxNorm ingredients (product roll-up), so value
sets of ingredients match product-coded feeds. Lists are newest first.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

from shared.clinical.facts import ClinicalFact, Demographics, FactKind, PatientFacts
from shared.eligibility.tables import RXNORM, Concept

_OLDEST = datetime.min.replace(tzinfo=UTC)
IGNORED_STATUSES = frozenset({"entered-in-error", "cancelled", "preliminary", "registered"})


def fact_time(fact: ClinicalFact) -> datetime:
    return fact.effective_start or fact.effective_end or _OLDEST


def newest_first(fact: ClinicalFact) -> tuple[datetime, str]:
    """A total order (time, then fact id), so equal times never depend on hash order and a
    replayed decision cites the same facts as the original."""
    return (fact_time(fact), fact.fact_id)


def _keys(fact: ClinicalFact, products: Mapping[str, tuple[str, ...]]) -> tuple[str, ...]:
    keys = [f"{c.system}|{c.code}" for c in fact.codes]
    if fact.kind is FactKind.MEDICATION:
        for coding in fact.codes:
            if coding.system == RXNORM:
                keys.extend(
                    f"{RXNORM}|{ingredient}" for ingredient in products.get(coding.code, ())
                )
    return tuple(dict.fromkeys(keys))


class FactIndex:
    """Facts by ``system|code`` (newest first) and codes by system (for code-family prefixes)."""

    __slots__ = (
        "__weakref__",
        "_by_key",
        "_by_system",
        "_keys_of",
        "_matches",
        "_parent",
        "_products",
        "changed",
        "demographics",
    )

    def __init__(
        self,
        demographics: Demographics,
        by_key: dict[str, list[ClinicalFact]],
        keys_of: dict[str, tuple[str, ...]],
        products: Mapping[str, tuple[str, ...]],
        parent: FactIndex | None = None,
        changed: frozenset[str] = frozenset(),
    ) -> None:
        self.demographics = demographics
        self._by_key = by_key
        self._keys_of = keys_of
        self._products = products
        # codes per system, for code-family prefixes; built on first use
        self._by_system: dict[str, list[tuple[str, list[ClinicalFact]]]] | None = None
        # the index never changes once built, so a concept's matches are computed once
        self._matches: dict[str, list[ClinicalFact]] = {}
        # an index made by ``with_facts`` knows which codes differ from its parent's; the
        # reference is weak so a long series of updates does not keep every old index alive
        self._parent = weakref.ref(parent) if parent is not None else None
        self.changed = changed

    @property
    def parent(self) -> FactIndex | None:
        return self._parent() if self._parent is not None else None

    def touches(self, concept: Concept) -> bool:
        """Whether ``concept`` matches any code this index changed relative to its parent."""
        for key in self.changed:
            if key in concept.keys:
                return True
            system, _, code = key.partition("|")
            if any(system == s and code.startswith(p) for s, p in concept.prefixes):
                return True
        return False

    @classmethod
    def build(cls, patient: PatientFacts, products: Mapping[str, tuple[str, ...]]) -> FactIndex:
        by_key: dict[str, list[ClinicalFact]] = {}
        keys_of: dict[str, tuple[str, ...]] = {}
        for fact in patient.facts:
            if fact.status in IGNORED_STATUSES:
                continue
            keys = _keys(fact, products)
            keys_of[fact.fact_id] = keys
            for key in keys:
                by_key.setdefault(key, []).append(fact)
        for facts in by_key.values():
            facts.sort(key=newest_first, reverse=True)
        return cls(patient.demographics, by_key, keys_of, products)

    def with_facts(self, facts: Iterable[ClinicalFact]) -> FactIndex:
        """A new index with ``facts`` added (a fact with a known fact_id replaces the old one)."""
        by_key = dict(self._by_key)
        keys_of = dict(self._keys_of)
        changed: set[str] = set()
        for fact in facts:
            old_keys = keys_of.pop(fact.fact_id, ())
            changed.update(old_keys)
            for key in old_keys:
                by_key[key] = [f for f in by_key[key] if f.fact_id != fact.fact_id]
            if fact.status in IGNORED_STATUSES:
                continue
            keys = _keys(fact, self._products)
            keys_of[fact.fact_id] = keys
            changed.update(keys)
            for key in keys:
                updated = [f for f in by_key.get(key, ()) if f.fact_id != fact.fact_id]
                updated.append(fact)
                updated.sort(key=newest_first, reverse=True)
                by_key[key] = updated
        return FactIndex(
            self.demographics, by_key, keys_of, self._products, self, frozenset(changed)
        )

    def matching(self, concept: Concept) -> list[ClinicalFact]:
        """Facts coded in ``concept``, newest first, each once."""
        found = self._matches.get(concept.name)
        if found is None:
            found = self._matches[concept.name] = self._match(concept)
        return found

    def sources(self, concept: Concept) -> tuple[list[ClinicalFact], ...]:
        """The per-code fact lists ``concept`` matches.

        Codes ``with_facts`` did not touch keep the very same list objects, which is what
        incremental re-evaluation compares.
        """
        by_key = self._by_key
        lists = [by_key[k] for k in concept.keys if k in by_key]
        if concept.prefixes:
            by_system = self._by_system
            if by_system is None:
                by_system = self._by_system = {}
                for key, facts in by_key.items():
                    system, _, code = key.partition("|")
                    by_system.setdefault(system, []).append((code, facts))
            for system, prefix in concept.prefixes:
                lists.extend(
                    facts for code, facts in by_system.get(system, ()) if code.startswith(prefix)
                )
        return tuple(lists)

    def _match(self, concept: Concept) -> list[ClinicalFact]:
        lists = self.sources(concept)
        if not lists:
            return []
        if len(lists) == 1:
            return lists[0]
        seen: dict[str, ClinicalFact] = {}
        for facts in lists:
            for fact in facts:
                seen.setdefault(fact.fact_id, fact)
        return sorted(seen.values(), key=newest_first, reverse=True)
