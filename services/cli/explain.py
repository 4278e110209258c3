"""``trialwatch evaluate --explain-input``: how each element of each input was read.

One block per fact: where it came from (FHIR resource or HL7 v2 message/OBX), its code, the
value and unit as sent -> the canonical value, its time (UTC), its status, then every reading
note and, for a result that could not be read, ``NOT READ`` with the path and reason. Patient
identifiers, names and birth dates are never printed (only whether a birth date and sex were
read).
"""

from __future__ import annotations

from services.cli.inputs import ReadInput
from shared.clinical.facts import ClinicalFact, Demographics, Quantity
from shared.time import iso_z


def render_inputs(inputs: list[ReadInput]) -> str:
    lines: list[str] = []
    for read in inputs:
        facts = sum(len(update.facts) for update in read.updates)
        kind = "FHIR R4" if read.format == "fhir-r4" else "HL7 v2"
        lines.append(f"{read.label} ({kind}): {len(read.updates)} patient(s), {facts} fact(s)")
        for update in read.updates:
            lines.append(f"  source {update.source_system}: {_demographics(update.demographics)}")
            for fact in update.facts:
                lines.extend(f"    {line}" for line in explain_fact(fact))
    return "\n".join(lines)


def explain_fact(fact: ClinicalFact) -> list[str]:
    """The lines for one fact: origin and code, value read, time, notes, or why not read."""
    code = fact.codes[0] if fact.codes else None
    name = f"{code.code} {code.display or ''}".strip() if code else "(no code)"
    lines = [f"{fact.provenance.resource} [{fact.kind.value}] {name}"]
    if len(fact.codes) > 1:
        lines.append("  codes: " + ", ".join(f"{c.system}|{c.code}" for c in fact.codes))
    lines.append(f"  value: {_received(fact)} -> {_canonical(fact)}")
    when = iso_z(fact.effective_start) if fact.effective_start else "no time"
    if fact.effective_end is not None:
        when += f" .. {iso_z(fact.effective_end)}"
    lines.append(f"  time: {when}; status: {fact.status or 'none'}")
    if fact.reference_range is not None:
        low, high = fact.reference_range.low, fact.reference_range.high
        lines.append(f"  reference range: {_quantity(low) if low else '-'}"
                     f" .. {_quantity(high) if high else '-'}")
    lines.extend(f"  note {note.path}: {note.reason}" for note in fact.notes)
    if fact.unread is not None:
        lines.append(f"  NOT READ {fact.unread.path}: {fact.unread.reason}")
    for component in fact.components:
        lines.extend(f"  {line}" for line in explain_fact(component))
    return lines


def _received(fact: ClinicalFact) -> str:
    received = fact.received
    if received is None or (received.value is None and received.unit is None):
        return "(as sent: not kept)"
    unit = f" {received.unit!r}" if received.unit else ""
    value = repr(received.value) if received.value is not None else "(value not quoted)"
    return f"{value}{unit}"


def _canonical(fact: ClinicalFact) -> str:
    if fact.unread is not None:
        return "not read"
    if fact.value_quantity is not None:
        return _quantity(fact.value_quantity)
    if fact.value_code is not None:
        coding = fact.value_code
        return f"{coding.system}|{coding.code}" + (f" ({coding.display})" if coding.display else "")
    if fact.value_boolean is not None:
        return str(fact.value_boolean).lower()
    return "no value"


def _quantity(quantity: Quantity) -> str:
    if quantity.upper is not None:  # a value known to lie in [value, upper]
        return f"{quantity.value:g}..{quantity.upper:g} {quantity.unit}"
    return f"{quantity.comparator or ''}{quantity.value:g} {quantity.unit}"


def _demographics(demographics: Demographics | None) -> str:
    if demographics is None:
        return "no demographics"
    birth = "birth date read" if demographics.birth_date else "no exact birth date"
    sex = demographics.sex.value if demographics.sex else "no sex"
    deceased = "; deceased" if demographics.deceased else ""
    return f"{birth}; {sex}{deceased}"
