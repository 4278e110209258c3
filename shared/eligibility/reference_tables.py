"""Shared reference tables (value sets, half-lives, default limits, RxNorm roll-up, score items).

Loaded once from ``shared/trials/tables``; the hot path only reads the frozen results.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

TABLES_DIR = Path(__file__).resolve().parents[1] / "trials" / "tables"
TABLES_HASH_PARAMETER = "table_version.content_hash"
"""The decision parameter naming the ``tables_hash`` of the reference tables the decision was
compiled against (beside ``table_version.<name>``); ``audit replay`` compiles with those."""
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"


@dataclass(frozen=True, slots=True)
class Concept:
    """A named value set: exact ``system|code`` keys plus ICD-style code-family prefixes."""

    name: str
    label: str
    resource: str
    unit: str | None
    alternate_units: tuple[str, ...]
    source: str
    keys: frozenset[str]
    prefixes: tuple[tuple[str, str], ...]
    clinician_fact: bool = False
    codings: tuple[tuple[str, str, str | None], ...] = ()
    worded_for: str | None = None
    """For a clinician fact whose answer is about one trial itself (its informed consent, the
    investigator's reading of its full protocol): that trial's id. A coordinator's answer to it
    says nothing about another trial, so ``trial_text`` refuses a file of another trial that
    reads it. ``None`` for facts about the patient, which every trial may read."""
    unread_keys: tuple[tuple[str, str], ...] = ()
    """``(system|code, reason)`` of the codes of this analyte that are kept unread (a code
    with ``unread: <reason>`` in concepts.yaml): a result under one is a newer result of the
    concept, so no older one decides in its place, but it is not the quantity a criterion
    names (LOINC 49497-1 'Platelets [#/volume] in Blood by Estimate', an estimate from a smear,
    not a count), so it decides nothing either (``index.FactIndex``)."""
    units: tuple[str, ...] = field(init=False, default=())
    """The canonical unit then the alternates (worked out once: the hot path reads it)."""

    def __post_init__(self) -> None:
        units = ((self.unit,) if self.unit else ()) + self.alternate_units
        object.__setattr__(self, "units", units)


@dataclass(frozen=True, slots=True)
class HalfLife:
    ingredient: str
    lower_hours: float | None
    upper_hours: float | None
    typical_hours: float | None
    source: str

    def hours(self, bound: str) -> float | None:
        return {"upper": self.upper_hours, "lower": self.lower_hours}.get(bound, self.typical_hours)


@dataclass(frozen=True, slots=True)
class ReferenceLimit:
    analyte: str
    unit: str
    upper: dict[str, float]
    lower: dict[str, float]


@dataclass(frozen=True, slots=True)
class Tables:
    concepts: dict[str, Concept]
    half_lives: dict[str, HalfLife]
    half_lives_version: str
    limits: dict[str, ReferenceLimit]
    limits_source: str
    product_ingredients: dict[str, tuple[str, ...]]
    scores: dict[str, Any]
    versions: dict[str, str] = field(default_factory=dict)
    product_names: dict[str, str] = field(default_factory=dict)
    """RxNorm product code -> its RxNorm name (``display`` in rxnorm_products.yaml)."""
    rxnorm_names: dict[str, str] = field(default_factory=dict)
    """RxNorm code -> RxNorm's own name (RXNCONSO STR), for every RxNorm code a value set lists
    (``tables/rxnorm_names.yaml``, each row citing the published value set it was read from):
    how a drug is named wherever TrialWatch names one (the washout's wording, E11)."""
    rxnorm_name_rows: dict[str, dict[str, Any]] = field(default_factory=dict)
    """The rows of ``rxnorm_names.yaml`` as written (name, tty, verified, source)."""
    texts: dict[str, str] = field(default_factory=dict)
    """File name (``concepts.yaml`` ...) -> the YAML text exactly as read: what the evaluator
    stores so that ``audit replay`` compiles an old decision against the same tables."""
    content_hash: str = ""
    """``tables_hash(texts)``; empty for tables not built from texts (tests' stand-ins)."""
    ingredients: frozenset[str] = frozenset()
    """Every RxNorm ingredient ``product_ingredients`` rolls a product up to (worked out once,
    when the tables are loaded; read by ``index.drugs_disagree``)."""

    def concept(self, name: str) -> Concept:
        try:
            return self.concepts[name]
        except KeyError:
            raise KeyError(f"unknown concept {name!r} (not in tables/concepts.yaml)") from None


TABLE_FILES = ("concepts.yaml", "half_lives.yaml", "uln_defaults.yaml", "rxnorm_products.yaml",
               "scores.yaml", "rxnorm_names.yaml")
"""The files one set of reference tables is made of (all of them, always together)."""


def read_table_texts(directory: Path = TABLES_DIR) -> dict[str, str]:
    """File name -> UTF-8 text of each of ``TABLE_FILES`` in ``directory``; raises
    ``FileNotFoundError`` when one is missing."""
    return {name: (directory / name).read_text(encoding="utf-8") for name in TABLE_FILES}


def tables_hash(texts: dict[str, str]) -> str:
    """``sha256:<hex>`` of the canonical JSON (sorted keys, no spaces, UTF-8) of file name ->
    text: the identity of one set of reference tables. Any character changed in any file (a code
    removed from a value set, a comment reworded) gives another hash."""
    canonical = json.dumps(texts, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _parse(name: str, texts: dict[str, str]) -> dict[str, Any]:
    if name not in texts:
        raise ValueError(f"{name}: missing from the reference tables")
    data = yaml.safe_load(texts[name])
    if not isinstance(data, dict):
        raise ValueError(f"{name}: expected a mapping at top level")
    return data


def _concepts(raw: dict[str, Any]) -> dict[str, Concept]:
    systems: dict[str, str] = raw["systems"]
    concepts: dict[str, Concept] = {}
    for name, spec in raw["concepts"].items():
        codings = tuple(
            (systems.get(c["system"], c["system"]), str(c["code"]), c.get("display"))
            for c in spec.get("codes", ())
        )
        prefixes = tuple(
            (systems.get(p["system"], p["system"]), str(p["prefix"]))
            for p in spec.get("prefixes", ())
        )
        concepts[name] = Concept(
            name=name,
            label=spec["label"],
            resource=spec["resource"],
            unit=spec.get("unit"),
            alternate_units=tuple(spec.get("alternate_units", ())),
            source=spec["source"],
            keys=frozenset(f"{s}|{c}" for s, c, _ in codings),
            prefixes=prefixes,
            clinician_fact=bool(spec.get("clinician_fact", False)),
            codings=codings,
            worded_for=str(spec["worded_for"]) if spec.get("worded_for") else None,
            unread_keys=tuple(
                (f"{systems.get(c['system'], c['system'])}|{c['code']}", str(c["unread"]))
                for c in spec.get("codes", ()) if c.get("unread")
            ),
        )
    return concepts


def tw_code_key(code: str) -> str:
    return f"{TW_SYSTEM}|{code}"


TW_SYSTEM = "https://trialwatch.dev/fhir/CodeSystem/eligibility-facts"


def load_tables(directory: Path = TABLES_DIR) -> Tables:
    """The reference tables of ``directory`` (``shared/trials/tables`` by default), with their
    texts and ``tables_hash``."""
    return tables_from_texts(read_table_texts(directory))


def tables_from_texts(texts: dict[str, str]) -> Tables:
    """The reference tables parsed from file name -> YAML text (``read_table_texts``, or the
    texts the evaluator stored for a decision); raises ``ValueError`` for a missing file or a
    file that is not a mapping."""
    concepts_raw = _parse("concepts.yaml", texts)
    half_raw = _parse("half_lives.yaml", texts)
    uln_raw = _parse("uln_defaults.yaml", texts)
    rx_raw = _parse("rxnorm_products.yaml", texts)
    scores_raw = _parse("scores.yaml", texts)
    names_raw = _parse("rxnorm_names.yaml", texts)
    half_lives = {
        str(code): HalfLife(
            ingredient=spec["ingredient"],
            lower_hours=spec.get("lower_hours"),
            upper_hours=spec.get("upper_hours"),
            typical_hours=spec.get("typical_hours"),
            source=spec["source"],
        )
        for code, spec in half_raw["drugs"].items()
    }
    limits = {
        name: ReferenceLimit(
            analyte=name,
            unit=spec["unit"],
            upper=dict(spec.get("upper", {})),
            lower=dict(spec.get("lower", {})),
        )
        for name, spec in uln_raw["limits"].items()
    }
    products = {
        str(code): tuple(str(i) for i in spec["ingredients"])
        for code, spec in rx_raw["products"].items()
    }
    return Tables(
        concepts=_concepts(concepts_raw),
        half_lives=half_lives,
        half_lives_version=str(half_raw["version"]),
        limits=limits,
        limits_source=str(uln_raw["source"]),
        product_ingredients=products,
        ingredients=frozenset(i for ingredients in products.values() for i in ingredients),
        product_names={str(code): str(spec["display"])
                       for code, spec in rx_raw["products"].items() if spec.get("display")},
        scores=scores_raw,
        rxnorm_names={str(code): str(row["name"]) for code, row in names_raw["names"].items()},
        rxnorm_name_rows={str(code): dict(row) for code, row in names_raw["names"].items()},
        versions={
            "concepts": str(concepts_raw["version"]),
            "half_lives": str(half_raw["version"]),
            "uln_defaults": str(uln_raw["version"]),
            "rxnorm_products": str(rx_raw["version"]),
            "scores": str(scores_raw["version"]),
            "rxnorm_names": str(names_raw["version"]),
        },
        texts=dict(texts),
        content_hash=tables_hash(texts),
    )
