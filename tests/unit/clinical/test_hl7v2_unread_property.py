"""Property (issue 9): whatever a lab writes in a newer platelet OBX-5, the message is refused at
OBX[1].5 or the fact is kept, and the
platelet criterion can pass only on that newer result read as a number, never on the older 180.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import cache

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.clinical.errors import InvalidInput
from shared.clinical.facts import PatientUpdate
from shared.clinical.fhir import parse_fhir
from shared.clinical.hl7v2 import parse_hl7v2
from shared.clinical.state import facts_from_updates
from shared.eligibility.decision import Outcome
from shared.eligibility.engine import evaluate
from shared.eligibility.loader import load_trial
from tests.unit.clinical.conftest import FIXTURES

AS_OF = datetime(2026, 3, 1, 9, tzinfo=UTC)
# OBX-5 text as labs write it: digits, signs, comparators, words, spaces; never the message's
# own delimiters (| ^ ~ \ &), which would change the message's structure, not the value
VALUE_TEXT = st.text(alphabet="0123456789<>=.,:-+/ ≤≥ePosNegtivlwhHIGLO*", max_size=12)


@cache
def _vignette() -> tuple[PatientUpdate, ...]:
    bundle = json.loads((FIXTURES / "vignettes" / "eligible.json").read_text("utf-8"))
    return tuple(parse_fhir(bundle, source_system="ehr"))


def _platelets(value: str, value_type: str) -> str:
    return "\r".join([
        "MSH|^~\\&|LIS|CITY-LAB|TW|TW|20260228093000-0500||ORU^R01^ORU_R01|M9|P|2.5.1",
        "PID|1||MRN-7^^^CITY^MR||Roe^Jane||19900101|F",
        "OBR|1|PLC-9|FIL-9|58410-2^CBC panel^LN|||20260228080000",
        f"OBX|1|{value_type}|777-3^Platelets^LN||{value}|10*9/L|150-400||||F|||20260228080000",
    ]) + "\r"


@settings(max_examples=60, deadline=None)
@given(text=VALUE_TEXT.filter(str.strip), value_type=st.sampled_from(["ST", "NM", "SN"]))
def test_a_newer_platelet_value_is_read_or_kept_unread_and_never_overtaken_by_the_older_one(
    text: str, value_type: str
) -> None:
    try:
        (update,) = parse_hl7v2(_platelets(text, value_type))
    except InvalidInput as refused:
        paths = [problem.path for problem in refused.problems]
    else:
        paths = []
    if paths:
        # the other right answer: refused with its path (e.g. a number beyond the bounds of
        # shared.clinical.bounds, such as 1e100), never dropped
        assert "OBX[1].5" in paths, paths
        return
    (fact,) = update.facts  # never dropped
    assert (fact.unread is None) == (fact.value_quantity is not None or fact.value_code is not None)
    decision = evaluate(load_trial("NCT06920433"), facts_from_updates([*_vignette(), update]),
                        AS_OF)
    bone_marrow = next(c for c in decision.criteria if c.id == "I6.1")
    if bone_marrow.outcome is Outcome.PASS:
        quantity = fact.value_quantity
        assert quantity is not None, (text, value_type)
        assert quantity.comparator in (None, ">", ">=")
        assert quantity.value >= 20
