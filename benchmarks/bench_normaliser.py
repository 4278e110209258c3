"""Throughput of the clinical normaliser: bundles/s and facts/s.

Run: ``python benchmarks/bench_normaliser.py [rounds]`` from the repo root. Measures the
Synthea bundles in ``<repo>/../shared/data`` (skipped with a message when absent), a synthetic
bundle, and the HL7 v2 fixture. Times include JSON decoding, R4B validation and unit conversion.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from shared.clinical.fhir import parse_fhir  # noqa: E402
from shared.clinical.hl7v2 import parse_hl7v2  # noqa: E402

SYNTHEA = REPO / ".." / "shared" / "data" / "fhir-synthea"
HL7_FIXTURE = REPO / "tests" / "fixtures" / "hl7v2" / "oru_lupus_labs.hl7"

_LABS = [
    ("2160-0", "umol/L", 70.0),
    ("718-7", "g/dL", 12.5),
    ("777-3", "10*3/uL", 250.0),
    ("751-8", "giga.l-1", 4.2),
    ("1742-6", "IU/L", 30.0),
    ("1975-2", "umol/L", 12.0),
    ("2890-2", "mg/mmol", 80.0),
    ("2345-7", "mmol/L", 5.4),
]


def synthetic_bundle(observations: int = 500) -> bytes:
    patient = "urn:uuid:00000000-0000-4000-8000-000000000000"
    entries: list[dict[str, object]] = [
        {
            "fullUrl": patient,
            "resource": {
                "resourceType": "Patient",
                "id": "bench",
                "gender": "female",
                "birthDate": "1990-01-01",
            },
        }
    ]
    for index in range(observations):
        code, unit, value = _LABS[index % len(_LABS)]
        entries.append(
            {
                "fullUrl": f"urn:uuid:00000000-0000-4000-8000-{index + 1:012d}",
                "resource": {
                    "resourceType": "Observation",
                    "id": f"obs-{index}",
                    "status": "final",
                    "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
                    "subject": {"reference": patient},
                    "effectiveDateTime": f"2026-{index % 12 + 1:02d}-15T08:00:00+01:00",
                    "valueQuantity": {"value": value + index % 7, "unit": unit},
                },
            }
        )
    return json.dumps({"resourceType": "Bundle", "type": "collection", "entry": entries}).encode()


RESULTS: dict[str, dict[str, float]] = {}


def measure(label: str, payloads: list[bytes], parse: Callable[[bytes], int], rounds: int) -> None:
    for payload in payloads:
        parse(payload)  # warm the caches (unit factors, R4B model classes)
    facts = 0
    start = time.perf_counter()
    for _ in range(rounds):
        for payload in payloads:
            facts += parse(payload)
    elapsed = time.perf_counter() - start
    count = rounds * len(payloads)
    RESULTS[label] = {"inputs_per_s": count / elapsed, "facts_per_s": facts / elapsed}
    print(
        f"{label:<34} {count / elapsed:10.1f} inputs/s {facts / elapsed:12.0f} facts/s"
        f"  ({count} inputs, {facts} facts, {elapsed:.2f} s)"
    )


def _fhir_facts(payload: bytes) -> int:
    return sum(len(update.facts) for update in parse_fhir(payload, source_system="bench"))


def _hl7_facts(payload: bytes) -> int:
    return sum(len(update.facts) for update in parse_hl7v2(payload))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("rounds", type=int, nargs="?", default=3)
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args()
    rounds = args.rounds
    bundles = sorted(SYNTHEA.glob("*.json")) if SYNTHEA.is_dir() else []
    if bundles:
        payloads = [path.read_bytes() for path in bundles]
        measure(f"Synthea bundles ({len(bundles)})", payloads, _fhir_facts, rounds)
    else:
        print(f"Synthea bundles: skipped, {SYNTHEA} not present")
    measure("synthetic bundle (500 obs)", [synthetic_bundle()], _fhir_facts, rounds * 10)
    measure("HL7 v2 ORU^R01 fixture", [HL7_FIXTURE.read_bytes()], _hl7_facts, rounds * 200)
    if args.json:
        args.json.write_text(json.dumps(RESULTS))


if __name__ == "__main__":
    main()
