"""``IU`` is two units: the enzyme unit of a lab's ``IU/L`` and UCUM's arbitrary ``[IU]``.

- UCUM 2.2 section 4.4 (arbitrary units, table 21): ``[IU]`` "international unit" (and ``[iU]``,
  defined as 1 ``[IU]``) is an arbitrary unit, "not commensurable with any other unit": an
  amount of a WHO reference preparation (hCG), never an amount of substance per time. ``U``
  (UCUM table 19, chemical units) is the enzyme unit, 1 umol/min.
- IUPAC Gold Book "international unit" (doi:10.1351/goldbook.I03114; PAC 1994, 66, 2587,
  p. 2593): "The unit of enzyme activity proposed by the International Union of Biochemistry
  in 1964 ... the amount of enzyme that catalyses the conversion of one micromole of substrate
  per minute". So the lab spelling ``IU/L`` (not UCUM: ucumvert refuses it at column 1) of an
  enzyme (ALT, LOINC 1742-6) is U/L, and of hCG (2106-3) is [IU]/L: read through the alias
  table under the analyte's dimension, with a note.
- ``[IU]/L`` in brackets is UCUM, and UCUM says arbitrary: for ALT it is no enzyme activity,
  whether or not the sender declares UCUM (FHIR R4 Quantity.system, HL7 v2.5.1 OBX-6 CE-3).
  Before, the alias table also listed ``[IU]/L`` and ``[iU]/L`` as U/L: ALT ``[IU]/L`` read as
  30 U/L when sent without a system, and was refused when declared UCUM: the same unit read
  two ways.
- A Quantity display (FHIR R4 Quantity.unit, "a human-readable form of the unit") or an OBX-6
  text (CE-2, "the descriptive or textual name of the identifier", v2.5.1 2A.3.8) that is UCUM
  for another kind of unit than the code names (``U/L`` shown as ``[IU]/L``) contradicts it:
  refused at the code, as ``ukat/L`` shown as ``U/L`` is.
"""

from __future__ import annotations

from typing import Any

import pytest

from shared.clinical.units import convert, parse_alias_table
from tests.unit.clinical.test_fhir_fidelity import UCUM, _observation, _read, _refused
from tests.unit.clinical.test_hl7v2_fidelity import message, only_fact, problems

ALT, HCG = "1742-6", "2106-3"


def _quantity(code: str | None, unit: str | None, value: float = 30) -> dict[str, Any]:
    sent: dict[str, Any] = {"value": value}
    if code is not None:
        sent.update(system=UCUM, code=code)
    if unit is not None:
        sent["unit"] = unit
    return sent


def _obx(loinc: str, unit: str, value: str = "30") -> str:
    names = {ALT: "Alanine aminotransferase [Enzymatic activity/volume] in Serum or Plasma",
             HCG: "Choriogonadotropin [Units/volume] in Serum or Plasma"}
    return (f"OBX|1|NM|{loinc}^{names[loinc]}^LN||{value}|{unit}||N|||F|||"
            "20261128073000+0000")


# --- ALT (catalytic activity, canonical U/L) --------------------------------------------


@pytest.mark.parametrize(("code", "unit", "alias"), [
    (None, "U/L", False),            # UCUM spelling, no system
    ("U/L", "U/L", False),           # UCUM code and display
    ("U/L", "IU/L", False),          # UCUM code, lab display of the same enzyme unit
    (None, "IU/L", True),            # the lab spelling alone: the alias, noted
    ("IU/L", None, True),            # "declared" UCUM but not UCUM: no UCUM meaning, alias
])
def test_alt_in_the_enzyme_unit_reads_as_30_u_per_l(
    code: str | None, unit: str | None, alias: bool
) -> None:
    fact = _read(_observation(ALT, valueQuantity=_quantity(code, unit)))
    assert fact.value_quantity is not None
    assert (fact.value_quantity.value, fact.value_quantity.unit) == (30.0, "U/L")
    notes = [n.reason for n in fact.notes if "unit alias table" in n.reason]
    assert bool(notes) is alias, notes


@pytest.mark.parametrize(("code", "unit"), [
    (None, "[IU]/L"),                # UCUM arbitrary unit, no system (before: read as 30 U/L)
    ("[IU]/L", None),                # the same, declared UCUM (refused before too)
    ("[IU]/L", "IU/L"),
    (None, "[iU]/L"),                # UCUM [iU] = 1 [IU] (before: read as 30 U/L)
    (None, "m[IU]/mL"),
])
def test_alt_in_ucum_international_units_is_refused_at_its_unit(
    code: str | None, unit: str | None
) -> None:
    refused = _refused(_observation(ALT, valueQuantity=_quantity(code, unit)))
    assert len(refused) == 1, refused
    key = "code" if code is not None else "unit"
    assert refused[0].startswith(f"Observation.valueQuantity.{key}: unit "), refused
    assert "is international units per volume, expected enzyme activity per volume" in (
        refused[0])


def test_alt_coded_u_per_l_but_shown_as_ucum_international_units_is_refused_at_code() -> None:
    # the display names UCUM's arbitrary [IU], the code the enzyme unit: which is meant is
    # unknown (before: read as 30 U/L, the display unchecked)
    refused = _refused(_observation(ALT, valueQuantity=_quantity("U/L", "[IU]/L")))
    assert len(refused) == 1, refused
    assert refused[0].startswith("Observation.valueQuantity.code: unit code 'U/L' and unit"
                                 " '[IU]/L' name different units"), refused


@pytest.mark.parametrize("obx6", ["U/L", "U/L^^UCUM", "IU/L", "IU/L^IU/L^L", "IU/L^^UCUM",
                                  "U/L^IU/L^UCUM"])
def test_an_hl7_v2_alt_in_the_enzyme_unit_reads_as_30_u_per_l(obx6: str) -> None:
    fact = only_fact(message(_obx(ALT, obx6)))
    assert fact.value_quantity is not None
    assert (fact.value_quantity.value, fact.value_quantity.unit) == (30.0, "U/L")


@pytest.mark.parametrize("obx6", ["[IU]/L", "[IU]/L^^UCUM", "[iU]/L", "[IU]/L^IU/L^L"])
def test_an_hl7_v2_alt_in_ucum_international_units_is_refused_at_obx_6(obx6: str) -> None:
    # before: "[IU]/L" and "[iU]/L" without ^^UCUM read as 30 U/L, "[IU]/L^^UCUM" refused
    refused = problems(message(_obx(ALT, obx6)))
    assert len(refused) == 1, refused
    assert refused[0].startswith("OBX[1].6: unit "), refused
    assert "international units per volume" in refused[0]


@pytest.mark.parametrize(("obx6", "shown"), [("U/L^[IU]/L^UCUM", "'[IU]/L'"),
                                             ("ukat/L^U/L^UCUM", "'U/L'")])
def test_an_hl7_v2_unit_whose_text_names_another_unit_is_refused_at_obx_6(
    obx6: str, shown: str
) -> None:
    # v2.5.1 2A.3.8 CE: CE-2 is the text of the identifier CE-1; FHIR refuses the same pair at
    # Quantity.code (before: HL7 read CE-1 alone, 0.5 ukat/L as 30 U/L)
    refused = problems(message(_obx(ALT, obx6, "0.5")))
    assert len(refused) == 1, refused
    assert refused[0].startswith("OBX[1].6: unit "), refused
    assert f"text {shown}" in refused[0], refused


# --- hCG (arbitrary units, canonical [IU]/L) ----------------------------------------------


@pytest.mark.parametrize(("code", "unit", "alias"), [
    (None, "mIU/mL", True),
    ("m[IU]/mL", "mIU/mL", False),
    ("m[IU]/mL", None, False),
    (None, "m[IU]/mL", False),
    ("[IU]/L", "IU/L", False),
    (None, "[IU]/L", False),
    (None, "IU/L", True),
    ("[iU]/L", None, False),
])
def test_hcg_in_international_units_reads_as_25_iu_per_l(
    code: str | None, unit: str | None, alias: bool
) -> None:
    fact = _read(_observation(HCG, valueQuantity=_quantity(code, unit, 25)))
    assert fact.value_quantity is not None
    assert (fact.value_quantity.value, fact.value_quantity.unit) == (25.0, "[IU]/L")
    notes = [n.reason for n in fact.notes if "unit alias table" in n.reason]
    assert bool(notes) is alias, notes


def test_hcg_coded_in_international_units_but_shown_as_enzyme_units_is_refused() -> None:
    # before: read as 25 [IU]/L, the display "U/L" (UCUM enzyme unit) unchecked
    refused = _refused(_observation(HCG, valueQuantity=_quantity("[IU]/L", "U/L", 25)))
    assert len(refused) == 1, refused
    assert refused[0].startswith("Observation.valueQuantity.code: unit code '[IU]/L' and unit"
                                 " 'U/L' name different units"), refused


@pytest.mark.parametrize("obx6", ["mIU/mL", "mIU/mL^mIU/mL^L", "m[IU]/mL^^UCUM",
                                  "m[IU]/mL^mIU/mL^UCUM", "[IU]/L", "[IU]/L^^UCUM", "IU/L",
                                  "IU/L^^UCUM"])
def test_an_hl7_v2_hcg_in_international_units_reads_as_25_iu_per_l(obx6: str) -> None:
    fact = only_fact(message(_obx(HCG, obx6, "25")))
    assert fact.value_quantity is not None
    assert (fact.value_quantity.value, fact.value_quantity.unit) == (25.0, "[IU]/L")


@pytest.mark.parametrize("unit", ["U/L", "U/mL"])
def test_hcg_in_enzyme_units_is_refused(unit: str) -> None:
    refused = _refused(_observation(HCG, valueQuantity=_quantity(unit, unit, 25)))
    assert len(refused) == 1, refused
    assert "is enzyme activity per volume, expected international units per volume" in (
        refused[0])


# --- one meaning per sent unit, declared or not -------------------------------------------


@pytest.mark.parametrize(("loinc", "unit"), [
    (ALT, "IU/L"), (ALT, "[IU]/L"), (ALT, "[iU]/L"), (ALT, "U/L"), (HCG, "mIU/mL"),
    (HCG, "m[IU]/mL"), (HCG, "[IU]/L"), (HCG, "IU/L"), (HCG, "U/L"),
])
def test_a_unit_reads_the_same_declared_ucum_or_not(loinc: str, unit: str) -> None:
    def outcome(declared: bool) -> tuple[float, str] | str:
        try:
            read = convert(loinc, 10, unit, declared_ucum=declared).quantity
        except ValueError:
            return "refused"
        return (read.value, read.unit)

    assert outcome(declared=False) == outcome(declared=True)


def test_a_site_alias_may_not_read_ucum_international_units_as_enzyme_units() -> None:
    # UCUM 2.2 4.4: an arbitrary unit is "not commensurable with any other unit"
    with pytest.raises(ValueError, match=r"\[IU\]/L"):
        parse_alias_table("aliases:\n  catalytic_concentration:\n    '[IU]/L': U/L\n", "site")
