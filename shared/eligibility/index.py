"""A per-patient index of facts by code, built once and read by every criterion.

Medication facts are also indexed under their RxNorm ingredients (product roll-up), so value
sets of ingredients match product-coded feeds. Lists are newest first.

Only codes that some value set of the shared tables (or the project's own CodeSystem, which
score items read) can match are indexed: a realistic record is mostly vitals and encounters
no criterion reads, and skipping them is most of the cost of building the index.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from operator import itemgetter
from typing import Protocol

from immutables import Map

from shared.clinical.facts import ClinicalFact, Demographics, FactKind, PatientFacts, ReadingNote
from shared.clinical.medication_codes import INGREDIENT_SYSTEM
from shared.eligibility.reference_tables import RXNORM, TW_SYSTEM, Concept, Tables

OLDEST = datetime.min.replace(tzinfo=UTC)
"""The time of a fact with no date: older than everything."""
_OLDEST = OLDEST

UNIDENTIFIED = "https://trialwatch.dev/fhir/CodeSystem/unidentified"
"""The engine's own system for entries no value set can judge (``_keys``): read whole, so the
one-code concept named by each code (``UNIDENTIFIED_CONDITIONS``, ``UNIDENTIFIED_MEDICATIONS``)
finds them, and incremental re-evaluation knows which criteria a new such entry changes."""
CONDITION_SYSTEMS = frozenset({
    "http://hl7.org/fhir/sid/icd-10-cm",
    "http://snomed.info/sct",
})
"""The code systems the condition value sets (tables/concepts.yaml, resource Condition) are
written in: ICD-10-CM and SNOMED CT (a test keeps this in step with the tables). A Condition
with no coding in either cannot be judged by any of them: WHO ICD-10
(http://hl7.org/fhir/sid/icd-10) and ICD-10-GM share most, not all, category codes with
ICD-10-CM, and a code's meaning differs where they part (e.g. diabetes: ICD-10-CM E08-E13,
WHO E10-E14), so no WHO or GM code is read as the ICD-10-CM code spelt the same."""


def _unidentified_concept(code: str, label: str, resource: str, source: str) -> Concept:
    return Concept(
        name=code, label=label, resource=resource, unit=None, alternate_units=(),
        source=source, keys=frozenset({f"{UNIDENTIFIED}|{code}"}), prefixes=(),
    )


UNIDENTIFIED_CONDITIONS = _unidentified_concept(
    "unidentified-condition", "condition not identified", "Condition",
    "a Condition coded in no system of CONDITION_SYSTEMS (shared/eligibility/index.py)",
)
"""Every Condition coded only in systems no condition value set covers (``CONDITION_SYSTEMS``)."""
UNIDENTIFIED_MEDICATIONS = _unidentified_concept(
    "unidentified-medication", "medication not identified",
    "MedicationRequest / MedicationStatement / MedicationAdministration",
    "a medication with no RxNorm code in the product table or a drug value set, and no"
    " ingredient list from the site medication crosswalk",
)
"""Every medication with no coding TrialWatch can identify: no RxNorm code of the product table
(tables/rxnorm_products.yaml) or of a value set, no code of another system a value set lists
(NDC and ATC are read by none), and no ingredient list (``INGREDIENT_SYSTEM``) that the site's
medication crosswalk (``CLINICAL_MEDICATION_CODES_FILE``) gave it."""
IGNORED_STATUSES = frozenset({"entered-in-error", "cancelled", "registered"})
"""Statuses of facts no criterion reads: withdrawn (entered-in-error: HL7 v2 table 0085 D/W),
pending with no result yet (FHIR R4 observation-status registered; table 0085 I/O), and a
cancelled order or medication. A cancelled *observation* is not ignored: see ``UNREAD_STATUSES``."""
PRELIMINARY = "preliminary"
"""FHIR R4 observation-status preliminary ("data may be incomplete or unverified"; HL7 v2
table 0085 P, R, S): such a result is kept unread, so a newer preliminary result is never
silently overtaken by an older final one and the criterion waits for the final (which, of
the same Observation or order and observation, replaces it)."""
UNREAD_STATUSES = {
    PRELIMINARY: "the result is preliminary (not final): it waits for the final",
    # FHIR R4 observation-status cancelled: "the measurement was not started or not completed"
    # (HL7 v2 table 0085 X "results cannot be obtained", N "not asked"): a result was sought
    # and none was obtained, so an older one must not decide in its place
    "cancelled": "the result was cancelled: no result was obtained (observation-status)",
    # FHIR R4 observation-status unknown: the sender does not know which status applies, so
    # it may be preliminary or withdrawn
    "unknown": "the result's status is unknown: it may be preliminary or withdrawn",
}
"""Observation statuses that keep a result unread (the normaliser names the source path; this
is the fallback for facts stored before it did)."""


def not_final(fact: ClinicalFact) -> ClinicalFact:
    """An observation whose status is in ``UNREAD_STATUSES`` as an unread one; any other fact
    unchanged."""
    if fact.unread is not None or fact.kind is not FactKind.OBSERVATION:
        return fact
    reason = UNREAD_STATUSES.get(fact.status or "")
    if reason is None:
        return fact
    return fact.model_copy(update={"unread": ReadingNote(path="status", reason=reason)})


def ignored(fact: ClinicalFact) -> bool:
    """Whether no criterion reads ``fact`` (``IGNORED_STATUSES``; an unread observation that
    was cancelled, or registered with a value, is read, as unread)."""
    if fact.status not in IGNORED_STATUSES:
        return False
    if fact.unread is None or fact.kind is not FactKind.OBSERVATION:
        return True
    # an unread cancelled observation (no result obtained) is read, as unread; so is a
    # registered one whose status itself is the reason (a value sent under FHIR R4
    # observation-status registered or HL7 v2.5.1 table 0085 I/O: whether it is a result is
    # unknown); a registered one with no value stays no result
    return not (fact.status == "cancelled" or (
        fact.status == "registered" and fact.unread.path.endswith((".status", ".11"))))


def _at_bound(fact: ClinicalFact, latest: bool, as_of: datetime) -> ClinicalFact:
    bounds = fact.time_bounds
    if bounds is None:
        return fact
    # the components share the Observation's time (FHIR R4 Observation.component: "share the
    # same attributes"): moved with it, so re-indexing the Observation re-indexes them moved
    components = tuple(_at_bound(part, latest, as_of) for part in fact.components)
    start = bounds.start_latest if latest else bounds.start_earliest
    end = bounds.end_latest if latest else bounds.end_earliest
    if latest:
        received = fact.provenance.received_at
        cap = min(as_of, received) if received is not None else as_of
        # never before the earliest instant (a bound past as-of stays a future fact)
        start = _capped(start, cap, bounds.start_earliest)
        end = _capped(end, cap, bounds.end_earliest)
    return fact.model_copy(
        update={
            "effective_start": start if start is not None else fact.effective_start,
            "effective_end": end if end is not None else fact.effective_end,
            "time_bounds": None,
            "components": components,
        }
    )


def _capped(moment: datetime | None, cap: datetime, floor: datetime | None) -> datetime | None:
    if moment is None or floor is None:
        return moment
    return max(min(moment, cap), floor)


def fact_time(fact: ClinicalFact) -> datetime:
    return fact.effective_start or fact.effective_end or _OLDEST


def results(fact: ClinicalFact) -> tuple[ClinicalFact, ...]:
    """``fact`` and, for an Observation, each of its components as a result of its own.

    FHIR R4 Observation.component: "Some observations have multiple component observations.
    These component observations are expressed as separate code value pairs that share the same
    attributes"; ``component.code`` "Describes what was observed" and ``component.value[x]`` is
    "The information determined as a result of making the observation". A component coded
    777-3 (platelets) in a CBC panel (58410-2) with no value[x] of its own is a platelet count
    of the panel's subject, time and status: the normaliser gives it those attributes and its
    own ``fact_id`` (``shared.clinical.fhir_resources.observation``), kept unread at
    ``component[i].value[x]`` / ``.dataAbsentReason`` when its value could not be read. Indexed
    only inside its Observation, it was never seen, and an older result decided in its place.
    """
    if not fact.components or fact.kind is not FactKind.OBSERVATION:
        return (fact,)
    # a component with no components of its own (every one the normalisers make) is already
    # that result: kept as it is, not copied (a copy would be equal, field for field)
    return (fact, *(part.model_copy(update={"components": ()}) if part.components else part
                    for part in fact.components))


def _fact_id(fact: ClinicalFact) -> str:
    return fact.fact_id


def newest_first(fact: ClinicalFact) -> tuple[datetime, str]:
    """A total order (time, then fact id), so equal times never depend on hash order and a
    replayed decision cites the same facts as the original."""
    return (fact_time(fact), fact.fact_id)


_TIME_AND_ID = itemgetter(0, 1)
"""``newest_first`` of a (time, fact id, fact, keys) entry of ``FactIndex.build``."""


class Readable:
    """Which ``system|code`` keys any value set can match: exact codes, code-family prefixes,
    and every code of a system read whole (the project CodeSystem)."""

    __slots__ = (
        "_codes",
        "_named",
        "_prefix_readers",
        "_prefixes",
        "_readers",
        "_reading",
        "_table_readers",
        "_whole",
        "drugs",
        "exact",
        "ingredients",
        "products",
        "unread",
    )

    def __init__(
        self,
        concepts: Iterable[Concept],
        whole_systems: Iterable[str],
        products: Mapping[str, tuple[str, ...]] | None = None,
        ingredients: frozenset[str] = frozenset(),
    ) -> None:
        # the product table these tables roll products up with, and its ingredients
        # (``Tables.product_ingredients``, ``Tables.ingredients``): for ``drugs_disagree``
        self.products = products
        self.ingredients = ingredients
        codes: dict[str, set[str]] = {}
        prefixes: dict[str, list[str]] = {}
        readers: dict[str, list[str]] = {}
        prefix_readers: dict[str, list[tuple[str, str]]] = {}
        concepts_list = list(concepts)
        for concept in concepts_list:
            for key in concept.keys:
                system, _, code = key.partition("|")
                codes.setdefault(system, set()).add(code)
                readers.setdefault(key, []).append(concept.name)
            for system, prefix in concept.prefixes:
                prefixes.setdefault(system, []).append(prefix)
                prefix_readers.setdefault(system, []).append((prefix, concept.name))
        self._readers = {key: tuple(names) for key, names in readers.items()}
        # the codes of an analyte kept unread (``Concept.unread_keys``), with the reason
        self.unread: dict[str, str] = {
            key: reason for concept in concepts_list for key, reason in concept.unread_keys}
        # the drug value sets' codes (RxNorm ingredients, the project's local drugs): each one
        # drug, for ``drugs_disagree``
        self.drugs = frozenset(
            key for concept in concepts_list if concept.resource.startswith("Medication")
            for key in concept.keys)
        self._prefix_readers = prefix_readers
        self._codes = {system: frozenset(found) for system, found in codes.items()}
        self._prefixes = {system: tuple(found) for system, found in prefixes.items()}
        self._whole = frozenset(whole_systems)
        # the concepts by name, for ``entries``
        self._named: dict[str, Concept] = {}
        for concept in concepts_list:
            self._named.setdefault(concept.name, concept)
        self._table_readers: dict[str, tuple[str, ...]] = {}
        self._reading: dict[str, frozenset[str]] = {}
        # system -> exact codes, for systems read only by exact code (a fast pre-filter: a
        # system absent here may still be read whole or by prefix)
        self.exact = {
            system: found
            for system, found in self._codes.items()
            if system not in self._whole and system not in self._prefixes
        }

    def concepts_reading(self, key: str) -> frozenset[str]:
        """The names of the concepts that match ``system|code`` key ``key``.

        A code of a system read whole (the project CodeSystem) also names the one-code concept
        a score item makes of it (``scores.common.fact_concept``: named by the code). A name
        too many only makes incremental re-evaluation recompute more, never less.
        """
        found = self._reading.get(key)
        if found is None:
            # worked out once per key (each new result asks for its codes')
            system, _, code = key.partition("|")
            names = set(self.table_readers(key))
            if system in self._whole:
                names.add(code)
            found = self._reading[key] = frozenset(names)
        return found

    def table_readers(self, key: str) -> tuple[str, ...]:
        """The names of the tables' concepts matching ``key`` by exact code or code-family
        prefix (not the one-code concepts of a system read whole), each once; worked out once
        per key."""
        found = self._table_readers.get(key)
        if found is None:
            system, _, code = key.partition("|")
            names = dict.fromkeys(self._readers.get(key, ()))
            names.update(
                (name, None)
                for prefix, name in self._prefix_readers.get(system, ())
                if code.startswith(prefix)
            )
            found = self._table_readers[key] = tuple(names)
        return found

    def entries(
        self, by_key: dict[str, list[ClinicalFact]]
    ) -> dict[str, tuple[list[ClinicalFact], datetime]]:
        """``FactIndex.entry`` of every table concept, by name, worked out from the keys
        present (a patient has a few dozen readable codes; the tables' value sets have
        hundreds). Equal to what ``FactIndex.entry`` computes one
        concept at a time: a concept matching one indexed code has that code's very list;
        several, their facts once each, newest first (``newest_first``); none, an empty list."""
        lists: dict[str, list[list[ClinicalFact]]] = {}
        table_readers = self.table_readers
        for key, facts in by_key.items():
            for name in table_readers(key):
                found = lists.get(name)
                if found is None:
                    lists[name] = [facts]
                else:
                    found.append(facts)
        entries: dict[str, tuple[list[ClinicalFact], datetime]] = {}
        for name, matched in lists.items():
            if len(matched) == 1:
                facts = matched[0]
            else:
                seen: dict[str, ClinicalFact] = {}
                for some in matched:
                    for fact in some:
                        seen.setdefault(fact.fact_id, fact)
                facts = sorted(seen.values(), key=newest_first, reverse=True)
            entries[name] = (facts, fact_time(facts[0]))
        for name in self._named:
            if name not in entries:
                # no indexed code matches it (a new list each: an index never shares lists it
                # did not take from ``by_key``)
                entries[name] = ([], OLDEST)
        return entries

    def __call__(self, system: str, code: str) -> bool:
        codes = self._codes.get(system)
        if codes is not None and code in codes:
            return True
        if system in self._whole:
            return True
        prefixes = self._prefixes.get(system)
        return prefixes is not None and code.startswith(prefixes)


def _everything(system: str, code: str) -> bool:
    return True


_READABLE: dict[int, tuple[Tables, Readable]] = {}


def readable_codes(tables: Tables) -> Readable:
    """The codes the shared tables can match, worked out once per set of tables."""
    found = _READABLE.get(id(tables))
    if found is None or found[0] is not tables:
        readable = Readable(tables.concepts.values(), (TW_SYSTEM, UNIDENTIFIED),
                            tables.product_ingredients, tables.ingredients)
        found = _READABLE[id(tables)] = (tables, readable)
    return found[1]


def kept_unread(fact: ClinicalFact, keys: Iterable[str], unread: Mapping[str, str]) -> ClinicalFact:
    """``fact`` kept unread at ``<resource> code`` when one of its ``keys`` is a code its value
    set keeps unread (``Concept.unread_keys``: LOINC 49497-1 'Platelets [#/volume] in Blood by
    Estimate', an estimate from a smear, not a count); any other fact (or one already unread)
    unchanged. It stays a result of its concept, the newest one when it is: an older count
    never decides in its place (``reading.latest_quantity``)."""
    if not unread or fact.unread is not None:
        return fact
    for key in keys:
        reason = unread.get(key)
        if reason is not None:
            note = ReadingNote(path=f"{fact.provenance.resource} code", reason=reason)
            return fact.model_copy(update={"unread": note})
    return fact


def _keys(
    fact: ClinicalFact,
    products: Mapping[str, tuple[str, ...]],
    readable: Callable[[str, str], bool] = _everything,
) -> tuple[str, ...]:
    if fact.kind is FactKind.ALLERGY:
        # an allergy is indexed by its category only (FHIR R4 AllergyIntolerance.category,
        # ``AllergyReading.category_codings``), never by its substance: an allergy to rituximab
        # is no use of rituximab, and a SNOMED CT 'Shellfish allergy' no Condition
        codings = fact.allergy.category_codings() if fact.allergy is not None else ()
        return tuple(f"{c.system}|{c.code}" for c in codings if readable(c.system, c.code))
    keys = [f"{c.system}|{c.code}" for c in fact.codes if readable(c.system, c.code)]
    if fact.kind is FactKind.MEDICATION:
        identified = bool(keys)
        for coding in fact.codes:
            if coding.system == INGREDIENT_SYSTEM:
                # the site crosswalk's list of the drug's ingredients: identified, and read as
                # the product table's roll-up is
                identified = True
                if readable(RXNORM, coding.code):
                    keys.append(f"{RXNORM}|{coding.code}")
            elif coding.system == RXNORM:
                ingredients = products.get(coding.code, ())
                identified = identified or bool(ingredients)
                keys.extend(
                    f"{RXNORM}|{ingredient}"
                    for ingredient in ingredients
                    if readable(RXNORM, ingredient)
                )
        if not identified and isinstance(readable, Readable):
            keys.append(UNIDENTIFIED_MEDICATIONS_KEY)
    elif (fact.kind is FactKind.CONDITION and isinstance(readable, Readable)
          and not any(c.system in CONDITION_SYSTEMS for c in fact.codes)):
        keys.append(UNIDENTIFIED_CONDITIONS_KEY)
    return tuple(dict.fromkeys(keys))


def _ingredients(
    products: Mapping[str, tuple[str, ...]], readable: Callable[[str, str], bool]
) -> frozenset[str]:
    """Every RxNorm ingredient the product table rolls a product up to: the loaded tables'
    own (``Tables.ingredients``, carried by their ``Readable``), else worked out here."""
    if isinstance(readable, Readable) and readable.products is products:
        return readable.ingredients
    return frozenset(i for ingredients in products.values() for i in ingredients)


def _code_path(fact: ClinicalFact) -> str:
    """Where a medication fact's drug codes were sent: FHIR ``<Type>/<id>.medication[x]``,
    HL7 v2 RXE-2 (give code) or RXA-5 (administered code) of the segment the fact names."""
    resource = fact.provenance.resource
    if fact.provenance.format == "hl7v2":
        segment = resource.rsplit("/", 2)[-2] if resource.count("/") >= 2 else ""
        field = {"RXE": "RXE-2", "RXA": "RXA-5"}.get(segment)
        return f"{resource} ({field})" if field else resource
    return f"{resource}.medication[x]"


def drugs_disagree(
    fact: ClinicalFact,
    products: Mapping[str, tuple[str, ...]],
    readable: Callable[[str, str], bool] = _everything,
) -> ReadingNote | None:
    """Why the codings of a medication ``fact`` name different drugs, else None.

    FHIR R4 datatypes, CodeableConcept.coding: the codings are alternative representations of
    one concept; HL7 v2.5.1 2A.3.13 CWE (RXE-2, RXA-5): components 4-6 are "an alternate code
    for the same concept". Each coding is resolved through the project's own tables: an RxNorm
    product of ``tables/rxnorm_products.yaml`` to its ingredients, an RxNorm ingredient (a drug
    value set's code, or an ingredient the product table names) or a project local drug code
    to itself, and the site crosswalk's ingredient list (``INGREDIENT_SYSTEM``) to that list.
    One drug: every product resolves to the same ingredients and every ingredient coding is
    one of them (an IN beside an SCD/SBD of it, two products of it); with no product, at most
    one ingredient. Otherwise (8640 prednisone beside 979092 hydroxychloroquine 200 MG Oral
    Tablet, 121191 rituximab beside 8640) which drug it is is unknown: the fact is read as
    unread (a note at its drug codes naming them), so it proves no use and its washout is
    unknown. A coding no table resolves (an NDC no site crosswalk maps, an RxNorm code of
    neither table) says nothing either way and is left aside, as before. Two ingredients with
    no product naming both (a combination product no table lists) are not known to be one drug.
    """
    codes = fact.codes
    if len(codes) < 2 or fact.kind is not FactKind.MEDICATION:
        return None
    drug_codes = readable.drugs if isinstance(readable, Readable) else frozenset()
    known_ingredients = _ingredients(products, readable)
    # each resolved coding in the order sent: (label, ingredients of a product, or one drug)
    resolved: list[tuple[str, frozenset[str] | None, str | None]] = []
    listed: list[str] = []
    for coding in codes:
        system, code = coding.system, coding.code
        if system == RXNORM:
            rolled = products.get(code)
            if rolled:
                resolved.append((f"RxNorm {code} (ingredients {', '.join(rolled)})",
                                 frozenset(rolled), None))
            elif code in known_ingredients or f"{RXNORM}|{code}" in drug_codes:
                resolved.append((f"RxNorm {code}", None, code))
        elif system == INGREDIENT_SYSTEM:
            listed.append(code)
        elif f"{system}|{code}" in drug_codes:
            resolved.append((f"{system}|{code}", None, f"{system}|{code}"))
        # Any other coding (an RxNorm code neither table lists, an NDC or WHO ATC code no site
        # crosswalk row maps, a local code) is not compared, and the codings the tables do
        # identify decide. Decided, not overlooked: FHIR R4 CodeableConcept.coding (datatypes
        # 2.24.0.13, Coding semantics 2.24.0.12) says the codings of one CodeableConcept are
        # representations of the same concept, each possibly a translation of the others, and
        # HL7 v2.5.1 2A.3.13 CWE says components 4-6 are "an alternate code for the same
        # concept" as components 1-3. So reading the identified coding is reading what the
        # sender asserted the unidentified one also means, not a guess at it. Keeping it unread
        # needs evidence of a contradiction: two codings the tables resolve to different drugs
        # (above). A coding that cannot be resolved gives none, and making every medication
        # unread because one coding is outside TrialWatch's tables (EHRs send RxNorm with NDC
        # and local codes) would turn the sender's one assertion into unknowns it did not make.
        # Pinned by tests/unit/test_medication_codings_disagree.py (unidentified codings).
    if listed:
        resolved.append((f"the site medication crosswalk's ingredients {', '.join(listed)}",
                         frozenset(listed), None))
    named = {ingredients for _, ingredients, _ in resolved if ingredients is not None}
    drugs = {drug for _, _, drug in resolved if drug is not None}
    if len(named) > 1 or (not named and len(drugs) > 1):
        disagree = True
    elif named:
        (ingredients,) = named
        disagree = not drugs <= ingredients
    else:
        disagree = False
    if not disagree:
        return None
    differ = [label for label, _, _ in resolved]
    return ReadingNote(path=_code_path(fact), reason=(
        f"codings name different drugs: {'; '.join(dict.fromkeys(differ))} (FHIR R4"
        " CodeableConcept: every coding stands for the same concept; HL7 v2.5.1 2A.3.13 CWE:"
        " the alternate identifier codes the same concept): which drug it is is unknown"))


def _drug_read(
    fact: ClinicalFact,
    products: Mapping[str, tuple[str, ...]],
    readable: Callable[[str, str], bool],
) -> ClinicalFact:
    """``fact``, kept unread when its codings name different drugs (``drugs_disagree``)."""
    if fact.unread is not None or fact.kind is not FactKind.MEDICATION or len(fact.codes) < 2:
        return fact
    note = drugs_disagree(fact, products, readable)
    return fact if note is None else fact.model_copy(update={"unread": note})


UNIDENTIFIED_CONDITIONS_KEY = f"{UNIDENTIFIED}|{UNIDENTIFIED_CONDITIONS.name}"
UNIDENTIFIED_MEDICATIONS_KEY = f"{UNIDENTIFIED}|{UNIDENTIFIED_MEDICATIONS.name}"


def _place(facts: list[ClinicalFact], order: tuple[datetime, str]) -> int:
    """Where a fact of ``newest_first`` ``order`` goes in ``facts`` (newest first) to keep it
    so: after every fact that sorts at or after it, in O(log n) comparisons (a sort of a long
    record's list would make a key for each of its facts)."""
    low, high = 0, len(facts)
    while low < high:
        middle = (low + high) // 2
        if newest_first(facts[middle]) >= order:
            low = middle + 1
        else:
            high = middle
    return low


class _Parts(Protocol):
    """What ``_with_components`` and ``_replacing`` edit: a dict, or a persistent map's
    mutation (``immutables.MapMutation``)."""

    def pop(self, key: str, default: tuple[str, ...], /) -> tuple[str, ...]: ...

    def __setitem__(self, key: str, value: tuple[str, ...], /) -> None: ...


def _with_components(
    facts: Iterable[ClinicalFact], parts: _Parts
) -> Iterable[ClinicalFact]:
    """Every fact and its components (``results``), noting each Observation's component ids
    in ``parts``."""
    for whole in facts:
        if not whole.components:
            yield whole
            continue
        found = results(whole)
        parts[whole.fact_id] = tuple(part.fact_id for part in found[1:])
        yield from found


def _replacing(
    facts: Iterable[ClinicalFact], parts: _Parts
) -> Iterable[ClinicalFact]:
    """``_with_components`` of new versions, each Observation preceded by tombstones of the
    components its old version had and the new one lacks (a resource is replaced whole)."""
    for whole in facts:
        old = parts.pop(whole.fact_id, ())
        found = tuple(_with_components((whole,), parts))
        kept = {fact.fact_id for fact in found}
        for gone in old:
            if gone not in kept:
                yield whole.model_copy(
                    update={"fact_id": gone, "status": "entered-in-error", "components": ()}
                )
        yield from found


class FactIndex:
    """Facts by ``system|code`` (newest first) and codes by system (for code-family prefixes)."""

    __slots__ = (
        "__weakref__",
        "_by_key",
        "_by_system",
        "_changed_concepts",
        "_imprecise",
        "_keys_of",
        "_parent",
        "_parts",
        "_products",
        "_readable",
        "changed",
        "demographics",
        "entries",
    )

    def __init__(
        self,
        demographics: Demographics,
        by_key: Mapping[str, list[ClinicalFact]],
        keys_of: Mapping[str, tuple[str, ...]],
        products: Mapping[str, tuple[str, ...]],
        parent: FactIndex | None = None,
        changed: frozenset[str] = frozenset(),
        readable: Callable[[str, str], bool] = _everything,
        parts: Mapping[str, tuple[str, ...]] | None = None,
    ) -> None:
        self.demographics = demographics
        # an Observation's id -> its components' fact ids (``results``), so a new version of
        # the Observation replaces every component the old one had
        # (dicts in an index ``build`` made, persistent maps in one ``with_facts`` made)
        self._parts: Mapping[str, tuple[str, ...]] = parts if parts is not None else {}
        self._by_key = by_key
        self._keys_of = keys_of
        self._products = products
        self._readable = readable
        # codes per system, for code-family prefixes; built on first use
        self._by_system: dict[str, list[tuple[str, list[ClinicalFact]]]] | None = None
        # the index never changes once built, so a concept's matches are computed once
        self.entries: dict[str, tuple[list[ClinicalFact], datetime]] = {}
        """``entry`` by concept name, for what was already worked out (read only)."""
        # an index made by ``with_facts`` knows which codes differ from its parent's; the
        # reference is weak so a long series of updates does not keep every old index alive
        self._parent = weakref.ref(parent) if parent is not None else None
        self.changed = changed
        self._imprecise: tuple[ClinicalFact, ...] | None = None
        self._changed_concepts: frozenset[str] | None = None

    def imprecise(self) -> tuple[ClinicalFact, ...]:
        """The indexed facts whose time was sent without a time of day (``time_bounds``)."""
        found = self._imprecise
        if found is None:
            seen: dict[str, ClinicalFact] = {}
            for facts in self._by_key.values():
                for fact in facts:
                    if fact.time_bounds is not None:
                        seen.setdefault(fact.fact_id, fact)
            found = self._imprecise = tuple(sorted(seen.values(), key=_fact_id))
        return found

    def reads_imprecise(self, concept: Concept) -> bool:
        """Whether ``concept`` matches the code of any fact of ``imprecise()``."""
        keys = {key for fact in self.imprecise() for key in self._keys_of.get(fact.fact_id, ())}
        if not keys:
            return False
        if not concept.keys.isdisjoint(keys):
            return True
        for key in keys:
            system, _, code = key.partition("|")
            if any(system == s and code.startswith(p) for s, p in concept.prefixes):
                return True
        return False

    def at_bound(self, latest: bool, as_of: datetime) -> FactIndex:
        """This index with every imprecise fact moved to the first (``latest`` False) or last
        instant it may stand for (its ``time_bounds``; FHIR R4 date, HL7 v2 DTM precision).

        The last instant is never after ``as_of`` nor after the fact was received: a result on
        record was taken by then (a date of today names the part of today that has passed).
        """
        return self.with_facts(_at_bound(fact, latest, as_of) for fact in self.imprecise())

    @property
    def parent(self) -> FactIndex | None:
        return self._parent() if self._parent is not None else None

    def changed_concepts(self) -> frozenset[str] | None:
        """The names of the concepts whose facts differ from the parent index's (the concepts
        matching ``changed``), or None when this index cannot tell (built without the tables'
        ``Readable``): then ask ``touches`` concept by concept."""
        found = self._changed_concepts
        if found is None:
            readable = self._readable
            if not isinstance(readable, Readable):
                return None
            names: set[str] = set()
            for key in self.changed:
                names |= readable.concepts_reading(key)
            found = self._changed_concepts = frozenset(names)
        return found

    def touches(self, concept: Concept) -> bool:
        """Whether ``concept`` matches any code this index changed relative to its parent."""
        changed = self.changed
        if not changed:
            return False
        if not concept.keys.isdisjoint(changed):
            return True
        if concept.prefixes:
            for key in changed:
                system, _, code = key.partition("|")
                if any(system == s and code.startswith(p) for s, p in concept.prefixes):
                    return True
        return False

    @classmethod
    def build(
        cls,
        patient: PatientFacts,
        products: Mapping[str, tuple[str, ...]],
        readable: Callable[[str, str], bool] = _everything,
    ) -> FactIndex:
        kept: list[tuple[datetime, str, ClinicalFact, tuple[str, ...]]] = []
        imprecise = False
        exact = readable.exact if isinstance(readable, Readable) else None
        unread = readable.unread if isinstance(readable, Readable) else {}
        medication, observation = FactKind.MEDICATION, FactKind.OBSERVATION
        condition, allergy = FactKind.CONDITION, FactKind.ALLERGY
        unread_statuses, ignored_statuses = UNREAD_STATUSES, IGNORED_STATUSES
        parts: dict[str, tuple[str, ...]] = {}
        # most of a record is vitals and encounters no value set reads: their codes are looked
        # at first, and only a fact some criterion can read is checked for status
        for fact in _with_components(patient.facts, parts):
            if (exact is None or fact.kind is medication or fact.kind is condition
                    or fact.kind is allergy):
                # medications and conditions: also whether any value set can identify them;
                # allergies: by their category (``_keys``)
                keys = _keys(fact, products, readable)
            else:
                # the common case (one code, often one no value set reads) without a call
                found: list[str] = []
                for coding in fact.codes:
                    system, code = coding.system, coding.code
                    known = exact.get(system)
                    if (code in known) if known is not None else readable(system, code):
                        found.append(f"{system}|{code}")
                if not found:
                    continue
                keys = tuple(found) if len(found) < 2 else tuple(dict.fromkeys(found))
            if keys:
                # ``not_final`` and ``ignored`` called only where their status tests can hold
                status = fact.status
                if status in unread_statuses and fact.kind is observation:
                    fact = not_final(fact)
                if status in ignored_statuses and ignored(fact):
                    continue
                if fact.kind is medication:
                    fact = _drug_read(fact, products, readable)
                elif unread:
                    fact = kept_unread(fact, keys, unread)
                moment = fact.effective_start or fact.effective_end or _OLDEST
                kept.append((moment, fact.fact_id, fact, keys))
                if fact.time_bounds is not None:
                    imprecise = True
        # one sort (stable, like a sort of each list) leaves every per-code list newest first
        kept.sort(key=_TIME_AND_ID, reverse=True)
        by_key: dict[str, list[ClinicalFact]] = {}
        keys_of: dict[str, tuple[str, ...]] = {}
        for _, fact_id, fact, keys in kept:
            keys_of[fact_id] = keys
            for key in keys:
                facts = by_key.get(key)
                if facts is None:
                    by_key[key] = [fact]
                else:
                    facts.append(fact)
        index = cls(
            patient.demographics, by_key, keys_of, products, readable=readable, parts=parts
        )
        if exact is not None:
            # every table concept's entry, from the few keys present (``Readable.entries``)
            assert isinstance(readable, Readable)
            index.entries = readable.entries(by_key)
        if not imprecise:
            index._imprecise = ()  # what ``imprecise()`` finds: no kept fact has time bounds
        return index

    def _persistent(
        self,
    ) -> tuple[
        Map[str, list[ClinicalFact]], Map[str, tuple[str, ...]], Map[str, tuple[str, ...]]
    ]:
        """This index's three tables as persistent maps (``immutables.Map``, a hash array
        mapped trie): an index made by ``with_facts`` has them already; a built one converts
        its dicts on the first ``with_facts`` (once: the maps are kept on it)."""
        by_key, keys_of, parts = self._by_key, self._keys_of, self._parts
        if not isinstance(by_key, Map):
            by_key = Map(by_key)
            self._by_key = by_key
        if not isinstance(keys_of, Map):
            keys_of = Map(keys_of)
            self._keys_of = keys_of
        if not isinstance(parts, Map):
            parts = Map(parts)
            self._parts = parts
        return by_key, keys_of, parts

    def with_facts(self, facts: Iterable[ClinicalFact]) -> FactIndex:
        """A new index with ``facts`` added (a fact with a known fact_id replaces the old one).

        The new index shares everything it did not change with this one: its tables are
        persistent maps (``_persistent``) edited in O(log n) per changed code, not copied, so
        adding a result costs the same for a patient of 200 facts as for one of 20,000."""
        by_key_map, keys_of_map, parts_map = self._persistent()
        by_key, keys_of, parts = by_key_map.mutate(), keys_of_map.mutate(), parts_map.mutate()
        changed: set[str] = set()
        # ``imprecise()`` carried over from this index (worked out once, here if not yet):
        # the facts replaced leave it, the indexed new ones sent without a time of day join it
        before = self.imprecise()
        imprecise = {fact.fact_id: fact for fact in before} if before else {}
        products, readable = self._products, self._readable
        unread = readable.unread if isinstance(readable, Readable) else None
        for fact in map(not_final, _replacing(facts, parts)):
            fact_id = fact.fact_id
            old_keys = keys_of.pop(fact_id, ())
            if imprecise:
                imprecise.pop(fact_id, None)
            if old_keys:
                changed.update(old_keys)
                for key in old_keys:
                    by_key[key] = [f for f in by_key[key] if f.fact_id != fact_id]
            if ignored(fact):
                continue
            keys = _keys(fact, products, readable)
            if not keys:
                continue
            fact = _drug_read(fact, products, readable)
            if unread is not None:
                fact = kept_unread(fact, keys, unread)
            keys_of[fact_id] = keys
            if fact.time_bounds is not None:
                imprecise[fact_id] = fact
            changed.update(keys)
            order = newest_first(fact)
            for key in keys:
                # no list holds ``fact_id`` now: its old keys' lists were filtered above
                updated = list(by_key.get(key, ()))
                updated.insert(_place(updated, order), fact)
                by_key[key] = updated
        index = FactIndex(
            self.demographics,
            by_key.finish(),
            keys_of.finish(),
            products,
            self,
            frozenset(changed),
            readable,
            parts.finish(),
        )
        index._imprecise = tuple(sorted(imprecise.values(), key=_fact_id)) if imprecise else ()
        return index

    def matching(self, concept: Concept) -> list[ClinicalFact]:
        """Facts coded in ``concept``, newest first, each once."""
        return self.entry(concept)[0]

    def entry(self, concept: Concept) -> tuple[list[ClinicalFact], datetime]:
        """``matching(concept)`` and the time of its newest fact (the oldest time if none)."""
        name = concept.name
        found = self.entries.get(name)
        if found is None and self._parent is not None:
            # a concept the new facts cannot feed has its parent's entry (the same lists):
            # a new result re-merges only the concepts it feeds
            parent = self._parent()
            if parent is not None:
                inherited = parent.entries.get(name)
                if inherited is not None:
                    changed = self.changed_concepts()
                    if changed is not None and name not in changed:
                        found = self.entries[name] = inherited
        if found is None:
            keys = concept.keys
            if len(keys) == 1 and not concept.prefixes:
                # most concepts are one project code (score items): no merge to do
                (key,) = keys
                facts = self._by_key.get(key) or []
                found = self.entries[name] = (facts, fact_time(facts[0]) if facts else OLDEST)
            else:
                facts = self._match(concept)
                found = self.entries[name] = (facts, fact_time(facts[0]) if facts else OLDEST)
        return found

    def sources(self, concept: Concept) -> tuple[list[ClinicalFact], ...]:
        """The per-code fact lists ``concept`` matches.

        Codes ``with_facts`` did not touch keep the very same list objects, which is what
        incremental re-evaluation compares.
        """
        by_key, keys = self._by_key, concept.keys
        if len(keys) > len(by_key):
            # a large value set against a patient's few readable codes: walk the smaller side
            lists = [facts for key, facts in by_key.items() if key in keys]
        else:
            lists = [by_key[key] for key in keys if key in by_key]
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
