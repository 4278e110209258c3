"""MSH-11 processing id (HL7 v2.5.1 2.14.9.11, data type PT): PT.1 is table 0103 (P production,
T training, D debugging), PT.2 the processing mode, table 0207 (A archive, R restore from
archive, I initial load, T current processing; blank: current processing). Training and
debugging messages must never screen a real patient: only the processing ids this site accepts
(``INTAKE_HL7V2_PROCESSING_IDS``, default ``P``) are read; any other message is refused whole
at ``MSH.11``. The processing modes all carry real results (an archive, a restore, an initial
load are the same production data sent again or in bulk), so each is read."""

from __future__ import annotations

import pytest

from shared.clinical.errors import InvalidInput
from shared.clinical.facts import ClinicalFact
from shared.clinical.hl7v2 import parse_hl7v2


def _oru(msh11: str | None, platelets: str = "180") -> str:
    msh = ("MSH|^~\\&|LIS|CITY-LAB|TW|TW|20261128090000+0000||ORU^R01^ORU_R01|C-1"
           + ("" if msh11 is None else f"|{msh11}|2.5.1"))
    if msh11 is None:
        msh += "||2.5.1"  # MSH-11 sent empty, MSH-12 in its place
    return "\r".join([
        msh,
        "PID|1||MRN-7^^^CITY^MR||Roe^Jane||19900412|F",
        "OBR|1|PLC-1|FIL-1|58410-2^CBC panel^LN|||20261128073000+0000",
        f"OBX|1|NM|777-3^Platelets^LN||{platelets}|10*9/L|150-400||||F|||20261128073000+0000",
    ]) + "\r"


def _value(fact: ClinicalFact) -> float | None:
    assert fact.unread is None
    return fact.value_quantity.value if fact.value_quantity else None


def _refusal(message: str, **kwargs: object) -> list[tuple[str, str]]:
    with pytest.raises(InvalidInput) as refused:
        parse_hl7v2(message, **kwargs)  # type: ignore[arg-type]
    return [(p.path, p.reason) for p in refused.value.problems]


def test_a_training_message_is_refused_whole_at_msh_11_by_default() -> None:
    problems = _refusal(_oru("T"))
    assert problems == [("MSH.11", "processing id T (training, HL7 v2.5.1 table 0103) is not"
                         " accepted by this site; INTAKE_HL7V2_PROCESSING_IDS lists P")]


def test_a_debugging_message_is_refused_by_default() -> None:
    [(path, reason)] = _refusal(_oru("D"))
    assert path == "MSH.11"
    assert reason.startswith("processing id D (debugging, HL7 v2.5.1 table 0103) is not accepted")


def test_a_production_message_is_read() -> None:
    [update] = parse_hl7v2(_oru("P"))
    [fact] = update.facts
    assert fact.value_quantity is not None
    assert fact.value_quantity.value == 180
    assert fact.unread is None


def test_with_the_site_accepting_p_and_t_a_training_message_is_read() -> None:
    [update] = parse_hl7v2(_oru("T"), processing_ids=frozenset({"P", "T"}))
    assert [_value(f) for f in update.facts] == [180]


def test_a_site_accepting_only_t_refuses_production_and_names_its_list() -> None:
    [(path, reason)] = _refusal(_oru("P"), processing_ids=frozenset({"T"}))
    assert path == "MSH.11"
    assert "processing id P (production" in reason
    assert reason.endswith("INTAKE_HL7V2_PROCESSING_IDS lists T")


def test_an_absent_processing_id_is_refused_at_msh_11() -> None:
    [(path, reason)] = _refusal(_oru(None))
    assert path == "MSH.11"
    assert "required" in reason


def test_a_message_ending_before_msh_11_is_refused_at_msh_11() -> None:
    message = _oru("P").replace("|C-1|P|2.5.1", "|C-1", 1)
    problems = _refusal(message)
    assert "MSH.11" in [path for path, _ in problems]


@pytest.mark.parametrize("value", ["X", "p", "PT", " P", "Production"])
def test_a_value_table_0103_does_not_define_is_refused(value: str) -> None:
    [(path, reason)] = _refusal(_oru(value), processing_ids=frozenset({"P", "T", "D"}))
    assert path == "MSH.11"
    assert "table 0103" in reason


@pytest.mark.parametrize("mode", ["", "T", "A", "R", "I"])
def test_every_table_0207_processing_mode_of_a_production_message_is_read(mode: str) -> None:
    [update] = parse_hl7v2(_oru(f"P^{mode}"))
    assert [_value(f) for f in update.facts] == [180]


@pytest.mark.parametrize("mode", ["X", "a", "Archive"])
def test_a_processing_mode_table_0207_does_not_define_is_refused(mode: str) -> None:
    [(path, reason)] = _refusal(_oru(f"P^{mode}"))
    assert path == "MSH.11"
    assert "table 0207" in reason


def test_a_training_mode_of_archive_is_still_training() -> None:
    [(path, _)] = _refusal(_oru("T^A"))
    assert path == "MSH.11"
