"""Unit reading cost: first parse, cached conversion, the longest unit read, and refusals.

    python benchmarks/bench_units.py [--repeat 20000]

Prints, per case, microseconds per call. ``cold`` parses each unit once in a fresh process
(ucumvert's Earley parser plus pint); ``warm`` is the hot path (conversions cached per
analyte and unit). ``longest`` is the worst case the parser is allowed to see (64 characters of
``g.g.g...``); the 60,000-character unit is refused before parsing.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shared.clinical.ucum import MAX_UNIT_LENGTH, UnitSyntaxError, parse_unit
from shared.clinical.units import UnitError, to_canonical

CASES = [("777-3", "10*3/uL"), ("777-3", "K/uL"), ("718-7", "g/dL"), ("2110-5", "m[IU]/mL"),
         ("13945-1", "/[HPF]"), ("2160-0", "umol/L"), ("1742-6", "IU/L")]


def per_call_us(action: object, repeat: int) -> float:
    assert callable(action)
    start = time.perf_counter()
    for _ in range(repeat):
        action()
    return (time.perf_counter() - start) / repeat * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=20000)
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args()
    repeat = args.repeat
    warm_us: dict[str, float] = {}
    start = time.perf_counter()
    parse_unit("g")
    print(f"registry + grammar load: {(time.perf_counter() - start) * 1e3:.0f} ms (once)")
    for loinc, unit in CASES:
        start = time.perf_counter()
        to_canonical(loinc, 1.0, unit)
        cold = (time.perf_counter() - start) * 1e6
        warm = per_call_us(lambda loinc=loinc, unit=unit: to_canonical(loinc, 1.0, unit), repeat)
        warm_us[f"{loinc} {unit}"] = warm
        print(f"{loinc:8} {unit:10} cold {cold:9.0f} us   warm {warm:6.2f} us")
    longest = "g." * (MAX_UNIT_LENGTH // 2 - 1) + "g"
    start = time.perf_counter()
    parse_unit(longest)
    elapsed_ms = (time.perf_counter() - start) * 1e3
    print(f"longest parsed unit ({len(longest)} chars): {elapsed_ms:.0f} ms")

    def refuse() -> None:
        with contextlib.suppress(UnitError):
            to_canonical("718-7", 1.0, "g." * 30_000)

    print(f"60,000-character unit refused: {per_call_us(refuse, 1000):.1f} us per call")
    if args.json:
        args.json.write_text(json.dumps({"warm_us": warm_us, "longest_ms": elapsed_ms}))
    try:
        parse_unit("(" * 60_000)
    except UnitSyntaxError as error:
        print(f"  reason: {error}")


if __name__ == "__main__":
    main()
