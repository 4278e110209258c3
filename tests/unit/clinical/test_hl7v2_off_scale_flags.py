"""OBX-8 '<' / '>' (HL7 v2.5.1 7.4.2.8, table 0078) on values that are not a number on a scale.

Table 0078 ``<`` "Below absolute low-off instrument scale" and ``>`` "Above absolute high-off
instrument scale" place the true value beyond the end of the analyser's measuring scale: they
make an exact number (NM, a number sent as ST/TX text, an SN without comparator) a bound
(``hl7v2_values.read_flags``). On anything else they cannot be applied, and reading the value
while leaving the flag aside drops it; so the result is kept unread at OBX-8, naming the flag:

- a coded value (CE/CWE, v2.5.1 2A.3.13; 7.4.2.5): a code has no place on an instrument scale.
  Before (main 00c5e31): the code was read and the flag left as a bare interpretation, so
  hCG CWE ``Negative`` flagged ``>`` (above the high-off scale) read Negative (the vignette:
  ELIGIBLE); an ECOG answer LA9623-5 (score 1) flagged ``>`` was read as the bound ``>1``.
- a qualitative word sent as ST or TX (``Positive``, ``Not detected``): the same, read as the code.
- an SN whose comparator is ``=`` (2A.3.70: SN.1 "=" says the value equals SN.2): ``=^600``
  flagged ``>`` says both "equals 600" and "beyond 600". Before: read as ``>600`` (the '='
  dropped).
- a value whose comparator points the other way (``<10`` flagged ``>``), a range, or both flags:
  already unread (kept here as a regression).

A bound on the flag's own side stays as sent (``<=^20`` flagged ``<``), and a number sent as
text or a titer (SN ``^1^:^320``) flagged ``>`` is a bound, never the value.
"""

from __future__ import annotations

import pytest

from shared.clinical.facts import ClinicalFact
from shared.clinical.hl7v2 import parse_hl7v2
from shared.eligibility.decision import Outcome, Status
from tests.unit.test_real_feed_examples import _bundle, _oru, decide, outcome

MSH = ("MSH|^~\\&|ARCHITECT-MW|CITY-LAB^2.16.840.1.113883.3.777^ISO|TRIALWATCH|TW-INTAKE|"
       "20261128090000+0000||ORU^R01^ORU_R01|MW-5521|P|2.5.1|||AL|NE")
PID = "PID|1||MRN-7^^^CITY^MR||Roe^Jane||19900412|F"
OBR = ("OBR|1|PLC-31^EPIC|FIL-31^ARCHITECT|24323-8^Comprehensive metabolic panel^LN|||"
       "20261128073000+0000|||||||||||||||20261128085500+0000|||F")
# two results beside the one under test, as a panel arrives from analyser middleware
CREATININE = ("OBX|1|NM|2160-0^Creatinine [Mass/volume] in Serum or Plasma^LN||0.8|mg/dL^^UCUM|"
              "0.5-1.1|N|||F|||20261128073000+0000")
SODIUM = ("OBX|2|NM|2951-2^Sodium [Moles/volume] in Serum or Plasma^LN||139|mmol/L^^UCUM|"
          "136-145|N|||F|||20261128073000+0000")


def _result(value_type: str, loinc: str, value: str, unit: str, flags: str) -> ClinicalFact:
    obx = f"OBX|3|{value_type}|{loinc}||{value}|{unit}||{flags}|||F|||20261128073000+0000"
    (update,) = parse_hl7v2("\r".join([MSH, PID, OBR, CREATININE, SODIUM, obx]) + "\r")
    first, second, fact = update.facts
    assert first.unread is None
    assert second.unread is None
    return fact


HCG = "2106-3^Choriogonadotropin (pregnancy test) [Presence] in Urine^LN"
ECOG = "89247-1^ECOG Performance Status score^LN"
GLUCOSE = "2345-7^Glucose [Mass/volume] in Serum or Plasma^LN"
ANA = "5048-4^Nuclear Ab [Titer] in Serum by Immunofluorescence^LN"


@pytest.mark.parametrize(("value_type", "loinc", "value", "flag", "what"), [
    ("CWE", HCG, "260385009^Negative^SCT", ">", "coded value"),
    ("CWE", HCG, "10828004^Positive^SCT", "<", "coded value"),
    ("CE", HCG, "LA6577-6^Negative^LN^260385009^Negative^SCT", ">", "coded value"),
    ("CE", ECOG, "LA9623-5^ECOG 1^LN", ">", "coded value"),
    ("ST", HCG, "Negative", ">", "qualitative word"),
    ("TX", HCG, "Not detected", "<", "qualitative word"),
])
def test_an_off_scale_flag_on_a_code_or_word_keeps_the_result_unread_at_obx_8(
    value_type: str, loinc: str, value: str, flag: str, what: str
) -> None:
    fact = _result(value_type, loinc, value, "", flag)
    assert fact.unread is not None
    assert fact.unread.path == "OBX[3].8"
    assert "table 0078" in fact.unread.reason
    assert what in fact.unread.reason
    assert fact.value_code is None
    assert fact.value_quantity is None


def test_an_sn_equal_to_its_number_and_flagged_off_scale_contradicts_and_is_unread() -> None:
    fact = _result("SN", GLUCOSE, "=^600", "mg/dL^^UCUM", ">")
    assert fact.unread is not None
    assert fact.unread.path == "OBX[3].8"
    assert "'='" in fact.unread.reason
    assert fact.value_quantity is None


@pytest.mark.parametrize(("value_type", "value", "flags"), [
    ("ST", "<10", ">"),  # a bound below, flagged above the scale
    ("SN", ">^20", "<"),
    ("SN", "^20^-^40", ">"),  # a range
    ("NM", "600", "<~>"),  # both at once
])
def test_an_off_scale_flag_against_the_value_stays_unread(
    value_type: str, value: str, flags: str
) -> None:
    fact = _result(value_type, GLUCOSE, value, "mg/dL^^UCUM", flags)
    assert fact.unread is not None
    assert fact.unread.path == "OBX[3].8"


@pytest.mark.parametrize(("value_type", "loinc", "value", "unit", "flag", "read"), [
    ("NM", GLUCOSE, "600", "mg/dL^^UCUM", ">", (">", 600.0)),
    ("ST", GLUCOSE, "600", "mg/dL^^UCUM", ">", (">", 600.0)),
    ("TX", GLUCOSE, "20", "mg/dL^^UCUM", "<", ("<", 20.0)),
    ("SN", GLUCOSE, "<=^20", "mg/dL^^UCUM", "<", ("<=", 20.0)),
    ("SN", ANA, "^1^:^1280", "", ">", (">", 1280.0)),
])
def test_a_number_on_the_scale_flagged_off_it_is_a_bound_never_the_value(
    value_type: str, loinc: str, value: str, unit: str, flag: str, read: tuple[str, float]
) -> None:
    fact = _result(value_type, loinc, value, unit, flag)
    assert fact.unread is None
    assert fact.value_quantity is not None
    assert (fact.value_quantity.comparator, fact.value_quantity.value) == read


# Through the engine: the eligible vignette (urine hCG negative on 2026-02-27) plus a newer hCG
# the lab's middleware sends as CWE Negative flagged '>' (above the high-off scale). Before:
# read Negative, ELIGIBLE. Now: the newer hCG is unread, E12 unknown, not eligible.
def test_a_newer_hcg_negative_flagged_above_scale_never_makes_her_eligible() -> None:
    obx = (f"OBX|1|CWE|{HCG}||260385009^Negative^SCT||Negative|>|||F|||"
           "20260228083000+0000")
    decision = decide(_bundle(), _oru("MW-77", obx))
    assert decision.status != Status.ELIGIBLE
    # E12 (pregnant) and I8 (negative hCG within 7 days) read the newest hCG
    assert outcome(decision, "E12") == Outcome.UNKNOWN
    assert outcome(decision, "I8") == Outcome.UNKNOWN
    reason = next(r.reason for r in decision.criteria if r.id == "E12")
    assert "table 0078" in reason
