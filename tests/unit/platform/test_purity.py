"""The pure core reads no clock: criteria + facts + as-of time in, decision out.

import-linter (``lint-imports``, run by ``make test``) keeps broker, database, web and logging
libraries out of ``shared.eligibility`` and ``shared.clinical``; this test keeps the clock out.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PURE_PACKAGES = [Path("shared/eligibility"), Path("shared/clinical")]
CLOCK_CALLS = {"now", "utcnow", "today", "time", "monotonic", "perf_counter"}
CLOCK_OWNERS = {"datetime", "date", "time"}

REPO = Path(__file__).resolve().parents[3]


def _clock_reads(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr in CLOCK_CALLS and isinstance(node.func.value, ast.Name)
                and node.func.value.id in CLOCK_OWNERS):
            found.append(f"{path}:{node.lineno} {node.func.value.id}.{node.func.attr}()")
    return found


@pytest.mark.parametrize("package", PURE_PACKAGES, ids=str)
def test_the_pure_core_never_reads_the_clock(package: Path) -> None:
    files = sorted((REPO / package).rglob("*.py"))
    assert files, f"no modules found in {package}"
    reads = [read for path in files for read in _clock_reads(path)]
    assert reads == [], "pass the as-of time in instead:\n" + "\n".join(reads)
