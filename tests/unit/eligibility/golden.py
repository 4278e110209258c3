"""Golden decisions: the exact JSON the engine gives for every vignette and Synthea bundle.

Optimising the engine must not change a single byte of any decision. The golden files were
written by the engine before it was optimised; ``test_golden_decisions`` compares against them.
Regenerate only for a deliberate change of results (and say why in the commit):
``python -m tests.unit.eligibility.golden``.

Each patient is evaluated at several instants around its as-of so that ageing windows,
future-dated facts, washouts and birthdays all take part.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from shared.clinical.facts import PatientFacts
from shared.clinical.fhir import parse_fhir
from shared.clinical.state import facts_from_updates
from shared.eligibility.decision import Decision
from shared.eligibility.reference_tables import TABLES_HASH_PARAMETER
from tests.unit.eligibility.vignettes import VIGNETTES

REPO = Path(__file__).resolve().parents[3]
GOLDEN = REPO / "tests" / "fixtures" / "golden_decisions"
SYNTHEA = REPO / ".." / "shared" / "data" / "fhir-synthea"
SYNTHEA_AS_OF = (datetime(2026, 3, 1, 9, 0, tzinfo=UTC), datetime(2019, 6, 1, 12, 30, tzinfo=UTC))
VIGNETTE_OFFSETS = (
    timedelta(days=-10),
    timedelta(0),
    timedelta(days=6),
    timedelta(days=45),
    timedelta(days=400),
)


@dataclass(frozen=True)
class Patient:
    """One patient and the instants (ascending) at which it is evaluated."""

    name: str
    facts: PatientFacts
    instants: tuple[datetime, ...]

    def case(self, moment: datetime) -> str:
        return f"{self.name} @ {moment.isoformat()}"


def vignette_patients() -> Iterator[Patient]:
    for vignette in VIGNETTES:
        bundle = vignette.build().bundle(vignette.bundle_type)
        facts = facts_from_updates(parse_fhir(bundle, source_system="vignette"))
        yield Patient(
            vignette.name, facts, tuple(vignette.as_of + offset for offset in VIGNETTE_OFFSETS)
        )


def synthea_bundles() -> list[Path]:
    return sorted(SYNTHEA.glob("*.json")) if SYNTHEA.is_dir() else []


def synthea_patients() -> Iterator[Patient]:
    for path in synthea_bundles():
        updates = parse_fhir(json.loads(path.read_text(encoding="utf-8")), source_system="synthea")
        # the file name carries the synthetic person's name: only the id part names the case
        yield Patient(path.stem.rsplit("_", 1)[-1], facts_from_updates(updates), SYNTHEA_AS_OF)


CORPORA = {"vignettes": vignette_patients, "synthea": synthea_patients}


def golden_path(corpus: str) -> Path:
    return GOLDEN / f"{corpus}.jsonl.gz"


def read_golden(corpus: str) -> dict[str, str]:
    with gzip.open(golden_path(corpus), "rt", encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle]
    return {row["case"]: row["decision"] for row in rows}


def golden_json(decision: Decision) -> str:
    """The decision's JSON as the golden files hold it: without the tables' content hash
    (``table_version.content_hash``), which any edit of a table file's text changes, comments
    included; the decisions' results and the table versions are compared byte for byte, the
    hash by ``tests/unit/audit/test_replay_tables.py``."""
    kept = {k: v for k, v in decision.parameters.items() if k != TABLES_HASH_PARAMETER}
    return decision.model_copy(update={"parameters": kept}).model_dump_json()


def write_golden(corpus: str) -> int:
    from shared.eligibility.engine import evaluate
    from shared.eligibility.loader import load_trial

    trial = load_trial("NCT06920433", "2025-11-14.1")
    lines = []
    for patient in CORPORA[corpus]():
        for moment in patient.instants:
            decision = golden_json(evaluate(trial, patient.facts, moment))
            lines.append(json.dumps({"case": patient.case(moment), "decision": decision}) + "\n")
    GOLDEN.mkdir(parents=True, exist_ok=True)
    # mtime=0: the same decisions give the same bytes, so an unchanged file shows no git diff
    with (
        golden_path(corpus).open("wb") as raw,
        gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as handle,
    ):
        handle.write("".join(lines).encode("utf-8"))
    return len(lines)


if __name__ == "__main__":
    for corpus in CORPORA:
        if corpus == "synthea" and not synthea_bundles():
            print("synthea: ../shared/data/fhir-synthea not found, kept as is")
            continue
        print(f"{corpus}: {write_golden(corpus)} decisions")
