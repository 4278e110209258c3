"""Real HL7 v2 messages (``/work/shared/data/hl7v2``, skipped when absent): result identity and
what each OBX became. LAB-ORU-1 and LAB-ORU-2 are the same lab's two messages for the same
orders (OBR-3 82503246 and 890775544): preliminary (P) results, then the final (F) ones. Their
PID-30 ``NO`` is no code of table 0136 (refused as sent, ``test_real_data``): read here with it
mapped to ``N`` as the site's interface engine would (``conftest.lab_oru``)."""

from __future__ import annotations

from shared.clinical.hl7v2 import parse_hl7v2
from shared.clinical.state import facts_from_updates
from tests.unit.clinical.conftest import HANDOUT_PROCESSING_IDS, lab_oru, shared_data


def _without_line(message: bytes, marker: bytes) -> bytes:
    segments = message.replace(b"\r\n", b"\r").replace(b"\n", b"\r").split(b"\r")
    return b"\r".join(segment for segment in segments if marker not in segment)


def test_the_final_results_of_a_later_message_replace_the_preliminary_ones_of_the_same_order(
) -> None:
    (preliminary,) = parse_hl7v2(lab_oru("LAB-ORU-1.hl7"), processing_ids=HANDOUT_PROCESSING_IDS)
    # LAB-ORU-2's hemoglobin in 'g/l-1' is refused (UCUM reads g.L); the rest of it is read
    final_bytes = _without_line(lab_oru("LAB-ORU-2.hl7"), b"20509-6^HEMOGLOBIN")
    (final,) = parse_hl7v2(final_bytes, processing_ids=HANDOUT_PROCESSING_IDS)
    differential = {"23761-0", "26450-7", "26478-8", "26485-3", "30180-4"}
    before = {f.codes[0].code: f for f in preliminary.facts if f.codes[0].code in differential}
    after = {f.codes[0].code: f for f in final.facts if f.codes[0].code in differential}
    assert {f.status for f in before.values()} == {"preliminary"}
    # MSH-10 differs (182, ControlID); the order (OBR-3) and observation (OBX-3) do not
    assert before["23761-0"].provenance.resource != after["23761-0"].provenance.resource
    assert {code: f.fact_id for code, f in before.items()} == {
        code: f.fact_id for code, f in after.items()
    }
    state = facts_from_updates([preliminary, final])
    statuses = {f.codes[0].code: f.status for f in state.facts if f.codes[0].code in differential}
    assert statuses == dict.fromkeys(differential, "final")
    assert len(state.facts) == len({f.fact_id for f in [*preliminary.facts, *final.facts]})


def test_every_result_of_the_real_messages_is_read_with_its_value_as_sent_or_unread() -> None:
    folder = shared_data("hl7v2")
    for name in ("LAB-ORU-1.hl7", "ORU-R01-RMGEAD.hl7"):
        sent = lab_oru(name) if name.startswith("LAB-ORU") else (folder / name).read_bytes()
        (update,) = parse_hl7v2(sent, processing_ids=HANDOUT_PROCESSING_IDS)
        for fact in update.facts:
            valued = fact.value_quantity is not None or fact.value_code is not None
            if valued:
                assert fact.received is not None, (name, fact.provenance.resource)
            assert valued or fact.unread is not None or fact.status == "registered", (
                name, fact.provenance.resource
            )
